# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 node: parameters, subscriptions, the inference tick and the publishers.

Thin glue over the folders before it, and the only library folder that imports
rclpy: `stream_node` (`StreamNode`, the executable's `main`),
`lifecycle_transitions` (the managed-node transitions and the process run),
`machine_io` (one machine's subscriptions and outputs), `tick_wakeup`,
`parameter_declaration`, `model_selection`, `agreement_io`, `qos_overrides`
(the standard `qos_overrides` on every endpoint) and `conversions` (QoS,
message classes, DiagnosticArray).
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "stream_node": ("StreamNode", "create_node", "main"),
    "lifecycle_transitions": ("ManagedNode",),
    "machine_io": ("MachineIO",),
    "parameter_declaration": ("declare_layout", "declare_settings"),
    "model_selection": ("NodeModel", "load_node_model"),
    "agreement_io": ("ReferenceAgreement",),
    "conversions": ("diagnostic_array", "message_class", "stream_qos"),
    "qos_overrides": ("diagnostics_publisher", "overridable"),
})
