# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Adapters turn real ROS messages into validated samples or raise MessageError."""

from __future__ import annotations

import math

from geometry_msgs.msg import Vector3Stamped, WrenchStamped
import numpy as np
import pytest
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float32MultiArray, Float64MultiArray

from streaming_gcode.core.errors import ConfigError, MessageError
from streaming_gcode.core.stream_spec import StreamSpec
from streaming_gcode.ingestion.adapters import (
    ArrayAdapter,
    FieldPathAdapter,
    ImuAdapter,
    JointStateAdapter,
    make_adapter,
)
from streaming_gcode.ingestion.message_checks import stamp_to_ns

NOW_NS = 1_700_000_000 * 1_000_000_000
S = 1_000_000_000


def _spec(msg_type: str, channels: tuple[str, ...], field: str = "position") -> StreamSpec:
    return StreamSpec("s", "/s", msg_type, channels, field)


def _joint_state(names, stamp_ns=NOW_NS, **fields) -> JointState:
    msg = JointState()
    msg.header.stamp.sec = stamp_ns // S
    msg.header.stamp.nanosec = stamp_ns % S
    msg.name = list(names)
    for key, value in fields.items():
        setattr(msg, key, list(value))
    return msg


def test_float32_array_values_in_channel_order() -> None:
    adapter = make_adapter(_spec("std_msgs/Float32MultiArray", ("a", "b", "c")))
    assert isinstance(adapter, ArrayAdapter)
    sample = adapter.adapt(Float32MultiArray(data=[1.5, -2.0, 3.25]), NOW_NS)
    assert sample.stamp_ns is None
    assert sample.values.dtype == np.float64
    np.testing.assert_array_equal(sample.values, [1.5, -2.0, 3.25])


def test_float64_array_keeps_double_precision() -> None:
    adapter = make_adapter(_spec("std_msgs/msg/Float64MultiArray", ("a", "b")))
    sample = adapter.adapt(Float64MultiArray(data=[0.1, 1e300]), NOW_NS)
    assert sample.values[0] == 0.1 and sample.values[1] == 1e300


def test_array_wrong_length_is_rejected() -> None:
    adapter = make_adapter(_spec("std_msgs/Float32MultiArray", ("a", "b", "c")))
    with pytest.raises(MessageError, match=r"'s': data has 2 values; expected 3"):
        adapter.adapt(Float32MultiArray(data=[1.0, 2.0]), NOW_NS)


def test_array_empty_is_rejected() -> None:
    adapter = make_adapter(_spec("std_msgs/Float32MultiArray", ("a",)))
    with pytest.raises(MessageError, match=r"data is empty; expected 1 values"):
        adapter.adapt(Float32MultiArray(), NOW_NS)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_array_non_finite_is_rejected_naming_the_channel(bad: float) -> None:
    adapter = make_adapter(_spec("std_msgs/Float64MultiArray", ("a", "b")))
    with pytest.raises(MessageError, match=r"non-finite value \(NaN/Inf\) in channels \['b'\]"):
        adapter.adapt(Float64MultiArray(data=[1.0, bad]), NOW_NS)


class _NoConversion:
    """A sequence that reports a huge length and fails if anyone reads its items."""

    def __len__(self) -> int:
        return 10_000_000

    def __iter__(self):
        raise AssertionError("oversize data was converted before the size check")

    def __getitem__(self, index):
        raise AssertionError("oversize data was converted before the size check")


class _FakeArray:
    """A message with only a `data` field."""

    def __init__(self, data) -> None:
        self.data = data


def test_oversize_array_is_rejected_before_any_conversion() -> None:
    adapter = make_adapter(_spec("std_msgs/Float32MultiArray", ("a",)), max_array_length=100)
    with pytest.raises(MessageError, match=r"10000000 elements, over the limit of 100"):
        adapter.adapt(_FakeArray(_NoConversion()), NOW_NS)


def test_real_oversize_array_message_is_rejected() -> None:
    adapter = make_adapter(_spec("std_msgs/Float32MultiArray", ("a", "b")), max_array_length=8)
    with pytest.raises(MessageError, match=r"over the limit of 8"):
        adapter.adapt(Float32MultiArray(data=[0.0] * 9), NOW_NS)


def test_joint_state_picks_values_by_name_from_the_configured_field() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x", "y", "z"), field="velocity"))
    assert isinstance(adapter, JointStateAdapter)
    msg = _joint_state(
        ["z", "x", "y"], stamp_ns=NOW_NS - 123, position=[9, 9, 9], velocity=[3.0, 1.0, 2.0]
    )
    sample = adapter.adapt(msg, NOW_NS)
    assert sample.stamp_ns == NOW_NS - 123
    np.testing.assert_array_equal(sample.values, [1.0, 2.0, 3.0])
    # A second message with another order must not reuse the cached order.
    sample = adapter.adapt(_joint_state(["x", "y", "z"], velocity=[1.0, 2.0, 3.0]), NOW_NS)
    np.testing.assert_array_equal(sample.values, [1.0, 2.0, 3.0])


def test_joint_state_unknown_and_missing_names_are_listed() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x", "y")))
    msg = _joint_state(["x", "q"], position=[1.0, 2.0])
    with pytest.raises(MessageError, match=r"unknown \['q'\], missing \['y'\]"):
        adapter.adapt(msg, NOW_NS)


def test_joint_state_duplicate_names_are_rejected() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x", "y")))
    with pytest.raises(MessageError, match=r"duplicate names"):
        adapter.adapt(_joint_state(["x", "x"], position=[1.0, 2.0]), NOW_NS)


def test_joint_state_field_shorter_than_names_is_rejected() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x", "y"), field="effort"))
    msg = _joint_state(["x", "y"], position=[1.0, 2.0], effort=[1.0])
    with pytest.raises(MessageError, match=r"effort has 1 values; expected 2"):
        adapter.adapt(msg, NOW_NS)
    with pytest.raises(MessageError, match=r"effort is empty"):
        adapter.adapt(_joint_state(["x", "y"], position=[1.0, 2.0]), NOW_NS)


def test_joint_state_non_finite_is_rejected() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x", "y")))
    with pytest.raises(MessageError, match=r"channels \['y'\]"):
        adapter.adapt(_joint_state(["y", "x"], position=[math.nan, 0.0]), NOW_NS)


def test_joint_state_zero_stamp_is_rejected() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x",)))
    with pytest.raises(MessageError, match=r"header stamp is 0 ns; expected a positive time"):
        adapter.adapt(_joint_state(["x"], stamp_ns=0, position=[1.0]), NOW_NS)


def test_far_future_stamp_is_rejected_and_near_future_accepted() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x",)), max_future_ns=2 * S)
    near = _joint_state(["x"], stamp_ns=NOW_NS + 2 * S, position=[1.0])
    assert adapter.adapt(near, NOW_NS).stamp_ns == NOW_NS + 2 * S
    far = _joint_state(["x"], stamp_ns=NOW_NS + 3 * S, position=[1.0])
    with pytest.raises(MessageError, match=r"3\.000 s ahead of the node clock; at most 2\.000"):
        adapter.adapt(far, NOW_NS)


def test_joint_state_oversize_names_rejected_before_conversion() -> None:
    adapter = make_adapter(_spec("sensor_msgs/JointState", ("x",)), max_array_length=4)
    msg = _joint_state([f"j{i}" for i in range(5)], position=[0.0] * 5)
    with pytest.raises(MessageError, match=r"name has 5 elements, over the limit of 4"):
        adapter.adapt(msg, NOW_NS)


def test_imu_reads_named_vector_components() -> None:
    channels = ("orientation.w", "angular_velocity.z", "linear_acceleration.y")
    adapter = make_adapter(_spec("sensor_msgs/msg/Imu", channels))
    assert isinstance(adapter, ImuAdapter)
    msg = Imu()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 1_700_000_000, 5
    msg.orientation.w = 0.5
    msg.angular_velocity.z = -1.25
    msg.linear_acceleration.y = 9.81
    sample = adapter.adapt(msg, NOW_NS)
    assert sample.stamp_ns == NOW_NS + 5
    np.testing.assert_array_equal(sample.values, [0.5, -1.25, 9.81])


def test_imu_nan_and_zero_stamp_are_rejected() -> None:
    adapter = make_adapter(_spec("sensor_msgs/Imu", ("linear_acceleration.x",)))
    msg = Imu()
    with pytest.raises(MessageError, match=r"header stamp is 0 ns"):
        adapter.adapt(msg, NOW_NS)
    msg.header.stamp.sec = 1_700_000_000
    msg.linear_acceleration.x = math.nan
    with pytest.raises(MessageError, match=r"\['linear_acceleration.x'\]"):
        adapter.adapt(msg, NOW_NS)


def test_imu_unknown_channel_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\['orientation.q'\] are not Imu channels"):
        ImuAdapter("s", ("orientation.q",), None)  # type: ignore[arg-type]


def test_unsupported_type_and_bad_limits_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"'std_msgs/srv/Trigger' is not supported"):
        make_adapter(_spec("std_msgs/srv/Trigger", ("a",)))
    with pytest.raises(ConfigError, match=r"max_array_length must be >= 1"):
        make_adapter(_spec("std_msgs/Float32MultiArray", ("a",)), max_array_length=0)
    with pytest.raises(ConfigError, match=r"JointState field 'torque' is not one of"):
        make_adapter(_spec("sensor_msgs/JointState", ("a",), field="torque"))


def test_stamp_to_ns() -> None:
    msg = JointState()
    msg.header.stamp.sec, msg.header.stamp.nanosec = 3, 999_999_999
    assert stamp_to_ns(msg.header.stamp) == 3_999_999_999


def _driver_spec(**options: object) -> StreamSpec:
    return StreamSpec("s", "/s", "sensor_msgs/msg/JointState", ("x", "y"), **options)


def test_extra_joint_state_names_are_ignored_and_counted_by_default() -> None:
    adapter = make_adapter(_driver_spec())
    msg = _joint_state(["arm_1", "y", "arm_2", "x"], position=[7.0, 2.0, 8.0, 1.0])
    sample = adapter.adapt(msg, NOW_NS)
    np.testing.assert_array_equal(sample.values, [1.0, 2.0])
    assert sample.ignored_names == 2
    assert adapter.adapt(_joint_state(["x", "y"], position=[1, 2]), NOW_NS).ignored_names == 0


def test_extra_names_are_still_checked_for_missing_channels() -> None:
    adapter = make_adapter(_driver_spec())
    with pytest.raises(MessageError, match=r"unknown \['q', 'r'\], missing \['y'\]"):
        adapter.adapt(_joint_state(["x", "q", "r"], position=[1, 2, 3]), NOW_NS)
    with pytest.raises(MessageError, match=r"name has 1 values; expected at least 2"):
        adapter.adapt(_joint_state(["x"], position=[1]), NOW_NS)


def test_extra_names_reject_refuses_a_larger_message() -> None:
    adapter = make_adapter(_driver_spec(extra_names="reject"))
    with pytest.raises(MessageError, match=r"name has 3 values; expected 2"):
        adapter.adapt(_joint_state(["x", "y", "q"], position=[1, 2, 3]), NOW_NS)
    with pytest.raises(MessageError, match=r"unknown \['q'\], missing \['y'\] "
                                           r"\(extra_names reject\)"):
        adapter.adapt(_joint_state(["x", "q"], position=[1, 2]), NOW_NS)


def test_stamp_source_receipt_takes_zero_stamps_and_leaves_the_stamp_to_the_ingest() -> None:
    joints = make_adapter(_driver_spec(stamp_source="receipt"))
    sample = joints.adapt(_joint_state(["x", "y"], stamp_ns=0, position=[1, 2]), NOW_NS)
    assert sample.stamp_ns is None and not joints.stamped
    imu = make_adapter(StreamSpec("i", "/i", "sensor_msgs/msg/Imu", ("angular_velocity.z",),
                                  stamp_source="receipt"))
    assert imu.adapt(Imu(), NOW_NS).stamp_ns is None
    with pytest.raises(MessageError, match=r"header stamp is 0 ns"):
        make_adapter(_driver_spec()).adapt(_joint_state(["x", "y"], stamp_ns=0,
                                                        position=[1, 2]), NOW_NS)


def _wrench(stamp_ns: int = NOW_NS) -> WrenchStamped:
    msg = WrenchStamped()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)
    msg.wrench.force.x, msg.wrench.torque.z = 12.5, -0.25
    return msg


def test_a_stamped_type_is_read_by_field_paths() -> None:
    adapter = make_adapter(_spec("geometry_msgs/WrenchStamped",
                                 ("wrench.torque.z", "wrench.force.x")))
    assert isinstance(adapter, FieldPathAdapter) and adapter.stamped
    sample = adapter.adapt(_wrench(NOW_NS + 7), NOW_NS)
    assert sample.stamp_ns == NOW_NS + 7
    np.testing.assert_array_equal(sample.values, [-0.25, 12.5])
    vector = Vector3Stamped()
    vector.header.stamp.sec, vector.vector.z = 1_700_000_000, 9.81
    accel = make_adapter(_spec("geometry_msgs/msg/Vector3Stamped", ("vector.z",)))
    np.testing.assert_array_equal(accel.adapt(vector, NOW_NS).values, [9.81])


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_stamped_type_non_finite_value_is_malformed(bad: float) -> None:
    msg = _wrench()
    msg.wrench.force.x = bad
    adapter = make_adapter(_spec("geometry_msgs/msg/WrenchStamped", ("wrench.force.x",)))
    with pytest.raises(MessageError, match=r"non-finite value .* \['wrench.force.x'\]"):
        adapter.adapt(msg, NOW_NS)


def test_a_stamped_type_zero_stamp_follows_stamp_source() -> None:
    spec = _spec("geometry_msgs/msg/WrenchStamped", ("wrench.force.x",))
    with pytest.raises(MessageError, match=r"header stamp is 0 ns"):
        make_adapter(spec).adapt(_wrench(0), NOW_NS)
    receipt = make_adapter(StreamSpec("s", "/s", spec.msg_type, spec.channels,
                                      stamp_source="receipt"))
    assert not receipt.stamped and receipt.adapt(_wrench(0), NOW_NS).stamp_ns is None


def test_a_message_without_the_path_is_malformed_not_a_crash() -> None:
    adapter = make_adapter(_spec("geometry_msgs/msg/WrenchStamped", ("wrench.force.q",)))
    with pytest.raises(MessageError, match=r"no numeric field 'wrench.force.q' in WrenchStamped"):
        adapter.adapt(_wrench(), NOW_NS)
    frame = make_adapter(_spec("geometry_msgs/msg/WrenchStamped", ("header.frame_id",)))
    with pytest.raises(MessageError, match=r"no numeric field 'header.frame_id'"):
        frame.adapt(_wrench(), NOW_NS)
