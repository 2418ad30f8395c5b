# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""How a subcommand ends: one exit-code mapping for the CLI and for a command run alone."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from streaming_gcode import cli
from streaming_gcode.commands import EXIT_ERROR, EXIT_INTERRUPTED, run_command
from streaming_gcode.core.errors import ConfigError


def _raise(error: BaseException):
    def run(args: argparse.Namespace) -> int:
        raise error
    return run


def test_domain_errors_are_one_line_and_exit_2(capsys) -> None:
    code = run_command("train", _raise(ConfigError("no stream layout")), argparse.Namespace())
    assert code == EXIT_ERROR == 2
    assert capsys.readouterr().err == "streaming-gcode train: error: no stream layout\n"


def test_ctrl_c_exits_130_and_a_run_without_a_code_exits_0() -> None:
    assert run_command("soak", _raise(KeyboardInterrupt()), argparse.Namespace()) == 130
    assert EXIT_INTERRUPTED == 130
    assert run_command("demo", lambda args: None, argparse.Namespace()) == 0
    assert run_command("soak", lambda args: 1, argparse.Namespace()) == 1


def test_other_errors_are_not_hidden() -> None:
    with pytest.raises(RuntimeError, match="a bug"):
        run_command("bench", _raise(RuntimeError("a bug")), argparse.Namespace())


def test_no_subcommand_prints_help_and_exits_2(capsys) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.ros  # replay initialises rclpy before it opens the bag
@pytest.mark.parametrize("argv", [
    ["-m", "streaming_gcode.cli", "replay"],
    ["-m", "streaming_gcode.commands.replay"],
])
def test_replay_alone_and_through_the_cli_end_the_same_way(argv, tmp_path) -> None:
    """`python -m streaming_gcode.commands.replay` (the bag evaluator's way) maps as the CLI."""
    missing = str(tmp_path / "no_such_bag")
    done = subprocess.run([sys.executable, *argv, missing], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"streaming-gcode replay: error: bag {missing} does not exist")
