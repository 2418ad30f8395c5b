# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The tick runs when its data is there: each prediction leaves before the next frame's samples.

The node runs on sim time driven by this test's `/clock`. Before frame k's
sample is published the clock is moved to its stamp, which is when the node's
tick timer (its deadline) fires: it finds no new frame then, and the clock does
not move again until frame k's prediction has arrived. So the prediction can
only come from the wake-up that ingestion triggers when the frame completes.
No wall-clock assert: every wait is on a condition with a generous timeout.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import torch  # noqa: E402

from streaming_gcode.node.stream_node import create_node, StreamNode  # noqa: E402

from fault_support import spinning  # noqa: E402, I100
from model_support import continuous_checkpoint  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)
RATE_HZ = 4.0
PERIOD_NS = int(1e9 / RATE_HZ)
WINDOW = 4
PREDICTIONS = 6                    # frames predicted after the window is full
START_NS = 1_000 * 1_000_000_000   # sim time of the first frame
HALF_PERIOD_NS = PERIOD_NS // 2    # frames sit between the timer's ticks
TIMEOUT_S = 30.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _stamp(msg, stamp_ns: int) -> None:
    msg.sec, msg.nanosec = divmod(stamp_ns, 1_000_000_000)


@pytest.mark.parametrize("inline", [True, False])   # in ingestion, or by guard condition
def test_prediction_for_frame_k_arrives_before_frame_k_plus_1_is_published(
        context, tmp_path, monkeypatch, inline) -> None:
    monkeypatch.setattr(StreamNode, "inline_ticks", inline)   # as stream_node's process sets it
    node = create_node({
        "checkpoint": str(continuous_checkpoint(tmp_path / "m.pt", ["j1", "j2"], window=WINDOW)),
        "use_sim_time": True, "stride": 1, "stream_names": ["joints"],
        "streams.joints.topic": "wakeup/joints",
        "streams.joints.type": "sensor_msgs/msg/JointState",
        "streams.joints.channels": ["j1", "j2"], "streams.joints.reliable": True,
        "frame_clock": "joints", "sample_rate_hz": RATE_HZ,
    }, context=context)
    peer = rclpy.create_node("tick_wakeup_test_peer", context=context)
    lock = threading.Lock()
    records: list[dict] = []

    def on_prediction(msg: String) -> None:
        with lock:
            records.append(json.loads(msg.data))

    peer.create_subscription(String, "/streaming_gcode/prediction", on_prediction, RELIABLE)
    clock = peer.create_publisher(Clock, "/clock", RELIABLE)
    joints = peer.create_publisher(JointState, "wakeup/joints", RELIABLE)
    try:
        with spinning(context, node, peer, threads=3):
            _wait(lambda: (joints.get_subscription_count() > 0
                           and clock.get_subscription_count() > 0), "the node's subscriptions")
            stamps = [START_NS + HALF_PERIOD_NS + k * PERIOD_NS
                      for k in range(WINDOW + PREDICTIONS)]
            for k, stamp in enumerate(stamps):
                tick = Clock()
                _stamp(tick.clock, stamp)
                clock.publish(tick)
                _wait(lambda: node.get_clock().now().nanoseconds >= stamp,
                      f"sim time of frame {k}")
                msg = JointState(name=["j1", "j2"], position=[float(k), -float(k)])
                _stamp(msg.header.stamp, stamp)
                joints.publish(msg)
                if k >= WINDOW - 1:   # the window is full from this frame on
                    expected = k - WINDOW + 2
                    _wait(lambda: len(records) >= expected, f"the prediction for frame {k}")
            with lock:
                got = [r["stamp_ns"] for r in records]
            assert got == stamps[WINDOW - 1:]   # one each, naming its own frame, in order
    finally:
        peer.destroy_node()
        node.destroy_node()
