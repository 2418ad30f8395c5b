# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Play a bag through a fresh in-process node and collect what the node publishes.

The ROS glue of the live evaluation: one rclpy context per bag, the node built
with `use_sim_time` and deep reliable subscriptions, the harness's
`OutputListener` on `~/prediction`, `~/gcode`, `~/agreement` and the frame
clock's raw messages (only their header stamps, with the time they arrived),
a multi-threaded executor, and `streaming-gcode replay` in its own process
publishing the bag with `/clock` (`playback.py`). Also: finding a ROS domain
nobody else uses for these topics.
"""

from __future__ import annotations

import os
from pathlib import Path
import random
import sys
import threading
import time
from typing import Any, Mapping, Sequence

import rclpy
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rosgraph_msgs.msg import Clock

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.node.executor_choice import use_node_switch_interval
from streaming_gcode.node.stream_node import create_node
from streaming_gcode.tools.harness.node_process import DOMAIN_ENV
from streaming_gcode.tools.harness.node_status import counter
from streaming_gcode.tools.harness.output_listener import (
    AGREEMENT, agreement_topic, GCODE, gcode_topic, listen_qos, OutputListener, PREDICTION,
    prediction_topic, Topic,
)
from streaming_gcode.tools.live_eval.playback import (
    DISCOVERY_TIMEOUT_S, header_stamp_ns, LIVE_QOS_DEPTH, LiveCapture, LiveOptions,
    played_summary, run_player,
)

SETTLE_S = 1.0                 # quiet time after playback before results are read
SETTLE_LIMIT_S = 10.0
POLL_S = 0.05
EXECUTOR_THREADS = 4
TAIL_LIMIT_S = 30.0            # wall time the clock may run on after the bag's end
CLOCK_QOS_DEPTH = 10
PROBE_SETTLE_S = 3.0           # discovery time when probing a domain for other users
SPARE_DOMAINS = tuple(range(215, 233))   # Linux-safe domain IDs tried when the current is busy
MAX_DOMAIN_PROBES = 4
PLAYER_STARTUP_S = 60.0        # added to the player's timeout (process start, discovery)
COLLECTOR_NODE_NAME = "streaming_gcode_evaluator"
FRAMES = "frames"              # the listener's key of the frame clock's messages


def busy_topics(domain_id: int, topics: Sequence[str],
                settle_s: float = PROBE_SETTLE_S) -> list[str]:
    """List which of `topics` other participants already use in a ROS domain.

    Another process replaying or publishing the same topics in the evaluation's
    domain (a cell on the network, a demo, a test) would mix its messages and
    its /clock into the evaluation.
    """
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
    current = preferred if preferred is not None else int(os.environ.get(DOMAIN_ENV) or 0)
    spares = [d for d in SPARE_DOMAINS if d != current]
    random.shuffle(spares)
    candidates = [current, *spares]
    for domain in candidates[:MAX_DOMAIN_PROBES]:
        if not busy_topics(domain, topics, settle_s):
            return domain
    raise ConfigError(f"ROS domains {candidates[:MAX_DOMAIN_PROBES]} all have other "
                      f"publishers or subscribers on {list(topics)}; set ROS_DOMAIN_ID to "
                      "a quiet domain")


def _listen(node: Node, node_fqn: str, frame_topic: tuple[str, type] | None) -> OutputListener:
    """Keep every output of the evaluated node, and the frame clock's stamps on arrival."""
    qos = listen_qos(LIVE_QOS_DEPTH)
    topics = [prediction_topic(node_fqn, qos), gcode_topic(node_fqn, qos),
              agreement_topic(node_fqn, qos)]
    if frame_topic is not None:  # raw: only the header stamp is read, cheaply
        topics.append(Topic(FRAMES, frame_topic[0], frame_topic[1], qos, header_stamp_ns,
                            raw=True))
    return OutputListener(node, topics)


def _wait_for_outputs(listener: OutputListener, timeout_s: float) -> None:
    """Wait until the node's output topics are discovered."""
    deadline = time.monotonic() + timeout_s
    keys = (PREDICTION, GCODE)
    while not all(listener.publishers(key) for key in keys):
        if time.monotonic() > deadline:
            topics = [listener.topics[key].topic for key in keys]
            raise ConfigError(f"the node's {topics} were not discovered within "
                              f"{timeout_s:.0f} s")
        time.sleep(POLL_S)


def _received(node: Any) -> dict[str, int]:
    received: dict[str, int] = {}
    for status in node.statuses():
        values = dict(status.values)
        if "topic" in values and "messages" in values:
            received["/" + values["topic"].lstrip("/")] = counter(values, "messages")
    return received


def _ticks(node: Any) -> int:
    for status in node.statuses():
        values = dict(status.values)
        if "ticks" in values and "predictions" in values:
            return counter(values, "ticks")
    return 0


def clock_tail(node: Any, publisher: Any, played: Mapping[str, int], last_ns: int,
               options: LiveOptions, limit_s: float = TAIL_LIMIT_S) -> int:
    """Keep /clock running past the bag's end until the node has taken in every message.

    A real cell's clock does not stop with its last sensor message: frames the
    node ingests after the bag's end still get their tick. Stops one tick after
    everything was received (or after `limit_s`); returns the last /clock sent.
    """
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


def play_through_node(
    bag: Path, params: Mapping[str, Any], options: LiveOptions, topics: Sequence[str],
    frame_topic: tuple[str, type] | None = None, bag_duration_s: float = 0.0,
) -> LiveCapture:
    """Start a node with `params`, play `topics` of `bag` from a player process, collect.

    The player runs as a separate process (`streaming-gcode replay`), as a bag
    player does beside a deployed node, so the two do not share an interpreter.
    """
    switch_interval = use_node_switch_interval()
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=options.domain_id)
    node = collector = executor = None
    spinner: threading.Thread | None = None
    try:
        node = create_node(dict(params), context=context)
        collector = Node(COLLECTOR_NODE_NAME, context=context)
        listener = _listen(collector, node.get_fully_qualified_name(), frame_topic)
        clock = collector.create_publisher(Clock, "/clock", CLOCK_QOS_DEPTH)
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS, context=context)
        executor.add_node(node)
        executor.add_node(collector)
        spinner = threading.Thread(target=executor.spin, name="live-eval-executor", daemon=True)
        spinner.start()
        _wait_for_outputs(listener, DISCOVERY_TIMEOUT_S)
        counts, last_ns = played_summary(bag, options.duration_s)
        played_s = options.duration_s if options.duration_s is not None else bag_duration_s
        wall_s = run_player(bag, options, topics, PLAYER_STARTUP_S + played_s / options.rate * 2)
        played_until_ns = time.monotonic_ns()
        inputs = {topic: counts.get(topic, 0) for topic in _received(node)}
        tail_started = time.monotonic()
        last_clock_ns = clock_tail(node, clock, inputs, last_ns, options)
        tail_s = time.monotonic() - tail_started
        listener.wait_quiet(PREDICTION, SETTLE_S, SETTLE_LIMIT_S)
        predictions = listener.received(PREDICTION)
        frames = listener.received(FRAMES) if FRAMES in listener.topics else []
        return LiveCapture(
            [item.data for item in predictions], [item.monotonic_ns for item in predictions],
            listener.data(GCODE), counts, {item.data: item.monotonic_ns for item in frames},
            node.statuses(), node.final_stats(), wall_s, played_until_ns, last_ns,
            last_clock_ns, tail_s, listener.data(AGREEMENT),
        )
    finally:
        if executor is not None:
            executor.shutdown()
        if spinner is not None:
            spinner.join(5.0)
        for each in (collector, node):
            if each is not None:
                each.destroy_node()
        context.try_shutdown()
        sys.setswitchinterval(switch_interval)
