# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""ROS 2's standard `qos_overrides` parameters on every endpoint the node creates.

Each publisher and subscription is created with `QOS_OVERRIDES` (rclpy's
`QoSOverridingOptions`: history, depth, reliability), so a cell sets the QoS of
an input or output with `qos_overrides.<topic>.<publisher|subscription>.<policy>`
as for any ROS 2 node; the node's own settings stay the defaults. A bad value
is one ConfigError naming the endpoint, at configure.
"""

from __future__ import annotations

from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.qos_overriding_options import InvalidQosOverridesError, QoSOverridingOptions

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.node.conversions import DIAGNOSTICS_QOS_DEPTH

QOS_OVERRIDES = QoSOverridingOptions.with_default_policies()
QOS_OVERRIDE_MARK = "QoS override"   # in rclpy's RuntimeError for an unknown policy value
DIAGNOSTICS_TOPIC = "/diagnostics"


def describe_profile(qos: QoSProfile) -> str:
    """Short text of the QoS in force (overrides applied), e.g. `best_effort keep_last 10`."""
    history = qos.history.name.lower()
    return (f"{qos.reliability.name.lower()} {history}"
            + (f" {qos.depth}" if history == "keep_last" else ""))


def overridable(what: str, create: Callable[[], Any]) -> Any:
    """Create a publisher or subscription; a bad `qos_overrides` value is one ConfigError."""
    try:
        return create()
    except (InvalidQosOverridesError, ParameterException) as exc:
        raise ConfigError(f"qos_overrides for {what}: {exc}") from None
    except RuntimeError as exc:
        if QOS_OVERRIDE_MARK not in str(exc):
            raise
        raise ConfigError(f"qos_overrides for {what}: {exc}") from None


def diagnostics_publisher(node: Node) -> Any:
    """Create the node's `/diagnostics` publisher (overridable, e.g. by a cell's aggregator)."""
    return overridable(DIAGNOSTICS_TOPIC, lambda: node.create_publisher(
        DiagnosticArray, DIAGNOSTICS_TOPIC, DIAGNOSTICS_QOS_DEPTH,
        qos_overriding_options=QOS_OVERRIDES))


__all__ = ["DIAGNOSTICS_TOPIC", "QOS_OVERRIDES", "describe_profile", "diagnostics_publisher",
           "overridable"]
