# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's side of the ROS graph: source publishers and the display's subscriptions.

One rclpy node (`streaming_gcode_demo`) publishes the source's streams and the
executed line, and listens to the stream node's `~/prediction` and to
`/diagnostics`; a single-threaded executor spins it in a background thread and
hands everything to the `DemoView` under the demo's lock. A bag source is
played by `replay.BagPlayer` (its own node, with /clock).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String

from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.recordings.bag_writer import REFERENCE_TOPIC
from streaming_gcode.tools.demo.sources import Executed, EXECUTED_TOPIC, KIND_BAG, warm_start
from streaming_gcode.tools.demo.view import DemoView, parse_prediction
from streaming_gcode.tools.harness.node_process import hardware_id, NODE_NAME
from streaming_gcode.tools.harness.source_publisher import SourcePlayer, SourcePublisher

DEMO_NODE_NAME = "streaming_gcode_demo"
PREDICTION_TOPIC = f"{NODE_NAME}/prediction"   # relative: in the demo's namespace
DIAGNOSTICS_TOPIC = "/diagnostics"
# Best effort hears both reliable and best-effort publishers.
LISTEN_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                        reliability=ReliabilityPolicy.BEST_EFFORT,
                        durability=DurabilityPolicy.VOLATILE)
REFERENCE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100,
                           reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.VOLATILE)
SPIN_TIMEOUT_S = 0.1
BAG_SUBSCRIBER_WAIT_S = 10.0   # the node subscribes to every stream and /clock first
BAG_CLOCK_LEAD_S = 0.5         # /clock runs this long before the first data message


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
        node = self.node
        # The reference first: when it and a prediction wait together, the executor takes
        # subscriptions in creation order, so the prediction finds its executed line.
        if source_kind == KIND_BAG:
            node.create_subscription(String, REFERENCE_TOPIC, self._on_reference_text,
                                     LISTEN_QOS)
        else:
            node.create_subscription(String, EXECUTED_TOPIC, self._on_executed, REFERENCE_QOS)
        node.create_subscription(String, PREDICTION_TOPIC, self._on_prediction, LISTEN_QOS)
        node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC, self._on_diagnostics,
                                 LISTEN_QOS)
        self.bad_predictions = 0
        self._player: Any = None
        self._bag_player: Any = None
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(node)
        self._spinning = True
        self._thread = threading.Thread(target=self._spin, name="demo-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while self._spinning:
                self._executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
        except ExternalShutdownException:
            pass

    def node_subscribed(self, topic: str) -> bool:
        """Tell whether something subscribes to `topic` (relative: in the demo's namespace)."""
        return self.node.count_subscribers(self.node.resolve_topic_name(topic)) > 0

    def start_source(self, source: Any, speed: float, warm_frames: int,
                     on_error: Callable[[BaseException], None]) -> None:
        """Start publishing: a bag through BagPlayer, anything else through SourcePlayer."""
        if hasattr(source, "topics"):   # BagInfo: a bag
            from streaming_gcode.tools.harness.bag_player import (
                DEFAULT_CLOCK_HZ,
                BagPlayer,
                ReplayOptions,
            )

            remap = {topic: self.namespace + topic for topic in source.topics}
            options = ReplayOptions(rate=speed, clock_hz=DEFAULT_CLOCK_HZ, loop=True,
                                    remap=remap, wait_for_subscribers_s=BAG_SUBSCRIBER_WAIT_S,
                                    delay_s=BAG_CLOCK_LEAD_S)
            self._bag_player = BagPlayer(source.path, options)
            self._bag_player.start()
            return
        frames = source.frames(time.time_ns(), speed)
        if warm_frames:
            frames = warm_start(frames, warm_frames)
        self._player = SourcePlayer(frames, self.publisher.publish, on_error)
        self._player.start()

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
        self._spinning = False
        self._thread.join(timeout=5.0)
        self._executor.shutdown()
        self.node.destroy_node()

    # -- callbacks (executor thread) ------------------------------------------
    def _on_prediction(self, msg: String) -> None:
        wall = time.time_ns()
        try:
            prediction = parse_prediction(msg.data)
        except (ValueError, TypeError, KeyError, AttributeError):
            self.bad_predictions += 1
            return
        with self.lock:
            self.view.on_prediction(prediction, time.monotonic_ns(), wall)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        statuses = [(s.name, {kv.key: kv.value for kv in s.values})
                    for s in msg.status if s.hardware_id == self.hardware_id]
        if statuses:
            with self.lock:
                self.view.on_diagnostics(statuses)

    def _on_executed(self, msg: String) -> None:
        try:
            executed = Executed(**json.loads(msg.data))
        except (ValueError, TypeError):
            return
        with self.lock:
            self.view.on_executed(executed)

    def _on_reference_text(self, msg: String) -> None:
        with self.lock:
            self.view.on_reference_text(msg.data, time.monotonic_ns())
