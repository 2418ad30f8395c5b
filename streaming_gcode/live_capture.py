# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Play a bag through a fresh in-process node and collect what the node publishes.

The ROS glue of the live evaluation: one rclpy context per bag, the node built
with `use_sim_time` and deep reliable subscriptions, a collector node on
`~/prediction`, `~/gcode`, `~/agreement` and the reference topic, a
multi-threaded executor, and the bag player with `/clock`. rclpy is imported
only when a capture runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from pathlib import Path
import threading
import time
from typing import Any, Mapping

from streaming_gcode.errors import ConfigError
from streaming_gcode.live_report import DEFAULT_TOLERANCE
from streaming_gcode.stream_layout import NS_PER_S

DEFAULT_LIVE_RATE = 20.0
DEFAULT_LIVE_CLOCK_HZ = 100.0
LIVE_QOS_DEPTH = 1000          # reliable keep-last deep enough that nothing is overwritten
DISCOVERY_TIMEOUT_S = 20.0
CLOCK_LEAD_S = 0.5             # wall time between the first /clock and the first message
SETTLE_S = 1.0                 # quiet time after playback before results are read
SETTLE_LIMIT_S = 10.0
POLL_S = 0.05
EXECUTOR_THREADS = 4


@dataclass(frozen=True)
class LiveOptions:
    """How bags are played through the node."""

    rate: float = DEFAULT_LIVE_RATE
    clock_hz: float = DEFAULT_LIVE_CLOCK_HZ
    reliable: bool = True
    depth: int = LIVE_QOS_DEPTH
    duration_s: float | None = None            # play only the start of each bag
    tolerance: float = DEFAULT_TOLERANCE
    node_parameters: Mapping[str, Any] = field(default_factory=dict)
    timeline_dir: Path | None = None


@dataclass
class LiveCapture:
    """What came back from one bag's playback."""

    records: list[dict[str, Any]]
    receipt_ns: list[int]                  # monotonic wall time of each record's arrival
    gcode: list[str]
    references: int
    published: dict[str, int]              # by topic
    publish_wall_ns: dict[int, int]
    statuses: list[Any]                    # the node's final diagnostic statuses
    final_stats: str
    wall_s: float
    agreement: list[float] = field(default_factory=list)


def node_parameters(
    layout_params: Mapping[str, Any], checkpoint: Path, options: LiveOptions
) -> dict[str, Any]:
    """Parameter overrides of the evaluated node: layout, model, sim time, deep reliable QoS."""
    params = dict(layout_params)
    for name in params.get("stream_names", []):
        params[f"streams.{name}.reliable"] = options.reliable
        params[f"streams.{name}.depth"] = options.depth
    params.update({"use_sim_time": True, "checkpoint": str(checkpoint)})
    params.update(options.node_parameters)
    return params


class _Collector:
    """A node that records the evaluated node's outputs and counts reference lines."""

    def __init__(self, context: Any, node_fqn: str, reference_topic: str) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Float32, String

        self.node = Node("streaming_gcode_evaluator", context=context)
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.receipt_ns: list[int] = []
        self.gcode: list[str] = []
        self.agreement: list[float] = []
        self.references = 0
        self.prediction_topic = f"{node_fqn}/prediction"
        self.gcode_topic = f"{node_fqn}/gcode"
        qos = QoSProfile(depth=LIVE_QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(String, self.prediction_topic, self._on_prediction, qos)
        self.node.create_subscription(String, self.gcode_topic,
                                      lambda m: self.gcode.append(m.data), qos)
        self.node.create_subscription(String, reference_topic, self._on_reference, qos)
        self.node.create_subscription(Float32, f"{node_fqn}/agreement",
                                      lambda m: self.agreement.append(m.data), qos)

    def _on_prediction(self, message: Any) -> None:
        with self.lock:
            self.records.append(json.loads(message.data))
            self.receipt_ns.append(time.monotonic_ns())

    def _on_reference(self, message: Any) -> None:
        self.references += 1

    def wait_for_node(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        topics = (self.prediction_topic, self.gcode_topic)
        while not all(self.node.count_publishers(t) for t in topics):
            if time.monotonic() > deadline:
                raise ConfigError(f"the node's {list(topics)} were not discovered within "
                                  f"{timeout_s:.0f} s")
            time.sleep(POLL_S)

    def wait_quiet(self, quiet_s: float, limit_s: float) -> None:
        """Wait until no record arrived for `quiet_s` (at most `limit_s`)."""
        deadline = time.monotonic() + limit_s
        seen, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self.records)
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(POLL_S)


def play_through_node(
    bag: Path, params: Mapping[str, Any], options: LiveOptions, reference_topic: str
) -> LiveCapture:
    """Start a node with `params`, play `bag` into it and collect what it publishes."""
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from streaming_gcode.node import create_node
    from streaming_gcode.replay import BagPlayer, RELIABLE, ReplayOptions

    context = rclpy.Context()
    rclpy.init(context=context)
    node = collector = executor = player = None
    spinner: threading.Thread | None = None
    try:
        node = create_node(dict(params), context=context)
        collector = _Collector(context, node.get_fully_qualified_name(), reference_topic)
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=context)
        executor.add_node(node)
        executor.add_node(collector.node)
        spinner = threading.Thread(target=executor.spin, name="live-eval-executor", daemon=True)
        spinner.start()
        collector.wait_for_node(DISCOVERY_TIMEOUT_S)
        replay = ReplayOptions(
            rate=options.rate, clock_hz=options.clock_hz, depth=options.depth,
            reliability={"*": RELIABLE} if options.reliable else {},
            duration_ns=None if options.duration_s is None else int(options.duration_s * NS_PER_S),
            wait_for_subscribers_s=DISCOVERY_TIMEOUT_S, delay_s=CLOCK_LEAD_S,
            record_publish_times=True,
        )
        player = BagPlayer(bag, replay, context=context, node_name="streaming_gcode_replay")
        started = time.monotonic()
        player.start()
        player.wait()
        wall_s = time.monotonic() - started
        collector.wait_quiet(SETTLE_S, SETTLE_LIMIT_S)
        with collector.lock:
            records, receipts = list(collector.records), list(collector.receipt_ns)
        return LiveCapture(
            records, receipts, list(collector.gcode), collector.references,
            dict(player.stats.published), dict(player.stats.publish_wall_ns),
            node.statuses(), node.final_stats(), wall_s, list(collector.agreement),
        )
    finally:
        if player is not None:
            player.close()
        if executor is not None:
            executor.shutdown()
        if spinner is not None:
            spinner.join(5.0)
        for each in (collector.node if collector else None, node):
            if each is not None:
                each.destroy_node()
        context.try_shutdown()
