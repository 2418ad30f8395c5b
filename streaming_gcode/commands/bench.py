# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode bench`: the seed baseline and every engine configuration, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
import time

HELP = ("measure tick latency, CPU, memory and speedup over the seed baseline for every "
        "mode and backend, batching over machines, and end to end over DDS")
DEFAULT_OUT = Path("bench")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _machines(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"machine counts must be >= 1, got {text!r}")
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.epilog = ("Writes DIR/results.json (or --json), DIR/results.md, DIR/latency_cdf.png, "
                     "DIR/batching.png and (end to end over DDS) DIR/data_age.png. DDS stays on "
                     "this machine "
                     "(ROS_AUTOMATIC_DISCOVERY_RANGE="
                     "LOCALHOST; ROS_DOMAIN_ID kept if set, else a random one in 100..199).")
    parser.add_argument("--quick", action="store_true",
                        help="fewer ticks, stride 8 only, incremental batching: about a minute")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH",
                        help="results file (default: DIR/results.json)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                        help=f"directory for the table and plots (default: {DEFAULT_OUT})")
    parser.add_argument("--ticks", type=_positive_int, default=None,
                        help="measured ticks per configuration (default 30 quick, 300 full)")
    parser.add_argument("--threads", type=_positive_int, default=1,
                        help="intra-op threads of the engine's backends (default 1)")
    parser.add_argument("--machines", type=_machines, default=None, metavar="N,N,...",
                        help="machine counts for batching (default 1,4,16,64)")
    parser.add_argument("--no-dds", action="store_true",
                        help="skip the end-to-end DDS measurement")


def _command_line(args: argparse.Namespace) -> str:
    """Rebuild the invocation, for the record in results.json."""
    parts = ["streaming-gcode", "bench"]
    if args.quick:
        parts.append("--quick")
    for flag, value, default in (("--ticks", args.ticks, None), ("--threads", args.threads, 1)):
        if value != default:
            parts += [flag, str(value)]
    if args.machines:
        parts += ["--machines", ",".join(str(m) for m in args.machines)]
    if args.no_dds:
        parts.append("--no-dds")
    return " ".join(parts)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write its outputs."""
    from streaming_gcode.tools.bench.driver import MACHINE_COUNTS, BenchOptions, run_benchmark
    from streaming_gcode.tools.bench.report import markdown, write_outputs

    options = BenchOptions(quick=args.quick, threads=args.threads, ticks=args.ticks,
                           machines=args.machines or MACHINE_COUNTS, dds=not args.no_dds)

    started = time.perf_counter()

    def log(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {line}", file=sys.stderr, flush=True)

    results = run_benchmark(options, log)
    log("writing results, table and plots")
    results["command"] = _command_line(args)
    written = write_outputs(results, args.json or args.out / "results.json", args.out)
    print(markdown(results))
    log("wrote " + ", ".join(str(p) for p in written))
    return 0
