# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode evaluate`: score a model on recorded runs (JSON, table, confusion PNG)."""

from __future__ import annotations

import argparse
from pathlib import Path

from streaming_gcode.offline.splits import DEFAULT_SPLIT, SPLITS
from streaming_gcode.tools.live_eval import session as live_eval

HELP = "Evaluate a model on recorded runs: per-run and overall accuracy, JSON and confusion plot."
DEFAULT_MODEL = "full"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the evaluate subcommand."""
    parser.add_argument("--data", nargs="+", default=None, metavar="PATH",
                        help="run files (*_aligned.csv[.gz]) or folders of them")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help=f"model checkpoint (default: the shipped models/{DEFAULT_MODEL}.pt)")
    parser.add_argument("--json", type=Path, default=None, help="write the JSON report here")
    parser.add_argument("--confusion", type=Path, default=None,
                        help="write the command confusion PNG here")
    parser.add_argument("--layout", default=None,
                        help="stream layout YAML (default: the shipped config/stream.yaml)")
    parser.add_argument("--mode", choices=("window", "stateful"), default="window",
                        help="window: each frame from the window ending at it (the node's "
                             "full-window mode); stateful: state carried from the run start")
    parser.add_argument("--split", choices=SPLITS, default=DEFAULT_SPLIT,
                        help="runs of a --data folder to score: validation (the latest runs of "
                             "each family, the default), train (the earlier ones) or all; "
                             "a run file given explicitly is always scored")
    parser.add_argument("--continuous", action="store_true",
                        help="play the runs back to back in one stream (restamped, a pause "
                             "between runs): no reset and nothing marks where a run starts")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    live_eval.add_live_arguments(parser)  # --bags, --live: through the live node


def run(args: argparse.Namespace) -> int:
    """Evaluate, print the table, write the JSON and the confusion plot when asked."""
    if live_eval.handles(args):
        return live_eval.run_live(args)
    from streaming_gcode.core.stream_layout import resolve_layout
    from streaming_gcode.model.checkpoint import load_checkpoint, resolve_checkpoint
    from streaming_gcode.offline import evaluation as offline_eval
    from streaming_gcode.offline.evaluate_runs import evaluate_runs

    model = load_checkpoint(resolve_checkpoint(args.checkpoint, DEFAULT_MODEL))
    report = evaluate_runs(model, args.data, resolve_layout(args.layout), args.split, args.mode,
                           args.continuous, progress=not args.quiet)
    print(offline_eval.format_table(report))
    if report.info.get("library_note"):
        print(f"note: {report.info['library_note']}")
    seen = report.info.get("scored_runs_in_model_training") or []
    if seen:
        print(f"warning: {len(seen)} scored runs were in this model's training or library, "
              f"so their scores are not a validation: {', '.join(seen[:6])}"
              f"{' ...' if len(seen) > 6 else ''}")
    if args.json:
        offline_eval.write_json(report, args.json)
    if args.confusion:
        offline_eval.plot_confusion(report, args.confusion)
    return 0
