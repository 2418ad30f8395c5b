# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Inputs as real drivers send them, over DDS, into a node process.

A ros2_control-like JointState carries joints the layout does not use
(`extra_names: ignore`, counted); an IMU driver sends zero header stamps
(`stamp_source: receipt`); a board that is not fitted never publishes
(`optional: true`: OK, "not fitted").
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from sensor_msgs.msg import Imu, JointState  # noqa: E402
from std_msgs.msg import Float32MultiArray  # noqa: E402
import torch  # noqa: E402, I100

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros]
torch.set_num_threads(1)
STREAMS = {
    "joints": {"topic": "fault/joints", "type": "sensor_msgs/msg/JointState",
               "field": "position", "channels": ["j1", "j2"]},
    "imu": {"topic": "fault/imu", "type": "sensor_msgs/msg/Imu",
            "channels": ["angular_velocity.z"], "stamp_source": "receipt"},
    "arr": {"topic": "fault/arr", "type": "std_msgs/msg/Float32MultiArray",
            "channels": ["a0", "mode"], "reliable": True, "depth": 50},
    "board": {"topic": "fault/board", "type": "std_msgs/msg/Float64MultiArray",
              "channels": ["board.t"], "optional": True},
}
DRIVER_SECONDS = 2.0


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    yield from fs.live_node(tmp_path_factory.mktemp("drivers_live"), "drivers_test",
                            stream_names=list(STREAMS), streams=STREAMS)


def _drive(graph: fs.Graph, seconds: float) -> None:
    """Publish as the drivers do: every joint of the arm, IMU stamps left at zero."""
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end:
        k += 1
        stamp = time.time_ns()
        joints = JointState(name=["arm_shoulder", "j2", "arm_elbow", "j1"],
                            position=[9.0, 0.5, 9.0, k / 10])
        joints.header.stamp.sec, joints.header.stamp.nanosec = divmod(stamp, fs.S)
        imu = Imu()   # header stamp 0: the driver does not stamp
        imu.angular_velocity.z = 0.1 * k
        graph.publishers["imu"].publish(imu)
        graph.publishers["arr"].publish(Float32MultiArray(data=[0.1 * k, float(k % 3)]))
        graph.publishers["joints"].publish(joints)
        time.sleep(fs.PERIOD_S)


def test_driver_messages_are_taken_and_the_missing_board_is_ok(live) -> None:
    graph, node = live
    predicted = len(graph.predictions)
    _drive(graph, DRIVER_SECONDS)
    since = time.monotonic()
    graph.wait_for(lambda: bool(graph.statuses(since)), 30.0, "diagnostics after the drivers")
    assert len(graph.predictions) > predicted, "no prediction from the driver messages"
    statuses, levels = graph.statuses(since), graph.levels(since)
    joints = statuses[fs.JOINTS]
    assert int(joints["ignored_names"]) > 0 and joints["malformed"] == "0", joints
    imu = statuses[fs.IMU]
    assert imu["stamp_source"] == "receipt" and imu["malformed"] == "0", imu
    assert int(imu["accepted"]) > 0
    board = fs.STATUS + "stream board"
    level, message = levels[board]
    assert level == 0 and message.startswith("not fitted"), (level, message)
    assert statuses[board]["optional"] == "true"
    assert node.alive(), node.text()[-3000:]
