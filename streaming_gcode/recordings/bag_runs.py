# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A bag recorded in a cell as a `RecordedRun`, so training and baselines take bags as runs.

Rows are the stamps of the layout's samples (header stamps, as the node aligns
them); each row holds the channels of the samples stamped there (NaN elsewhere),
so `csv_runs.run_samples` gives the bag's samples back and the node's alignment
sees what it would see live. The label of a row is the newest line on the label
topic (a `std_msgs/String` carrying the executing line, as `csv2bag` writes
`cnc/executing_line`) at or before the row.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import StreamLayout
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


def load_bag_run(path: str | Path, layout: StreamLayout,
                 label_topic: str | None = None) -> RecordedRun:
    """Read a bag's samples and labels into a run; one RecordingError names what is wrong."""
    path = Path(path)
    with open_bag(path) as bag:
        topic = label_topic or reference_topic_of(bag)
        rejected: dict[str, int] = {}
        samples = list(bag_samples(bag, layout, rejected))
        label_stamps, lines = bag_reference(bag, topic)
        name = bag_run_name(bag)
    if not samples:
        raise RecordingError(f"bag {path}: no valid samples on the layout's topics "
                             f"(malformed per stream: {rejected or 'none'})")
    if not lines:
        raise RecordingError(f"bag {path}: label topic {topic} has no messages; expected "
                             "std_msgs/String with the executing line")
    stamps = np.unique(np.fromiter((s[1] for s in samples), np.int64, len(samples)))
    columns = {c: np.full(len(stamps), np.nan) for spec in layout.streams for c in spec.channels}
    for index, stamp, values in samples:
        row = int(np.searchsorted(stamps, stamp))
        for channel, value in zip(layout.streams[index].channels, values):
            columns[channel][row] = value
    gcode = lines_at(label_stamps, lines, stamps)
    return RecordedRun(name, path, stamps, columns, gcode,
                       np.full(len(stamps), NO_LINE_NUMBER, np.int64))


__all__ = ["bag_run_name", "load_bag_run"]
