# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""One machine's program tracker fed from the frames the engine runs, each frame once.

The engine feeds a window (full-window mode, or incremental after a reset) or
only the new frames; the reader skips the frames it has already seen by their
sequence numbers, so the tracker sees every frame once and in order, whatever
the mode and stride: the same frames, in the same order, as offline evaluation
feeds it (`read_frames`), hence the same readings. With the feature map's fill
values, the physics witness's tracker takes an input at its fill value for a
missing one (a board not reporting: libraries.tracker_of).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from streaming_gcode.core.errors import FeatureMappingError
from streaming_gcode.model.libraries import Library, tracker_of
from streaming_gcode.model.program_library import ProgramReading


class ProgramReader:
    """Feeds a library's tracker the model's input frames; reads the newest frame."""

    def __init__(self, library: Library, continuous_names: Sequence[str],
                 fill_values: np.ndarray | None = None) -> None:
        names = list(continuous_names)
        missing = [name for name in library.input_channels if name not in names]
        if missing:
            raise FeatureMappingError(
                f"program library reads {missing}, which are not model inputs {names[:8]}...")
        self._inputs = np.array([names.index(c) for c in library.input_channels], np.intp)
        self.tracker = tracker_of(library, None if fill_values is None else
                                  np.asarray(fill_values, np.float32)[self._inputs])
        self._seen = 0                       # newest sequence fed to the tracker
        self._reading = ProgramReading(None, 0.0, None, None)

    @property
    def reading(self) -> ProgramReading:
        """Return the reading of the newest frame fed."""
        return self._reading

    def reset(self) -> None:
        """Forget the evidence and the frames seen (the next frames start a new judgement)."""
        self.tracker.reset()
        self._seen = 0

    def observe(self, stamps: np.ndarray, continuous: np.ndarray,
                first_sequence: int) -> ProgramReading:
        """Feed the frames (stamps [T], values [T, C]) from `first_sequence` not fed yet."""
        skip = max(0, self._seen - first_sequence + 1)
        for stamp, row in zip(stamps[skip:], continuous[skip:]):
            self._reading = self.tracker.observe(int(stamp), row[self._inputs])
        self._seen = max(self._seen, first_sequence + len(continuous) - 1)
        return self._reading


def read_frames(library: Library, continuous_names: Sequence[str], stamps: np.ndarray,
                continuous: np.ndarray, fill_values: np.ndarray | None = None
                ) -> list[ProgramReading]:
    """Return the reading of every frame of a stream, fed in order from a fresh tracker."""
    reader = ProgramReader(library, continuous_names, fill_values)
    return [reader.observe(stamps[t:t + 1], continuous[t:t + 1], t + 1)
            for t in range(len(continuous))]


__all__ = ["ProgramReader", "read_frames"]
