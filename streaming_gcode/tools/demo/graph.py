# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's side of the ROS graph: source publishers and the display's subscriptions.

One rclpy node (`streaming_gcode_demo`) publishes the source's streams and the
executed line, and listens (the harness's `OutputListener`) to the stream
node's `~/prediction`, to `/diagnostics` and to the reference line; a
`SpinThread` spins it in the background and each message goes to the
`DemoView` under the demo's lock. A bag source is played by the harness's
`BagPlayer` (its own node, with /clock).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from rclpy.node import Node
from std_msgs.msg import String

from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.recordings.bag_reader import open_bag
from streaming_gcode.recordings.bag_writer import absolute_topic, REFERENCE_TOPIC
from streaming_gcode.tools.demo.sources import KIND_BAG, warm_start, WARM_START_SPEED
from streaming_gcode.tools.demo.view import DemoView, parse_prediction
from streaming_gcode.tools.harness.bag_player import BagPlayer, DEFAULT_CLOCK_HZ, ReplayOptions
from streaming_gcode.tools.harness.node_process import hardware_id
from streaming_gcode.tools.harness.node_status import node_fqn
from streaming_gcode.tools.harness.output_listener import (
    diagnostics_topic, listen_qos, message_data, OutputListener, PREDICTION, prediction_topic,
    Received, SpinThread, Topic,
)
from streaming_gcode.tools.harness.source_frames import Executed, EXECUTED_TOPIC
from streaming_gcode.tools.harness.source_publisher import SourcePlayer, SourcePublisher

DEMO_NODE_NAME = "streaming_gcode_demo"
NODE_OUTPUTS = NODE_NAME                       # relative: in the demo's namespace
LISTEN_DEPTH = 100
LISTEN_QOS = listen_qos(LISTEN_DEPTH, reliable=False)   # best effort hears both kinds
REFERENCE_QOS = listen_qos(LISTEN_DEPTH)
REFERENCE = "reference"                        # the listener's key of the reference line
BAG_SUBSCRIBER_WAIT_S = 10.0   # the node subscribes to every stream and /clock first
BAG_CLOCK_LEAD_S = 0.5         # /clock runs this long before the first data message


def executed_line(message: Any) -> Executed:
    """Decode the demo source's executed line (JSON on EXECUTED_TOPIC)."""
    return Executed(**json.loads(message.data))


class DemoGraph:
    """Publishers, subscriptions and the spinning thread of the demo."""

    def __init__(self, layout: StreamLayout, view: DemoView, lock: threading.Lock,
                 request_stop: Callable[[str], None], source_kind: str,
                 namespace: str = "") -> None:
        self.layout = layout
        self.view = view
        self.lock = lock
        self.request_stop = request_stop
        self.namespace = namespace
        self.hardware_id = hardware_id(namespace)
        self.node = Node(DEMO_NODE_NAME, namespace=namespace or None)
        self.publisher = SourcePublisher(self.node, layout)
        # The reference first: when it and a prediction wait together, the executor takes
        # subscriptions in creation order, so the prediction finds its executed line.
        if source_kind == KIND_BAG:
            reference = Topic(REFERENCE, REFERENCE_TOPIC, String, LISTEN_QOS, message_data,
                              history=0, on_receive=self._on_reference_text)
        else:
            reference = Topic(REFERENCE, EXECUTED_TOPIC, String, REFERENCE_QOS, executed_line,
                              history=0, on_receive=self._on_executed)
        self.listener = OutputListener(self.node, [
            reference,
            prediction_topic(NODE_OUTPUTS, LISTEN_QOS, history=0,
                             on_receive=self._on_prediction),
            # the stream node's own: its fully qualified name is unique to this demo run
            diagnostics_topic(LISTEN_QOS, node_name=node_fqn(namespace, NODE_NAME),
                              on_receive=self._on_diagnostics),
        ])
        self._unreadable = 0
        self._player: SourcePlayer | None = None
        self._bag_player: BagPlayer | None = None
        self._spin = SpinThread(self.node, "demo-spin")

    @property
    def bad_predictions(self) -> int:
        """Predictions that were not JSON objects or lacked the fields the display reads."""
        return self.listener.malformed(PREDICTION) + self._unreadable

    def node_subscribed(self, topic: str) -> bool:
        """Tell whether something subscribes to `topic` (relative: in the demo's namespace)."""
        return self.node.count_subscribers(self.node.resolve_topic_name(topic)) > 0

    def start_source(self, source: Any, speed: float, warm_frames: int,
                     on_error: Callable[[BaseException], None]) -> None:
        """Start publishing: a bag through BagPlayer, anything else through SourcePlayer."""
        if hasattr(source, "topics"):   # BagInfo: a bag
            remap = {topic: self.namespace + topic for topic in source.topics}
            options = ReplayOptions(rate=speed, clock_hz=DEFAULT_CLOCK_HZ, loop=True,
                                    remap=remap, wait_for_subscribers_s=BAG_SUBSCRIBER_WAIT_S,
                                    delay_s=BAG_CLOCK_LEAD_S,
                                    fast_start_ns=self._bag_warm_ns(source, warm_frames),
                                    fast_start_factor=WARM_START_SPEED if warm_frames else 1.0)
            self._bag_player = BagPlayer(source.path, options)
            self._bag_player.start()
            return
        frames = source.frames(time.time_ns(), speed)
        if warm_frames:
            frames = warm_start(frames, warm_frames)
        self._player = SourcePlayer(frames, self.publisher.publish, on_error)
        self._player.start()

    def _bag_warm_ns(self, info: Any, frames: int) -> int:
        """Bag time from the start to the `frames`-th frame-clock message (0: no warm start)."""
        index = self.layout.clock_index
        if not frames or index is None:
            return frames * self.layout.frame_period_ns
        topic = absolute_topic(self.layout.streams[index].topic)
        with open_bag(info.path) as bag:
            for count, message in enumerate(bag.messages([topic]), start=1):
                if count >= frames:
                    return message.log_time_ns - info.start_ns
        return info.duration_ns

    def source_finished(self) -> bool:
        """Tell whether a finite source has sent everything (or a bag player failed)."""
        if self._player is not None:
            return self._player.finished
        if self._bag_player is not None and self._bag_player.finished.is_set():
            if self._bag_player.error is not None:
                self.request_stop(f"bag replay failed: {self._bag_player.error}")
            return True
        return False

    def stop_source(self) -> None:
        """Stop publishing sensor data."""
        if self._player is not None:
            self._player.stop()
            self._player.join(timeout=5.0)
        if self._bag_player is not None:
            self._bag_player.close()

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._spin.close()
        self.node.destroy_node()

    # -- callbacks (executor thread) ------------------------------------------
    def _on_prediction(self, received: Received) -> None:
        try:
            prediction = parse_prediction(received.data)
        except (ValueError, TypeError, KeyError, AttributeError):
            self._unreadable += 1
            return
        with self.lock:
            self.view.on_prediction(prediction, received.monotonic_ns, received.wall_ns)

    def _on_diagnostics(self, received: Received) -> None:
        with self.lock:
            self.view.on_diagnostics(received.data)

    def _on_executed(self, received: Received) -> None:
        with self.lock:
            self.view.on_executed(received.data)

    def _on_reference_text(self, received: Received) -> None:
        with self.lock:
            self.view.on_reference_text(received.data, received.monotonic_ns)
