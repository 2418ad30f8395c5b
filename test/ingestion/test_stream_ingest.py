# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""StreamIngest: messages to frames with every refusal counted, driven by explicit time."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray

from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.stream_ingest import Outcome, receipt_time, StreamIngest

MS = 1_000_000
S = 1_000_000_000
T0 = 1_700_000_000 * S
GID = b"\x07" * 16


def _layout() -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["js", "arr"],
        "frame_clock": "js",
        "sample_rate_hz": 10.0,
        "max_staleness_s": 0.5,
        "stale_policy": "hold_last",
        "alignment_timeout_s": 0.05,
        "streams.js.topic": "js", "streams.js.type": "sensor_msgs/JointState",
        "streams.js.channels": ["x", "y"],
        "streams.arr.topic": "arr", "streams.arr.type": "std_msgs/Float32MultiArray",
        "streams.arr.channels": ["a", "m"],
    })


def _ingest(capacity: int = 16) -> StreamIngest:
    layout = _layout()
    fmap = FeatureMap.build(layout, ["x", "y", "a"], ["m"], {"m": [0, 1]})
    return StreamIngest(layout, fmap, capacity, max_array_length=64, max_future_ns=S,
                        qos_descriptions=["best_effort keep_last 10", "reliable keep_last 5"])


def _joint(stamp_ns: int, x: float = 1.0, y: float = 2.0) -> JointState:
    msg = JointState(name=["y", "x"], position=[y, x])
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)
    return msg


def _feed(ingest: StreamIngest, k: int, seq: int | None = None) -> None:
    """Frame k: the array first (stamped at receipt), then the frame clock."""
    t = T0 + k * 100 * MS
    ingest.on_message(1, Float32MultiArray(data=[float(k), 1.0]), t, GID, seq)
    ingest.on_message(0, _joint(t, x=float(k)), t + MS, GID, seq)


def test_messages_become_frames_in_the_ring_buffer() -> None:
    ingest = _ingest()
    for k in range(5):
        _feed(ingest, k)
    ingest.advance(T0 + 10 * S)
    window = ingest.buffer.window(5)
    np.testing.assert_array_equal(window.stamps, T0 + np.arange(5) * 100 * MS)
    np.testing.assert_array_equal(window.continuous[:, 0], np.arange(5))
    np.testing.assert_array_equal(window.categorical[:, 0], 2)  # code 1 -> index 2
    assert ingest.drops.counters("js").accepted == 5


def test_malformed_message_is_refused_with_reason_and_counted() -> None:
    ingest = _ingest()
    result = ingest.on_message(1, Float32MultiArray(data=[1.0]), T0, GID, 1)
    assert result.outcome is Outcome.MALFORMED
    assert result.reason == "stream 'arr': data has 1 values; expected 2"
    result = ingest.on_message(1, Float32MultiArray(data=[1.0, math.inf]), T0, GID, 2)
    assert result.outcome is Outcome.MALFORMED and "['m']" in result.reason
    counters = ingest.drops.counters("arr")
    assert (counters.received, counters.malformed, counters.accepted) == (2, 2, 0)
    assert len(ingest.buffer) == 0


def test_late_and_out_of_order_samples_are_refused_with_reason() -> None:
    ingest = _ingest()
    for k in range(3):
        _feed(ingest, k)
    ingest.advance(T0 + 5 * S)
    late = ingest.on_message(0, _joint(T0), T0 + 5 * S)
    assert late.outcome is Outcome.LATE
    assert "behind the alignment watermark" in late.reason
    # The next frame (7 s) waits for the array stream, so the watermark stays behind.
    ingest.on_message(1, Float32MultiArray(data=[0.0, 0.0]), T0 + 6900 * MS)
    ingest.on_message(0, _joint(T0 + 7 * S), T0 + 7 * S)
    older = ingest.on_message(0, _joint(T0 + 6950 * MS), T0 + 7 * S)
    assert older.outcome is Outcome.OUT_OF_ORDER
    assert "older than the stream's newest" in older.reason
    counters = ingest.drops.counters("js")
    assert (counters.late, counters.out_of_order) == (1, 1)


def test_messages_before_the_clock_starts_are_dropped_and_counted() -> None:
    ingest = _ingest()
    result = ingest.on_message(0, _joint(T0), 0, GID, 1)
    assert result.outcome is Outcome.BEFORE_CLOCK and "/clock" in result.reason
    counters = ingest.drops.counters("js")
    assert (counters.received, counters.before_clock, counters.dropped) == (1, 1, 1)
    assert ingest.rates[0].total == 0 and len(ingest.buffer) == 0


def test_sequence_gaps_and_middleware_events_are_counted() -> None:
    ingest = _ingest()
    _feed(ingest, 0, seq=1)
    result = ingest.on_message(0, _joint(T0 + 100 * MS), T0 + 100 * MS, GID, 5)
    assert result.lost_before == 3
    ingest.on_message_lost(1, 4)
    ingest.on_incompatible_qos(0, 1, "RELIABILITY")
    assert ingest.drops.counters("js").lost == 3
    assert ingest.drops.counters("arr").rmw_lost == 4
    assert ingest.drops.incompatible_policy("js") == "RELIABILITY"


def test_clock_jump_back_resets_and_the_next_sample_is_not_late() -> None:
    ingest = _ingest()
    for k in range(6):
        _feed(ingest, k)
    ingest.advance(T0 + 10 * S)
    assert len(ingest.buffer) == 6
    back = T0 - 100 * S  # sim time restarted
    result = ingest.on_message(0, _joint(back), back)
    assert result.outcome is Outcome.ACCEPTED
    assert ingest.aligner.counters.resets == 1
    assert len(ingest.buffer) <= 1  # frames from before the jump are gone


def test_reports_give_totals_and_counts_since_the_previous_report() -> None:
    ingest = _ingest()
    started = T0 - S
    reports = {r.name: r for r in ingest.stream_reports(T0, started)}
    assert reports["js"].rate_hz is None and reports["js"].age_s == pytest.approx(1.0)
    assert reports["arr"].qos == "reliable keep_last 5"
    for k in range(10):
        _feed(ingest, k)
    ingest.on_message(1, Float32MultiArray(data=[]), T0 + S, GID, None)
    now = T0 + S
    reports = {r.name: r for r in ingest.stream_reports(now, started)}
    assert reports["arr"].recent.malformed == 1 and reports["arr"].total.received == 11
    assert reports["js"].rate_hz == pytest.approx(10.0, rel=0.15)
    assert reports["js"].age_s == pytest.approx(0.099, abs=1e-3)
    again = {r.name: r for r in ingest.stream_reports(now, started)}
    assert again["arr"].recent.malformed == 0 and again["arr"].total.malformed == 1
    ingest.advance(now + S)
    buffer = ingest.buffer_report(window_frames=8)
    assert buffer.frames == 10 and buffer.frames_recent == 10 and buffer.frames_held == 10
    assert ingest.buffer_report(window_frames=8).frames_recent == 0
    assert ingest.summary()["frames"] == 10 and ingest.summary()["malformed"] == 1


def test_stale_frames_are_reported_per_stream() -> None:
    ingest = _ingest()
    for k in range(3):
        _feed(ingest, k)
    for k in range(3, 10):  # the array stream stalls; the frame clock goes on
        t = T0 + k * 100 * MS
        ingest.on_message(0, _joint(t), t)
    ingest.advance(T0 + 10 * S)
    reports = {r.name: r for r in ingest.stream_reports(T0 + 10 * S, T0)}
    assert reports["arr"].total.stale > 0 and reports["js"].total.stale == 0
    assert ingest.buffer_report(8).degraded_frames == reports["arr"].total.stale


_names = st.lists(st.sampled_from(["x", "y", "z", ""]), max_size=4)
_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=150, deadline=None)
@given(
    names=_names,
    positions=st.lists(_floats, max_size=5),
    sec=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    nanosec=st.integers(min_value=0, max_value=2**32 - 1),
    data=st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=5),
    now=st.integers(min_value=0, max_value=2**62),
)
def test_any_message_is_counted_and_never_raises(names, positions, sec, nanosec, data,
                                                 now) -> None:
    ingest = _ingest()
    msg = JointState(name=names, position=positions)
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    first = ingest.on_message(0, msg, now)
    second = ingest.on_message(1, Float32MultiArray(data=data), now)
    assert first.outcome in Outcome and second.outcome in Outcome
    total = ingest.drops.totals()
    assert total.received == 2
    assert (total.accepted + total.malformed + total.late + total.out_of_order
            + total.before_clock) == 2
    held = ingest.buffer.window(len(ingest.buffer)) if len(ingest.buffer) else None
    assert held is None or np.isfinite(held.continuous).all()


SPOOF = b"\x09" * 16


def _policy_ingest(policy: str) -> StreamIngest:
    layout = _layout()
    fmap = FeatureMap.build(layout, ["x", "y", "a"], ["m"], {"m": [0, 1]})
    return StreamIngest(layout, fmap, 64, max_array_length=64, max_future_ns=5 * S,
                        multiple_publishers=policy)


def test_a_frame_clock_message_stamped_ahead_silences_nobody_and_shows_its_offset() -> None:
    """Issue 13.1 through the ingest: 4.9 s ahead is accepted by the adapter, then retracted."""
    ingest = _policy_ingest("warn")
    for k in range(30):
        _feed(ingest, k)
        if k == 5:
            t = T0 + k * 100 * MS
            assert ingest.on_message(0, _joint(t + 4900 * MS, x=999.0), t + 2 * MS).outcome \
                is Outcome.ACCEPTED
    counters = ingest.drops.counters("js")
    assert (counters.late, counters.out_of_order, counters.retracted) == (0, 0, 1)
    assert ingest.drops.counters("arr").late == 0
    assert counters.accepted == 31 and counters.dropped == 1  # the retracted one: taken, then not
    report = ingest.stream_reports(T0 + 3 * S, T0)[0]
    assert report.stamp_offset_peak_s == pytest.approx(4.898)
    assert report.stamp_offset_s == pytest.approx(-0.001)  # the newest: received 1 ms late
    assert ingest.stream_reports(T0 + 3 * S, T0)[0].stamp_offset_peak_s is None  # since report
    window = ingest.buffer.window(len(ingest.buffer))
    assert len(window.stamps) >= 28 and 999.0 not in window.continuous


@pytest.mark.parametrize(("policy", "accepted", "refused"),
                         [("warn", 20, 0), ("accept", 20, 0), ("first", 10, 10)])
def test_a_second_publisher_is_seen_and_first_keeps_only_the_first(policy, accepted,
                                                                   refused) -> None:
    """Issue 13.4: a spoofer's messages are mixed in unless `first` refuses them."""
    ingest = _policy_ingest(policy)
    for k in range(10):
        t = T0 + k * 100 * MS
        ingest.on_message(1, Float32MultiArray(data=[float(k), 1.0]), t, GID, k + 1)
        result = ingest.on_message(1, Float32MultiArray(data=[999.0, 0.0]), t + MS, SPOOF,
                                   k + 1)
        assert (result.outcome is Outcome.REFUSED_PUBLISHER) == (policy == "first")
    arr = ingest.drops.counters("arr")
    assert (arr.accepted, arr.refused_publisher, arr.received) == (accepted, refused, 20)
    report = ingest.stream_reports(T0 + S, T0)[1]
    assert report.live_publishers == (GID, SPOOF) and report.multiple_publishers == policy
    # live means heard within PUBLISHER_LIVE_NS: once the spoofer is silent it is not counted
    assert ingest.stream_reports(T0 + 4 * S, T0)[1].live_publishers == ()


def test_first_hands_over_when_the_first_publisher_goes_silent() -> None:
    """A restarted sensor (new gid) is taken once the old identity is no longer live."""
    ingest = _policy_ingest("first")
    ingest.on_message(1, Float32MultiArray(data=[1.0, 1.0]), T0, GID, 1)
    later = T0 + 3 * S
    result = ingest.on_message(1, Float32MultiArray(data=[2.0, 1.0]), later, SPOOF, 1)
    assert result.outcome is Outcome.ACCEPTED
    assert ingest.on_message(1, Float32MultiArray(data=[3.0, 1.0]), later + MS, GID, 2).outcome \
        is Outcome.REFUSED_PUBLISHER


def test_without_gids_every_message_is_taken_even_under_first() -> None:
    """Jazzy's rclpy gives no publisher gid: publishers cannot be told apart (untracked)."""
    ingest = _policy_ingest("first")
    for k in range(4):
        assert ingest.on_message(1, Float32MultiArray(data=[float(k), 1.0]), T0 + k * MS,
                                 None, None).outcome is Outcome.ACCEPTED
    report = ingest.stream_reports(T0 + S, T0, graph_publishers=[1, 2])[1]
    assert report.total.untracked == 4 and report.graph_publishers == 2
    assert report.live_publishers == ()


def test_loss_seen_by_both_views_is_counted_once_in_the_summary() -> None:
    """Issue 13.5: 75 sent, 3 delivered: gaps say 72, the middleware says 72; 72 lost."""
    ingest = _ingest()
    ingest.on_message(1, Float32MultiArray(data=[1.0, 1.0]), T0, GID, 1)
    ingest.on_message(1, Float32MultiArray(data=[1.0, 1.0]), T0 + MS, GID, 38)
    ingest.on_message(1, Float32MultiArray(data=[1.0, 1.0]), T0 + 2 * MS, GID, 75)
    ingest.on_message_lost(1, 72)
    ingest.on_message_lost(0, 5)  # the other stream: only the middleware saw its loss
    arr = ingest.drops.counters("arr")
    assert (arr.lost, arr.rmw_lost, arr.missing, arr.offered) == (72, 72, 72, 75)
    summary = ingest.summary()
    assert summary["missing"] == 72 + 5
    assert (summary["lost"], summary["rmw_lost"]) == (72, 77)  # both views still reported


def test_extra_names_are_counted_and_receipt_stamps_replace_the_header() -> None:
    layout = StreamLayout.from_parameters({
        "stream_names": ["js"], "frame_clock": "", "sample_rate_hz": 10.0,
        "streams.js.topic": "js", "streams.js.type": "sensor_msgs/JointState",
        "streams.js.channels": ["x", "y"], "streams.js.stamp_source": "receipt",
    })
    ingest = StreamIngest(layout, FeatureMap.build(layout, ["x", "y"], [], {}), 16)
    driver = JointState(name=["arm", "y", "x"], position=[9.0, 2.0, 1.0])   # stamp 0
    assert ingest.on_message(0, driver, T0).outcome is Outcome.ACCEPTED
    assert ingest.on_message(0, _joint(0, 3.0, 4.0), T0 + MS).outcome is Outcome.ACCEPTED
    assert ingest.aligner.newest_stamp(0) == T0 + MS   # the receipt time, not the header
    ingest.set_subscription(0, "/plc/js", "reliable keep_last 3")
    (report,) = ingest.stream_reports(T0 + 2 * MS, T0)
    assert (report.ignored_names, report.stamp_source, report.optional) == (1, "receipt", False)
    assert (report.topic, report.qos) == ("/plc/js", "reliable keep_last 3")
    assert report.stamp_offset_s is None   # no header stamp was read


def _taken_late() -> StreamIngest:
    """Return an ingest whose node clock reads 400 ms after the first frame: messages wait."""
    layout = _layout()
    fmap = FeatureMap.build(layout, ["x", "y", "a"], ["m"], {"m": [0, 1]})
    return StreamIngest(layout, fmap, 16, max_array_length=64, max_future_ns=S,
                        clock=lambda: T0 + 400 * MS)


def _backlog(received: bool) -> StreamIngest:
    """Frames 0-3 received 100 ms apart, all taken from the queue 400 ms after the first."""
    ingest = _taken_late()
    for k in range(4):
        t = T0 + k * 100 * MS
        ingest.on_message(1, Float32MultiArray(data=[float(k), 1.0]), None, GID, k,
                          t if received else None)
        ingest.on_message(0, _joint(t, x=float(k)), None, GID, k,
                          t + MS if received else None)
    return ingest


def test_a_backlog_is_aligned_at_receipt_not_when_taken() -> None:
    ingest = _backlog(received=True)
    ingest.advance(None)
    window = ingest.buffer.window(ingest.buffer.total_appended)
    np.testing.assert_array_equal(window.stamps[:4], T0 + np.arange(4) * 100 * MS)
    # the array stream is stamped at receipt: each value lands in its own frame
    np.testing.assert_array_equal(window.continuous[:4, 2], np.arange(4))
    assert ingest.drops.counters("js").late == 0 and ingest.drops.counters("arr").late == 0


def test_without_receipt_stamps_a_backlog_lands_when_taken() -> None:
    ingest = _backlog(received=False)
    ingest.advance(None)
    window = ingest.buffer.window(ingest.buffer.total_appended)
    assert not np.array_equal(window.continuous[:4, 2], np.arange(4))


@pytest.mark.parametrize("received, expected", [
    (None, T0), (T0 - 10 * MS, T0 - 10 * MS), (T0 + MS, T0), (T0 - 2 * S, T0),
])
def test_receipt_time_is_used_only_when_plausible(received, expected) -> None:
    assert receipt_time(T0, received) == expected


def _deadline_in_backlog() -> StreamIngest:
    """Frames 0-3 from a backlog, the deadline timer in the middle (clock 400 ms ahead).

    Each frame's array sample is received before its frame clock sample, taken after it.
    """
    ingest = _taken_late()
    for k in range(4):
        t = T0 + k * 100 * MS
        ingest.on_message(0, _joint(t, x=float(k)), None, GID, k, t + MS)
        if k == 1:
            ingest.advance(None)   # the deadline timer
        ingest.on_message(1, Float32MultiArray(data=[float(k), 1.0]), None, GID, k, t - MS)
    return ingest


def test_a_deadline_during_a_backlog_does_not_time_out_queued_samples() -> None:
    ingest = _deadline_in_backlog()
    # judged when taken, frames 0-2 would have timed out and their array samples been late
    assert ingest.drops.counters("arr").late == 0
    window = ingest.buffer.window(ingest.buffer.total_appended)
    np.testing.assert_array_equal(window.continuous[:, 2], [0, 1, 2])
