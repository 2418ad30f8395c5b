# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Play a bag through a fresh in-process node and collect what the node publishes.

The ROS glue of the live evaluation: one rclpy context per bag, the node built
with `use_sim_time` and deep reliable subscriptions, a collector node on
`~/prediction`, `~/gcode`, `~/agreement` and the frame clock's topic, a
multi-threaded executor, and `streaming-gcode replay` in its own process
publishing the bag with `/clock`. rclpy is imported only when a capture runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import random
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Mapping, Sequence

from streaming_gcode.core.errors import ConfigError, RecordingError
from streaming_gcode.core.stream_layout import DEFAULT_ALIGNMENT_TIMEOUT_S, NS_PER_S
from streaming_gcode.tools.live_eval.report import DEFAULT_TOLERANCE

DEFAULT_LIVE_RATE = 20.0
DEFAULT_LIVE_CLOCK_HZ = 40.0      # as `ros2 bag play --clock`; the player also ticks per stamp
LIVE_QOS_DEPTH = 1000          # reliable keep-last deep enough that nothing is overwritten
DISCOVERY_TIMEOUT_S = 20.0
LIVE_ALIGNMENT_TIMEOUT_WALL_S = 2.0
CLOCK_LEAD_S = 0.5             # wall time between the first /clock and the first message
SETTLE_S = 1.0                 # quiet time after playback before results are read
SETTLE_LIMIT_S = 10.0
POLL_S = 0.05
EXECUTOR_THREADS = 4
TAIL_LIMIT_S = 30.0            # wall time the clock may run on after the bag's end
CLOCK_QOS_DEPTH = 10
PROBE_SETTLE_S = 3.0           # discovery time when probing a domain for other users
SPARE_DOMAINS = tuple(range(215, 233))   # Linux-safe domain IDs tried when the current is busy
MAX_DOMAIN_PROBES = 4
CDR_HEADER_BYTES = 4           # encapsulation kind and options before the message
PLAYER_STARTUP_S = 60.0        # added to the player's timeout (process start, discovery)


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
    domain_id: int | None = None               # None: ROS_DOMAIN_ID of the environment


@dataclass
class LiveCapture:
    """What came back from one bag's playback."""

    records: list[dict[str, Any]]
    receipt_ns: list[int]                  # monotonic wall time of each record's arrival
    gcode: list[str]
    published: dict[str, int]              # messages played, by topic
    frame_arrival_ns: dict[int, int]       # frame-clock stamp -> monotonic arrival here
    statuses: list[Any]                    # the node's final diagnostic statuses
    final_stats: str
    wall_s: float                          # playback wall time (player process)
    played_until_ns: int                   # monotonic time the player process ended
    last_message_ns: int                   # stamp of the last message played
    last_clock_ns: int                     # last /clock sent (after the clock tail)
    tail_s: float                          # wall time the clock ran on after the bag
    agreement: list[float] = field(default_factory=list)


def node_parameters(
    layout_params: Mapping[str, Any], checkpoint: Path, options: LiveOptions
) -> dict[str, Any]:
    """Build the evaluated node's parameters: layout, model, sim time, deep reliable QoS.

    The alignment timeout is at least LIVE_ALIGNMENT_TIMEOUT_WALL_S of wall time,
    scaled to bag time by the rate: a frame whose streams all deliver is
    finalised at once whatever the timeout, so a generous one only keeps a node
    that falls behind a fast replay from finalising frames before their
    samples are ingested (which would drop them as late). Frames stay the ones
    offline alignment builds.
    """
    params = dict(layout_params)
    for name in params.get("stream_names", []):
        params[f"streams.{name}.reliable"] = options.reliable
        params[f"streams.{name}.depth"] = options.depth
    timeout = float(params.get("alignment_timeout_s", DEFAULT_ALIGNMENT_TIMEOUT_S))
    params.update({
        "use_sim_time": True,
        "checkpoint": str(checkpoint),
        # a delay of d wall seconds is rate * d seconds of bag time
        "alignment_timeout_s": max(timeout, LIVE_ALIGNMENT_TIMEOUT_WALL_S) * options.rate,
    })
    params.update(options.node_parameters)
    return params


def busy_topics(domain_id: int, topics: Sequence[str],
                settle_s: float = PROBE_SETTLE_S) -> list[str]:
    """List which of `topics` other participants already use in a ROS domain.

    Another process replaying or publishing the same topics in the evaluation's
    domain (a cell on the network, a demo, a test) would mix its messages and
    its /clock into the evaluation.
    """
    import rclpy
    from rclpy.node import Node

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    try:
        probe = Node("streaming_gcode_domain_probe", context=context)
        deadline = time.monotonic() + settle_s  # discovery on this host
        while True:
            used = {name for name, _ in probe.get_topic_names_and_types()} & set(topics)
            if used or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        probe.destroy_node()
    finally:
        context.try_shutdown()
    return sorted(used)


def quiet_domain(topics: Sequence[str], preferred: int | None = None,
                 settle_s: float = PROBE_SETTLE_S) -> int:
    """Return a ROS domain where nobody uses `topics`: `preferred` if it is quiet.

    Each domain is watched up to `settle_s` for discovery of another user.
    """
    current = preferred if preferred is not None else int(os.environ.get("ROS_DOMAIN_ID") or 0)
    spares = [d for d in SPARE_DOMAINS if d != current]
    random.shuffle(spares)
    candidates = [current, *spares]
    for domain in candidates[:MAX_DOMAIN_PROBES]:
        if not busy_topics(domain, topics, settle_s):
            return domain
    raise ConfigError(f"ROS domains {candidates[:MAX_DOMAIN_PROBES]} all have other "
                      f"publishers or subscribers on {list(topics)}; set ROS_DOMAIN_ID to "
                      "a quiet domain")


def header_stamp_ns(cdr: bytes) -> int:
    """Read `header.stamp` from a serialised message whose first field is a std_msgs/Header."""
    order = "<" if cdr[1] == 1 else ">"  # encapsulation: CDR_LE (0x0001) or CDR_BE (0x0000)
    sec, nanosec = struct.unpack_from(order + "iI", cdr, CDR_HEADER_BYTES)
    return sec * NS_PER_S + nanosec


class _Collector:
    """A node recording the evaluated node's outputs and when frame-clock messages arrive."""

    def __init__(self, context: Any, node_fqn: str,
                 frame_topic: tuple[str, type] | None) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Float32, String

        self.node = Node("streaming_gcode_evaluator", context=context)
        self.lock = threading.Lock()
        self.records: list[dict[str, Any]] = []
        self.receipt_ns: list[int] = []
        self.gcode: list[str] = []
        self.agreement: list[float] = []
        self.frame_arrival_ns: dict[int, int] = {}
        self.prediction_topic = f"{node_fqn}/prediction"
        self.gcode_topic = f"{node_fqn}/gcode"
        qos = QoSProfile(depth=LIVE_QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
        self.node.create_subscription(String, self.prediction_topic, self._on_prediction, qos)
        self.node.create_subscription(String, self.gcode_topic,
                                      lambda m: self.gcode.append(m.data), qos)
        self.node.create_subscription(Float32, f"{node_fqn}/agreement",
                                      lambda m: self.agreement.append(m.data), qos)
        if frame_topic is not None:  # raw: only the header stamp is read, cheaply
            self.node.create_subscription(frame_topic[1], frame_topic[0], self._on_frame, qos,
                                          raw=True)
        from rosgraph_msgs.msg import Clock

        self.clock = self.node.create_publisher(Clock, "/clock", CLOCK_QOS_DEPTH)

    def _on_prediction(self, message: Any) -> None:
        with self.lock:
            self.records.append(json.loads(message.data))
            self.receipt_ns.append(time.monotonic_ns())

    def _on_frame(self, data: bytes) -> None:
        self.frame_arrival_ns[header_stamp_ns(data)] = time.monotonic_ns()

    def wait_for_node(self, timeout_s: float) -> None:
        """Wait until the node's output topics are discovered."""
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


def player_command(bag: Path, options: LiveOptions, topics: Sequence[str] = ()) -> list[str]:
    """Build the `streaming-gcode replay` command line that plays a bag for the evaluation.

    `topics`: play only these (the ones the node listens to), so the player's
    wait for subscribers does not wait for topics nobody subscribes to.
    """
    command = [
        sys.executable, "-m", "streaming_gcode.commands.replay", str(bag),
        "--rate", f"{options.rate:g}", "--clock", f"{options.clock_hz:g}",
        "--qos-depth", str(options.depth), "--wait-for-subscribers", f"{DISCOVERY_TIMEOUT_S:g}",
        "--delay", f"{CLOCK_LEAD_S:g}", "--quiet",
    ]
    command += ["--qos-reliable"] if options.reliable else ["--qos-best-effort"]
    if options.duration_s is not None:
        command += ["--playback-duration", f"{options.duration_s:g}"]
    if topics:
        command += ["--topics", *topics]
    return command


def played_summary(bag: Path, duration_s: float | None) -> tuple[dict[str, int], int]:
    """Messages per topic that one pass plays, and the stamp of the last one."""
    from streaming_gcode.recordings.bag_reader import open_bag

    with open_bag(bag) as opened:
        info = opened.info
        if duration_s is None:
            return {name: topic.count for name, topic in info.topics.items()}, info.end_ns
        stop = info.start_ns + int(duration_s * NS_PER_S)
        counts, last = dict.fromkeys(info.topics, 0), info.start_ns
        for message in opened.messages(stop_ns=stop):
            counts[message.topic] += 1
            last = message.log_time_ns
        return counts, last


def _received(node: Any) -> dict[str, int]:
    received: dict[str, int] = {}
    for status in node.statuses():
        values = dict(status.values)
        if "topic" in values and "messages" in values:
            received["/" + values["topic"].lstrip("/")] = int(float(values["messages"] or 0))
    return received


def _ticks(node: Any) -> int:
    for status in node.statuses():
        values = dict(status.values)
        if "ticks" in values and "predictions" in values:
            return int(float(values["ticks"] or 0))
    return 0


def clock_tail(node: Any, publisher: Any, played: Mapping[str, int], last_ns: int,
               options: LiveOptions, limit_s: float = TAIL_LIMIT_S) -> int:
    """Keep /clock running past the bag's end until the node has taken in every message.

    A real cell's clock does not stop with its last sensor message: frames the
    node ingests after the bag's end still get their tick. Stops one tick after
    everything was received (or after `limit_s`); returns the last /clock sent.
    """
    from rosgraph_msgs.msg import Clock

    step_ns = int(options.rate * NS_PER_S / options.clock_hz)
    clock_ns, deadline, ticks_when_complete = last_ns, time.monotonic() + limit_s, None
    while time.monotonic() < deadline:
        received = _received(node)
        if ticks_when_complete is None and all(
                received.get(topic, count) >= count for topic, count in played.items()):
            ticks_when_complete = _ticks(node)
        if ticks_when_complete is not None and _ticks(node) > ticks_when_complete:
            break
        clock_ns += step_ns
        message = Clock()
        message.clock.sec, message.clock.nanosec = divmod(clock_ns, NS_PER_S)
        publisher.publish(message)
        time.sleep(1.0 / options.clock_hz)
    return clock_ns


def _run_player(bag: Path, options: LiveOptions, topics: Sequence[str],
                timeout_s: float) -> float:
    started = time.monotonic()
    env = dict(os.environ)
    if options.domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(options.domain_id)
    result = subprocess.run(player_command(bag, options, topics), capture_output=True,
                            text=True, timeout=timeout_s, check=False, env=env)
    if result.returncode != 0:
        raise RecordingError(f"replaying {bag} failed (exit {result.returncode}): "
                             f"{result.stderr.strip()[-2000:]}")
    return time.monotonic() - started


def play_through_node(
    bag: Path, params: Mapping[str, Any], options: LiveOptions, topics: Sequence[str],
    frame_topic: tuple[str, type] | None = None, bag_duration_s: float = 0.0,
) -> LiveCapture:
    """Start a node with `params`, play `topics` of `bag` from a player process, collect.

    The player runs as a separate process (`streaming-gcode replay`), as a bag
    player does beside a deployed node, so the two do not share an interpreter.
    """
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from streaming_gcode.node.stream_node import create_node, use_node_switch_interval

    switch_interval = use_node_switch_interval()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=options.domain_id)
    node = collector = executor = None
    spinner: threading.Thread | None = None
    try:
        node = create_node(dict(params), context=context)
        collector = _Collector(context, node.get_fully_qualified_name(), frame_topic)
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=context)
        executor.add_node(node)
        executor.add_node(collector.node)
        spinner = threading.Thread(target=executor.spin, name="live-eval-executor", daemon=True)
        spinner.start()
        collector.wait_for_node(DISCOVERY_TIMEOUT_S)
        counts, last_ns = played_summary(bag, options.duration_s)
        played_s = options.duration_s if options.duration_s is not None else bag_duration_s
        wall_s = _run_player(bag, options, topics,
                             PLAYER_STARTUP_S + played_s / options.rate * 2)
        played_until_ns = time.monotonic_ns()
        inputs = {topic: counts.get(topic, 0) for topic in _received(node)}
        tail_started = time.monotonic()
        last_clock_ns = clock_tail(node, collector.clock, inputs, last_ns, options)
        tail_s = time.monotonic() - tail_started
        collector.wait_quiet(SETTLE_S, SETTLE_LIMIT_S)
        with collector.lock:
            records, receipts = list(collector.records), list(collector.receipt_ns)
        return LiveCapture(
            records, receipts, list(collector.gcode), counts, dict(collector.frame_arrival_ns),
            node.statuses(), node.final_stats(), wall_s, played_until_ns, last_ns,
            last_clock_ns, tail_s, list(collector.agreement),
        )
    finally:
        if executor is not None:
            executor.shutdown()
        if spinner is not None:
            spinner.join(5.0)
        for each in (collector.node if collector else None, node):
            if each is not None:
                each.destroy_node()
        context.try_shutdown()
        sys.setswitchinterval(switch_interval)
