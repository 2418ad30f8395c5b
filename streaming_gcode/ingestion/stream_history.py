# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The newest samples of one stream, in preallocated storage sorted by stamp.

The aligner keeps one per stream: a few samples for `newest` streams (a frame
takes the newest at or before its stamp), every sample since the previous
frame for aggregated ones (see ingestion/aggregation.py). Batches of samples
(2-D arrays) are written in one vectorised step.
"""

from __future__ import annotations

import numpy as np


class StreamHistory:
    """A ring of `(stamp, values)` samples, oldest overwritten first."""

    def __init__(self, n_channels: int, depth: int) -> None:
        self.stamps = np.zeros(depth, dtype=np.int64)
        self.values = np.zeros((depth, n_channels), dtype=np.float64)
        self.depth = depth
        self.count = 0     # total pushed (less retracted); slot of sample i is i % depth
        self.retained = 0  # valid samples held, <= depth

    @property
    def newest_stamp(self) -> int | None:
        """Stamp of the newest sample held, or None."""
        if self.retained == 0:
            return None
        return int(self.stamps[(self.count - 1) % self.depth])

    def push(self, stamp_ns: int, values: np.ndarray) -> None:
        """Append one sample (stamped at or after the newest)."""
        slot = self.count % self.depth
        self.stamps[slot] = stamp_ns
        self.values[slot] = values
        self.count += 1
        self.retained = min(self.retained + 1, self.depth)

    def push_many(self, stamps_ns: np.ndarray, values: np.ndarray) -> None:
        """Append a batch `[n]` stamps, `[n, channels]` values (sorted, after the newest)."""
        n = len(stamps_ns)
        if n > self.depth:   # only the newest `depth` can be held
            self.count += n - self.depth
            stamps_ns, values, n = stamps_ns[-self.depth:], values[-self.depth:], self.depth
        slots = (self.count + np.arange(n)) % self.depth
        self.stamps[slots] = stamps_ns
        self.values[slots] = values
        self.count += n
        self.retained = min(self.retained + n, self.depth)

    def overwrites_after(self, stamps_ns: np.ndarray, after_ns: int | None) -> int:
        """How many samples stamped after `after_ns` pushing `stamps_ns` would lose.

        Those the ring would overwrite, and those of the batch beyond its depth: for an
        aggregated stream, samples no frame has taken yet (`after_ns`: the watermark).
        """
        n = len(stamps_ns)
        lost = max(0, n - self.depth)
        beyond = stamps_ns[:lost]
        overwritten = min(max(0, self.retained + n - self.depth), self.retained)
        slots = (self.count - self.retained + np.arange(overwritten)) % self.depth
        if after_ns is None:
            return overwritten + lost
        return int(np.count_nonzero(self.stamps[slots] > after_ns)
                   + np.count_nonzero(beyond > after_ns))

    def newest_at_or_before(self, stamp_ns: int) -> int | None:
        """Slot of the newest retained sample stamped <= stamp_ns."""
        for back in range(self.retained):
            slot = (self.count - 1 - back) % self.depth
            if self.stamps[slot] <= stamp_ns:
                return slot
        return None

    def between(self, after_ns: int, until_ns: int) -> tuple[np.ndarray, int | None]:
        """Return the samples stamped in `(after_ns, until_ns]` (`[k, channels]`, in order).

        Also the slot of the newest sample at or before `until_ns` (None if none).
        """
        slots = (self.count - self.retained + np.arange(self.retained)) % self.depth
        stamps = self.stamps[slots]
        first = int(np.searchsorted(stamps, after_ns, side="right"))
        last = int(np.searchsorted(stamps, until_ns, side="right"))
        return self.values[slots[first:last]], (int(slots[last - 1]) if last else None)

    def clear(self) -> None:
        """Forget every sample."""
        self.count = 0
        self.retained = 0

    def retract_after(self, stamp_ns: int) -> int:
        """Withdraw the newest samples stamped after `stamp_ns`; return how many."""
        retracted = 0
        while self.retained and int(self.stamps[(self.count - 1) % self.depth]) > stamp_ns:
            self.count -= 1
            self.retained -= 1
            retracted += 1
        return retracted
