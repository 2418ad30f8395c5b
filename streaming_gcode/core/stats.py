# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Streaming statistics with bounded memory: latency percentiles and message rates.

`summarise_latencies` is the one percentile summary every report uses (the
node's recent window, bench, soak, live evaluation). `LatencyStats` keeps the
most recent latencies exactly (a preallocated ring) and everything since start
as a log-spaced histogram, so a run of weeks costs the same memory as a run of
seconds. `RateMeter` counts arrivals in time buckets on
the caller's clock (the node clock, so sim time works); a clock that goes back
resets it. Neither is thread-safe by itself: the node serialises calls.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
DEFAULT_RECENT_WINDOW = 256
DEFAULT_HISTOGRAM_MIN_NS = 1_000               # 1 us: below is one underflow bin
DEFAULT_HISTOGRAM_MAX_NS = 1_000 * NS_PER_S    # 1000 s: above is one overflow bin
DEFAULT_RELATIVE_RESOLUTION = 0.01             # since-start percentiles within 1 %
DEFAULT_RATE_WINDOW_NS = 5 * NS_PER_S
DEFAULT_RATE_BUCKETS = 10
PERCENTILES: tuple[float, ...] = (50.0, 95.0, 99.0)


class LatencySummary(NamedTuple):
    """Latency percentiles in milliseconds over some set of samples."""

    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float


def summarise_latencies(
    values: Sequence[float] | np.ndarray, per_ms: float = NS_PER_MS
) -> LatencySummary | None:
    """Summarise latencies in ms: p50/p95/p99 (numpy's linear interpolation), max, mean.

    `values` are in units of which `per_ms` make a millisecond (nanoseconds by
    default, 1 for values already in ms); None when there are none, so an empty
    measurement is never reported as zero latency.
    """
    array = np.asarray(values, dtype=np.float64) / per_ms
    if array.size == 0:
        return None
    p50, p95, p99 = np.percentile(array, PERCENTILES)
    return LatencySummary(int(array.size), float(p50), float(p95), float(p99),
                          float(array.max()), float(array.mean()))


class LatencyStats:
    """Recent-window (exact) and since-start (histogram) latency percentiles."""

    def __init__(
        self,
        window: int = DEFAULT_RECENT_WINDOW,
        resolution: float = DEFAULT_RELATIVE_RESOLUTION,
        min_ns: int = DEFAULT_HISTOGRAM_MIN_NS,
        max_ns: int = DEFAULT_HISTOGRAM_MAX_NS,
    ) -> None:
        if window < 1:
            raise ValueError(f"latency window must be >= 1 sample, got {window}")
        if not 0 < resolution < 1:
            raise ValueError(f"resolution must be in (0, 1), got {resolution}")
        if not 0 < min_ns < max_ns:
            raise ValueError(f"need 0 < min_ns < max_ns, got {min_ns}, {max_ns}")
        self._recent = np.zeros(window, dtype=np.float64)
        self._log_base = math.log1p(resolution)
        self._min_ns = float(min_ns)
        n_bins = int(math.ceil(math.log(max_ns / min_ns) / self._log_base)) + 2
        self._bins = np.zeros(n_bins, dtype=np.int64)
        self.count = 0
        self._sum_ns = 0.0
        self._max_ns = 0.0
        self._min_seen_ns = math.inf

    def record(self, latency_ns: int | float) -> None:
        """Add one latency sample (negative values count as zero)."""
        value = max(0.0, float(latency_ns))
        self._recent[self.count % len(self._recent)] = value
        self._bins[self._bin(value)] += 1
        self.count += 1
        self._sum_ns += value
        self._max_ns = max(self._max_ns, value)
        self._min_seen_ns = min(self._min_seen_ns, value)

    def _bin(self, value: float) -> int:
        if value < self._min_ns:
            return 0
        index = 1 + int(math.log(value / self._min_ns) / self._log_base)
        return min(index, len(self._bins) - 1)

    def _bin_value(self, index: int) -> float:
        """Return a representative value of bin `index` (geometric middle; tail edges)."""
        if index == 0:
            return self._min_ns
        if index == len(self._bins) - 1:
            return self._max_ns
        return self._min_ns * math.exp((index - 0.5) * self._log_base)

    def recent_values_ns(self) -> np.ndarray:
        """Return a copy of the recent window's samples, oldest first."""
        held = min(self.count, len(self._recent))
        start = self.count - held
        order = (np.arange(start, self.count)) % len(self._recent)
        return self._recent[order].copy()

    def recent(self) -> LatencySummary | None:
        """Exact percentiles over the most recent `window` samples (None if empty)."""
        return summarise_latencies(self._recent[:min(self.count, len(self._recent))])

    def since_start(self) -> LatencySummary | None:
        """Percentiles over every sample so far, within the histogram's resolution."""
        if self.count == 0:
            return None
        cumulative = np.cumsum(self._bins)
        quantiles = []
        for q in PERCENTILES:
            rank = max(1, math.ceil(q / 100.0 * self.count))
            index = int(np.searchsorted(cumulative, rank))
            value = min(max(self._bin_value(index), self._min_seen_ns), self._max_ns)
            quantiles.append(value / NS_PER_MS)
        return LatencySummary(
            self.count,
            quantiles[0],
            quantiles[1],
            quantiles[2],
            self._max_ns / NS_PER_MS,
            self._sum_ns / self.count / NS_PER_MS,
        )


class RateMeter:
    """Message rate over a sliding time window, from caller-supplied stamps."""

    def __init__(
        self, window_ns: int = DEFAULT_RATE_WINDOW_NS, buckets: int = DEFAULT_RATE_BUCKETS
    ) -> None:
        if buckets < 1 or window_ns < buckets:
            raise ValueError(
                f"need buckets >= 1 and window_ns >= buckets, got {window_ns}, {buckets}"
            )
        self._bucket_ns = window_ns // buckets
        self._counts = np.zeros(buckets, dtype=np.int64)
        self._head: int | None = None   # absolute index of the newest bucket
        self._first_ns = 0
        self.last_ns: int | None = None  # node-clock stamp of the newest arrival
        self.total = 0
        self.resets = 0

    @property
    def window_ns(self) -> int:
        """Length of the window the rate is averaged over."""
        return self._bucket_ns * len(self._counts)

    def reset(self) -> None:
        """Forget all arrivals (the totals survive, the reset is counted)."""
        self._counts[:] = 0
        self._head = None
        self.last_ns = None
        self.resets += 1

    def _advance(self, now_ns: int) -> bool:
        """Move the window to `now_ns`; False (after resetting) if time went back."""
        if self.last_ns is not None and now_ns < self.last_ns:
            self.reset()
            return False
        if self._head is None:
            return True
        index = now_ns // self._bucket_ns
        expired = index - self._head
        if expired > 0:
            n = len(self._counts)
            for step in range(1, min(expired, n) + 1):
                self._counts[(self._head + step) % n] = 0
            self._head = index
        return True

    def tick(self, now_ns: int, count: int = 1) -> None:
        """Record `count` arrivals at `now_ns`."""
        self._advance(now_ns)
        if self._head is None:
            self._head = now_ns // self._bucket_ns
            self._first_ns = now_ns
        self._counts[self._head % len(self._counts)] += count
        self.last_ns = now_ns
        self.total += count

    def window_start_ns(self, now_ns: int) -> int | None:
        """Start of the span the current rate averages over (None if no arrivals)."""
        if self._head is None:
            return None
        start = (now_ns // self._bucket_ns - len(self._counts) + 1) * self._bucket_ns
        return max(start, self._first_ns)

    def rate_hz(self, now_ns: int) -> float | None:
        """Arrivals per second in the window ending at `now_ns`; None if unknown."""
        if not self._advance(now_ns) or self._head is None:
            return None
        start = self.window_start_ns(now_ns)
        span = now_ns - start
        if span <= 0:
            return None
        return float(self._counts.sum()) * NS_PER_S / span

    def age_ns(self, now_ns: int) -> int | None:
        """Time since the newest arrival, or None if nothing arrived (since a reset)."""
        if self.last_ns is None:
            return None
        return max(0, now_ns - self.last_ns)
