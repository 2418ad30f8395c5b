# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Recorded runs -> labelled frames and windows, through the node's own alignment.

Frames come from `align_samples` on the run's per-stream samples, exactly what
the node builds from the same data replayed as a bag, so training, offline
evaluation and the live node see identical frames. Frames are stamped on the
controller's status reports; each frame's label is the G-code line of the
dataset row with that stamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.alignment import align_samples, FrameTable
from streaming_gcode.model.gcode import label_lines, LineLabel
from streaming_gcode.model.vocabulary import OutputVocabulary
from streaming_gcode.recordings.csv_runs import RecordedRun, rows_at, run_samples

MOTION_MODE_COLUMN = "momo"
CONTROLLER_LINE_COLUMN = "line"   # the program line number the controller reports
NO_LINE = -1                      # controller line of a frame whose row has none
IGNORE_INDEX = -100  # target of unlabelled frames (skipped by the loss and the metrics)


@dataclass
class PreparedRun:
    """One run as aligned frames with a label per frame (None = unlabelled)."""

    name: str
    family: str
    table: FrameTable
    labels: list[LineLabel | None]
    controller_lines: np.ndarray | None = None   # int64 [N] controller `line`, NO_LINE = none

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.table)

    @property
    def labelled(self) -> int:
        """Return the number of frames with a label."""
        return sum(label is not None for label in self.labels)


def run_labels(run: RecordedRun) -> list[LineLabel | None]:
    """Label of every row of a run (modal lines resolved with the controller's mode)."""
    modes = run.columns.get(MOTION_MODE_COLUMN)
    return label_lines(run.gcode, None if modes is None else [float(m) for m in modes])


def controller_lines(run: RecordedRun) -> np.ndarray | None:
    """Return the controller's `line` per row (NO_LINE where empty); None without the column."""
    column = run.columns.get(CONTROLLER_LINE_COLUMN)
    if column is None:
        return None
    return np.where(np.isfinite(column), np.nan_to_num(column), NO_LINE).astype(np.int64)


def label_frames(run: RecordedRun, table: FrameTable) -> PreparedRun:
    """Attach to aligned frames of `run` the labels and controller lines of their rows."""
    rows = rows_at(run, table.stamps)
    labels = run_labels(run)
    lines = controller_lines(run)
    return PreparedRun(run.name, run.family, table, [labels[r] for r in rows],
                       None if lines is None else lines[rows])


def prepare_run(run: RecordedRun, layout: StreamLayout, feature_map: FeatureMap) -> PreparedRun:
    """Align a run's samples as the node would and attach the labels of the frames' rows."""
    return label_frames(run, align_samples(layout, feature_map, run_samples(run, layout)))


def targets(prepared: PreparedRun, vocab: OutputVocabulary) -> dict[str, np.ndarray]:
    """Per-head target indices int64 [N]; IGNORE_INDEX where a frame has no label."""
    heads = list(vocab.head_sizes)
    out = {head: np.full(len(prepared), IGNORE_INDEX, dtype=np.int64) for head in heads}
    for i, label in enumerate(prepared.labels):
        if label is None:
            continue
        for head, index in vocab.encode(label).items():
            out[head][i] = index
    return out


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Return the starts of windows covering a run; the last one ends at the run's end."""
    if length <= window:
        return np.zeros(1, dtype=np.int64)
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return np.asarray(starts, dtype=np.int64)


@dataclass
class WindowBatch:
    """Windows stacked for the model; `mask` is False on end padding of short runs."""

    continuous: np.ndarray            # float32 [B, W, C]
    categorical: np.ndarray           # int64 [B, W, K]
    targets: dict[str, np.ndarray]    # int64 [B, W] per head (IGNORE_INDEX where masked)


def gather_windows(
    tables: Sequence[FrameTable],
    run_targets: Sequence[dict[str, np.ndarray]],
    picks: Iterable[tuple[int, int]],
    window: int,
) -> WindowBatch:
    """Stack windows `(run index, start)`; runs shorter than `window` are end-padded."""
    picks = list(picks)
    n_cont = tables[0].continuous.shape[1]
    n_cat = tables[0].categorical.shape[1]
    heads = list(run_targets[0])
    cont = np.zeros((len(picks), window, n_cont), dtype=np.float32)
    cat = np.zeros((len(picks), window, n_cat), dtype=np.int64)
    tgt = {h: np.full((len(picks), window), IGNORE_INDEX, dtype=np.int64) for h in heads}
    for b, (r, start) in enumerate(picks):
        stop = min(start + window, len(tables[r]))
        span = stop - start
        cont[b, :span] = tables[r].continuous[start:stop]
        cat[b, :span] = tables[r].categorical[start:stop]
        if span < window:  # causal model: end padding cannot change earlier outputs
            cont[b, span:] = tables[r].continuous[stop - 1]
            cat[b, span:] = tables[r].categorical[stop - 1]
        for h in heads:
            tgt[h][b, :span] = run_targets[r][h][start:stop]
    return WindowBatch(cont, cat, tgt)
