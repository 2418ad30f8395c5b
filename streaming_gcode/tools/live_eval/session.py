# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`evaluate --bags` and `evaluate --data ... --live`: the options and the entry point.

What the evaluate command needs when it builds its parser and when it runs
live: the playback options, `handles` (live or offline?) and `run_live`,
which hands over to `bag_evaluation.py` (torch and rclpy, imported only then).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import yaml

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.offline.splits import DEFAULT_SPLIT, split_paths
from streaming_gcode.tools.live_eval.playback import (
    DEFAULT_LIVE_CLOCK_HZ,
    DEFAULT_LIVE_RATE,
    LiveOptions,
)


def add_live_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--bags`, `--live` and the playback options to the evaluate command."""
    group = parser.add_argument_group("live evaluation through the node (bags replayed)")
    group.add_argument("--bags", nargs="+", default=None, metavar="PATH",
                       help="bags or folders of bags: replayed through the live node")
    group.add_argument("--live", action="store_true",
                       help="with --data: convert the runs to bags and score the live node")
    group.add_argument("--rate", type=float, default=DEFAULT_LIVE_RATE,
                       help=f"replay speed factor (default {DEFAULT_LIVE_RATE:g})")
    group.add_argument("--clock-hz", type=float, default=DEFAULT_LIVE_CLOCK_HZ,
                       help=f"/clock rate while replaying (default {DEFAULT_LIVE_CLOCK_HZ:g})")
    group.add_argument("--best-effort", action="store_true",
                       help="replay and subscribe best effort instead of reliable")
    group.add_argument("--playback-duration", type=float, default=None, metavar="S",
                       help="replay only the first S seconds of each bag")
    group.add_argument("--timelines", type=Path, default=None, metavar="DIR",
                       help="write a PNG timeline per bag here (default: next to --json)")
    group.add_argument("--keep-bags", type=Path, default=None, metavar="DIR",
                       help="with --data --live: keep the converted bags here")
    group.add_argument("--node-param", action="append", default=[], metavar="NAME=VALUE",
                       help="override a node parameter (YAML value), e.g. stride=4")


def parse_node_parameters(items: Sequence[str]) -> dict[str, Any]:
    """`NAME=VALUE` pairs (values parsed as YAML: `4`, `true`, `0.5`, `text`)."""
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"node parameter {item!r} must look like NAME=VALUE")
        params[name.strip()] = yaml.safe_load(value) if value.strip() else ""
    return params


def handles(args: argparse.Namespace) -> bool:
    """Tell whether evaluate should run live; error when neither --data nor --bags is given."""
    if getattr(args, "bags", None) is None and not getattr(args, "data", None):
        raise ConfigError("give --data PATH... (recorded runs) or --bags PATH... (bags)")
    return bool(args.bags) or bool(getattr(args, "live", False))


def run_live(args: argparse.Namespace) -> int:
    """Evaluate bags (or runs converted to bags) through the live node; print, write JSON."""
    data = args.data
    if data:   # a folder's runs of --split (the temporal validation runs by default)
        data = [str(p) for p in split_paths(data, getattr(args, "split", DEFAULT_SPLIT))]
    timelines = args.timelines or (args.json.parent / "timelines" if args.json else None)
    options = LiveOptions(rate=args.rate, clock_hz=args.clock_hz, reliable=not args.best_effort,
                          duration_s=args.playback_duration, timeline_dir=timelines,
                          node_parameters=parse_node_parameters(args.node_param))
    # torch (the model) and rclpy (the node): not paid by every command that builds the parser
    from streaming_gcode.tools.live_eval.bag_evaluation import run_bags

    report, table = run_bags(args.checkpoint, args.layout, options, args.bags, data,
                             args.keep_bags, quiet=args.quiet,
                             continuous=getattr(args, "continuous", False))
    print(table)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0
