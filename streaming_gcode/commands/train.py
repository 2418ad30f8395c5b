# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode train`: train a model on recorded runs and save its checkpoint."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path
import shlex
import sys

HELP = "Train a streaming G-code model on recorded runs (run-level split, early stopping)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the train subcommand (defaults are TrainingConfig's)."""
    from streaming_gcode.core.features import FEATURE_SET_DESCRIPTIONS
    from streaming_gcode.offline.training_config import LIBRARY_RUNS, TrainingConfig

    defaults = vars(TrainingConfig(data=[]))
    sources = parser.add_argument_group("recordings (at least one of --data, --bags)")
    sources.add_argument("--data", nargs="+", default=[], metavar="PATH",
                         help="run files (*_aligned.csv[.gz]) or folders of them")
    sources.add_argument("--bags", nargs="+", default=[], metavar="PATH",
                         help="rosbag2 bags recorded in the cell (folders or .mcap/.db3), or "
                         "folders of them; each bag is one run, named <family>_<NNN> to place "
                         "it in time (csv2bag records the source run's name)")
    sources.add_argument("--label-topic", default=None, metavar="TOPIC",
                         help="std_msgs/String topic of the bags carrying the executing line "
                         "(default: the topic the bag records as its reference, else "
                         "cnc/executing_line)")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint file to write (.pt)")
    parser.add_argument("--feature-set", choices=sorted(FEATURE_SET_DESCRIPTIONS),
                        default=defaults["feature_set"])
    parser.add_argument("--layout", default=None,
                        help="stream layout YAML (default: the shipped config/stream.yaml)")
    parser.add_argument("--json", type=Path, default=None, help="write the validation report here")
    parser.add_argument("--confusion", type=Path, default=None,
                        help="write the validation command confusion PNG here")
    parser.add_argument("--card", type=Path, default=None,
                        help="write a markdown model card of the trained model here")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    for name in ("d_model", "num_layers", "num_heads", "embedding_dim", "window", "window_stride",
                 "batch_size", "max_epochs", "patience", "seed", "threads", "tune_every"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=defaults[name])
    for name in ("dropout", "lr", "weight_decay", "max_minutes"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=defaults[name])
    parser.add_argument("--code-features", nargs="*", default=defaults["code_features"],
                        metavar="NAME", help="continuous inputs that are integer codes and also "
                        "get a learned embedding (default: "
                        f"{' '.join(defaults['code_features'])})")
    parser.add_argument("--eval-mode", choices=("window", "stateful"),
                        default=defaults["eval_mode"])
    parser.add_argument("--library-runs", choices=LIBRARY_RUNS, default=defaults["library_runs"],
                        help="runs the saved program library / physics witness holds: past "
                        "(the train and tune runs, the default) or all (the validation runs "
                        "too: validation is scored with the past-only library first, then the "
                        "library is rebuilt from every run; the card and the checkpoint say so)")


def run(args: argparse.Namespace) -> int:
    """Train, print the validation table, save the checkpoint (and report files)."""
    from streaming_gcode.core.stream_layout import resolve_layout
    from streaming_gcode.offline import evaluation as offline_eval
    from streaming_gcode.offline.model_card import write_card
    from streaming_gcode.offline.training import train
    from streaming_gcode.offline.training_config import TrainingConfig

    from streaming_gcode.core.errors import ConfigError

    if not args.data and not args.bags:
        raise ConfigError("train: no recordings given: use --data and/or --bags")
    names = {f.name for f in fields(TrainingConfig)}
    config = TrainingConfig(**{k: v for k, v in vars(args).items() if k in names})
    command = "streaming-gcode " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    result = train(config, resolve_layout(args.layout), out=args.out, command=command,
                   progress=not args.quiet)
    print(f"split: {', '.join(f'{k} {len(v)} runs' for k, v in result.split.items())}")
    for name, report in (("tune", result.tune), ("validation", result.validation)):
        if report is not None:
            print(f"\n{name} runs ({report.info['mode']} mode):")
            print(offline_eval.format_table(report))
    if result.validation is not None:
        if args.json:
            offline_eval.write_json(result.validation, args.json)
        if args.confusion:
            offline_eval.plot_confusion(result.validation, args.confusion)
    if args.card:
        write_card(result.model, Path(args.out), args.card)
    print(f"\nsaved {result.model.path}")
    return 0
