# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What `evaluate --data` does offline: pick the split, build the baselines, score.

The runs scored are a folder's temporal validation runs by default (`splits`);
the baselines are counted from the same folders' temporal training runs, so
neither the model's nor the baselines' numbers come from the runs they learnt on
(unless `--split train|all` asks for it, which `info` then says).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.checkpoint import LoadedModel
from streaming_gcode.offline.baselines import build_baselines
from streaming_gcode.offline.continuous import evaluate_continuous, prepare_continuous
from streaming_gcode.offline.evaluation import DEFAULT_MODE, evaluate_prepared, EvaluationReport
from streaming_gcode.offline.labelled_windows import prepare_run
from streaming_gcode.offline.library_build import validated_library_model
from streaming_gcode.offline.splits import (
    DEFAULT_SPLIT, every_fourth_split, split_paths, training_paths, VALIDATION,
)
from streaming_gcode.recordings.csv_runs import load_run, run_name


def trained_on(model: LoadedModel) -> set[str]:
    """Return the runs the model learnt from (train, tune, its library's), as recorded.

    `train --library-runs all` refits the library on the validation runs too.
    """
    training = model.metadata.training
    split = training.get("split", {})
    library = training.get("library") or {}
    return ({str(n) for role in ("train", "tune") for n in split.get(role, [])}
            | {str(n) for n in library.get("runs", [])})


def evaluate_runs(
    model: LoadedModel,
    paths: Sequence[str | Path],
    layout: StreamLayout,
    split: str = DEFAULT_SPLIT,
    mode: str = DEFAULT_MODE,
    continuous: bool = False,
    progress: bool = False,
) -> EvaluationReport:
    """Score `model` and the baselines on the `split` runs of `paths` (files: always)."""
    files = split_paths(paths, split)
    train_files = training_paths(paths)
    tables = None
    if train_files:
        tables = build_baselines(
            (load_run(p) for p in tqdm(train_files, desc="baselines", unit="run",
                                       disable=not progress)), model.vocabulary)
    scored = [run_name(p) for p in files]
    model, library_note = validated_library_model(model, paths, layout, scored)
    runs = [load_run(p) for p in tqdm(files, desc="load", unit="run", disable=not progress)]
    feature_map = model.feature_map(layout)
    if continuous:
        stream = prepare_continuous(runs, layout, feature_map)
        report = evaluate_continuous(model, stream, mode, progress, baselines=tables)
    else:
        prepared = [prepare_run(r, layout, feature_map)
                    for r in tqdm(runs, desc="align", unit="run", disable=not progress)]
        report = evaluate_prepared(model, prepared, mode, progress, baselines=tables)
    report.info.update({
        "split": split,
        "continuous": continuous,
        "baselines_trained_on_scored_runs": sorted(set(scored) & set(
            tables.training_runs if tables else ())),
        # the split models trained before the temporal rule used
        "scored_runs_in_every_4th_training_split": [n for n in scored
                                                    if every_fourth_split(n) != VALIDATION],
        "scored_runs_in_model_training": sorted(set(scored) & trained_on(model)),
    })
    if library_note:
        report.info["library_note"] = library_note
    if tables is None:
        where = [str(p) for p in paths]
        report.info["baselines_note"] = f"no temporal training runs next to {where}"
    return report


__all__ = ["evaluate_runs", "trained_on"]
