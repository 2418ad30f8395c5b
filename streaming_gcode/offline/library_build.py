# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Building a model's library from recorded runs: in training, and again in evaluation.

One rule for both: with the controller's line and evidence channels among the
inputs, the program library (model/program_library.py); otherwise the physics
witness's progress library on the channels the runs select, the layout's
`drifting` channels levelled (model/progress_library.py). Evaluation rebuilds a
checkpoint's library from the runs it was validated with when the saved one
also holds the runs being scored (`train --library-runs all`): scoring a
library on runs it holds would not be a validation.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterable, Sequence

from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.checkpoint import LoadedModel
from streaming_gcode.model.libraries import Library
from streaming_gcode.model.program_library import build_library
from streaming_gcode.model.progress_library import build_progress_library, select_channels
from streaming_gcode.offline.labelled_windows import prepare_run, PreparedRun
from streaming_gcode.offline.splits import tool_condition_of
from streaming_gcode.offline.training_config import TrainingConfig
from streaming_gcode.recordings.csv_runs import find_runs, load_run, run_name


def build_model_library(config: TrainingConfig, layout: StreamLayout, names: Sequence[str],
                        past: Sequence[PreparedRun]) -> Library | None:
    """Return the library a model with continuous inputs `names` gets from the `past` runs.

    Without the controller's line among the inputs (the `physical` set), the
    physics witness's progress library instead, on the channels it selects.
    """
    names = list(names)
    channels = [config.program_line_channel, *config.program_evidence]
    if not config.program_line_channel or any(n not in names for n in channels):
        if not config.progress_library:
            return None
        chosen = select_channels([(p.family, p.table.continuous) for p in past], names)
        if not chosen:
            return None
        index = [names.index(n) for n in chosen]
        drifting = {c for s in layout.streams for c in s.drifting}
        return build_progress_library(
            ((p.family, tool_condition_of(p.family),
              p.table.continuous[:, index], p.labels) for p in past), chosen,
            levelled=[n for n in chosen if n in drifting])
    line = names.index(config.program_line_channel)
    evidence = [names.index(n) for n in config.program_evidence]
    return build_library(((p.family, p.table.continuous[:, line],
                           p.table.continuous[:, evidence], p.labels) for p in past),
                         config.program_line_channel, config.program_evidence)


def training_config_of(model: LoadedModel) -> TrainingConfig:
    """Return the training configuration a checkpoint records (unknown keys ignored)."""
    recorded: dict[str, Any] = model.metadata.training.get("config", {})
    known = {f.name for f in dataclasses.fields(TrainingConfig)}
    return TrainingConfig(**{k: v for k, v in recorded.items() if k in known and k != "data"},
                          data=[])


def validated_library_model(model: LoadedModel, paths: Iterable[str | Path],
                            layout: StreamLayout, scored: Sequence[str]
                            ) -> tuple[LoadedModel, str]:
    """Return the model to score on `scored`, and a note when its library was rebuilt.

    A library refit on every run (`train --library-runs all`) holds the scored
    runs; it is rebuilt from the runs it was validated with, found beside
    `paths`. When they are not there, the model is returned as saved and the note
    says that its scores are not a validation.
    """
    info = model.metadata.training.get("library") or {}
    held, past = set(info.get("runs", [])), list(info.get("validated_with_runs", []))
    overlap = sorted(held & set(scored))
    if not overlap or model.metadata.library is None:
        return model, ""
    folders = {Path(p) if Path(p).is_dir() else Path(p).parent for p in paths}
    found = {run_name(f): f for f in find_runs(sorted(folders))} if folders else {}
    missing = [n for n in past if n not in found]
    if not past or missing:
        return model, (f"the model's library holds {len(overlap)} of the scored runs and the "
                       f"runs it was validated with are not all here ({len(missing)} missing): "
                       "these scores are not a validation")
    fmap = model.feature_map(layout)
    prepared = [prepare_run(load_run(found[n]), layout, fmap) for n in past]
    library = build_model_library(training_config_of(model), layout,
                                  model.metadata.continuous_features, prepared)
    training = {**model.metadata.training, "library": {**info, "runs": past}}
    rebuilt = LoadedModel(model.backbone, model.line_heads, model.config, dataclasses.replace(
        model.metadata, program_library=library.to_dict() if library is not None else None,
        training=training), model.path)
    return rebuilt, (f"the model's library holds {len(overlap)} of the scored runs "
                     f"(--library-runs all): scored with its library rebuilt from the "
                     f"{len(past)} runs it was validated with")


__all__ = ["build_model_library", "training_config_of", "validated_library_model"]
