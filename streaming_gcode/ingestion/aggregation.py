# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A stream's samples since the previous frame reduced to one value per channel.

High-rate sensors (vibration, current) publish many samples per model frame;
an aggregated stream (`aggregate: mean | rms | min | max | peak_to_peak`)
gives each frame a statistic over the samples stamped after the previous
frame and at or before this one (never older than `max_staleness_s`). A frame
with no new sample holds the stream's previous value while its newest sample
is fresh; once that is stale the layout's stale policy applies, as for a
`newest` stream. The same code runs live and offline (ingestion/alignment.py).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_spec import AGGREGATE_NEWEST, AGGREGATES

FLOAT32_MAX = float(np.finfo(np.float32).max)


def _rms(samples: np.ndarray) -> np.ndarray:
    return np.sqrt(np.mean(np.square(samples), axis=0))


AGGREGATE_FUNCTIONS: Mapping[str, Callable[[np.ndarray], np.ndarray]] = {
    AGGREGATE_NEWEST: lambda samples: samples[-1],
    "mean": lambda samples: np.mean(samples, axis=0),
    "rms": _rms,
    "min": lambda samples: np.min(samples, axis=0),
    "max": lambda samples: np.max(samples, axis=0),
    "peak_to_peak": lambda samples: np.ptp(samples, axis=0),
}


def aggregate_samples(kind: str, samples: np.ndarray) -> np.ndarray:
    """Reduce `[n >= 1, channels]` samples to `[channels]` float64 by `kind`.

    Results are clipped to the float32 range of frames: the samples are within
    it (checked on receipt), but a peak-to-peak of two extremes is not.
    """
    try:
        function = AGGREGATE_FUNCTIONS[kind]
    except KeyError:
        raise ConfigError(f"aggregate {kind!r} is not one of {list(AGGREGATES)}") from None
    return np.clip(function(samples), -FLOAT32_MAX, FLOAT32_MAX)


def batch_stamps(end_ns: int, count: int, period_ns: int,
                 after_ns: int | None = None) -> np.ndarray:
    """Stamps of a batch of `count` samples `period_ns` apart, the last at `end_ns`.

    Receipt jitter can make a batch reach back to or before the stream's previous
    sample (`after_ns`): those samples move up just after it, 1 ns apart, so the
    stamps stay strictly increasing and no sample shares a stamp (none is lost
    where samples are keyed by stamp, as in a recorded run).
    """
    stamps = end_ns - period_ns * np.arange(count - 1, -1, -1, dtype=np.int64)
    if after_ns is not None:
        np.maximum(stamps, after_ns + 1 + np.arange(count, dtype=np.int64), out=stamps)
    return stamps


class StreamAggregator:
    """One aggregated stream's frame values: the statistic, or the value it holds."""

    def __init__(self, kind: str) -> None:
        if kind not in AGGREGATE_FUNCTIONS:
            raise ConfigError(f"aggregate {kind!r} is not one of {list(AGGREGATES)}")
        self.kind = kind
        self._function = AGGREGATE_FUNCTIONS[kind]
        self.held: np.ndarray | None = None   # the value of the previous frame

    def frame_value(self, samples: np.ndarray) -> np.ndarray | None:
        """Aggregate of this frame's new samples (kept as the held value), else the held one."""
        if len(samples):
            self.held = np.clip(self._function(samples), -FLOAT32_MAX, FLOAT32_MAX)
        return self.held

    def clear(self) -> None:
        """Forget the held value (a reset: no frame before it may leak into the next)."""
        self.held = None
