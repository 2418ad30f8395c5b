# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Runs played back to back in one stream, as a cell that runs job after job.

Each run is restamped to start `CONTINUOUS_PAUSE_NS` after the previous one
ends (a pause with no data), and the samples of all runs go through one
`align_samples` pass, so nothing tells the model where a run starts: in
`window` mode windows span run boundaries, in `stateful` mode the state is
never reset. Predictions are then cut back into runs and scored per run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import chain
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import NS_PER_S, StreamLayout
from streaming_gcode.ingestion.alignment import align_samples, FrameTable
from streaming_gcode.model.checkpoint import LoadedModel
from streaming_gcode.offline.baselines import BaselineTables
from streaming_gcode.offline.evaluation import (
    DEFAULT_MODE, EvaluationReport, frame_readings, predict_run, score_predictions,
)
from streaming_gcode.offline.labelled_windows import label_frames, PreparedRun
from streaming_gcode.offline.operation_scores import operation_scores
from streaming_gcode.recordings.csv_runs import RecordedRun, run_samples

CONTINUOUS_PAUSE_S = 3.0   # no data between two runs: a job change, not a dropout
CONTINUOUS_PAUSE_NS = int(CONTINUOUS_PAUSE_S * NS_PER_S)
STREAM_NAME = "continuous"


def restamp_runs(
    runs: Sequence[RecordedRun], pause_ns: int = CONTINUOUS_PAUSE_NS
) -> list[RecordedRun]:
    """Shift each run to start `pause_ns` after the previous one's last row (the first stays)."""
    if pause_ns <= 0:
        raise RecordingError(f"continuous pause {pause_ns} ns: expected a positive pause")
    out: list[RecordedRun] = []
    for run in runs:
        if len(run) == 0:
            raise RecordingError(f"{run.path}: no rows to play")
        offset = 0 if not out else int(out[-1].stamps_ns[-1]) + pause_ns - int(run.stamps_ns[0])
        out.append(replace(run, stamps_ns=run.stamps_ns + offset))
    return out


def concatenate_runs(
    runs: Sequence[RecordedRun], pause_ns: int = CONTINUOUS_PAUSE_NS
) -> RecordedRun:
    """One run of the restamped runs back to back (a column a run lacks is NaN there).

    Its rows give the same per-stream samples as the restamped runs one after the
    other, so a bag written from it replays the continuous stream (`--live`).
    """
    played = restamp_runs(runs, pause_ns)
    names = sorted({c for r in played for c in r.columns})
    columns = {c: np.concatenate([r.columns.get(c, np.full(len(r), np.nan)) for r in played])
               for c in names}
    return RecordedRun(
        name=STREAM_NAME, path=Path(STREAM_NAME),
        stamps_ns=np.concatenate([r.stamps_ns for r in played]), columns=columns,
        gcode=[text for r in played for text in r.gcode],
        line_numbers=np.concatenate([r.line_numbers for r in played]),
    )


@dataclass
class ContinuousStream:
    """The frames of runs played back to back, and which frames belong to which run."""

    stream: PreparedRun            # every frame of the stream, with labels
    runs: list[PreparedRun]        # the same frames cut per run (views of `stream`)
    starts: list[int]              # first frame of each run in `stream`


def _slice(table: FrameTable, start: int, stop: int) -> FrameTable:
    return FrameTable(table.stamps[start:stop], table.continuous[start:stop],
                      table.categorical[start:stop], table.degraded[start:stop])


def prepare_continuous(
    runs: Sequence[RecordedRun],
    layout: StreamLayout,
    feature_map: FeatureMap,
    pause_ns: int = CONTINUOUS_PAUSE_NS,
) -> ContinuousStream:
    """Align restamped runs in one pass, then label each run's frames from its rows."""
    played = restamp_runs(runs, pause_ns)
    table = align_samples(layout, feature_map,
                          chain.from_iterable(run_samples(r, layout) for r in played))
    ends = np.array([int(r.stamps_ns[-1]) for r in played], dtype=np.int64)
    owner = np.searchsorted(ends, table.stamps, side="left")   # run whose rows hold each frame
    bounds = np.searchsorted(owner, np.arange(len(played) + 1), side="left")
    parts = [label_frames(run, _slice(table, int(bounds[i]), int(bounds[i + 1])))
             for i, run in enumerate(played)]
    lines = [p.controller_lines for p in parts]
    stream = PreparedRun(
        STREAM_NAME, STREAM_NAME, table, [label for p in parts for label in p.labels],
        None if any(v is None for v in lines) else np.concatenate(lines))
    return ContinuousStream(stream, parts, [int(b) for b in bounds[:-1]])


def evaluate_continuous(
    model: LoadedModel,
    continuous: ContinuousStream,
    mode: str = DEFAULT_MODE,
    progress: bool = False,
    every: int = 1,
    baselines: BaselineTables | None = None,
) -> EvaluationReport:
    """Predict over the whole stream (no reset at run starts), score per run as usual."""
    step = max(1, every)
    with tqdm(total=1, desc="evaluate (continuous)", disable=not progress) as bar:
        readings = frame_readings(model, continuous.stream.table)
        keys = predict_run(model, continuous.stream, mode, step, readings)
        bar.update()
    predicted = [keys[start:start + len(run)]
                 for start, run in zip(continuous.starts, continuous.runs)]
    runs = continuous.runs
    if step > 1:   # score the frames on the stream's every-n-th grid, as predicted
        runs = [replace(run, labels=[label if (start + t) % step == 0 else None
                                     for t, label in enumerate(run.labels)])
                for start, run in zip(continuous.starts, runs)]
    report = score_predictions(model, runs, predicted, mode, 1, baselines)
    if readings is not None:
        report.operations = operation_scores(runs, [
            readings[start:start + len(run)] for start, run in zip(continuous.starts, runs)])
    report.info.update({"continuous": True, "continuous_pause_s": CONTINUOUS_PAUSE_S})
    return report


__all__ = [
    "CONTINUOUS_PAUSE_NS", "CONTINUOUS_PAUSE_S", "ContinuousStream", "concatenate_runs",
    "evaluate_continuous",
    "prepare_continuous", "restamp_runs",
]
