# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Generic stamped streams over DDS: WrenchStamped and Vector3Stamped read by field paths.

A force/torque sensor and an accelerometer driver publish geometry_msgs types the
node has no adapter of its own for; channels are field paths into them. A path
that the message definition does not have stops the node at start-up.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from geometry_msgs.msg import Vector3Stamped, WrenchStamped  # noqa: E402, I100
from rclpy.qos import qos_profile_sensor_data  # noqa: E402

from streaming_gcode.core.parameters import stream_parameter_specs  # noqa: E402, I100

import fault_support as fs  # noqa: E402, I100, I201

pytestmark = [pytest.mark.ros]
WRENCH = "geometry_msgs/msg/WrenchStamped"
VECTOR = "geometry_msgs/msg/Vector3Stamped"
STAMPED = {
    "wrench": {"topic": "fault/wrench", "type": WRENCH,
               "channels": ["wrench.force.x", "wrench.torque.z"]},
    "accel": {"topic": "fault/accel", "type": VECTOR, "channels": ["vector.z"]},
}
ALL = ("joints", "imu", "arr", "wrench", "accel")
DRIVE_SECONDS = 2.0


def test_the_type_parameter_accepts_stamped_types() -> None:
    spec = next(s for s in stream_parameter_specs("x") if s.name.endswith(".type"))
    assert spec.check(WRENCH) is None and spec.check(VECTOR) is None


def _streams(**stamped: dict) -> dict:
    base = fs.node_params("x")["streaming_gcode"]["ros__parameters"]["streams"]
    return {**base, **stamped}


class _Drivers:
    """The fault graph's three streams plus the two geometry_msgs drivers, stamped now."""

    def __init__(self, graph: fs.Graph) -> None:
        self.graph = graph
        graph.make_publisher("wrench", WrenchStamped, "fault/wrench", qos_profile_sensor_data)
        graph.make_publisher("accel", Vector3Stamped, "fault/accel", qos_profile_sensor_data)

    def publish(self) -> None:
        graph = self.graph
        stamp = time.time_ns()
        wrench, accel = WrenchStamped(), Vector3Stamped()
        for msg in (wrench, accel):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, fs.S)
        wrench.wrench.force.x, wrench.wrench.torque.z = 0.01 * graph.k, -1.5
        accel.vector.z = 9.81
        graph.publishers["wrench"].publish(wrench)
        graph.publishers["accel"].publish(accel)
        graph.publish(("joints", "imu", "arr"), stamp)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stamped_live")
    checkpoint = fs.small_checkpoint(tmp / "small.pt")
    graph = fs.Graph("stamped_test")
    drivers = _Drivers(graph)
    params = fs.node_params(checkpoint, stream_names=list(ALL), streams=_streams(**STAMPED))
    node = None
    try:
        node = fs.start(tmp, params, graph)
        end = time.monotonic() + 30.0
        while len(graph.predictions) < 3 and time.monotonic() < end:
            drivers.publish()
            time.sleep(fs.PERIOD_S)
        assert len(graph.predictions) >= 3, node.text()
        yield graph, drivers
    finally:
        graph.close()
        if node is not None:
            node.kill()


def test_wrench_and_vector_streams_are_received_and_aligned(live) -> None:
    graph, drivers = live
    predicted = len(graph.predictions)
    end = time.monotonic() + DRIVE_SECONDS
    while time.monotonic() < end:
        drivers.publish()
        time.sleep(fs.PERIOD_S)
    since = time.monotonic()
    graph.wait_for(lambda: bool(graph.statuses(since)), 30.0, "diagnostics after the drivers")
    assert len(graph.predictions) > predicted, "no prediction with the stamped streams"
    statuses, levels = graph.statuses(since), graph.levels(since)
    for name, msg_type in (("wrench", WRENCH), ("accel", VECTOR)):
        status = statuses[fs.stream_status(name)]
        assert status["malformed"] == "0" and int(status["accepted"]) > 0, status
        assert status["type"] == msg_type, status
        assert levels[fs.stream_status(name)][0] == 0, levels[fs.stream_status(name)]
    assert int(statuses[fs.BUFFER]["frames_recent"]) > 0, statuses[fs.BUFFER]


def test_a_field_path_the_type_lacks_stops_the_node_with_one_error(tmp_path) -> None:
    checkpoint = fs.small_checkpoint(tmp_path / "small.pt")
    bad = {"wrench": {**STAMPED["wrench"], "channels": ["wrench.force.x", "wrench.force.q"]}}
    text = fs.refused_startup(tmp_path, fs.node_params(
        checkpoint, stream_names=["joints", "imu", "arr", "wrench"], streams=_streams(**bad)),
        "bad_path")
    assert ("streams.wrench.channels do not fit geometry_msgs/msg/WrenchStamped: "
            "'wrench.force.q' has no field 'q' in wrench.force") in text, text
