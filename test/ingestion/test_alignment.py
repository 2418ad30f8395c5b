# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Frame alignment: rates, frame clock and grid, late/out-of-order, stale policies, resets."""

import numpy as np
import pytest

from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.alignment import (
    align_samples, FrameAligner, MAX_PENDING_FRAMES, SampleVerdict,
)
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer

MS = 1_000_000
S = 1_000_000_000


def _layout(policy="hold_last", clock="fast", rate=100.0, staleness=0.05, timeout=0.02):
    return StreamLayout.from_parameters({
        "stream_names": ["fast", "slow", "mode"],
        "frame_clock": clock,
        "sample_rate_hz": rate,
        "max_staleness_s": staleness,
        "stale_policy": policy,
        "alignment_timeout_s": timeout,
        "streams.fast.topic": "f", "streams.fast.type": "std_msgs/Float32MultiArray",
        "streams.fast.channels": ["f0", "f1"],
        "streams.slow.topic": "s", "streams.slow.type": "std_msgs/Float32MultiArray",
        "streams.slow.channels": ["s0"],
        "streams.mode.topic": "m", "streams.mode.type": "std_msgs/Float32MultiArray",
        "streams.mode.channels": ["m0"],
    })


def _aligner(layout, capacity=256, fill=None):
    fmap = FeatureMap.build(layout, ["f0", "f1", "s0"], ["m0"], {"m0": [5, 7]}, fill)
    buffer = AlignedRingBuffer(capacity, 3, 1)
    return FrameAligner(layout, fmap, buffer), buffer


def _feed(aligner, events):
    """Events: (stream, stamp_ms, values); `now` follows the newest stamp."""
    verdicts = []
    newest = 0
    for stream, stamp_ms, values in events:
        verdicts.append(aligner.push(stream, stamp_ms * MS, np.asarray(values, float)))
        newest = max(newest, stamp_ms * MS)
        aligner.advance(newest)
    return verdicts


def test_streams_at_different_rates_use_newest_sample_at_or_before_frame():
    aligner, buffer = _aligner(_layout())
    events = []
    for k in range(20):  # fast at 100 Hz (frame clock), slow at 25 Hz, mode at 50 Hz
        t = 10 * k
        if k % 4 == 0:
            events.append((1, t, [k]))
        if k % 2 == 0:
            events.append((2, t, [5 if k < 10 else 7]))
        events.append((0, t, [k, -k]))
    _feed(aligner, events)
    aligner.flush()
    window = buffer.window(len(buffer))
    np.testing.assert_array_equal(window.stamps, np.arange(20) * 10 * MS)
    np.testing.assert_array_equal(window.continuous[:, 0], np.arange(20))
    np.testing.assert_array_equal(window.continuous[:, 2], (np.arange(20) // 4) * 4)
    np.testing.assert_array_equal(window.categorical[:, 0], np.where(np.arange(20) < 10, 1, 2))
    assert not window.degraded.any()


def test_frame_waits_for_slower_stream_then_is_identical_in_any_arrival_order():
    layout = _layout(timeout=0.5)
    in_order = [(1, 0, [1]), (2, 0, [5]), (0, 0, [0, 0]), (1, 10, [2]), (2, 10, [7]),
                (0, 10, [1, 1])]
    clock_first = [(0, 0, [0, 0]), (1, 0, [1]), (2, 0, [5]), (0, 10, [1, 1]), (2, 10, [7]),
                   (1, 10, [2])]
    results = []
    for events in (in_order, clock_first):
        aligner, buffer = _aligner(layout)
        _feed(aligner, events)
        aligner.flush()
        window = buffer.window(2)
        results.append((window.continuous.copy(), window.categorical.copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    np.testing.assert_array_equal(results[1][0][:, 2], [1, 2])


def test_pending_frame_is_finalised_by_timeout_when_a_stream_stalls():
    aligner, buffer = _aligner(_layout(timeout=0.02))
    _feed(aligner, [(1, 0, [1]), (2, 0, [5]), (0, 0, [0, 0]), (0, 10, [1, 1])])
    assert len(buffer) == 1 and aligner.pending_frames == 1
    aligner.advance(29 * MS)
    assert len(buffer) == 1
    aligner.advance(30 * MS)
    assert len(buffer) == 2 and aligner.counters.timed_out_frames == 1


def test_late_and_out_of_order_samples_are_dropped_and_counted():
    aligner, buffer = _aligner(_layout())
    verdicts = _feed(aligner, [(1, 0, [1]), (2, 0, [5]), (0, 0, [0, 0]), (1, 20, [2]),
                               (2, 20, [5]), (0, 20, [2, 2])])
    assert all(v is SampleVerdict.ACCEPTED for v in verdicts)
    assert aligner.watermark_ns == 20 * MS
    assert aligner.push(1, 10 * MS, np.array([9.0])) is SampleVerdict.LATE
    assert aligner.push(0, 20 * MS, np.array([9.0, 9.0])) is SampleVerdict.LATE
    assert aligner.push(1, 30 * MS, np.array([3.0])) is SampleVerdict.ACCEPTED
    assert aligner.push(1, 25 * MS, np.array([9.0])) is SampleVerdict.OUT_OF_ORDER
    assert aligner.counters.late == [1, 1, 0]
    assert aligner.counters.out_of_order == [0, 1, 0]
    assert 9.0 not in buffer.window(len(buffer)).continuous


def test_a_stream_resuming_after_a_silence_is_taken_again_not_dropped_as_late():
    """After a silence the clock's first sample finalises its frame before the others'.

    The resuming stream's sample of that moment sits just behind the watermark:
    taken (not late), so the next frame waits for the stream again; a sample
    further behind than max_staleness, or the clock's own, is still late.
    """
    aligner, buffer = _aligner(_layout(staleness=0.05, timeout=0.5))
    _feed(aligner, [(1, 0, [1]), (2, 0, [5]), (0, 0, [0, 0])])
    assert _feed(aligner, [(0, 1000, [1, 1])]) == [SampleVerdict.ACCEPTED]
    assert aligner.watermark_ns == 1000 * MS   # the other streams were dead: no wait
    assert aligner.push(1, 999 * MS, np.array([2.0])) is SampleVerdict.ACCEPTED
    assert aligner.push(2, 900 * MS, np.array([7.0])) is SampleVerdict.LATE   # > staleness
    assert aligner.push(0, 1000 * MS, np.array([9.0, 9.0])) is SampleVerdict.LATE
    _feed(aligner, [(0, 1010, [2, 2])])
    assert aligner.pending_frames == 1   # waits for the revived stream, not for the dead one
    _feed(aligner, [(1, 1010, [3])])
    assert aligner.pending_frames == 0
    window = buffer.window(len(buffer))
    np.testing.assert_array_equal(window.continuous[:, 2], [1, 1, 3])
    assert aligner.counters.late == [1, 0, 1]


def _stalled_slow_stream(policy, fill=None):
    aligner, buffer = _aligner(_layout(policy=policy, staleness=0.015), fill=fill)
    events = [(1, 0, [42]), (2, 0, [5]), (0, 0, [0, 0])]
    for k in range(1, 5):  # slow stream stalls after t=0
        events += [(2, 10 * k, [5]), (0, 10 * k, [k, k])]
    _feed(aligner, events)
    aligner.flush()
    return aligner, buffer


def test_stale_policy_skip_drops_frames():
    aligner, buffer = _stalled_slow_stream("skip")
    np.testing.assert_array_equal(buffer.window(len(buffer)).stamps, [0, 10 * MS])
    assert aligner.counters.skipped_frames == 3
    assert aligner.counters.stale_frames == [0, 3, 0]


def test_stale_policy_hold_last_flags_degraded():
    aligner, buffer = _stalled_slow_stream("hold_last")
    window = buffer.window(len(buffer))
    np.testing.assert_array_equal(window.continuous[:, 2], [42] * 5)
    np.testing.assert_array_equal(window.degraded, [False, False, True, True, True])
    assert aligner.counters.degraded_frames == 3


def test_stale_policy_zero_fill_uses_fill_values_and_flags():
    aligner, buffer = _stalled_slow_stream("zero_fill", fill=np.array([0, 0, -7.5]))
    window = buffer.window(len(buffer))
    np.testing.assert_array_equal(window.continuous[:, 2], [42, 42, -7.5, -7.5, -7.5])
    np.testing.assert_array_equal(window.degraded, [False, False, True, True, True])


def test_stream_never_seen_is_waited_for_at_start_then_filled():
    aligner, buffer = _aligner(_layout(timeout=0.02))
    _feed(aligner, [(0, 0, [0, 0]), (2, 0, [5]), (0, 10, [1, 1]), (2, 10, [5])])
    assert len(buffer) == 0  # start-up: waiting for the slow stream
    _feed(aligner, [(0, 20, [2, 2]), (2, 20, [5])])
    assert len(buffer) == 3
    assert buffer.window(3).degraded.all()


def test_grid_mode_makes_frames_on_the_grid():
    aligner, buffer = _aligner(_layout(clock="", rate=100.0, timeout=0.0))
    events = []
    for t in range(3, 60, 7):
        events += [(0, t, [t, 0]), (1, t, [t]), (2, t, [5])]
    _feed(aligner, events)
    aligner.flush()
    window = buffer.window(len(buffer))
    assert list(window.stamps // MS) == [10, 20, 30, 40, 50]
    np.testing.assert_array_equal(window.continuous[:, 0], [10, 17, 24, 38, 45])


def test_small_step_back_of_now_is_not_a_clock_jump():
    aligner, buffer = _aligner(_layout())
    _feed(aligner, [(1, 100, [1]), (2, 100, [5]), (0, 100, [0, 0])])
    aligner.advance(95 * MS)  # two threads read the clock in the other order
    assert aligner.counters.resets == 0 and len(buffer) == 1


def test_clock_jump_back_resets_state():
    aligner, buffer = _aligner(_layout())
    _feed(aligner, [(1, 1500, [1]), (2, 1500, [5]), (0, 1500, [0, 0])])
    aligner.advance(50 * MS)
    assert aligner.counters.resets == 1
    assert "clock jumped back" in aligner.counters.last_reset_reason
    assert aligner.watermark_ns is None
    assert aligner.push(0, 10 * MS, np.array([1.0, 1.0])) is SampleVerdict.ACCEPTED


def test_align_samples_matches_live_feeding():
    layout = _layout(timeout=0.5)
    events = [(1, 0, [1]), (2, 0, [5]), (0, 0, [0, 0]), (0, 10, [1, 1]), (1, 10, [2]),
              (2, 10, [7])]
    fmap = FeatureMap.build(layout, ["f0", "f1", "s0"], ["m0"], {"m0": [5, 7]})
    table = align_samples(layout, fmap, ((s, t * MS, np.asarray(v, float)) for s, t, v in events))
    aligner, buffer = _aligner(layout)
    _feed(aligner, events)
    aligner.flush()
    window = buffer.window(len(buffer))
    np.testing.assert_array_equal(table.stamps, window.stamps)
    np.testing.assert_array_equal(table.continuous, window.continuous)
    np.testing.assert_array_equal(table.categorical, window.categorical)


@pytest.mark.parametrize("policy", ["skip", "hold_last", "zero_fill"])
def test_buffer_memory_bounded_under_long_streams(policy):
    aligner, buffer = _aligner(_layout(policy=policy), capacity=16)
    _feed(aligner, [(s, t, [t, t][: 2 if s == 0 else 1]) for t in range(0, 5000, 10)
                    for s in (1, 2, 0)])
    assert len(buffer) == 16 and aligner.pending_frames <= 1


def _online(aligner, frames, spoof_at=(), spoof_stream=0, lead_ms=4900):
    """Feed all three streams stamped `now` every 10 ms of node clock; return verdicts.

    At each k in `spoof_at` one extra `spoof_stream` sample is stamped `lead_ms` ahead.
    """
    verdicts = {0: [], 1: [], 2: []}
    for k in range(frames):
        now = (k + 1) * 10 * MS
        aligner.advance(now)
        for stream, values in ((1, [float(k)]), (2, [5.0]), (0, [float(k), 0.0])):
            verdicts[stream].append(aligner.push(stream, now, np.array(values)))
            aligner.advance(now)
        if k in spoof_at:
            width = 2 if spoof_stream == 0 else 1
            aligner.push(spoof_stream, now + lead_ms * MS, np.full(width, 999.0))
            aligner.advance(now)
    return verdicts


@pytest.mark.parametrize(("clock", "spoof_stream"), [("fast", 0), ("fast", 1), ("", 1)])
def test_a_sample_stamped_ahead_of_the_node_clock_cannot_make_good_samples_late(
        clock, spoof_stream):
    """Issue 13.1: a sample 4.9 s ahead used to move the watermark and drop ~5 s of data."""
    aligner, buffer = _aligner(_layout(clock=clock), capacity=512)
    index = 0 if clock == "" and spoof_stream == 0 else spoof_stream
    verdicts = _online(aligner, 200, spoof_at=(20, 120), spoof_stream=index)
    assert all(v is SampleVerdict.ACCEPTED for stream in verdicts.values()
               for v in stream), {s: {v.value for v in vs} for s, vs in verdicts.items()}
    assert aligner.counters.late == [0, 0, 0]
    assert aligner.watermark_ns <= 200 * 10 * MS  # never ahead of the node clock
    assert aligner.counters.retracted[index] == 2
    assert len(buffer) >= 190
    assert 999.0 not in buffer.window(len(buffer)).continuous


def test_without_anything_ahead_the_online_run_matches_the_clean_one():
    """The rules only act on samples ahead of `now`: clean online frames are unchanged."""
    online, online_buffer = _aligner(_layout(), capacity=512)
    _online(online, 50)
    spoofed, spoofed_buffer = _aligner(_layout(), capacity=512)
    _online(spoofed, 50, spoof_at=(10,), spoof_stream=1)
    assert spoofed.counters.retracted == [0, 1, 0]
    a, b = online_buffer.window(len(online_buffer)), spoofed_buffer.window(len(spoofed_buffer))
    np.testing.assert_array_equal(a.stamps, b.stamps)
    np.testing.assert_array_equal(a.continuous, b.continuous)


def test_a_flood_of_frames_stamped_ahead_cannot_force_the_watermark_past_now():
    """Pending frames are bounded; when they are all ahead of `now`, new ones are dropped."""
    aligner, _ = _aligner(_layout(), capacity=16)
    aligner.advance(MS)
    for k in range(MAX_PENDING_FRAMES + 10):
        aligner.push(0, 2 * S + k * MS, np.array([9.0, 9.0]))
    assert aligner.watermark_ns is None and aligner.pending_frames == MAX_PENDING_FRAMES
    assert aligner.counters.timed_out_frames == 10
    assert aligner.push(1, 2 * MS, np.array([1.0])) is SampleVerdict.ACCEPTED
