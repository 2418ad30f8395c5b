# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Declare the node's parameters (with descriptors) and read them into validated objects.

Every declaration problem (wrong type, out of range, unparsable layout) is
collected and raised as one `ConfigError`, so a bad params file fails at
start-up with one message instead of on the first message or half-configured.
`declare_parameter` / `declare_parameters` are the one way the node declares a
`ParamSpec` (its own settings, the layout, the agreement monitor's).
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.package import default_stream_config
from streaming_gcode.core.parameters import (
    LAYOUT_PARAMETERS,
    NODE_PARAMETERS,
    NodeSettings,
    ParamSpec,
    stream_parameter_specs,
)
from streaming_gcode.core.stream_layout import load_params_file, StreamLayout
from streaming_gcode.node.conversions import default_value, descriptor


def declare_parameter(node: Node, spec: ParamSpec, problems: list[str],
                      default: Any = None) -> Any:
    """Declare `spec` (descriptor, default, read-only, range) and return its checked value.

    A problem is appended to `problems` instead of raised, so the caller can
    report every bad value of a params file at once; `default` overrides the
    spec's (the shipped layout's values).
    """
    desc = descriptor(spec)
    if spec.kind == "double":
        desc.dynamic_typing = True  # accept `4` for 4.0 in YAML; ParamSpec.check tests it
    initial = default_value(spec, default)
    try:
        if initial is Parameter.Type.STRING_ARRAY:
            value = _declare_empty_string_array(node, spec.name, desc)
        else:
            value = node.declare_parameter(spec.name, initial, desc).value
    except (ParameterException, TypeError, ValueError) as exc:
        problems.append(f"{spec.name}: {exc}")
        return spec.default if default is None else default
    if spec.kind == "string_array":
        value = list(value) if value is not None else []
    problem = spec.check(value)
    if problem:
        problems.append(problem)
    return value


def _declare_empty_string_array(node: Node, name: str, desc: ParameterDescriptor) -> Any:
    """Declare a string array whose default is empty, and give it that empty value.

    rclpy infers `[]` as a byte array, so an empty default can only be declared by
    type; a parameter left unset makes `get_parameters` answer the whole batch with
    nothing (`ros2 param dump` prints `{}`). Declared writable, set to `[]` when no
    override gave it a value, then made read-only as the spec says.
    """
    writable = copy.deepcopy(desc)   # rclpy keeps the descriptor object it is given
    writable.read_only = False
    parameter = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, writable)
    if parameter.type_ is Parameter.Type.NOT_SET:
        result = node.set_parameters([Parameter(name, Parameter.Type.STRING_ARRAY, [])])[0]
        if not result.successful:
            raise ValueError(f"the empty default was refused: {result.reason}")
    if desc.read_only:
        node.set_descriptor(name, desc)
    return node.get_parameter(name).value


def declare_parameters(node: Node, specs: Sequence[ParamSpec], what: str) -> dict[str, Any]:
    """Declare every spec; raise one ConfigError `invalid <what>: ...` naming each problem."""
    problems: list[str] = []
    values = {spec.name: declare_parameter(node, spec, problems) for spec in specs}
    if problems:
        raise ConfigError(f"invalid {what}: " + "; ".join(problems))
    return values


def declare_settings(node: Node) -> NodeSettings:
    """Declare the node's own parameters and return them validated."""
    return NodeSettings.from_values(declare_parameters(node, NODE_PARAMETERS, "parameters"))


def declare_layout(node: Node) -> StreamLayout:
    """Declare the stream layout parameters and parse them.

    With no `stream_names` given, the shipped config/stream.yaml supplies the
    defaults (so `ros2 run streaming_gcode stream_node` works on its own);
    once the streams are named, every layout value comes from the parameters.
    """
    shipped_path = default_stream_config()
    shipped = load_params_file(shipped_path, node.get_name()) if shipped_path else {}
    problems: list[str] = []
    names_spec = LAYOUT_PARAMETERS[0]
    shipped_names = list(shipped.get("stream_names", []))
    names = declare_parameter(node, names_spec, problems, shipped_names)
    defaults = shipped if names == shipped_names else {}
    flat: dict[str, Any] = {names_spec.name: names}
    specs = list(LAYOUT_PARAMETERS[1:])
    for name in names:
        specs.extend(stream_parameter_specs(name))
    for spec in specs:
        flat[spec.name] = declare_parameter(node, spec, problems, defaults.get(spec.name))
    if problems:
        raise ConfigError("invalid stream layout parameters: " + "; ".join(problems))
    if not names:
        raise ConfigError(
            "no input streams: set stream_names and streams.<name>.* parameters "
            "(e.g. --params-file config/stream.yaml)"
        )
    return StreamLayout.from_parameters(flat, where="node parameters")
