# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode csv2bag`: recorded runs (dataset CSV) to rosbag2 bags."""

from __future__ import annotations

import argparse
from pathlib import Path

from streaming_gcode.core.stream_layout import resolve_layout
from streaming_gcode.recordings.bag_writer import (
    COMPRESSIONS,
    DEFAULT_COMPRESSION,
    DEFAULT_STORAGE,
    RECORDING_DATE,
    REFERENCE_TOPIC,
    STORAGES,
    write_run_bags,
)
from streaming_gcode.recordings.csv_runs import find_runs

HELP = "convert recorded runs (*_aligned.csv[.gz]) into rosbag2 bags, one per run"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.epilog = (
        "Each bag is a folder DIR/<run> with metadata.yaml, readable by `ros2 bag info` and "
        "`ros2 bag play`. Rows are stamped "
        f"{RECORDING_DATE} (UTC) + the recorded time of day."
    )
    parser.add_argument("runs", nargs="+", metavar="RUN", help="run files or folders of runs")
    parser.add_argument("--out", required=True, type=Path, metavar="DIR",
                        help="folder that receives one bag per run")
    parser.add_argument("--storage", choices=STORAGES, default=DEFAULT_STORAGE,
                        help=f"storage format (default {DEFAULT_STORAGE})")
    parser.add_argument("--config", type=Path, default=None,
                        help="stream layout params YAML (default: the shipped config/stream.yaml)")
    parser.add_argument("--reference-topic", default=REFERENCE_TOPIC,
                        help=f"topic of the executed G-code line (default {REFERENCE_TOPIC})")
    parser.add_argument("--compression", choices=COMPRESSIONS, default=DEFAULT_COMPRESSION,
                        help="zstd compression: file (the storage file whole, smallest), "
                        f"message (each message), none (default {DEFAULT_COMPRESSION})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace bags that exist already")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    """Convert every run; print one line per bag."""
    layout = resolve_layout(args.config)
    runs = find_runs(args.runs)
    summaries = write_run_bags(
        runs, layout, args.out, storage=args.storage, reference_topic=args.reference_topic,
        overwrite=args.overwrite, show_progress=not args.quiet, compression=args.compression,
    )
    for summary in summaries:
        seconds = (summary.end_ns - summary.start_ns) / 1e9
        print(f"{summary.path}: {summary.messages} messages, {seconds:.1f} s")
    return 0
