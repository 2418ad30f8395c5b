# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bags as labelled frames, for scoring without (and against) the live node.

`prepare_bag` aligns a bag's samples with the node's own alignment code and
labels each frame with the reference line executing at its stamp, modal lines
resolved with the controller's reported motion mode as for recorded runs
(`windows.run_labels`). On a bag written by `csv2bag` it gives the frames and
labels of `windows.prepare_run` on the source CSV, with stamps in bag time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.alignment import align_samples
from streaming_gcode.model.gcode import label_lines, LineLabel
from streaming_gcode.offline.labelled_windows import MOTION_MODE_COLUMN, PreparedRun
from streaming_gcode.recordings.bag_reader import bag_reference, bag_samples, open_bag
from streaming_gcode.recordings.bag_runs import bag_run_name


def _mode_channel(layout: StreamLayout) -> tuple[int, int] | None:
    for index, spec in enumerate(layout.streams):
        if MOTION_MODE_COLUMN in spec.channels:
            return index, spec.channels.index(MOTION_MODE_COLUMN)
    return None


class _ModeRecorder:
    """Passes samples through while keeping the controller's motion mode and its stamps."""

    def __init__(self, layout: StreamLayout) -> None:
        self.where = _mode_channel(layout)
        self.stamps: list[int] = []
        self.modes: list[float] = []

    def tap(self, samples: Iterator[tuple[int, int, np.ndarray]]):
        for sample in samples:
            if self.where is not None and sample[0] == self.where[0]:
                self.stamps.append(sample[1])
                self.modes.append(float(sample[2][self.where[1]]))
            yield sample

    def at(self, stamps_ns: np.ndarray, max_age_ns: int) -> list[float]:
        """Mode of the newest sample at or before each stamp and not older than max_age."""
        if not self.stamps:
            return [float("nan")] * len(stamps_ns)
        known = np.asarray(self.stamps, dtype=np.int64)
        index = np.searchsorted(known, stamps_ns, side="right") - 1
        return [
            self.modes[i] if i >= 0 and stamp - known[i] <= max_age_ns else float("nan")
            for i, stamp in zip(index, stamps_ns)
        ]


def prepare_bag(
    bag: str | Path, layout: StreamLayout, feature_map: FeatureMap,
    label_topic: str | None = None,
) -> tuple[PreparedRun, np.ndarray, list[LineLabel | None]]:
    """Align a bag as the node would and label its frames.

    Returns the prepared run plus every reference stamp and its label (the
    timeline of what was executed, for plots and for pairing live predictions).
    Labels come from `label_topic`, by default the bag's reference topic.
    """
    with open_bag(bag) as opened:
        recorder = _ModeRecorder(layout)
        table = align_samples(layout, feature_map, recorder.tap(bag_samples(opened, layout)))
        stamps, lines = bag_reference(opened, label_topic)
        modes = recorder.at(stamps, layout.alignment.max_staleness_ns)
        labels = label_lines(lines, modes if recorder.where is not None else None)
        name = bag_run_name(opened)
    index = np.searchsorted(stamps, table.stamps, side="right") - 1
    frame_labels = [labels[i] if i >= 0 else None for i in index]
    prepared = PreparedRun(name, name.rsplit("_", 1)[0], table, frame_labels)
    return prepared, stamps, labels
