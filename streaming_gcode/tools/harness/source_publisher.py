# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Publishes a source's frames on the layout's topics, on time.

`SourcePublisher` turns `(stream_index, stamp_ns, values)` samples into the
configured message types (JointState with channel names and the configured
field, Float32/64MultiArray, Imu) with each stream's QoS, and the executed line
as JSON on the reference topic. `SourcePlayer` is the thread that sends each
`SourceFrame` when it is due, so the node sees the real rates.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Iterator

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import (
    FLOAT32_ARRAY, FLOAT64_ARRAY, IMU, JOINT_STATE, normalise_message_type, NS_PER_S, StreamSpec,
)
from streaming_gcode.node.conversions import message_class, stream_qos
from streaming_gcode.tools.harness.source_frames import EXECUTED_TOPIC, SourceFrame

REFERENCE_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=50, reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def _set_stamp(msg: Any, stamp_ns: int) -> None:
    msg.header.stamp.sec = int(stamp_ns // NS_PER_S)
    msg.header.stamp.nanosec = int(stamp_ns % NS_PER_S)


def _builder(spec: StreamSpec) -> Callable[[int, np.ndarray], Any]:
    """Make a function `(stamp_ns, values) -> message`; one message object is reused."""
    msg_type = normalise_message_type(spec.msg_type)
    msg = message_class(msg_type)()
    if msg_type == JOINT_STATE:
        msg.name = list(spec.channels)

        def joint_state(stamp_ns: int, values: np.ndarray) -> Any:
            _set_stamp(msg, stamp_ns)
            setattr(msg, spec.field, np.asarray(values, dtype=np.float64).tolist())
            return msg

        return joint_state
    if msg_type in (FLOAT32_ARRAY, FLOAT64_ARRAY):
        def array(stamp_ns: int, values: np.ndarray) -> Any:
            msg.data = np.asarray(values, dtype=np.float64).tolist()
            return msg

        return array
    if msg_type == IMU:
        def imu(stamp_ns: int, values: np.ndarray) -> Any:
            _set_stamp(msg, stamp_ns)
            msg.orientation.w = 1.0
            for channel, value in zip(spec.channels, values):
                group, axis = channel.split(".")
                setattr(getattr(msg, group), axis, float(value))
            return msg

        return imu
    raise ConfigError(f"stream {spec.name!r}: cannot publish message type {spec.msg_type!r}")


class SourcePublisher:
    """Publishers for every stream of a layout plus the executed-line reference."""

    def __init__(self, node: Node, layout: StreamLayout,
                 executed_topic: str = EXECUTED_TOPIC) -> None:
        self._publishers = [
            node.create_publisher(message_class(spec.msg_type), spec.topic, stream_qos(spec))
            for spec in layout.streams
        ]
        self._builders = [_builder(spec) for spec in layout.streams]
        self._executed = node.create_publisher(String, executed_topic, REFERENCE_QOS)
        self.messages = 0

    def publish(self, frame: SourceFrame) -> None:
        """Send one frame: every sample, then its executed line."""
        for index, stamp_ns, values in frame.samples:
            self._publishers[index].publish(self._builders[index](stamp_ns, values))
            self.messages += 1
        if frame.executed is not None:
            self._executed.publish(String(data=json.dumps(frame.executed.as_dict())))


class SourcePlayer(threading.Thread):
    """Sends frames when due (monotonic clock); stops on `stop()` or when frames run out."""

    def __init__(self, frames: Iterator[SourceFrame], send: Callable[[SourceFrame], None],
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        super().__init__(name="demo-source", daemon=True)
        self._frames = frames
        self._send = send
        self._on_error = on_error
        self._stop_event = threading.Event()
        self.sent = 0
        self.max_lag_ns = 0
        self.finished = False

    def stop(self) -> None:
        """Ask the thread to stop at the next frame (or now, if it is waiting)."""
        self._stop_event.set()

    def run(self) -> None:
        """Pace the frames on the monotonic clock; report errors instead of dying silently."""
        start = time.monotonic_ns()
        try:
            for frame in self._frames:
                wait_ns = start + frame.due_ns - time.monotonic_ns()
                if wait_ns > 0 and self._stop_event.wait(wait_ns / NS_PER_S):
                    break
                if self._stop_event.is_set():
                    break
                self.max_lag_ns = max(self.max_lag_ns, -wait_ns)
                self._send(frame)
                self.sent += 1
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            if self._on_error is not None:
                self._on_error(exc)
            return
        self.finished = not self._stop_event.is_set()
