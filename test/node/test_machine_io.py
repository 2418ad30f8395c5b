# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A node serving two machines over real DDS: namespaced inputs, separate outputs, one engine."""

from __future__ import annotations

import json
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import torch  # noqa: E402

from streaming_gcode.node.stream_node import create_node  # noqa: E402

from fault_support import spinning  # noqa: E402, I100
from model_support import continuous_checkpoint  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)
RATE_HZ = 20.0
PERIOD_NS = int(1e9 / RATE_HZ)
MACHINES = ("cell_a", "cell_b")
OFFSET_NS = {"cell_a": 0, "cell_b": 1_000}   # tells the machines' frame stamps apart
TIMEOUT_S = 60.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _checkpoint(path):
    return continuous_checkpoint(path, ["j1", "j2"], stride=2, seed=1)


def test_two_machines_publish_their_own_predictions(context, tmp_path) -> None:
    node = create_node({
        "checkpoint": str(_checkpoint(tmp_path / "m.pt")), "machines": list(MACHINES),
        "backend": "onnxruntime", "mode": "incremental",
        "stream_names": ["joints"], "streams.joints.topic": "cnc/joints",
        "streams.joints.type": "sensor_msgs/msg/JointState",
        "streams.joints.channels": ["j1", "j2"],
        "frame_clock": "joints", "sample_rate_hz": RATE_HZ, "alignment_timeout_s": 0.2,
    }, context=context)
    peer = rclpy.create_node("machines_test_peer", context=context)
    received: dict[str, list[dict]] = {m: [] for m in MACHINES}
    lock = threading.Lock()

    def on_prediction(machine):
        def callback(msg: String) -> None:
            with lock:
                received[machine].append(json.loads(msg.data))
        return callback

    gcode_seen = dict.fromkeys(MACHINES, 0)
    for machine in MACHINES:
        peer.create_subscription(String, f"/streaming_gcode/{machine}/prediction",
                                 on_prediction(machine), RELIABLE)
        peer.create_subscription(
            String, f"/streaming_gcode/{machine}/gcode",
            lambda msg, m=machine: gcode_seen.__setitem__(m, gcode_seen[m] + 1), RELIABLE)
    publishers = {m: peer.create_publisher(JointState, f"{m}/cnc/joints", 10) for m in MACHINES}
    try:
        with spinning(context, node, peer, threads=3):
            start = node.get_clock().now().nanoseconds
            deadline = time.monotonic() + TIMEOUT_S
            k = 0
            while time.monotonic() < deadline:
                with lock:
                    if all(len(received[m]) >= 4 for m in MACHINES):
                        break
                for machine, publisher in publishers.items():
                    stamp = start + k * PERIOD_NS + OFFSET_NS[machine]
                    msg = JointState(name=["j1", "j2"], position=[float(k), -float(k)])
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                    publisher.publish(msg)
                k += 1
                time.sleep(1 / RATE_HZ)
            with lock:
                for machine in MACHINES:
                    records = received[machine]
                    assert len(records) >= 4, (machine, len(records))
                    assert all((r["stamp_ns"] - start) % PERIOD_NS == OFFSET_NS[machine]
                               for r in records), machine
                    assert records[-1]["mode"] == "incremental"
            assert all(gcode_seen[m] > 0 for m in MACHINES)
            names = {s.name for s in node.statuses()}
            assert {"/streaming_gcode/cell_a: stream joints", "/streaming_gcode/cell_b: buffer",
                    "/streaming_gcode: inference"} <= names
    finally:
        peer.destroy_node()
        node.destroy_node()
