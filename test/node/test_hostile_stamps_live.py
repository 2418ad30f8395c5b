# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Hostile input over real DDS (issue 13): forged stamps and a second publisher.

One node process (the fault tests' layout: a JointState frame clock, an Imu, a
reliable Float32MultiArray) and this test's graph. A frame-clock message
stamped 4.9 s ahead (inside max_future_stamp_s) must not make anyone's good
samples late and must show in the stream's status; a second publisher sending
random data on `arr` must WARN with both publishers. Counts are compared with
what this test published, never with elapsed time.
"""

from __future__ import annotations

import random
import re
import signal
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from std_msgs.msg import Float32MultiArray  # noqa: E402
import torch  # noqa: E402, I100

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)

WARN, ERROR = 1, 2
LEAD_NS = 4_900_000_000     # inside the default max_future_stamp_s (5 s)
GOOD_FRAMES = 120           # frames this test publishes around the forged stamps
FORGE_EVERY = 40            # one forged frame-clock message per this many good frames


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    yield from fs.live_node(tmp_path_factory.mktemp("hostile_live"), "hostile_test")


def _settled(graph: fs.Graph, since: float) -> dict[str, dict[str, str]]:
    """Newest statuses received after `since` (waits for one)."""
    graph.wait_for(lambda: bool(graph.statuses(since)), 10.0, "fresh diagnostics")
    return graph.statuses(since)


def _sum(statuses: dict, key: str, names=(fs.JOINTS, fs.IMU, fs.ARR)) -> int:
    return sum(int(statuses[name][key]) for name in names)


def test_a_frame_clock_stamp_ahead_silences_nobody_and_is_reported(live) -> None:
    graph, node = live
    graph.run(1.0)
    before = _settled(graph, time.monotonic())
    began = time.monotonic()
    for k in range(GOOD_FRAMES):
        stamp = graph.publish()
        if k % FORGE_EVERY == FORGE_EVERY // 2:
            graph.publishers["joints"].publish(fs.joint_state(stamp + LEAD_NS, 9999))
        time.sleep(fs.PERIOD_S)
    graph.run(1.0)
    after = _settled(graph, time.monotonic())
    assert node.alive(), node.text()
    forged = GOOD_FRAMES // FORGE_EVERY
    late = _sum(after, "late") - _sum(before, "late")
    # before the fix: every sample of every stream for ~5 s per forged stamp was late
    assert late <= 3, (late, after)
    frames = int(after[fs.BUFFER]["frames"]) - int(before[fs.BUFFER]["frames"])
    assert frames >= 0.7 * GOOD_FRAMES, (frames, after[fs.BUFFER])
    retracted = int(after[fs.JOINTS]["retracted"]) - int(before[fs.JOINTS]["retracted"])
    assert 1 <= retracted <= forged, after[fs.JOINTS]
    flagged = [(level, message) for level, message, v in graph.status_history(fs.JOINTS, began)
               if "ahead of the node clock" in message]
    assert flagged and all(level == ERROR for level, _ in flagged), flagged
    assert max(float(v["stamp_offset_peak_s"] or 0) for _, _, v in
               graph.status_history(fs.JOINTS, began)) > 4.0


def test_a_second_publisher_on_a_stream_warns_with_both(live) -> None:
    graph, node = live
    spoofer = graph.node.create_publisher(Float32MultiArray, "fault/arr", fs.RELIABLE)
    rng = random.Random(13)
    try:
        began = time.monotonic()

        def warned() -> bool:
            statuses = graph.statuses(began)
            return fs.ARR in statuses and graph.levels(began)[fs.ARR][0] >= WARN and (
                statuses[fs.ARR]["live_publishers"] == "2"
                or int(statuses[fs.ARR]["graph_publishers"] or 0) >= 2)

        end = time.monotonic() + 15.0
        while not warned() and time.monotonic() < end:
            graph.publish()
            spoofer.publish(Float32MultiArray(data=[rng.uniform(-1e3, 1e3), 2.0]))
            time.sleep(fs.PERIOD_S)
        assert warned(), (graph.levels(began).get(fs.ARR), graph.statuses(began).get(fs.ARR))
        status, message = graph.statuses(began)[fs.ARR], graph.levels(began)[fs.ARR][1]
        if status["live_publishers"] == "2":  # gids in MessageInfo: both identities shown
            assert len(status["publisher_ids"].split(",")) == 2, status
            assert "live publishers" in message, message
        else:  # no gids (Jazzy): untracked, the graph's count is what is left
            assert int(status["untracked"]) > 0 and "cannot be told apart" in message, message
        assert status["multiple_publishers"] == "warn"
    finally:
        graph.node.destroy_publisher(spoofer)
    assert node.alive(), node.text()


BURST = 400   # frame-clock messages published while the node is stopped (depth is far less)


def test_loss_after_sigstop_is_counted_once_in_status_and_final_line(live) -> None:
    """Issue 13.5: gaps and middleware events saw the same burst and were added (194 + 194).

    Runs last: it stops the node.
    """
    graph, node = live
    graph.run(0.5)
    node.process.send_signal(signal.SIGSTOP)
    try:
        for _ in range(BURST):
            graph.publish(("joints",))
            time.sleep(0.001)
    finally:
        node.process.send_signal(signal.SIGCONT)
    graph.run(2.0)
    statuses = _settled(graph, time.monotonic())
    joints = statuses[fs.JOINTS]
    lost, rmw_lost = int(joints["lost"]), int(joints["rmw_lost"])
    if lost + rmw_lost == 0 and int(joints["untracked"]) > 0:
        # Jazzy: no publisher gids (no sequence gaps) and its Fast DDS reported no
        # message-lost event for the burst, so neither view saw a loss to count twice.
        pytest.skip("this middleware reports the burst's loss in neither view "
                    "(untracked messages, no message-lost events): nothing to reconcile")
    assert lost + rmw_lost > 0, joints   # the burst overflowed the queue somewhere
    for name in (fs.JOINTS, fs.IMU, fs.ARR):
        views = int(statuses[name]["lost"]), int(statuses[name]["rmw_lost"])
        assert int(statuses[name]["lost_counted"]) == max(views), statuses[name]
    counted = _sum(statuses, "lost_counted")
    assert node.stop() == 0
    final = next(line for line in node.text().splitlines() if "final stats:" in line)
    assert re.search(r"\blost (\d+),", final), final
    # nothing was lost after the last status: the line adds the once-counted loss only
    assert int(re.search(r"\blost (\d+),", final).group(1)) == counted, (final, statuses)
