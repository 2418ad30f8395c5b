# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The physics witness at run time: which operation runs, and how far into it, frame by frame.

The tracker detects a job start itself (no frame for `JOB_GAP_NS`: a job
change), counts frames since, and accumulates per operation the evidence
against it (`ProgressLibrary.shifted_evidence`). A recording, or a node, does
not always start where the recorded runs started: the recordings start
anywhere between the program's lines 12 and 38, and a node may be started
seconds into a job. So the evidence is kept per operation *and per constant
shift* of its template (up to `OPERATION_SHIFT` frames either way), and an
operation is judged by its best shift: a job seen from its 10th frame on is
still recognised. The shift is used for the operation only: the line is taken
at the frames since the start, because neighbouring shifts look alike (passes
repeat) and choosing among them lost more lines than it placed (README, "the
physics witness"). Given the aligner's fill values, an input at its fill value is
taken for missing (its board is not reporting) and left out of the median over
the channels, instead of counting as a channel far from every template.
"""

from __future__ import annotations

import numpy as np

from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.model.progress_library import (
    JOB_GAP_NS, PROGRESS_CAP, PROGRESS_SLACK, ProgressLibrary,
)

# Frames a job's start may sit before or after the recorded runs' starts, for judging
# the operation (2 s at the 4 Hz status rate). Chosen on the tune runs (library from
# the train runs) among 0, 4, 8, 16 and 24: 16 and more took a genuine run's agreement
# below ERROR, 4 did not recognise jobs seen from their 10th frame.
OPERATION_SHIFT = 8


class ProgressTracker:
    """Causal judgement of the running operation and its progress, frame by frame."""

    def __init__(self, library: ProgressLibrary, max_shift: int = OPERATION_SHIFT,
                 fill_values: np.ndarray | None = None) -> None:
        self.library = library
        self.max_shift = max_shift
        self._fill = None if fill_values is None else np.asarray(fill_values, np.float32)
        self.restarts = 0                  # jobs started (after a gap in the frames)
        self._evidence = np.zeros((len(library.operations), 2 * max_shift + 1))
        self._progress = -1
        self._last_stamp: int | None = None
        self._levelled = library.levelled_mask
        self._level_sum = np.zeros(int(self._levelled.sum()))
        self._level_count = np.zeros(int(self._levelled.sum()))
        self._conditions = np.array(library.conditions)

    @property
    def fill_values(self) -> np.ndarray | None:
        """Return the inputs' fill values (an input at it is missing), None if not given."""
        return self._fill

    def reset(self) -> None:
        """Forget the evidence; the next frame starts a job."""
        self._start_job()
        self._last_stamp = None

    def _start_job(self) -> None:
        self._evidence[:] = 0.0
        self._progress = -1
        self._level_sum[:] = 0.0
        self._level_count[:] = 0.0

    def _levelled_values(self, inputs: np.ndarray) -> np.ndarray:
        """Return the inputs with the drifting channels as change since the job start."""
        if not len(self._level_sum):
            return inputs
        values = np.array(inputs, dtype=np.float64)
        drifting = values[self._levelled]
        seen = np.isfinite(drifting)
        self._level_sum[seen] += drifting[seen]
        self._level_count[seen] += 1
        with np.errstate(invalid="ignore", divide="ignore"):
            values[self._levelled] = drifting - self._level_sum / self._level_count
        return values

    def observe(self, stamp_ns: int, inputs: np.ndarray) -> ProgramReading:
        """Add one frame (its evidence channels) and return the reading for that frame."""
        if self._last_stamp is None or stamp_ns - self._last_stamp > JOB_GAP_NS:
            self._start_job()
            self.restarts += 1
        self._last_stamp = stamp_ns
        self._progress += 1
        if self._fill is not None:   # the aligner's fill value: a board not reporting
            inputs = np.where(np.asarray(inputs, np.float32) == self._fill, np.nan, inputs)
        frames = self._progress + 1
        self._evidence += self.library.shifted_evidence(
            self._progress, self._levelled_values(inputs), self.max_shift)
        mean = self._evidence.min(axis=1) / frames      # each operation at its best shift
        best = int(np.argmin(mean))
        weights = np.exp(-(mean - mean[best]) * frames / PROGRESS_CAP)
        weights /= weights.sum()
        condition = self.library.conditions[best]
        lines = self.library.lines[best]
        at = min(self._progress, len(lines) - 1)
        nearby = tuple(t for t in lines[max(0, at - PROGRESS_SLACK):at + PROGRESS_SLACK + 1]
                       if t is not None)
        return ProgramReading(
            self.library.operations[best], float(weights[best]), lines[at], None,
            operation=self.library.operations[best], operation_confidence=float(weights[best]),
            tool_condition=condition,
            tool_condition_confidence=float(weights[self._conditions == condition].sum()),
            progress=self._progress, nearby=nearby)


__all__ = ["OPERATION_SHIFT", "ProgressTracker"]
