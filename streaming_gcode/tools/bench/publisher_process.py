# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Sensor publishers for the end-to-end benchmark: a process of its own, driven over stdin.

`python -m streaming_gcode.tools.bench.publisher_process PARAMS_FILE` publishes every
stream of the layout in PARAMS_FILE (same topics, types and QoS as the node
subscribes with), all stamped with the wall clock at publication. It reads one
JSON command per line on stdin, `{"rate_hz": R, "seconds": S}`: publish one
message per stream R times a second for S seconds, paced on the monotonic
clock, then answer one JSON line on stdout with what was actually sent
(`{"sent": ..., "seconds": ..., "rate_hz": ..., "messages_per_s": ...}`).
`{"quit": true}` or end of input stops it. Before the first command it waits
until the node's subscriptions are matched and says `{"ready": true}`.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Sequence

import numpy as np
import rclpy
from sensor_msgs.msg import JointState

from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import JOINT_STATE, normalise_message_type, StreamSpec
from streaming_gcode.node.conversions import message_class, stream_qos

MATCH_TIMEOUT_S = 60.0
SLOT_S = 0.001            # at most one pacing sleep per millisecond


def _joint_state(spec: StreamSpec, rng: np.random.Generator) -> JointState:
    msg = JointState()
    msg.name = list(spec.channels)
    setattr(msg, spec.field, rng.normal(size=len(spec.channels)).tolist())
    return msg


def _publish_for(publishers: Sequence[Any], messages: Sequence[JointState], rate_hz: float,
                 seconds: float) -> dict:
    """Publish one message per stream `rate_hz` times a second; report what was sent."""
    period_ns = int(1e9 / rate_hz)
    total = max(1, int(round(rate_hz * seconds)))
    start = time.monotonic_ns()
    sent = 0
    for k in range(total):
        due = start + k * period_ns
        wait = due - time.monotonic_ns()
        if wait > SLOT_S * 1e9:
            time.sleep(wait / 1e9)
        stamp = time.time_ns()
        for publisher, msg in zip(publishers, messages):
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
            publisher.publish(msg)
            sent += 1
    elapsed = (time.monotonic_ns() - start) / 1e9
    return {"sent": sent, "seconds": elapsed, "rate_hz": rate_hz,
            "messages_per_s": sent / elapsed if elapsed > 0 else 0.0}


def main(argv: list[str] | None = None) -> int:
    """Run the publisher process (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    layout = StreamLayout.from_yaml(args[0])
    for spec in layout.streams:
        if normalise_message_type(spec.msg_type) != JOINT_STATE:
            raise SystemExit(f"stream {spec.name}: the benchmark publishes JointState only")
    rng = np.random.default_rng(0)
    rclpy.init()
    node = rclpy.create_node("bench_sensor_publisher")
    try:
        publishers = [node.create_publisher(message_class(s.msg_type), s.topic, stream_qos(s))
                      for s in layout.streams]
        messages = [_joint_state(s, rng) for s in layout.streams]
        deadline = time.monotonic() + MATCH_TIMEOUT_S
        while any(p.get_subscription_count() == 0 for p in publishers):
            if time.monotonic() > deadline:
                print(json.dumps({"ready": False, "error": "no subscriber matched"}), flush=True)
                return 1
            time.sleep(0.05)
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            if command.get("quit"):
                break
            report = _publish_for(publishers, messages, float(command["rate_hz"]),
                                  float(command["seconds"]))
            print(json.dumps(report), flush=True)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
