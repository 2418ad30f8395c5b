# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What a running `stream_node` publishes, as every tool hears it.

The demo, the soak, the benchmark and the live evaluation all watch the node's
outputs (`~/prediction`, `~/gcode`, `~/agreement`, `/diagnostics`) and, where
a tool needs them, other topics (a reference line, the frame clock's raw
messages). `OutputListener` subscribes to a list of `Topic`s on a node the
tool owns, converts each message in the callback (cheap: decode, filter) and
keeps it with its receipt stamps in integer nanoseconds, on the wall clock
(comparable with the node's stamps) and the monotonic clock (durations here),
under one lock. Tools read snapshots, wait for counts or quiet, or take a
callback per message. `SpinThread` spins a listening node in the background.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from functools import partial
import json
import threading
import time
from typing import Any, Callable, NamedTuple, Sequence

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32, String

from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.tools.harness.node_status import counter, is_node_status, NodeStatus

PREDICTION = "prediction"
GCODE = "gcode"
AGREEMENT = "agreement"
DIAGNOSTICS = "diagnostics"
DIAGNOSTICS_TOPIC = "/diagnostics"
NODE_OUTPUTS = f"/{NODE_NAME}"       # the outputs of a node with the default name, no namespace
DIAGNOSTICS_DEPTH = 10
OUTPUT_DEPTH = 100                   # default keep-last depth of the node's other outputs
KEEP_ALL: int | None = None          # Topic.history: keep every message
SPIN_TIMEOUT_S = 0.1
# What a conversion raises on a message it cannot read: counted, never raised out of a callback.
MALFORMED_ERRORS: tuple[type[BaseException], ...] = (
    ValueError, TypeError, KeyError, AttributeError, IndexError)


class Received(NamedTuple):
    """One message as it arrived: receipt stamps and what the conversion kept."""

    wall_ns: int          # time.time_ns() at receipt: comparable with the node's wall stamps
    monotonic_ns: int     # time.monotonic_ns() at receipt: durations on this host
    data: Any


@dataclass(frozen=True)
class Topic:
    """One subscription of a listener: where, how, and what is kept of each message.

    `convert` turns the message (its bytes when `raw`) into what is kept; it
    returns None for a message that is not for this listener (ignored) and
    raises one of MALFORMED_ERRORS for one it cannot read (counted).
    `history`: KEEP_ALL, the last N, or 0 (only `on_receive` sees them).
    """

    key: str
    topic: str
    msg_class: type
    qos: QoSProfile
    convert: Callable[[Any], Any]
    raw: bool = False
    history: int | None = KEEP_ALL
    on_receive: Callable[[Received], None] | None = None


def listen_qos(depth: int, reliable: bool = True) -> QoSProfile:
    """Keep-last, volatile QoS; best effort hears reliable and best-effort publishers alike."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def prediction_record(message: Any) -> dict[str, Any]:
    """Decode one `~/prediction` JSON document (see the README's `~/prediction` section)."""
    record = json.loads(message.data)
    if not isinstance(record, dict):
        raise ValueError(f"prediction is not a JSON object: {message.data[:80]!r}")
    return record


def message_data(message: Any) -> Any:
    """Return the `data` field of a std_msgs message (String text, Float32 value)."""
    return message.data


def node_statuses(message: Any, node_name: str = NODE_NAME,
                  hardware_id: str | None = None) -> tuple[NodeStatus, ...] | None:
    """Return the statuses of one node in a DiagnosticArray (None: none of them are its).

    A status is the node's when its name is `"<node>: <task>"` with `<node>`
    ending in `node_name`, optionally followed by `/<machine>`
    (`node_status.is_node_status`): a fully qualified `node_name`
    (`/demo_9/streaming_gcode`) picks that node, a plain one any node of that
    name. If `hardware_id` is given the status must also carry it (a machine's
    statuses of a node with `machines` carry the machine's name instead).
    """
    statuses = tuple(
        (status.name, {kv.key: kv.value for kv in status.values}) for status in message.status
        if is_node_status(status.name, node_name)
        and (hardware_id is None or status.hardware_id == hardware_id))
    return statuses or None


def prediction_topic(outputs: str = NODE_OUTPUTS, qos: QoSProfile | None = None,
                     convert: Callable[[Any], Any] = prediction_record,
                     history: int | None = KEEP_ALL,
                     on_receive: Callable[[Received], None] | None = None) -> Topic:
    """`<outputs>/prediction`, each record decoded to a dict."""
    return Topic(PREDICTION, f"{outputs}/prediction", String, qos or listen_qos(OUTPUT_DEPTH),
                 convert, history=history, on_receive=on_receive)


def gcode_topic(outputs: str = NODE_OUTPUTS, qos: QoSProfile | None = None,
                history: int | None = KEEP_ALL) -> Topic:
    """`<outputs>/gcode`, each line as its text."""
    return Topic(GCODE, f"{outputs}/gcode", String, qos or listen_qos(OUTPUT_DEPTH), message_data,
                 history=history)


def agreement_topic(outputs: str = NODE_OUTPUTS, qos: QoSProfile | None = None,
                    history: int | None = KEEP_ALL) -> Topic:
    """`<outputs>/agreement`, the rolling agreement rate as a float."""
    return Topic(AGREEMENT, f"{outputs}/agreement", Float32, qos or listen_qos(OUTPUT_DEPTH),
                 message_data, history=history)


def diagnostics_topic(qos: QoSProfile | None = None, node_name: str = NODE_NAME,
                      hardware_id: str | None = None, history: int | None = 0,
                      on_receive: Callable[[Received], None] | None = None) -> Topic:
    """`/diagnostics`, each array reduced to the node's statuses (latest kept by name)."""
    return Topic(DIAGNOSTICS, DIAGNOSTICS_TOPIC, DiagnosticArray,
                 qos or listen_qos(DIAGNOSTICS_DEPTH),
                 partial(node_statuses, node_name=node_name, hardware_id=hardware_id),
                 history=history, on_receive=on_receive)


@dataclass
class _Log:
    """What one topic has received (guarded by the listener's lock)."""

    kept: deque[Received] | list[Received]
    count: int = 0            # accepted messages, including those the history let go
    malformed: int = 0

    def add(self, received: Received) -> None:
        self.count += 1
        self.kept.append(received)

    def since(self, start: int) -> list[Received]:
        dropped = self.count - len(self.kept)
        return list(self.kept)[max(0, start - dropped):]


class OutputListener:
    """Subscriptions to a node's outputs on `node`, with what they received."""

    def __init__(self, node: Node, topics: Sequence[Topic]) -> None:
        keys = [topic.key for topic in topics]
        if len(set(keys)) != len(keys):
            raise ValueError(f"listener topics need distinct keys, got {keys}")
        self.node = node
        self.topics = {topic.key: topic for topic in topics}
        self._changed = threading.Condition()
        self._logs = {topic.key: _Log([] if topic.history is KEEP_ALL
                                      else deque(maxlen=topic.history))
                      for topic in topics}
        self._statuses: dict[str, dict[str, str]] = {}   # newest values by status name
        # Created in the given order: a single-threaded executor serves ready
        # subscriptions in creation order.
        for topic in topics:
            node.create_subscription(topic.msg_class, topic.topic, partial(self._receive, topic),
                                     topic.qos, raw=topic.raw)

    def _receive(self, topic: Topic, message: Any) -> None:
        wall_ns, monotonic_ns = time.time_ns(), time.monotonic_ns()
        log = self._logs[topic.key]
        try:
            data = topic.convert(message)
        except MALFORMED_ERRORS:
            with self._changed:
                log.malformed += 1
            return
        if data is None:
            return
        received = Received(wall_ns, monotonic_ns, data)
        with self._changed:
            log.add(received)
            if topic.key == DIAGNOSTICS:
                self._statuses.update((name, dict(values)) for name, values in data)
            self._changed.notify_all()
        if topic.on_receive is not None:
            topic.on_receive(received)

    # -- reading ----------------------------------------------------------------
    def received(self, key: str, start: int = 0) -> list[Received]:
        """Return what `key` kept, from its `start`-th accepted message on (a copy)."""
        with self._changed:
            return self._logs[key].since(start)

    def data(self, key: str, start: int = 0) -> list[Any]:
        """Return the kept payloads of `key` (as `received`, without the stamps)."""
        return [item.data for item in self.received(key, start)]

    def count(self, key: str) -> int:
        """Count the messages `key` accepted so far (kept or not)."""
        with self._changed:
            return self._logs[key].count

    def malformed(self, key: str) -> int:
        """Count the messages of `key` its conversion could not read."""
        with self._changed:
            return self._logs[key].malformed

    def statuses(self) -> dict[str, dict[str, str]]:
        """Return the newest values of each of the node's statuses, by name (a copy)."""
        with self._changed:
            return {name: dict(values) for name, values in self._statuses.items()}

    def status_text(self, status: str, key: str) -> str:
        """Return one value of a status, empty when not reported yet."""
        with self._changed:
            return self._statuses.get(status, {}).get(key, "")

    def status_counter(self, status: str, key: str) -> int:
        """Return a counter of a status (0 when not reported yet)."""
        with self._changed:
            return counter(self._statuses.get(status, {}), key)

    def publishers(self, key: str) -> int:
        """Count the publishers of `key`'s topic that this node has discovered."""
        return self.node.count_publishers(self.node.resolve_topic_name(self.topics[key].topic))

    # -- waiting ----------------------------------------------------------------
    def wait_for(self, key: str, more_than: int, timeout_s: float) -> bool:
        """Wait until `key` has accepted more than `more_than` messages; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._logs[key].count > more_than, timeout_s)

    def wait_quiet(self, key: str, quiet_s: float, limit_s: float) -> bool:
        """Wait until nothing arrived on `key` for `quiet_s` (at most `limit_s`)."""
        deadline = time.monotonic() + limit_s
        with self._changed:
            seen, since = self._logs[key].count, time.monotonic()
            while True:
                now = time.monotonic()
                if now - since >= quiet_s:
                    return True
                if now >= deadline:
                    return False
                self._changed.wait(min(since + quiet_s, deadline) - now)
                if self._logs[key].count != seen:
                    seen, since = self._logs[key].count, time.monotonic()


class SpinThread:
    """Spins one node in a daemon thread until `close()`; keeps the error that ended it."""

    def __init__(self, node: Node, name: str, context: Any = None) -> None:
        self.node = node
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=SPIN_TIMEOUT_S)
            except ExternalShutdownException:
                return
            except Exception as exc:  # noqa: BLE001 - kept for the tool; the context may be gone
                if not self._stop.is_set():
                    self.error = exc
                return

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop spinning and shut the executor down (the tool destroys its node)."""
        self._stop.set()
        self._thread.join(timeout=timeout_s)
        self.executor.shutdown()


__all__ = [
    "AGREEMENT", "DIAGNOSTICS", "DIAGNOSTICS_TOPIC", "GCODE", "KEEP_ALL", "NODE_OUTPUTS",
    "PREDICTION", "OutputListener", "Received", "SpinThread", "Topic", "agreement_topic",
    "diagnostics_topic", "gcode_topic", "listen_qos", "message_data", "node_statuses",
    "prediction_record", "prediction_topic",
]
