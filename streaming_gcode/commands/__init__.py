# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Subcommands of the streaming-gcode CLI, and the one way a subcommand is run.

Each `<name>.py` is argparse plus a call into the library. `run_command` maps
what a run ends with to the exit code, the same for `streaming-gcode <name>`
(cli.py) and for a command started on its own (`python -m
streaming_gcode.commands.replay`), which must not import cli.py.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from streaming_gcode.core.errors import StreamingGcodeError

EXIT_ERROR = 2            # a domain error: one line on stderr, no traceback
EXIT_INTERRUPTED = 130    # Ctrl-C (128 + SIGINT)


def run_command(name: str, run: Callable[[argparse.Namespace], int | None],
                args: argparse.Namespace) -> int:
    """Run one subcommand; domain errors print one line and exit 2, Ctrl-C exits 130."""
    try:
        return int(run(args) or 0)
    except StreamingGcodeError as exc:
        print(f"streaming-gcode {name}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


__all__ = ["EXIT_ERROR", "EXIT_INTERRUPTED", "run_command"]
