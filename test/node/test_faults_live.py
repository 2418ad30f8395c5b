# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Faults injected into a live node: publisher restarts, stalls, QoS mismatch, parameters.

One node process (stale_policy hold_last, a JointState frame clock, an Imu and a
reliable Float32MultiArray stream) and this test's graph publishing to it over
real DDS. Each test injects one fault and checks what the node publishes and
reports in its diagnostics; timeouts are generous and nothing measures speed.
"""

from __future__ import annotations

import signal
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Float32MultiArray  # noqa: E402
import torch  # noqa: E402, I100

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)

WARN = 1


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    yield from fs.live_node(tmp_path_factory.mktemp("faults_live"))


def _int(graph: fs.Graph, status: str, key: str, since: float = 0.0) -> int:
    return int(graph.statuses(since).get(status, {}).get(key, "0"))


def _after(graph: fs.Graph, what: str, check, timeout: float = 10.0, streams=()) -> None:
    """Wait until the newest diagnostics satisfy `check(statuses, levels)`."""
    graph.wait_for(lambda: bool(graph.statuses()) and check(graph.statuses(), graph.levels()),
                   timeout, what, streams=streams)


def test_publisher_restart_is_no_loss_burst_and_the_outage_shows(live) -> None:
    graph, node = live
    graph.run(1.0)
    before = graph.statuses()[fs.JOINTS]
    graph.node.destroy_publisher(graph.publishers.pop("joints"))   # the sensor dies
    # The outage shows: the frame clock stream goes stale, no new frames are made.
    _after(graph, "joints reported silent", lambda s, lv: lv[fs.JOINTS][0] >= WARN
           and "no message for" in lv[fs.JOINTS][1], streams=("imu", "arr"))
    outage = time.monotonic()
    assert not graph.predictions_since(outage + 0.5)  # nothing fabricated
    graph.make_publisher("joints", JointState, "fault/joints", fs.qos_profile_sensor_data)
    graph.wait_for(lambda: len(graph.predictions_since(outage + 0.5)) >= 5, 20.0,
                   "predictions after the sensor came back", streams=("joints", "imu", "arr"))
    graph.run(1.0)
    _after(graph, "joints healthy again", lambda s, lv: lv[fs.JOINTS][0] == 0,
           streams=("joints", "imu", "arr"))
    after = graph.statuses()[fs.JOINTS]
    assert int(after["lost"]) == int(before["lost"])        # its sequence restart is no loss
    assert int(after["sequence_resets"]) == int(before["sequence_resets"])
    if int(before["untracked"]):
        # rclpy without publisher gids in MessageInfo (Jazzy): no identity, no gap
        # counting, and the status says so instead of showing "0 lost" as a fact.
        assert int(after["untracked"]) > int(before["untracked"])
        assert int(after["publishers"]) == int(before["publishers"]) == 0
    else:
        assert int(after["publishers"]) == int(before["publishers"]) + 1   # a new identity
        assert int(after["untracked"]) == 0
    assert node.alive()


def test_one_stream_stalls_frames_are_flagged_degraded_then_recover(live) -> None:
    graph, _ = live
    graph.run(1.0)
    stale_before = _int(graph, fs.IMU, "stale_frames")
    stalled = time.monotonic()
    graph.run(2.0, streams=("joints", "arr"))          # the Imu stalls
    flagged = graph.predictions_since(stalled + 1.0)   # well past max_staleness (0.3 s)
    assert flagged and all(r["degraded"] for r in flagged)
    statuses, levels = graph.statuses(), graph.levels()
    assert int(statuses[fs.IMU]["stale_frames"]) > stale_before
    assert levels[fs.IMU][0] >= WARN and "no message for" in levels[fs.IMU][1]
    assert statuses[fs.BUFFER]["stale_policy"] == "hold_last"
    assert int(statuses[fs.BUFFER]["degraded_frames"]) > 0
    resumed = time.monotonic()
    graph.run(2.0)
    recovered = graph.predictions_since(resumed + 1.0)
    assert recovered and not any(r["degraded"] for r in recovered)


def test_all_streams_stall_nothing_is_fabricated(live) -> None:
    graph, node = live
    graph.run(1.0)
    time.sleep(1.0)                                     # every stream stalls
    stalled = time.monotonic()
    idle_before = _int(graph, fs.INFERENCE, "idle_ticks")
    time.sleep(2.0)
    assert graph.predictions_since(stalled) == []       # no prediction without new data
    statuses, levels = graph.statuses(), graph.levels()
    assert int(statuses[fs.INFERENCE]["idle_ticks"]) > idle_before
    for name in (fs.JOINTS, fs.IMU, fs.ARR):
        assert levels[name][0] >= WARN, levels[name]
    assert "no new frames" in levels[fs.BUFFER][1]
    resumed = time.monotonic()
    graph.wait_for(lambda: len(graph.predictions_since(resumed)) >= 3, 20.0,
                   "predictions after the stall", streams=("joints", "imu", "arr"))
    assert node.alive()


def test_frame_clock_stalls_while_other_streams_continue(live) -> None:
    graph, _ = live
    graph.run(0.5)
    arr_before = _int(graph, fs.ARR, "accepted")
    graph.run(1.0, streams=("imu", "arr"))              # the controller goes quiet
    stalled = time.monotonic()
    graph.wait_for(lambda: bool(graph.statuses(stalled)), 10.0, "diagnostics",
                   streams=("imu", "arr"))
    frames = _int(graph, fs.BUFFER, "frames", stalled)
    graph.run(1.5, streams=("imu", "arr"))
    assert graph.predictions_since(stalled) == []       # no frame clock, no frames
    _after(graph, "frame clock stale reported", lambda s, lv: lv[fs.JOINTS][0] >= WARN,
           streams=("imu", "arr"))
    statuses = graph.statuses()
    assert int(statuses[fs.BUFFER]["frames"]) == frames
    assert int(statuses[fs.ARR]["accepted"]) > arr_before            # boards still counted
    resumed = time.monotonic()
    graph.wait_for(lambda: len(graph.predictions_since(resumed)) >= 3, 20.0,
                   "predictions after the frame clock resumed",
                   streams=("joints", "imu", "arr"))


def test_best_effort_publisher_on_a_reliable_stream_is_reported_incompatible(live) -> None:
    graph, _ = live
    best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    graph.make_publisher("arr", Float32MultiArray, "fault/arr", best_effort)
    try:
        _after(graph, "incompatible QoS on arr", lambda s, lv: int(s[fs.ARR]["incompatible_qos"])
               >= 1, timeout=20.0, streams=("joints", "imu", "arr"))
        statuses, levels = graph.statuses(), graph.levels()
        assert statuses[fs.ARR]["incompatible_policy"] == "RELIABILITY"
        assert levels[fs.ARR][0] == 2 and "incompatible QoS (RELIABILITY)" in levels[fs.ARR][1]
    finally:
        graph.make_publisher("arr", Float32MultiArray, "fault/arr", fs.RELIABLE)
    graph.run(1.0)


def test_reliable_publisher_on_a_best_effort_stream_is_compatible(live) -> None:
    graph, _ = live
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    before = _int(graph, fs.JOINTS, "messages")
    graph.make_publisher("joints", JointState, "fault/joints", reliable)
    try:
        graph.wait_for(lambda: _int(graph, fs.JOINTS, "messages") > before + 10, 20.0,
                       "joints received from a reliable publisher",
                       streams=("joints", "imu", "arr"))
        assert _int(graph, fs.JOINTS, "incompatible_qos") == 0    # no false alarm
    finally:
        graph.make_publisher("joints", JointState, "fault/joints", fs.qos_profile_sensor_data)


def test_malformed_bursts_are_counted_with_throttled_warnings(live) -> None:
    graph, node = live
    before = _int(graph, fs.ARR, "malformed")
    burst = 60
    for _ in range(burst):
        graph.publish(("arr",), arr=[1.0, 2.0, 3.0])          # wrong length
        time.sleep(0.005)
    graph.wait_for(lambda: _int(graph, fs.ARR, "malformed") - before == burst, 20.0,
                   "the malformed burst counted", streams=("joints", "imu"))
    warnings = [line for line in node.text().splitlines()
                if "stream 'arr': data has 3 values" in line]
    assert 1 <= len(warnings) <= 10          # one per log_throttle_s, not one per message
    assert node.alive()


def test_runtime_parameters_valid_apply_invalid_change_nothing(live) -> None:
    graph, node = live
    result = graph.set_parameters({"stride": 3, "mode": "incremental"})
    assert all(r.successful for r in result), [r.reason for r in result]
    applied = time.monotonic()
    graph.wait_for(lambda: graph.statuses(applied).get(fs.INFERENCE, {}).get("mode")
                   == "incremental", 20.0, "the new mode in diagnostics",
                   streams=("joints", "imu", "arr"))
    graph.run(3.0)
    records = graph.predictions_since(applied + 1.0)
    steps = sorted(b["frame_sequence"] - a["frame_sequence"] for a, b in zip(records, records[1:]))
    assert steps and steps[len(steps) // 2] == 3
    assert float(graph.statuses()[fs.INFERENCE]["period_ms"]) == pytest.approx(150.0)
    for bad in ({"stride": -1}, {"mode": "bogus"}, {"num_threads": 0}, {"window_frames": 4}):
        (result,) = graph.set_parameters(bad)
        (name,) = bad
        assert not result.successful and name in result.reason, result.reason
    print("rejection reasons:", result.reason)
    # Atomically: one invalid value rejects the whole set, the valid one included.
    (result,) = graph.set_parameters({"stride": 5, "num_threads": 0}, atomically=True)
    assert not result.successful and "num_threads" in result.reason
    rejected = time.monotonic()
    graph.run(1.5)
    statuses = graph.statuses(rejected)
    assert statuses[fs.INFERENCE]["mode"] == "incremental"
    assert float(statuses[fs.INFERENCE]["period_ms"]) == pytest.approx(150.0)
    assert statuses[fs.INFERENCE]["threads"] == "1" and statuses[fs.INFERENCE]["errors"] == "0"
    assert node.alive()


def test_sigterm_exits_zero_with_a_final_stats_line(live) -> None:
    graph, node = live
    graph.run(0.5)
    code = node.stop(signal.SIGTERM)
    text = node.text()
    assert code == 0, text[-3000:]
    assert "final stats: ticks" in text and "Traceback" not in text
