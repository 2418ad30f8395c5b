# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Recorded runs as a live source: the schedule of messages a replay publishes.

A replay sends each row of a run (`recording.run_samples`, the samples the
aligner sees offline) when its time comes, plus the executing line of that row
on a reference topic, so a display can put the node's prediction next to what
the machine was really doing. Stamps are moved to the replay's own clock
(`start_ns` plus the row's offset in the run, divided by `speed`), because the
node judges staleness and future stamps on its own clock; the spacing of rows is
kept at `speed` 1. Runs of a folder follow one another (and repeat when asked),
each starting one nominal frame period after the previous one ended.
No rclpy here: `source_publisher` does the publishing.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError, RecordingError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.gcode import label_lines, LineLabel
from streaming_gcode.recordings.csv_runs import (
    find_runs, load_run, RecordedRun, run_samples, stream_matrix,
)
from streaming_gcode.tools.harness.source_frames import Executed, SourceFrame

DEFAULT_SPEED = 1.0
MAX_SPEED = 100.0
MODE_COLUMN = "momo"


def run_labels(run: RecordedRun) -> list[LineLabel | None]:
    """Labels of a run's rows, continuation lines resolved with the controller's mode."""
    modes = run.columns.get(MODE_COLUMN)
    return label_lines(run.gcode, None if modes is None else list(modes))


def replay_schedule(
    run: RecordedRun,
    layout: StreamLayout,
    start_ns: int,
    speed: float = DEFAULT_SPEED,
    due_offset_ns: int = 0,
) -> Iterator[SourceFrame]:
    """Yield the frames of one run in order, restamped to start at `start_ns`.

    Rows where no stream has a complete sample still yield their executed line
    (with no samples), so the reference follows the recording row by row.
    """
    if not 0 < speed <= MAX_SPEED:
        raise ConfigError(f"replay speed must be in (0, {MAX_SPEED}], got {speed}")
    if len(run) == 0:
        raise RecordingError(f"{run.path}: no rows to replay")
    labels = run_labels(run)
    first = int(run.stamps_ns[0])
    samples = iter(run_samples(run, layout))
    pending = next(samples, None)
    for row, stamp in enumerate(run.stamps_ns):
        offset = int(round((int(stamp) - first) / speed))
        restamped = int(start_ns) + offset
        batch: list[tuple[int, int, np.ndarray]] = []
        while pending is not None and pending[1] == stamp:
            batch.append((pending[0], restamped, pending[2]))
            pending = next(samples, None)
        label = labels[row]
        executed = Executed(
            restamped, run.gcode[row],
            label.command if label else "", bool(label.modal) if label else False,
            int(run.line_numbers[row]), run.name,
        )
        yield SourceFrame(due_offset_ns + offset, tuple(batch), executed)


def missing_streams(run: RecordedRun, layout: StreamLayout) -> list[str]:
    """Streams of the layout with no complete sample anywhere in the run (a board not fitted)."""
    return [spec.name for spec in layout.streams
            if not np.isfinite(stream_matrix(run, spec.channels)).all(axis=1).any()]


def run_duration_ns(run: RecordedRun, speed: float = DEFAULT_SPEED) -> int:
    """Wall time a replay of the run takes at `speed`."""
    return int(round((int(run.stamps_ns[-1]) - int(run.stamps_ns[0])) / speed))


def order_runs(paths: Sequence[Path], first: str | None) -> list[Path]:
    """Sort runs by name, rotated so the run called `first` (if present) comes first."""
    names = [p.name for p in paths]
    for index, name in enumerate(names):
        if first is not None and (name.startswith(first + "_aligned") or name == first):
            return list(paths[index:]) + list(paths[:index])
    return list(paths)


class RecordingSource:
    """Replays runs one after another (optionally forever) as `SourceFrame`s."""

    def __init__(
        self,
        paths: Iterable[str | Path],
        layout: StreamLayout,
        speed: float = DEFAULT_SPEED,
        loop: bool = True,
        first: str | None = None,
    ) -> None:
        if not 0 < speed <= MAX_SPEED:
            raise ConfigError(f"replay speed must be in (0, {MAX_SPEED}], got {speed}")
        self.runs = order_runs(find_runs(paths), first)
        self.layout = layout
        self.speed = float(speed)
        self.loop = loop
        self.current: RecordedRun | None = None
        self.first_run = load_run(self.runs[0])   # fail early on an unreadable first run
        self.missing_in_first_run = missing_streams(self.first_run, layout)

    def frames(self, start_ns: int, speed: float | None = None) -> Iterator[SourceFrame]:
        """Yield all frames from `start_ns` on; `current` names the run being replayed."""
        speed = self.speed if speed is None else float(speed)
        paths = itertools.cycle(self.runs) if self.loop else iter(self.runs)
        due = 0
        gap = self.layout.frame_period_ns
        for index, path in enumerate(paths):
            run = self.first_run if index == 0 else load_run(path)
            self.current = run
            yield from replay_schedule(run, self.layout, start_ns + due, speed, due)
            due += run_duration_ns(run, speed) + gap
