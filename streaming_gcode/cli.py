# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The `streaming-gcode` command line: one entry point, one module per subcommand.

Each subcommand lives in `streaming_gcode/commands/<name>.py` and exposes
`HELP: str`, `add_arguments(parser)` and `run(args) -> int`. Modules are imported
lazily so `streaming-gcode --help` stays fast and a subcommand's heavy imports
(torch, rclpy) are paid only when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

from streaming_gcode.commands import EXIT_ERROR, run_command

SUBCOMMANDS: tuple[str, ...] = (
    "train",
    "evaluate",
    "csv2bag",
    "replay",
    "demo",
    "bench",
    "soak",
)


def _load(name: str):
    return importlib.import_module(f"streaming_gcode.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="streaming-gcode",
        description="Live G-code recognition from CNC sensor streams.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = _load(name)
        except ModuleNotFoundError as exc:
            if exc.name == f"streaming_gcode.commands.{name}":
                continue
            raise
        sub_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; domain errors print one line and exit 2, never a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return EXIT_ERROR
    return run_command(args.command, args._run, args)


if __name__ == "__main__":
    sys.exit(main())
