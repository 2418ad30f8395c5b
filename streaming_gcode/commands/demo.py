# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode demo`: the node, a sensor source and live predictions in the terminal."""

from __future__ import annotations

import argparse
import sys

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.tools.demo.recording_source import MAX_SPEED
from streaming_gcode.tools.demo.sources import DATA_ENV, SOURCE_AUTO, SOURCES

HELP = ("run stream_node on a recording (or a simulated cell) and show its G-code "
        "predictions, accuracy, latency and drops live")
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "warn", "error", "fatal")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.epilog = (
        "Source: --bag, else --data, else the Bantam dataset next to the repository "
        f"(../shared/data/bantam_cnc, or ${DATA_ENV}), else the real recording shipped with "
        "the package (a validation run), else a built-in simulated cell (--source sim "
        "selects it). "
        "Runs until Ctrl-C, --duration or the end of a --once recording. DDS stays on this "
        "machine (ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST; ROS_DOMAIN_ID kept if set, "
        "else a random one in 100..199)."
    )
    parser.add_argument("--duration", type=_positive, default=None, metavar="SECONDS",
                        help="stop after this many seconds of streaming (default: Ctrl-C)")
    parser.add_argument("--bag", default=None, help="replay this rosbag2 bag (node on /clock)")
    parser.add_argument("--data", default=None, metavar="RUN",
                        help="replay this run file (*_aligned.csv[.gz]) or folder of runs")
    parser.add_argument("--source", choices=SOURCES, default=SOURCE_AUTO,
                        help="auto: the first source available in the order below; sim: the "
                        "simulated cell (default auto)")
    parser.add_argument("--run", default=None, metavar="NAME",
                        help="in a folder, start with this run (default face_001)")
    parser.add_argument("--once", action="store_true",
                        help="replay one run and stop, instead of going through the folder")
    parser.add_argument("--speed", type=_positive, default=1.0,
                        help=f"replay speed factor, up to {MAX_SPEED:g} (default 1: real time)")
    parser.add_argument("--checkpoint", default=None,
                        help="model checkpoint (default: the shipped models/full.pt)")
    parser.add_argument("--params-file", default=None,
                        help="node params / stream layout (default: config/stream.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="simulated cell seed (default 0)")
    parser.add_argument("--no-warm-start", action="store_true",
                        help="send the first model window at the source's pace too (by "
                        "default it goes 8x faster so predictions start within seconds)")
    parser.add_argument("--node-log-level", choices=LOG_LEVELS, default="warn",
                        help="stream_node log level (its log file; default warn)")


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 on a normal stop (Ctrl-C, duration, end of data)."""
    from streaming_gcode.tools.demo.session import DemoOptions, DemoSession

    if args.speed > MAX_SPEED:
        raise ConfigError(f"--speed must be at most {MAX_SPEED:g}, got {args.speed:g}")
    options = DemoOptions(
        duration_s=args.duration, bag=args.bag, data=args.data, speed=args.speed,
        loop=not args.once, first_run=args.run, checkpoint=args.checkpoint,
        params_file=args.params_file, seed=args.seed, log_level=args.node_log_level,
        warm_start=not args.no_warm_start, source=args.source,
    )
    return DemoSession(options, sys.stdout).run()
