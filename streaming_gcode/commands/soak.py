# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode soak`: replay bags in a loop against the live node; memory, latency, drops."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import shlex
import sys
import tempfile

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import resolve_layout_path, StreamLayout
from streaming_gcode.tools.soak import analysis as soak

HELP = ("replay recorded bags in a loop at high rate against the live node and report "
        "memory growth, latency and drops over time (JSON + PNG)")
DEFAULT_OUT = Path(tempfile.gettempdir()) / "streaming_gcode_soak"
JSON_NAME = "soak.json"
DEFAULT_RUNS = 4                  # runs converted when no bag is given


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("--seconds", type=float, default=soak.DEFAULT_SOAK_SECONDS,
                        help=f"how long to soak (default {soak.DEFAULT_SOAK_SECONDS:g})")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help=f"report file (default OUT/{JSON_NAME}); the plot goes next to it")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help="working folder: converted bags, report, plot "
                        f"(default {DEFAULT_OUT})")
    parser.add_argument("--bags", nargs="+", type=Path, default=None, metavar="BAG",
                        help="bags to play (default: convert runs from --data)")
    parser.add_argument("--data", type=Path, default=None, metavar="PATH",
                        help="run file or folder of runs to convert (default: the dataset "
                        "next to the repository or $STREAMING_GCODE_DATA)")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, metavar="N",
                        help=f"runs to convert from --data (default {DEFAULT_RUNS})")
    parser.add_argument("--rate", type=float, default=soak.DEFAULT_RATE,
                        help=f"playback speed factor (default {soak.DEFAULT_RATE:g})")
    parser.add_argument("--sample-period", type=float, default=soak.DEFAULT_SAMPLE_PERIOD_S,
                        metavar="S", help="seconds between samples (default "
                        f"{soak.DEFAULT_SAMPLE_PERIOD_S:g})")
    parser.add_argument("--warmup", type=float, default=None, metavar="S",
                        help="warm-up excluded from growth and drift (default: a tenth of "
                        f"the run, {soak.MIN_WARMUP_S:g}..{soak.MAX_WARMUP_S:g} s)")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="checkpoint for the node (default: the shipped model, else random)")
    parser.add_argument("--config", type=Path, default=None,
                        help="stream layout params YAML (default: the shipped config/stream.yaml)")


def _bags(args: argparse.Namespace, layout: StreamLayout, out: Path) -> list[Path]:
    from streaming_gcode.recordings.bag_writer import write_missing_run_bags
    from streaming_gcode.recordings.csv_runs import find_runs, select_runs
    from streaming_gcode.tools.demo.sources import default_dataset

    if args.bags:
        missing = [str(b) for b in args.bags if not b.exists()]
        if missing:
            raise ConfigError(f"--bags: no such bag(s): {missing}")
        return list(args.bags)
    data = args.data or default_dataset()
    if not data.exists():
        raise ConfigError(f"no bags given and no recorded runs at {data}; pass --bags or --data")
    if args.runs < 1:
        raise ConfigError(f"--runs must be >= 1, got {args.runs}")
    return write_missing_run_bags(select_runs(find_runs([data]), args.runs), layout, out / "bags")


def run(args: argparse.Namespace) -> int:
    """Soak, write the JSON report and the plot; exit 1 when the node misbehaved."""
    from streaming_gcode.tools.soak.session import run_soak, SoakOptions

    if not args.seconds > 0 or not args.rate > 0 or not args.sample_period > 0:
        raise ConfigError("--seconds, --rate and --sample-period must be > 0")
    config = resolve_layout_path(args.config)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    bags = _bags(args, StreamLayout.from_yaml(config), out)
    json_path = args.json or out / JSON_NAME
    invoked = sys.argv[1:2] == ["soak"]   # else called in-process (tests)
    command = "streaming-gcode soak " + shlex.join(sys.argv[2:]) if invoked else ""
    options = SoakOptions(seconds=args.seconds, bags=tuple(bags), config=config,
                          checkpoint=args.checkpoint, rate=args.rate,
                          sample_period_s=args.sample_period, warmup_s=args.warmup,
                          command=command.strip())
    report = run_soak(options, progress=lambda text: print(text, flush=True))
    plot_path = json_path.with_suffix(".png")
    samples = [soak.SoakSample(**s) for s in report["samples"]]
    report["plot"] = str(soak.plot_samples(
        samples, plot_path, f"streaming_gcode soak: {report['seconds_run']:.0f} s at "
        f"{report['rate']:g}x, {report['passes']} bag passes"))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    print(soak.format_summary(report))
    print(f"report: {json_path}\nplot:   {plot_path}")
    healthy = report["node_exit_code"] == 0 and report["unexplained_drops"] == 0
    return 0 if healthy else 1
