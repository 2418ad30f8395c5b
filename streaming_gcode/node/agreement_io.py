# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The agreement monitor inside the node: parameters, reference subscription, `~/agreement`.

With `reference_topic` set, the node subscribes to the line the cell's
controller reports as executing (`std_msgs/String`: the G-code text, or a JSON
object with a `gcode` field), pairs every prediction with it
(`agreement.AgreementMonitor`), publishes the rolling agreement rate on
`~/agreement` (`std_msgs/Float32`) and adds an `agreement` status to
`/diagnostics`. Reference lines carry no header, so they are stamped with the
node clock on receipt (sim time under replay). Empty `reference_topic` (the
default): nothing is created.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32, String

from streaming_gcode.core.parameters import ParamSpec
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.model.vocabulary import OutputVocabulary
from streaming_gcode.node.parameter_declaration import declare_parameters
from streaming_gcode.node.qos_overrides import overridable, QOS_OVERRIDES
from streaming_gcode.outputs.agreement import (
    agreement_status,
    AgreementMonitor,
    AgreementSettings,
    CRITERIA,
    DEFAULT_AGREEMENT_CRITERION,
    DEFAULT_AGREEMENT_ERROR_BELOW,
    DEFAULT_AGREEMENT_MIN_CONFIDENCE,
    DEFAULT_AGREEMENT_MIN_SAMPLES,
    DEFAULT_AGREEMENT_WARN_BELOW,
    DEFAULT_AGREEMENT_WINDOW_S,
)
from streaming_gcode.outputs.diagnostics import Status

AGREEMENT_TOPIC = "~/agreement"
REFERENCE_QOS_DEPTH = 100
AGREEMENT_QOS_DEPTH = 10
REFERENCE_JSON_FIELD = "gcode"

AGREEMENT_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("reference_topic", "", "Topic of the line the controller executes "
              "(std_msgs/String: G-code text, or JSON with a 'gcode' field); empty = no "
              "agreement monitor.", read_only=True),
    ParamSpec("agreement_window_s", DEFAULT_AGREEMENT_WINDOW_S, "Rolling window of the "
              "agreement rate (seconds of prediction stamps).", read_only=True,
              minimum=1e-3, maximum=86400.0),
    ParamSpec("agreement_warn_below", DEFAULT_AGREEMENT_WARN_BELOW, "Agreement rate below "
              "this is WARN.", read_only=True, minimum=0.0, maximum=1.0),
    ParamSpec("agreement_error_below", DEFAULT_AGREEMENT_ERROR_BELOW, "Agreement rate below "
              "this is ERROR.", read_only=True, minimum=0.0, maximum=1.0),
    ParamSpec("agreement_min_samples", DEFAULT_AGREEMENT_MIN_SAMPLES, "Predictions compared "
              "in the window before the rate is graded.", read_only=True, minimum=1,
              maximum=1_000_000),
    ParamSpec("agreement_criterion", DEFAULT_AGREEMENT_CRITERION, "What must match: command "
              "(G/M words), words (and parameter letters) or line (and values).",
              read_only=True, choices=CRITERIA),
    ParamSpec("agreement_min_confidence", DEFAULT_AGREEMENT_MIN_CONFIDENCE, "A prediction "
              "whose model is less sure of the running program (operation_confidence) "
              "than this is not judged (abstained): the start of a job.", read_only=True,
              minimum=0.0, maximum=1.0),
)


def reference_text(data: str) -> str:
    """Return the G-code line of a reference message (plain text or JSON with `gcode`)."""
    text = data.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return ""
        value = document.get(REFERENCE_JSON_FIELD) if isinstance(document, dict) else None
        return value if isinstance(value, str) else ""
    return text


def declare_agreement(node: Node) -> dict[str, Any]:
    """Declare the agreement parameters once (a lifecycle node configures more than once)."""
    return declare_parameters(node, AGREEMENT_PARAMETERS, "agreement parameters")


class ReferenceAgreement:
    """Feeds the node's predictions and the cell's reference lines to an AgreementMonitor."""

    def __init__(self, node: Node, values: dict[str, Any] | None = None) -> None:
        values = declare_agreement(node) if values is None else values
        self.topic: str = values["reference_topic"]
        self.monitor: AgreementMonitor | None = None
        self._lock = threading.Lock()
        self._node = node
        self._subscription: Any = None
        self._publisher: Any = None
        if not self.topic:
            return
        self.monitor = AgreementMonitor(AgreementSettings(
            window_ns=int(values["agreement_window_s"] * NS_PER_S),
            warn_below=float(values["agreement_warn_below"]),
            error_below=float(values["agreement_error_below"]),
            min_samples=int(values["agreement_min_samples"]),
            criterion=values["agreement_criterion"],
            min_confidence=float(values["agreement_min_confidence"]),
        ))
        # best effort hears reliable and best-effort publishers alike
        qos = QoSProfile(depth=REFERENCE_QOS_DEPTH, reliability=ReliabilityPolicy.BEST_EFFORT)
        self._subscription = overridable(self.topic, lambda: node.create_subscription(
            String, self.topic, self._on_reference, qos,
            callback_group=MutuallyExclusiveCallbackGroup(), qos_overriding_options=QOS_OVERRIDES))
        self._publisher = overridable(AGREEMENT_TOPIC, lambda: node.create_publisher(
            Float32, AGREEMENT_TOPIC, AGREEMENT_QOS_DEPTH, qos_overriding_options=QOS_OVERRIDES))

    def release(self) -> None:
        """Destroy the reference subscription and the agreement publisher (lifecycle cleanup)."""
        if self._subscription is not None:
            self._node.destroy_subscription(self._subscription)
        if self._publisher is not None:
            self._node.destroy_publisher(self._publisher)
        self._subscription = self._publisher = None
        self.monitor = None

    @property
    def enabled(self) -> bool:
        """Return true when a reference topic is configured."""
        return self.monitor is not None

    def _on_reference(self, message: Any) -> None:
        now = self._node.get_clock().now().nanoseconds
        with self._lock:
            self.monitor.on_reference(now, reference_text(message.data))

    def on_prediction(self, stamp_ns: int, text: str, reading: ProgramReading | None = None,
                      vocabulary: OutputVocabulary | None = None) -> None:
        """Compare one published prediction; publish the rolling rate when there is one.

        From the library's `reading`: the other lines it accepts (the physics
        witness's program lines within its timing slack) and its confidence in the
        running program (see outputs/agreement.py).
        """
        if self.monitor is None:
            return
        also = [vocabulary.text(t.label) for t in reading.nearby] \
            if reading is not None and vocabulary is not None else []
        confidence = reading.operation_confidence if reading is not None else None
        with self._lock:
            self.monitor.on_prediction(stamp_ns, text, also, confidence)
            rate = self.monitor.rate
        if rate is not None:
            self._publisher.publish(Float32(data=float(rate)))

    def statuses(self, node_name: str, hardware_id: str) -> list[Status]:
        """Return the agreement status (none when the monitor is off)."""
        if self.monitor is None:
            return []
        with self._lock:
            report = self.monitor.report(self._node.resolve_topic_name(self.topic))
        return [agreement_status(node_name, hardware_id, report)]
