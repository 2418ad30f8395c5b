# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""How a subcommand ends: one exit-code mapping for the CLI and for a command run alone."""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import pytest
import torch

from streaming_gcode import cli
from streaming_gcode.commands import EXIT_ERROR, EXIT_INTERRUPTED, run_command
from streaming_gcode.core.errors import ConfigError
from streaming_gcode.model.checkpoint import save_checkpoint
from streaming_gcode.model.random_weights import random_model


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


MEMORY_LIMIT_BYTES = 2 << 30  # a regression fails on allocation instead of eating the machine


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))


def _run_bounded(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streaming_gcode.cli", *args],
                          capture_output=True, text=True, timeout=300, preexec_fn=_limit_memory)


def test_checkpoint_asking_for_a_huge_model_exits_2_in_one_line(tmp_path) -> None:
    model = random_model("full", seed=0, d_model=16, num_layers=1)
    good = save_checkpoint(tmp_path / "good.pt", model.backbone, model.line_heads,
                           model.config, model.metadata)
    payload = torch.load(good, weights_only=True)
    payload["config"]["d_model"] = 10_000_000
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    done = _run_bounded(["evaluate", "--checkpoint", str(bad), "--data", str(tmp_path)])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        f"streaming-gcode evaluate: error: {bad}: bad config: invalid ModelConfig: "
        "d_model 10000000 above the limit 4096"]


@pytest.mark.ros  # replay initialises rclpy before it opens the bag
def test_replay_of_an_alias_bomb_bag_exits_2_in_one_line(tmp_path) -> None:
    bag = tmp_path / "bomb_bag"
    bag.mkdir()
    levels = ["l0: &l0 [" + ", ".join(["lollollol"] * 9) + "]"]
    levels += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 9)]
    (bag / "metadata.yaml").write_text(
        "\n".join(levels) + "\nrosbag2_bagfile_information:\n  version: 8\n"
        "  storage_identifier: mcap\n  relative_file_paths: []\n  message_count: 0\n"
        "  topics_with_message_count: []\n  custom_data: {laughs: *l8}\n")
    done = _run_bounded(["replay", str(bag)])
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"streaming-gcode replay: error: bag {bag}: Could not load YAML")
    assert "alias *l0 refused" in lines[0]
