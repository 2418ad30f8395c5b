# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""QoS profiles, parameter descriptors, message classes and DiagnosticArray conversion."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import Vector3Stamped, WrenchStamped
import pytest
from rcl_interfaces.msg import ParameterType
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy
from sensor_msgs.msg import Imu

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameters import (
    LAYOUT_PARAMETERS, NODE_PARAMETERS, stream_parameter_specs,
)
from streaming_gcode.core.stream_spec import StreamSpec
from streaming_gcode.node.conversions import (
    check_field_paths,
    default_value,
    describe_qos,
    descriptor,
    diagnostic_array,
    message_class,
    stream_qos,
)
from streaming_gcode.outputs.diagnostics import Level, Status


def _spec(name: str):
    return next(s for s in NODE_PARAMETERS + LAYOUT_PARAMETERS if s.name == name)


def test_stream_qos_is_sensor_data_by_default_and_reliable_on_request() -> None:
    spec = StreamSpec("imu", "/imu", "sensor_msgs/msg/Imu", ("angular_velocity.z",), depth=7)
    qos = stream_qos(spec)
    assert qos.reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos.history == HistoryPolicy.KEEP_LAST and qos.depth == 7
    assert qos.durability == DurabilityPolicy.VOLATILE
    assert describe_qos(spec) == "best_effort keep_last 7"
    reliable = StreamSpec("imu", "/imu", "sensor_msgs/msg/Imu", ("angular_velocity.z",),
                          reliable=True)
    assert stream_qos(reliable).reliability == ReliabilityPolicy.RELIABLE


def test_message_class_accepts_both_spellings_and_explains_failures() -> None:
    assert message_class("sensor_msgs/msg/Imu") is Imu
    assert message_class("sensor_msgs/Imu") is Imu
    with pytest.raises(ConfigError, match=r"'sensor_msgs/msg/Nope' cannot be imported"):
        message_class("sensor_msgs/msg/Nope")
    with pytest.raises(ConfigError, match=r"'no_such_msgs/Thing' cannot be imported: no "
                                          r"Python class no_such_msgs\.msg\.Thing"):
        message_class("no_such_msgs/Thing")
    with pytest.raises(ConfigError, match=r"'Imu' cannot be imported: expected pkg/msg/Type"):
        message_class("Imu")


def test_descriptors_carry_type_ranges_and_read_only() -> None:
    stride = descriptor(_spec("stride"))
    assert stride.type == ParameterType.PARAMETER_INTEGER
    assert (stride.integer_range[0].from_value, stride.integer_range[0].to_value) == (0, 4096)
    assert not stride.read_only and "range [0, 4096]" in stride.additional_constraints
    ratio = descriptor(_spec("loss_warn_ratio"))
    assert ratio.type == ParameterType.PARAMETER_DOUBLE
    assert ratio.floating_point_range[0].to_value == 1.0
    checkpoint = descriptor(_spec("checkpoint"))
    assert checkpoint.read_only and checkpoint.type == ParameterType.PARAMETER_STRING
    assert checkpoint.description.startswith("Checkpoint file to load")
    names = descriptor(_spec("stream_names"))
    assert names.type == ParameterType.PARAMETER_STRING_ARRAY


def test_high_rate_stream_options_are_read_only_with_choices_and_a_range() -> None:
    specs = {spec.name: spec for spec in stream_parameter_specs("vib")}
    aggregate = descriptor(specs["streams.vib.aggregate"])
    assert aggregate.read_only and aggregate.type == ParameterType.PARAMETER_STRING
    assert "peak_to_peak" in aggregate.additional_constraints
    rate = descriptor(specs["streams.vib.sample_rate_hz"])
    assert rate.read_only and rate.type == ParameterType.PARAMETER_DOUBLE
    assert (rate.floating_point_range[0].from_value,
            rate.floating_point_range[0].to_value) == (0.0, 1_000_000.0)
    assert default_value(specs["streams.vib.sample_rate_hz"]) == 0.0


def test_default_values_for_declaration() -> None:
    assert default_value(_spec("stride")) == 0
    assert default_value(_spec("stream_names")) is Parameter.Type.STRING_ARRAY
    assert default_value(_spec("stream_names"), ["a", "b"]) == ["a", "b"]


def test_statuses_become_a_diagnostic_array() -> None:
    statuses = [
        Status("n: a", Level.OK, "fine", "hw", (("k", "1"),)),
        Status("n: b", Level.ERROR, "broken", "hw", ()),
    ]
    array = diagnostic_array(statuses, Time(sec=5, nanosec=6))
    assert (array.header.stamp.sec, array.header.stamp.nanosec) == (5, 6)
    assert [s.name for s in array.status] == ["n: a", "n: b"]
    assert array.status[0].level == DiagnosticStatus.OK
    assert array.status[1].level == DiagnosticStatus.ERROR
    assert array.status[0].hardware_id == "hw" and array.status[0].message == "fine"
    assert [(kv.key, kv.value) for kv in array.status[0].values] == [("k", "1")]


def _stamped(msg_type: str, *channels: str) -> StreamSpec:
    return StreamSpec("ft", "/ft", msg_type, channels)


def test_field_paths_to_numbers_of_a_stamped_type_pass() -> None:
    check_field_paths(_stamped("geometry_msgs/WrenchStamped", "wrench.force.x",
                               "wrench.torque.z"), WrenchStamped)
    check_field_paths(_stamped("geometry_msgs/msg/Vector3Stamped", "vector.z"), Vector3Stamped)
    check_field_paths(_stamped("sensor_msgs/msg/Imu", "angular_velocity.z"), Imu)  # not generic


def test_bad_field_paths_are_one_config_error_naming_each_path_and_the_type() -> None:
    spec = _stamped("geometry_msgs/msg/WrenchStamped", "wrench.force.x", "wrench.force.q",
                    "wrench.force", "header.frame_id", "wrench.force.x.y")
    with pytest.raises(ConfigError) as caught:
        check_field_paths(spec, WrenchStamped)
    text = str(caught.value)
    assert text.startswith("streams.ft.channels do not fit geometry_msgs/msg/WrenchStamped: ")
    assert "'wrench.force.q' has no field 'q' in wrench.force (fields: ['x', 'y', 'z'])" in text
    assert "'wrench.force' ends at wrench.force, a geometry_msgs/Vector3 message" in text
    assert "'header.frame_id' reaches header.frame_id of type string" in text
    assert "'wrench.force.x.y' goes past wrench.force.x, a double" in text
    assert "'wrench.force.x'" not in text


def test_a_type_without_a_header_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"std_msgs/msg/Float64: the type has no "
                                          r"std_msgs/Header 'header' \(fields: \['data'\]\)"):
        check_field_paths(_stamped("std_msgs/Float64", "data"), message_class("std_msgs/Float64"))
