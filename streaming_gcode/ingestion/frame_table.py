# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""All frames of a recording as arrays, for training and offline evaluation.

`align_samples` (ingestion/alignment.py) fills a `FrameCollector` with the
frames the node's aligner would have built; its `table()` is the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class FrameTable:
    """All frames of a recording, for training and offline evaluation."""

    stamps: np.ndarray       # int64 [N]
    continuous: np.ndarray   # float32 [N, C]
    categorical: np.ndarray  # int64 [N, K]
    degraded: np.ndarray     # bool [N]

    def __len__(self) -> int:
        """Return the number of frames."""
        return len(self.stamps)


class FrameCollector:
    """A growable frame sink for offline use (copies every frame)."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.continuous: list[np.ndarray] = []
        self.categorical: list[np.ndarray] = []
        self.degraded: list[bool] = []

    def append(
        self, stamp_ns: int, continuous: np.ndarray, categorical: np.ndarray, degraded: bool
    ) -> None:
        """Keep a copy of one frame."""
        self.stamps.append(int(stamp_ns))
        self.continuous.append(np.array(continuous, dtype=np.float32))
        self.categorical.append(np.array(categorical, dtype=np.int64))
        self.degraded.append(bool(degraded))

    def table(self, n_continuous: int, n_categorical: int) -> FrameTable:
        """Return the collected frames as arrays."""
        if not self.stamps:
            return FrameTable(
                np.zeros(0, np.int64),
                np.zeros((0, n_continuous), np.float32),
                np.zeros((0, n_categorical), np.int64),
                np.zeros(0, bool),
            )
        return FrameTable(
            np.asarray(self.stamps, dtype=np.int64),
            np.stack(self.continuous),
            np.stack(self.categorical).reshape(len(self.stamps), n_categorical),
            np.asarray(self.degraded, dtype=bool),
        )
