# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A bag recorded in a cell as a `RecordedRun`, so training and baselines take bags as runs.

Rows are the stamps of the layout's samples (header stamps, as the node aligns
them); each row holds the channels of the samples stamped there (NaN elsewhere),
so `csv_runs.run_samples` gives the bag's samples back and the node's alignment
sees what it would see live. A batch (a 2-D array message of a stream with
`sample_rate_hz`) is one row per sample, stamped as the aligner stamps it
(`aggregation.batch_stamps`, never before the stream's previous sample), so the
frames of the run are those of `align_samples(bag_samples(...))` (`prepare_bag`)
while batches do not overlap (a row holds one sample of a stream) and each
arrives within the alignment timeout of the frames it covers.
The label of a row is the newest line on the label topic (a `std_msgs/String`
carrying the executing line, as `csv2bag` writes `cnc/executing_line`) at or
before the row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.aggregation import batch_stamps
from streaming_gcode.recordings.bag_reader import (
    Bag, bag_reference, bag_samples, lines_at, open_bag, reference_topic_of,
)
from streaming_gcode.recordings.bag_writer import SOURCE_RUN_KEY
from streaming_gcode.recordings.csv_runs import RecordedRun

NO_LINE_NUMBER = -1


def bag_run_name(bag: Bag) -> str:
    """Return the source run's name (csv2bag records it), else the bag's own name."""
    name = bag.info.custom_data.get(SOURCE_RUN_KEY)
    if name:
        return name
    return bag.path.stem if bag.path.is_file() else bag.path.name


def spread_samples(
    samples: Iterable[tuple[int, int, np.ndarray]], layout: StreamLayout
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield `(stream_index, stamps [k], values [k, channels])`, a batch's samples at their stamps.

    A batch ends at its message's stamp, its samples `sample_rate_hz` apart and
    moved up to the stream's previous sample, as `FrameAligner.push_batch` stamps them.
    """
    newest: dict[int, int] = {}
    for index, stamp, values in samples:
        if values.ndim == 2:
            if index in newest and stamp < newest[index]:
                continue     # the aligner refuses a batch ending before its stream's newest
            stamps = batch_stamps(stamp, len(values), layout.streams[index].sample_period_ns,
                                  newest.get(index))
        else:
            stamps, values = np.array([stamp], dtype=np.int64), values[np.newaxis]
        newest[index] = int(stamps[-1])
        yield index, stamps, values


def _columns(rows: list[tuple[int, np.ndarray, np.ndarray]], layout: StreamLayout,
             stamps: np.ndarray) -> dict[str, np.ndarray]:
    """Each stream's channels at the rows of their samples' stamps, NaN elsewhere."""
    columns = {c: np.full(len(stamps), np.nan) for spec in layout.streams for c in spec.channels}
    for index, spec in enumerate(layout.streams):
        mine = [(at, values) for i, at, values in rows if i == index]
        if not mine:
            continue
        where = np.searchsorted(stamps, np.concatenate([at for at, _ in mine]))
        values = np.concatenate([v for _, v in mine])
        for c, channel in enumerate(spec.channels):
            columns[channel][where] = values[:, c]
    return columns


def load_bag_run(path: str | Path, layout: StreamLayout,
                 label_topic: str | None = None) -> RecordedRun:
    """Read a bag's samples and labels into a run; one RecordingError names what is wrong."""
    path = Path(path)
    with open_bag(path) as bag:
        topic = label_topic or reference_topic_of(bag)
        rejected: dict[str, int] = {}
        rows = list(spread_samples(bag_samples(bag, layout, rejected), layout))
        label_stamps, lines = bag_reference(bag, topic)
        name = bag_run_name(bag)
    if not rows:
        raise RecordingError(f"bag {path}: no valid samples on the layout's topics "
                             f"(malformed per stream: {rejected or 'none'})")
    if not lines:
        raise RecordingError(f"bag {path}: label topic {topic} has no messages; expected "
                             "std_msgs/String with the executing line")
    stamps = np.unique(np.concatenate([at for _, at, _ in rows]))
    gcode = lines_at(label_stamps, lines, stamps)
    return RecordedRun(name, path, stamps, _columns(rows, layout, stamps), gcode,
                       np.full(len(stamps), NO_LINE_NUMBER, np.int64))


__all__ = ["bag_run_name", "load_bag_run", "spread_samples"]
