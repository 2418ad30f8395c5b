# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""One machine's ROS side inside the node: subscriptions into its ingest, its two outputs.

`MachineIO` owns what is per machine (see core/machines.py): the namespaced
subscriptions, whose callbacks are cheap (account, adapt, validate, align into
the machine's `StreamIngest`, never raise), the `gcode` and `prediction`
publishers, and the machine's stream and buffer statuses for `/diagnostics`.
With several machines, status names are `<node>/<machine>: ...` and their
hardware_id is the machine's name.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.exceptions import NameValidationException
from rclpy.node import Node
from std_msgs.msg import String

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.machines import machine_layout, output_prefix, SINGLE_MACHINE
from streaming_gcode.core.parameters import NodeSettings
from streaming_gcode.core.stats import NS_PER_S
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.stream_ingest import Outcome, StreamIngest
from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.node.conversions import (
    describe_qos,
    message_class,
    PREDICTION_QOS_DEPTH,
    stream_qos,
)
from streaming_gcode.node.qos_overrides import describe_profile, overridable, QOS_OVERRIDES
from streaming_gcode.node.raw_messages import RawMessageDecoder
from streaming_gcode.node.tick_wakeup import TickWakeup
from streaming_gcode.outputs.diagnostics import (
    buffer_status, machine_node, Status, stream_status, Thresholds,
)
from streaming_gcode.outputs.operation_status import operation_status

Warn = Callable[[str, str, str], None]     # (stream label, problem kind, text)
DRAIN_LIMIT = 64   # rounds over the streams' queues one callback may take (then yields)
# ROS 2's standard `qos_overrides./<topic>.<subscription|publisher>.<policy>` parameters
# (history, depth, reliability), read-only, on every input and output; the layout's
# `reliable`/`depth` (inputs) and PREDICTION_QOS_DEPTH (outputs) are their defaults.


class MachineIO:
    """A machine's subscriptions, ingest, publishers and statuses."""

    wakeup: TickWakeup | None = None   # the node's tick wake-up, while active

    def __init__(self, node: Node, machine: str, layout: StreamLayout, feature_map: FeatureMap,
                 capacity: int, settings: NodeSettings, callback_group: Any,
                 now_ns: Callable[[], int], warn: Warn, has_library: bool = False) -> None:
        self.machine = machine
        self.has_library = has_library             # the model reads programs: `operation` status
        self.last_reading: ProgramReading | None = None
        self.layout = machine_layout(layout, machine)
        self.ingest = StreamIngest(
            self.layout, feature_map, capacity, settings.max_array_length,
            int(settings.max_future_stamp_s * NS_PER_S),
            [describe_qos(spec) for spec in self.layout.streams], clock=now_ns,
            multiple_publishers=settings.multiple_publishers,
        )
        self._count_publishers = node.count_publishers
        # The middleware's receipt stamps are system time: the node clock's scale
        # unless it follows /clock (use_sim_time is read-only once configured).
        self._receipt_on_node_clock = not node.get_parameter("use_sim_time").value
        self._logger = node.get_logger()
        self.topics = [spec.topic for spec in self.layout.streams]   # resolved on subscribing
        self.qos = [describe_qos(spec) for spec in self.layout.streams]   # overrides applied
        self._warn = warn
        self._decoders = tuple(RawMessageDecoder(spec, settings.max_array_length)
                               for spec in self.layout.streams)
        self.publishers: list[Any] = []      # gcode, prediction
        self.subscriptions: list[Any] = []   # one per stream, in layout order
        try:   # built one by one: a failure destroys what this machine already created
            prefix = output_prefix(machine)
            for name in ("gcode", "prediction"):
                self.publishers.append(overridable(
                    f"output {prefix + name}", lambda name=name: node.create_publisher(
                        String, prefix + name, PREDICTION_QOS_DEPTH,
                        qos_overriding_options=QOS_OVERRIDES)))
            for i in range(len(self.layout.streams)):
                self.subscriptions.append(self._subscribe(node, i, callback_group))
        except BaseException:
            self.release(node)
            raise
        self.gcode_pub, self.prediction_pub = self.publishers
        count = len(self.subscriptions)
        # the streams a callback for stream i drains, starting with its own
        self._drain_orders = tuple(tuple((i + k) % count for k in range(count))
                                   for i in range(count))

    def release(self, node: Node) -> dict[str, int]:
        """Destroy the subscriptions and publishers built so far; return the message totals."""
        self.wakeup = None
        for subscription in self.subscriptions:
            node.destroy_subscription(subscription)
        for publisher in self.publishers:
            node.destroy_publisher(publisher)
        self.subscriptions, self.publishers = [], []
        return self.ingest.summary()

    def label(self, stream: str) -> str:
        """Return a stream's name for logs: `<machine>/<stream>` with several machines."""
        return stream if self.machine == SINGLE_MACHINE else f"{self.machine}/{stream}"

    def _subscribe(self, node: Node, index: int, callback_group: Any):
        spec = self.layout.streams[index]
        events = SubscriptionEventCallbacks(
            message_lost=lambda info: self.ingest.on_message_lost(index, info.total_count_change),
            incompatible_qos=lambda info: self._on_incompatible_qos(index, info),
        )
        qos = stream_qos(spec)   # rclpy applies the qos_overrides parameters to it
        try:
            subscription = overridable(f"stream {spec.name!r}", lambda: node.create_subscription(
                message_class(spec.msg_type), spec.topic,
                lambda msg, info: self._on_message(index, msg, info), qos,
                callback_group=callback_group, event_callbacks=events,
                raw=True,   # bytes: an oversized message is refused before deserialising
                qos_overriding_options=QOS_OVERRIDES,
            ))
        except NameValidationException as exc:
            raise ConfigError(
                f"streams.{spec.name}.topic {spec.topic!r} is not a valid topic name: {exc}"
            ) from None
        self.topics[index] = subscription.topic_name   # namespace and remapping applied
        self.qos[index] = describe_profile(qos)
        self.ingest.set_subscription(index, subscription.topic_name, self.qos[index])
        self._logger.debug(
            f"stream {self.label(spec.name)!r}: subscribed to {subscription.topic_name} "
            f"(configured {spec.topic!r}), {spec.msg_type}, {self.qos[index]}, channels "
            f"{list(spec.channels)}")
        return subscription

    def _on_message(self, index: int, msg: Any, info: Any) -> None:
        """Ingest the message, then what is already queued on all of this machine's streams.

        One executor round costs far more in Python than ingesting a message, and
        a frame arrives as one message per stream: taking the queued messages of
        every stream here (round-robin, up to DRAIN_LIMIT per stream) instead of
        one executor round each is what lets ingestion keep up with fast replays.
        Each stream's order is kept: the ingestion callback group is mutually
        exclusive, so the executor takes nothing from these subscriptions meanwhile.
        A tick that falls due meanwhile runs at once (tick_wakeup.py).
        """
        self._ingest_one(index, msg, info)
        order = self._drain_orders[index] if index < len(self._drain_orders) else ()
        for _ in range(DRAIN_LIMIT):
            taken_any = False
            for stream in order:
                taken = self._take(stream)
                if taken is not None:
                    taken_any = True
                    self._ingest_one(stream, *taken)
            if not taken_any:
                return

    def _take(self, index: int) -> tuple[Any, Any] | None:
        """Take one queued message of a stream's subscription, None when there is none."""
        try:
            subscription = self.subscriptions[index]   # none left after a cleanup
            with subscription.handle:
                return subscription.handle.take_message(subscription.msg_type, subscription.raw)
        except Exception:  # noqa: BLE001 - shutting down or cleaned up: nothing to take
            return None

    def _ingest_one(self, index: int, msg: Any, info: Any) -> None:
        """Cheap: account, adapt, validate, align. Never raises."""
        try:
            msg = self._decoders[index].decode(msg)   # too large: a RefusedMessage (malformed)
            info = info if isinstance(info, dict) else {}
            gid = info.get("publisher_gid")
            result = self.ingest.on_message(  # the ingest reads the node clock itself
                index, msg, None, gid.get("data") if gid else None,
                info.get("publication_sequence_number"),
                info.get("received_timestamp") if self._receipt_on_node_clock else None,
            )
            wakeup = self.wakeup
            if result.frames and wakeup is not None:
                wakeup.frames_completed(self.machine)
            if result.outcome is not Outcome.ACCEPTED:
                self._warn(self.label(self.layout.streams[index].name), result.outcome.value,
                           result.reason)
        except Exception as exc:  # noqa: BLE001 - a callback must never take the node down
            self._warn(self.label(self.layout.streams[index].name), "internal",
                       f"message handling failed: {exc!r}")

    def _on_incompatible_qos(self, index: int, info: Any) -> None:
        policy = getattr(info.last_policy_kind, "name", str(info.last_policy_kind))
        policy = policy.replace("RMW_QOS_POLICY_", "")
        self.ingest.on_incompatible_qos(index, info.total_count_change, policy)
        spec = self.layout.streams[index]
        self._warn(self.label(spec.name), "qos",
                   f"stream {self.label(spec.name)!r} on {self.topics[index]}: a publisher offers "
                   f"incompatible QoS ({policy}); its messages cannot be received "
                   f"({self.qos[index]})")

    def _graph_publishers(self) -> list[int | None]:
        """Count the publishers the graph shows per topic (no gids needed; None: unknown)."""
        counts: list[int | None] = []
        for topic in self.topics:
            try:
                counts.append(int(self._count_publishers(topic)))
            except Exception:  # noqa: BLE001 - a graph query must not stop diagnostics
                counts.append(None)
        return counts

    def publish(self, text: str, record: dict[str, Any],
                reading: ProgramReading | None = None) -> None:
        """Send the decoded line and its record; keep the library's reading for diagnostics."""
        self.last_reading = reading
        self.gcode_pub.publish(String(data=text))
        self.prediction_pub.publish(String(data=json.dumps(record)))

    def statuses(self, node_name: str, hardware_id: str, now_ns: int, started_ns: int,
                 thresholds: Thresholds, window_frames: int) -> list[Status]:
        """Stream and buffer statuses of this machine."""
        if self.machine != SINGLE_MACHINE:
            node_name, hardware_id = machine_node(node_name, self.machine), self.machine
        out = [stream_status(node_name, hardware_id, report, thresholds)
               for report in self.ingest.stream_reports(now_ns, started_ns,
                                                        self._graph_publishers())]
        out.append(buffer_status(node_name, hardware_id,
                                 self.ingest.buffer_report(window_frames)))
        if self.has_library:
            out.append(operation_status(node_name, hardware_id, self.last_reading))
        return out
