# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The latency summary, LatencyStats and RateMeter, checked against numpy on the same samples."""

from __future__ import annotations

import numpy as np
import pytest

from streaming_gcode.core.stats import (
    LatencyStats, NS_PER_MS, NS_PER_S, RateMeter, summarise_latencies,
)


def _latencies(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Heavy-tailed like real inference latency: mostly ~2 ms, some 10-100x slower.
    return np.round(rng.lognormal(mean=np.log(2e6), sigma=0.8, size=n))


def test_latency_summary_matches_numpy() -> None:
    values = _latencies(999, seed=7)
    summary = summarise_latencies(values)
    in_ms = values / NS_PER_MS
    p50, p95, p99 = np.percentile(in_ms, [50, 95, 99])
    assert summary.count == 999
    expected = pytest.approx((p50, p95, p99), rel=1e-12)
    assert (summary.p50_ms, summary.p95_ms, summary.p99_ms) == expected
    assert summary.max_ms == pytest.approx(in_ms.max(), rel=1e-12)
    assert summary.mean_ms == pytest.approx(in_ms.mean(), rel=1e-12)
    # values already in milliseconds, as a plain list
    same = summarise_latencies(list(in_ms), per_ms=1.0)
    assert same == pytest.approx(summary, rel=1e-12)
    assert all(isinstance(v, (int, float)) and not isinstance(v, np.generic) for v in same)


def test_latency_summary_of_nothing_is_none_and_of_one_value_is_that_value() -> None:
    assert summarise_latencies([]) is None
    assert summarise_latencies(np.array([], dtype=np.int64), per_ms=1.0) is None
    one = summarise_latencies([3_500_000])
    assert one.count == 1 and one.p50_ms == one.p99_ms == one.max_ms == one.mean_ms == 3.5


def test_empty_stats_have_no_summary() -> None:
    stats = LatencyStats(window=8)
    assert stats.recent() is None and stats.since_start() is None


def test_recent_window_matches_numpy_exactly_after_wrap() -> None:
    values = _latencies(1000)
    stats = LatencyStats(window=128)
    for v in values:
        stats.record(int(v))
    recent = values[-128:]
    summary = stats.recent()
    assert summary.count == 128
    p50, p95, p99 = np.percentile(recent, [50, 95, 99]) / NS_PER_MS
    assert summary.p50_ms == pytest.approx(p50, rel=1e-12)
    assert summary.p95_ms == pytest.approx(p95, rel=1e-12)
    assert summary.p99_ms == pytest.approx(p99, rel=1e-12)
    assert summary.max_ms == pytest.approx(recent.max() / NS_PER_MS)
    assert summary.mean_ms == pytest.approx(recent.mean() / NS_PER_MS)
    np.testing.assert_array_equal(stats.recent_values_ns(), recent)


def test_recent_window_before_it_fills() -> None:
    values = _latencies(5, seed=1)
    stats = LatencyStats(window=64)
    for v in values:
        stats.record(v)
    assert stats.recent().count == 5
    assert stats.recent().p50_ms == pytest.approx(np.median(values) / NS_PER_MS)


@pytest.mark.parametrize("seed", [2, 3])
def test_since_start_percentiles_within_resolution_of_numpy(seed: int) -> None:
    values = _latencies(20_000, seed)
    stats = LatencyStats(window=32, resolution=0.01)
    for v in values:
        stats.record(v)
    summary = stats.since_start()
    assert summary.count == len(values)
    for q, got in zip((50, 95, 99), (summary.p50_ms, summary.p95_ms, summary.p99_ms)):
        expected = np.percentile(values, q, method="inverted_cdf") / NS_PER_MS
        assert got == pytest.approx(expected, rel=0.01), q
    assert summary.max_ms == values.max() / NS_PER_MS
    assert summary.mean_ms == pytest.approx(values.mean() / NS_PER_MS, rel=1e-9)


def test_since_start_memory_does_not_grow() -> None:
    stats = LatencyStats(window=16)
    size = stats._bins.nbytes + stats._recent.nbytes
    for v in _latencies(5000, seed=4):
        stats.record(v)
    assert stats._bins.nbytes + stats._recent.nbytes == size


def test_out_of_range_latencies_are_clamped_to_what_was_seen() -> None:
    stats = LatencyStats(window=4, min_ns=1_000, max_ns=1_000_000)
    for v in (10, 20, 5_000_000_000):
        stats.record(v)
    stats.record(-5)  # a clock oddity must not break the histogram
    summary = stats.since_start()
    assert summary.max_ms == 5_000
    assert summary.p50_ms == pytest.approx(1_000 / NS_PER_MS)
    assert summary.p99_ms == pytest.approx(5_000)


def test_invalid_construction_is_refused() -> None:
    with pytest.raises(ValueError, match=r"latency window must be >= 1"):
        LatencyStats(window=0)
    with pytest.raises(ValueError, match=r"resolution must be in \(0, 1\)"):
        LatencyStats(resolution=1.5)
    with pytest.raises(ValueError, match=r"need buckets >= 1"):
        RateMeter(window_ns=10, buckets=0)


def _numpy_rate(arrivals: np.ndarray, start: int, now: int) -> float:
    inside = np.count_nonzero((arrivals >= start) & (arrivals <= now))
    return inside * NS_PER_S / (now - start)


def test_rate_matches_numpy_on_jittered_arrivals() -> None:
    rng = np.random.default_rng(5)
    periods = rng.uniform(0.004, 0.016, size=3000)  # ~100 Hz with jitter
    arrivals = (1_000 * NS_PER_S + np.cumsum(periods) * NS_PER_S).astype(np.int64)
    meter = RateMeter(window_ns=2 * NS_PER_S, buckets=8)
    checked = 0
    for i, stamp in enumerate(arrivals):
        meter.tick(int(stamp))
        if i % 250 == 249:
            now = int(stamp) + 3_000_000
            start = meter.window_start_ns(now)
            assert meter.rate_hz(now) == pytest.approx(_numpy_rate(arrivals[: i + 1], start, now))
            assert 50.0 < meter.rate_hz(now) < 200.0
            checked += 1
    assert checked == 12 and meter.total == 3000


def test_rate_falls_to_zero_when_a_stream_stalls() -> None:
    meter = RateMeter(window_ns=NS_PER_S, buckets=10)
    t = 50 * NS_PER_S
    for k in range(100):
        meter.tick(t + k * 10_000_000)
    last = t + 99 * 10_000_000
    assert meter.rate_hz(last + 1_000_000) == pytest.approx(100, rel=0.1)
    assert meter.rate_hz(last + 5 * NS_PER_S) == 0.0
    assert meter.age_ns(last + 5 * NS_PER_S) == 5 * NS_PER_S


def test_clock_going_back_resets_the_meter() -> None:
    meter = RateMeter(window_ns=NS_PER_S, buckets=4)
    for k in range(10):
        meter.tick(100 * NS_PER_S + k * 50_000_000)
    assert meter.rate_hz(100 * NS_PER_S + 500_000_000) > 0
    meter.tick(3 * NS_PER_S)  # sim time restarted
    assert meter.resets == 1 and meter.total == 11
    assert meter.rate_hz(3 * NS_PER_S) is None  # a single arrival: no rate yet
    assert meter.rate_hz(NS_PER_S) is None      # back again: reset, nothing known
    assert meter.resets == 2 and meter.age_ns(NS_PER_S) is None


def test_rate_unknown_before_any_arrival() -> None:
    meter = RateMeter()
    assert meter.rate_hz(123) is None and meter.age_ns(123) is None
