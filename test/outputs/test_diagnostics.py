# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Diagnostic statuses: names, keys, levels and messages for each check."""

from __future__ import annotations

import pytest

from streaming_gcode.core.parameters import NodeSettings
from streaming_gcode.core.stats import LatencySummary
from streaming_gcode.ingestion.drop_accounting import DropCounters
from streaming_gcode.ingestion.reports import BufferReport, StreamReport
from streaming_gcode.outputs.diagnostics import (
    BUFFER_KEYS,
    buffer_status,
    INFERENCE_KEYS,
    inference_status,
    InferenceReport,
    Level,
    MODEL_KEYS,
    model_status,
    ModelReport,
    Status,
    STREAM_KEYS,
    stream_status,
    Thresholds,
)

NODE = "streaming_gcode"
HW = "mill_1"
THRESHOLDS = Thresholds.from_settings(NodeSettings())


def _stream(recent: DropCounters, total: DropCounters | None = None, age_s: float = 0.1,
            rate: float | None = 100.0, policy: str = "") -> Status:
    report = StreamReport("imu", "/imu", "sensor_msgs/msg/Imu", "best_effort keep_last 10",
                          total or recent, recent, rate, age_s, policy)
    return stream_status(NODE, HW, report, THRESHOLDS)


def test_thresholds_follow_the_settings() -> None:
    settings = NodeSettings(latency_warn_ms=5.0, latency_error_ms=7.0)
    thresholds = Thresholds.from_settings(settings)
    assert (thresholds.latency_warn_ms, thresholds.latency_error_ms) == (5.0, 7.0)
    assert thresholds.loss_warn_ratio == settings.loss_warn_ratio


def test_healthy_stream_is_ok_with_every_documented_key() -> None:
    status = _stream(DropCounters(received=100, accepted=100, publishers=1))
    assert status.name == "streaming_gcode: stream imu"
    assert status.hardware_id == HW
    assert status.level == Level.OK
    assert status.message == "receiving at 100.0 Hz"
    assert tuple(k for k, _ in status.values) == STREAM_KEYS
    assert all(isinstance(v, str) for _, v in status.values)
    assert status.value("rate_hz") == "100" and status.value("messages") == "100"


@pytest.mark.parametrize(
    ("recent", "level", "text"),
    [
        (DropCounters(received=99, lost=1), Level.OK, "receiving"),
        (DropCounters(received=95, lost=5), Level.WARN, "dropped 5.0% (lost 5)"),
        (DropCounters(received=80, malformed=15, late=5), Level.ERROR,
         "dropped 25.0% (late 5, malformed 15)"),
        (DropCounters(received=50, rmw_lost=50), Level.ERROR, "dropped 50.0% (lost 50)"),
    ],
)
def test_drop_ratio_levels(recent: DropCounters, level: Level, text: str) -> None:
    status = _stream(recent)
    assert status.level == level
    assert text in status.message


def test_drop_ratio_uses_recent_counts_only() -> None:
    total = DropCounters(received=1000, malformed=900)
    status = _stream(DropCounters(received=100), total=total)
    assert status.level == Level.OK
    assert status.value("malformed") == "900" and status.value("drop_ratio_recent") == "0"


def test_staleness_levels_and_never_received() -> None:
    assert _stream(DropCounters(received=10), age_s=2.0).level == Level.WARN
    stale = _stream(DropCounters(received=10), age_s=6.0)
    assert stale.level == Level.ERROR and stale.message == "no message for 6.0 s"
    silent = _stream(DropCounters(), age_s=10.0, rate=None)
    assert silent.level == Level.ERROR
    assert silent.message == "no messages received for 10.0 s"
    assert silent.value("rate_hz") == ""


def test_incompatible_qos_is_an_error_naming_the_policy() -> None:
    status = _stream(DropCounters(incompatible_qos=1), age_s=0.5, rate=None,
                     policy="RELIABILITY")
    assert status.level == Level.ERROR
    assert status.message.startswith("incompatible QoS (RELIABILITY)")
    assert status.value("incompatible_policy") == "RELIABILITY"


def test_only_the_worst_problems_make_the_message() -> None:
    status = _stream(DropCounters(received=90, lost=10), age_s=2.0)
    assert status.level == Level.WARN
    assert status.message == "no message for 2.0 s; dropped 10.0% (lost 10)"
    status = _stream(DropCounters(received=50, lost=50), age_s=2.0)
    assert status.level == Level.ERROR and "no message" not in status.message


def _buffer(**overrides) -> Status:
    fields = {"capacity": 128, "frames_held": 128, "window_frames": 64, "frames": 1000,
              "frames_recent": 4, "degraded_frames": 0, "degraded_recent": 0,
              "newest_frame_degraded": False, "skipped_frames": 0, "timed_out_frames": 0,
              "pending_frames": 1, "aligner_resets": 0, "last_reset_reason": "",
              "newest_frame_stamp_ns": 123, "stale_policy": "hold_last"}
    fields.update(overrides)
    return buffer_status(NODE, HW, BufferReport(**fields))


def test_buffer_status_levels_and_keys() -> None:
    ok = _buffer()
    assert ok.name == "streaming_gcode: buffer" and ok.level == Level.OK
    assert tuple(k for k, _ in ok.values) == BUFFER_KEYS
    assert ok.value("fill") == "1"
    filling = _buffer(frames_held=10)
    assert filling.level == Level.WARN and filling.message.startswith("filling: 10/64")
    degraded = _buffer(degraded_recent=3, newest_frame_degraded=True)
    assert degraded.level == Level.WARN
    assert "3 degraded frame(s)" in degraded.message and "hold_last" in degraded.message
    assert _buffer(frames_recent=0).message == "no new frames since the last report"


def _inference(recent_p99: float | None, **overrides) -> Status:
    recent = None if recent_p99 is None else LatencySummary(10, 1.0, 2.0, recent_p99, 9.0, 1.5)
    fields = {"mode": "full_window", "backend": "torch", "threads": 1, "period_ms": 250.0,
              "ticks": 10, "predictions": 10, "overruns": 0, "skipped_ticks": 0,
              "skipped_recent": 0, "idle_ticks": 0, "state_resets": 0, "errors": 0,
              "last_error": "", "recent": recent, "since_start": recent}
    fields.update(overrides)
    return inference_status(NODE, HW, InferenceReport(**fields), THRESHOLDS)


def test_inference_latency_levels_use_recent_p99() -> None:
    ok = _inference(5.0)
    assert ok.level == Level.OK and ok.message == "p50 1.0 ms, p99 5.0 ms"
    assert tuple(k for k, _ in ok.values) == INFERENCE_KEYS
    assert ok.value("latency_recent_p99_ms") == "5"
    assert ok.value("latency_since_start_max_ms") == "9"
    warn = _inference(THRESHOLDS.latency_warn_ms + 1)
    assert warn.level == Level.WARN and "over 100.0 ms" in warn.message
    error = _inference(THRESHOLDS.latency_error_ms + 1)
    assert error.level == Level.ERROR and "over 250.0 ms" in error.message


def test_inference_without_predictions_and_with_skips_and_errors() -> None:
    idle = _inference(None)
    assert idle.level == Level.OK and idle.message == "no prediction yet"
    assert idle.value("latency_recent_p50_ms") == ""
    skipped = _inference(5.0, skipped_recent=2, skipped_ticks=2, overruns=2)
    assert skipped.level == Level.WARN and "2 tick(s) skipped" in skipped.message
    failed = _inference(5.0, errors=1, last_error="RuntimeError: shape")
    assert failed.level == Level.ERROR and "RuntimeError: shape" in failed.message


def test_model_status() -> None:
    report = ModelReport("/m/full.pt", "full", False, 157, 5, 64, ("command", "x"), 1234, 7, 0)
    status = model_status(NODE, HW, report)
    assert status.name == "streaming_gcode: model" and status.level == Level.OK
    assert tuple(k for k, _ in status.values) == MODEL_KEYS
    assert status.value("heads") == "command,x" and status.value("random_weights") == "false"
    random = model_status(NODE, HW, ModelReport("", "full", True, 1, 0, 8, (), 1, 0, 0))
    assert random.level == Level.WARN and "random weights" in random.message
    vocab = model_status(NODE, HW, ModelReport("x", "full", False, 1, 1, 8, (), 1, 9, 2))
    assert vocab.level == Level.WARN and "2 categorical value(s)" in vocab.message


def test_status_names_use_the_node_name_given() -> None:
    report = ModelReport("", "full", False, 1, 0, 8, (), 1, 0)
    assert model_status("cell_3_gcode", HW, report).name == "cell_3_gcode: model"


def test_missing_key_is_a_clear_error() -> None:
    status = _buffer()
    with pytest.raises(KeyError, match=r"status 'streaming_gcode: buffer' has no key 'x'"):
        status.value("x")


def _hostile(recent: DropCounters, **fields) -> Status:
    report = StreamReport("imu", "/imu", "sensor_msgs/msg/Imu", "best_effort keep_last 10",
                          recent, recent, 100.0, 0.1, **fields)
    return stream_status(NODE, HW, report, THRESHOLDS)


HEALTHY = DropCounters(received=100, accepted=100, publishers=1)


@pytest.mark.parametrize(("peak", "level", "text"), [
    (0.02, Level.OK, "receiving at 100.0 Hz"),
    (-1.5, Level.WARN, "header stamps up to 1.50 s behind the node clock"),
    (4.9, Level.ERROR, "header stamps up to 4.90 s ahead of the node clock"),
])
def test_stamps_far_from_the_node_clock_are_graded_with_their_offset(peak, level, text) -> None:
    """Issue 13.1: a forged or skewed stamp is not silent any more."""
    status = _hostile(HEALTHY, stamp_offset_s=0.001, stamp_offset_peak_s=peak)
    assert (status.level, status.message) == (level, text)
    assert status.value("stamp_offset_peak_s") == f"{peak:.6g}"
    assert status.value("stamp_offset_s") == "0.001"


def test_a_second_live_publisher_warns_with_its_id_unless_accepted() -> None:
    """Issue 13.4: `publishers: 2` under OK was the only trace of a spoofer."""
    two = (b"\x01" * 16, [2] * 16)   # bytes, or the list of byte values rclpy gives
    status = _hostile(HEALTHY, live_publishers=two)
    assert status.level == Level.WARN
    assert status.message.startswith("2 live publishers (" + "01" * 16 + "," + "02" * 16)
    assert status.value("live_publishers") == "2"
    assert status.value("publisher_ids") == "01" * 16 + "," + "02" * 16
    assert _hostile(HEALTHY, live_publishers=two, multiple_publishers="accept").level == Level.OK
    refused = DropCounters(received=20, accepted=10, refused_publisher=10, publishers=2)
    first = _hostile(refused, live_publishers=two, multiple_publishers="first")
    assert first.level == Level.WARN and first.value("refused_publisher") == "10"
    assert "10 message(s) of other publishers refused" in first.message


def test_without_gids_the_graph_count_warns() -> None:
    """Jazzy: messages are untracked; the topic's publisher count still shows a second one."""
    untracked = DropCounters(received=100, accepted=100, untracked=100)
    status = _hostile(untracked, graph_publishers=2)
    assert status.level == Level.WARN and "cannot be told apart" in status.message
    assert status.value("graph_publishers") == "2"
    assert _hostile(untracked, graph_publishers=1).level == Level.OK


def test_loss_seen_by_sequence_gaps_and_the_middleware_is_counted_once() -> None:
    """Issue 13.5: 75 sent, 3 delivered was reported as 115 lost."""
    recent = DropCounters(received=3, accepted=3, lost=72, rmw_lost=43)
    status = _stream(recent)
    assert status.value("lost") == "72" and status.value("rmw_lost") == "43"
    assert status.value("lost_counted") == "72"
    assert status.value("drop_ratio_recent") == f"{72 / 75:.6g}"
    assert status.message == f"dropped {72 / 75:.1%} (lost 72)"
