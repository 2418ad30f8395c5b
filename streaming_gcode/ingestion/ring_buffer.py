# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Preallocated ring buffer of aligned frames whose windows are zero-copy views.

Every frame is written twice, at `i` and `i + capacity` of a buffer twice the
capacity, so the newest `n <= capacity` frames are always one contiguous slice:
windows cost no allocation and no copy, and memory is O(capacity).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Window(NamedTuple):
    """A run of consecutive frames, oldest first (views into the buffer)."""

    stamps: np.ndarray        # int64 [T]
    continuous: np.ndarray    # float32 [T, C]
    categorical: np.ndarray   # int64 [T, K]
    degraded: np.ndarray      # bool [T]
    first_sequence: int       # sequence number of stamps[0] (1-based, monotonic)

    def __len__(self) -> int:  # noqa: D105
        return len(self.stamps)


class AlignedRingBuffer:
    """Fixed-capacity store of frames (stamp, continuous, categorical, degraded flag).

    Not thread-safe by itself: the node serialises appends and window reads.
    """

    def __init__(self, capacity: int, n_continuous: int, n_categorical: int) -> None:
        if capacity < 1:
            raise ValueError(f"ring buffer capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._stamps = np.zeros(2 * capacity, dtype=np.int64)
        self._continuous = np.zeros((2 * capacity, n_continuous), dtype=np.float32)
        self._categorical = np.zeros((2 * capacity, n_categorical), dtype=np.int64)
        self._degraded = np.zeros(2 * capacity, dtype=bool)
        self.total_appended = 0
        self._size = 0

    def __len__(self) -> int:
        """Return the number of frames held (at most the capacity)."""
        return self._size

    @property
    def n_continuous(self) -> int:
        """Continuous values per frame."""
        return self._continuous.shape[1]

    @property
    def n_categorical(self) -> int:
        """Categorical values per frame."""
        return self._categorical.shape[1]

    @property
    def newest_stamp(self) -> int | None:
        """Stamp of the newest frame, or None when empty."""
        if self._size == 0:
            return None
        return int(self._stamps[(self.total_appended - 1) % self.capacity])

    def append(
        self,
        stamp_ns: int,
        continuous: np.ndarray,
        categorical: np.ndarray,
        degraded: bool,
    ) -> None:
        """Copy one frame in, overwriting the oldest when full."""
        slot = self.total_appended % self.capacity
        for row in (slot, slot + self.capacity):
            self._stamps[row] = stamp_ns
            self._continuous[row] = continuous
            self._categorical[row] = categorical
            self._degraded[row] = degraded
        self.total_appended += 1
        self._size = min(self._size + 1, self.capacity)

    def newest(self, count: int) -> Window | None:
        """Return the newest `count` frames, or None if fewer are held."""
        if count < 1 or count > self._size:
            return None
        end = (self.total_appended - 1) % self.capacity + self.capacity + 1
        start = end - count
        return Window(
            self._stamps[start:end],
            self._continuous[start:end],
            self._categorical[start:end],
            self._degraded[start:end],
            self.total_appended - count + 1,
        )

    def window(self, length: int) -> Window | None:
        """Return the newest full window of `length` frames, or None while filling."""
        return self.newest(length)

    def since(self, sequence: int) -> Window | None:
        """Frames appended after frame number `sequence` (as many as are still held).

        Compare `first_sequence` with `sequence + 1` to tell whether frames were lost
        to overwriting in between.
        """
        count = min(self.total_appended - sequence, self._size)
        if count <= 0:
            return None
        return self.newest(count)

    def clear(self) -> None:
        """Forget all frames (sequence numbers keep counting up)."""
        self._size = 0
