# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Small conversions between the pure core's plain data and ROS 2 types.

QoS profiles for the input streams, parameter descriptors from `ParamSpec`,
message classes from type names (and field paths checked against them) and
diagnostic statuses to
`diagnostic_msgs/DiagnosticArray`. Kept apart from the node so each is easy to
test and the node stays glue.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Iterable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
)
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

from streaming_gcode.core.errors import ConfigError, MessageTypeError
from streaming_gcode.core.parameters import ParamSpec
from streaming_gcode.core.stream_spec import (
    is_generic_stamped,
    normalise_message_type,
    StreamSpec,
)
from streaming_gcode.outputs.diagnostics import Status

PREDICTION_QOS_DEPTH = 10
DIAGNOSTICS_QOS_DEPTH = 10
HEADER_TYPE = "std_msgs/Header"      # as get_fields_and_field_types() spells it
# Field types a channel's path may end in: rosidl's numeric scalars (and boolean).
NUMERIC_FIELD_TYPES = frozenset((
    "float", "double", "long double", "boolean", "octet", "char", "byte",
    "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
))

_PARAMETER_TYPES = {
    "bool": ParameterType.PARAMETER_BOOL,
    "integer": ParameterType.PARAMETER_INTEGER,
    "double": ParameterType.PARAMETER_DOUBLE,
    "string": ParameterType.PARAMETER_STRING,
    "string_array": ParameterType.PARAMETER_STRING_ARRAY,
}


def stream_qos(spec: StreamSpec) -> QoSProfile:
    """Sensor-data QoS (best effort, keep last N, volatile), or reliable on request."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=spec.depth,
        reliability=ReliabilityPolicy.RELIABLE if spec.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def describe_qos(spec: StreamSpec) -> str:
    """Short text for diagnostics, e.g. `best_effort keep_last 10`."""
    return f"{'reliable' if spec.reliable else 'best_effort'} keep_last {spec.depth}"


def message_class(msg_type: str) -> type:
    """Import the message class of `pkg/msg/Type` (or `pkg/Type`): streams, bags, tools.

    One lookup for the node's stream layout, the bag player and the tools, so a
    type that is misspelt or not installed fails the same way everywhere.
    """
    parts = normalise_message_type(msg_type).split("/")
    if len(parts) != 3 or not all(parts):
        raise MessageTypeError(f"message type {msg_type!r} cannot be imported: expected "
                               "pkg/msg/Type or pkg/Type")
    package, interface, name = parts
    module = f"{package}.{interface}"
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, TypeError, ValueError):
        raise MessageTypeError(f"message type {msg_type!r} cannot be imported: no Python "
                               f"class {module}.{name} (is its package installed and "
                               "sourced?)") from None


def check_field_paths(spec: StreamSpec, msg_class: type) -> None:
    """Check a generic stamped stream against its message definition (ConfigError if not).

    The message must have a std_msgs/Header `header`, and every channel must be a
    path of field names ending in a numeric scalar; one error lists every bad
    path with why, and names the type. Other stream types pass unchecked.
    """
    if not is_generic_stamped(spec.msg_type):
        return
    msg_type = normalise_message_type(spec.msg_type)
    fields = msg_class.get_fields_and_field_types()
    problems = [] if fields.get("header") == HEADER_TYPE else [
        f"the type has no std_msgs/Header 'header' (fields: {sorted(fields)})"]
    problems += [f"{path!r} {why}" for path in spec.channels
                 for why in [_field_path_problem(msg_class, path)] if why]
    if problems:
        raise ConfigError(f"streams.{spec.name}.channels do not fit {msg_type}: "
                          + "; ".join(problems))


def _field_path_problem(msg_class: type, path: str) -> str | None:
    """Why `path` is not a numeric scalar of `msg_class`, or None."""
    current, walked = msg_class, []
    names = path.split(".")
    for depth, name in enumerate(names):
        fields = current.get_fields_and_field_types()
        where = ".".join(walked) or "the message"
        if name not in fields:
            return f"has no field {name!r} in {where} (fields: {sorted(fields)})"
        field_type = fields[name]
        walked.append(name)
        last = depth == len(names) - 1
        if field_type in NUMERIC_FIELD_TYPES:
            return None if last else f"goes past {'.'.join(walked)}, a {field_type}"
        if "/" not in field_type or "[" in field_type or "<" in field_type:
            return f"reaches {'.'.join(walked)} of type {field_type}, not a numeric scalar"
        if last:
            return f"ends at {'.'.join(walked)}, a {field_type} message, not a number"
        current = message_class(field_type)
    return None


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """Build a ParameterDescriptor with type, description, constraints and range."""
    desc = ParameterDescriptor(
        name=spec.name,
        type=_PARAMETER_TYPES[spec.kind],
        description=spec.description,
        additional_constraints=spec.constraints,
        read_only=spec.read_only,
    )
    if spec.kind == "integer" and (spec.minimum is not None or spec.maximum is not None):
        desc.integer_range = [IntegerRange(
            from_value=int(spec.minimum if spec.minimum is not None else -(2**63)),
            to_value=int(spec.maximum if spec.maximum is not None else 2**63 - 1),
            step=0,
        )]
    elif spec.kind == "double" and (spec.minimum is not None or spec.maximum is not None):
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(spec.minimum if spec.minimum is not None else -sys.float_info.max),
            to_value=float(spec.maximum if spec.maximum is not None else sys.float_info.max),
            step=0.0,
        )]
    return desc


def default_value(spec: ParamSpec, default: Any = None) -> Any:
    """Return the value to declare with; an empty string array is declared by type."""
    value = spec.default if default is None else default
    if spec.kind == "string_array":
        return [str(v) for v in value] if value else Parameter.Type.STRING_ARRAY
    return value


def diagnostic_array(statuses: Iterable[Status], stamp: Any) -> DiagnosticArray:
    """Plain statuses -> `diagnostic_msgs/DiagnosticArray` stamped `stamp`."""
    array = DiagnosticArray()
    array.header.stamp = stamp
    for status in statuses:
        array.status.append(DiagnosticStatus(
            level=bytes([int(status.level)]),
            name=status.name,
            message=status.message,
            hardware_id=status.hardware_id,
            values=[KeyValue(key=k, value=v) for k, v in status.values],
        ))
    return array
