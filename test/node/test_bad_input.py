# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bad input through adapters, aligner and ring buffer: refused, counted, never corrupting.

`test_ingest.py` feeds one random JointState and one Float32MultiArray; here
random *sequences* of every supported message type (Float32MultiArray,
Float64MultiArray, JointState, Imu), valid and invalid alike, arrive with a
node clock that also jumps back, and the buffer's invariants are checked after
every step. Plus the bad-input cases of the reliability spec that the adapter
tests do not cover: categorical codes outside the vocabulary, zero and
far-future stamps on every stamped type, an oversize JointState field.
"""

from __future__ import annotations

import copy

from geometry_msgs.msg import WrenchStamped
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float32MultiArray, Float64MultiArray

from streaming_gcode.core.errors import ConfigError, MessageError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import StreamSpec
from streaming_gcode.ingestion.adapters import (
    make_adapter, RefusedMessage, SERIALIZED_OVERHEAD_BYTES, serialized_size_bound,
)
from streaming_gcode.ingestion.stream_ingest import Outcome, StreamIngest
from streaming_gcode.node.log_throttle import (
    LogThrottle, MAX_KINDS_PER_STREAM, OTHER_PROBLEM, problem_kind,
)
from streaming_gcode.node.raw_messages import RawMessageDecoder

MS = 1_000_000
S = 1_000_000_000
T0 = 1_700_000_000 * S
CAPACITY = 12
MAX_LENGTH = 16
VOCAB = [0, 1, 2]
JS, IMU, F32, F64 = range(4)


def _layout() -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["js", "imu", "f32", "f64"],
        "frame_clock": "js",
        "sample_rate_hz": 10.0,
        "max_staleness_s": 0.3,
        "stale_policy": "zero_fill",
        "alignment_timeout_s": 0.05,
        "streams.js.topic": "js", "streams.js.type": "sensor_msgs/msg/JointState",
        "streams.js.channels": ["x", "y"],
        "streams.js.extra_names": "reject",   # exact names: the tightest size bound
        "streams.imu.topic": "imu", "streams.imu.type": "sensor_msgs/msg/Imu",
        "streams.imu.channels": ["angular_velocity.z", "linear_acceleration.x"],
        "streams.f32.topic": "f32", "streams.f32.type": "std_msgs/msg/Float32MultiArray",
        "streams.f32.channels": ["a", "mode"],
        "streams.f64.topic": "f64", "streams.f64.type": "std_msgs/msg/Float64MultiArray",
        "streams.f64.channels": ["b"],
    })


def _ingest() -> StreamIngest:
    layout = _layout()
    fmap = FeatureMap.build(layout, ["x", "y", "angular_velocity.z", "linear_acceleration.x",
                                     "a", "b"], ["mode"], {"mode": VOCAB})
    return StreamIngest(layout, fmap, CAPACITY, max_array_length=MAX_LENGTH, max_future_ns=S)


def _stamp(msg, stamp_ns: int) -> None:
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)


def _joint(stamp_ns: int, names=("x", "y"), position=(1.0, 2.0)) -> JointState:
    msg = JointState(name=list(names), position=list(position))
    _stamp(msg, stamp_ns)
    return msg


def _imu(stamp_ns: int, z: float = 0.5, x: float = 9.8) -> Imu:
    msg = Imu()
    _stamp(msg, stamp_ns)
    msg.angular_velocity.z, msg.linear_acceleration.x = z, x
    return msg


def _check_buffer(ingest: StreamIngest) -> None:
    """Check what the model may read: bounded, ordered, finite, indices in range."""
    buffer = ingest.buffer
    assert 0 <= len(buffer) <= CAPACITY
    if not len(buffer):
        return
    window = buffer.window(len(buffer))
    stamps = np.asarray(window.stamps)
    assert (np.diff(stamps) > 0).all(), stamps
    assert np.isfinite(window.continuous).all()
    assert window.continuous.shape == (len(buffer), 6)
    assert ((window.categorical >= 0) & (window.categorical <= len(VOCAB))).all()
    assert window.degraded.dtype == np.bool_


def _check_counts(ingest: StreamIngest, delivered: int) -> None:
    total = ingest.drops.totals()
    assert total.received == delivered
    assert (total.accepted + total.malformed + total.late + total.out_of_order
            + total.before_clock) == delivered


_value = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64),
                   st.integers(-5, 5).map(float))
_names = st.lists(st.sampled_from(["x", "y", "z", "", "x "]), max_size=4)
_stamp_offset = st.one_of(st.integers(-2 * S, 2 * S), st.just(0),
                          st.sampled_from([-T0, -T0 - 1, 10 * S, 10**18]))


@st.composite
def _message(draw, now_ns: int) -> tuple[int, object]:
    """One message of a random supported type, valid or not, stamped near `now_ns`."""
    kind = draw(st.sampled_from([JS, IMU, F32, F64]))
    stamp = max(0, now_ns + draw(_stamp_offset))
    if kind == JS:
        names = draw(st.one_of(st.just(["x", "y"]), st.just(["y", "x"]), _names))
        length = draw(st.one_of(st.just(len(names)), st.integers(0, MAX_LENGTH + 2)))
        position = draw(st.lists(_value, min_size=length, max_size=length))
        return kind, _joint(stamp, names, position)
    if kind == IMU:
        return kind, _imu(stamp, draw(_value), draw(_value))
    length = draw(st.one_of(st.just(2 if kind == F32 else 1), st.integers(0, MAX_LENGTH + 2)))
    if kind == F32:
        data = draw(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True),
                             min_size=length, max_size=length))
        return kind, Float32MultiArray(data=data)
    data = draw(st.lists(_value, min_size=length, max_size=length))
    return kind, Float64MultiArray(data=data)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_messages_of_every_type_never_raise_nor_corrupt_the_buffer(data) -> None:
    ingest = _ingest()
    now = T0
    delivered = 0
    frames_seen = 0
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        step = data.draw(st.sampled_from(["message", "message", "message", "tick", "jump"]))
        if step == "jump":   # the node clock goes back (sim time restarted) or leaps ahead
            now = max(1, now + data.draw(st.sampled_from([-5 * S, -S, -1, 3 * S])))
            continue
        now += data.draw(st.integers(0, 200 * MS))
        if step == "tick":
            assert ingest.advance(now) >= 0
        else:
            index, msg = data.draw(_message(now))
            sequence = data.draw(st.one_of(st.none(), st.integers(0, 2**40)))
            result = ingest.on_message(index, msg, now, b"pub", sequence)
            delivered += 1
            assert result.outcome in Outcome and result.lost_before >= 0
            assert (result.outcome is Outcome.ACCEPTED) == (result.reason == "")
        _check_counts(ingest, delivered)
        _check_buffer(ingest)
        counters = ingest.aligner.counters
        assert counters.frames >= frames_seen
        frames_seen = counters.frames
    summary = ingest.summary()
    assert summary["received"] == delivered and summary["frames"] == frames_seen


def test_categorical_codes_outside_the_vocabulary_become_unknown_and_are_counted() -> None:
    ingest = _ingest()
    for k, code in enumerate([1.0, 7.0, -3.0, 1e9, 2.0, 0.5]):
        t = T0 + k * 100 * MS
        ingest.on_message(IMU, _imu(t), t)
        ingest.on_message(F64, Float64MultiArray(data=[float(k)]), t)
        assert ingest.on_message(F32, Float32MultiArray(data=[0.0, code]), t).outcome \
            is Outcome.ACCEPTED
        ingest.on_message(JS, _joint(t), t + MS)
    ingest.advance(T0 + S)
    window = ingest.buffer.window(len(ingest.buffer))
    # code -> index: 0 -> 1, 1 -> 2, 2 -> 3; anything else (0.5 truncates to 0) -> 0
    assert window.categorical[:, 0].tolist() == [2, 0, 0, 0, 3, 1]
    assert ingest.unknown_categorical() == (3, 3)
    assert ingest.unknown_categorical() == (3, 0)        # "recent" restarts per report
    assert ingest.drops.totals().malformed == 0


@pytest.mark.parametrize("make", [_joint, _imu], ids=["JointState", "Imu"])
@pytest.mark.parametrize("stamp,why", [
    (0, "header stamp is 0 ns; expected a positive time"),
    (T0 + 3600 * S, "3600.000 s ahead of the node clock; at most 1.000 s"),
])
def test_zero_and_far_future_stamps_are_refused_and_counted(make, stamp, why) -> None:
    ingest = _ingest()
    index = JS if make is _joint else IMU
    result = ingest.on_message(index, make(stamp), T0)
    assert result.outcome is Outcome.MALFORMED and why in result.reason
    assert ingest.drops.counters(ingest.layout.streams[index].name).malformed == 1
    assert len(ingest.buffer) == 0


class _Unconvertible:
    """A huge sequence that fails if anything tries to read it."""

    def __len__(self) -> int:
        return 50_000_000

    def __iter__(self):
        raise AssertionError("converted before the size check")

    def __getitem__(self, item):
        raise AssertionError("converted before the size check")


class _HugeJointState:
    """JointState-shaped: valid header and names, an enormous `position`."""

    def __init__(self) -> None:
        self.header = _joint(T0).header
        self.name = ["x", "y"]
        self.position = _Unconvertible()


def test_enormous_joint_state_field_is_refused_before_conversion() -> None:
    adapter = make_adapter(StreamSpec("js", "/js", "sensor_msgs/msg/JointState", ("x", "y")),
                           max_array_length=MAX_LENGTH)
    with pytest.raises(MessageError, match="position has 50000000 elements, over the limit"):
        adapter.adapt(_HugeJointState(), T0)


def test_enormous_names_and_arrays_are_refused_through_ingest_and_counted() -> None:
    ingest = _ingest()
    huge_names = _joint(T0, names=[f"n{i}" for i in range(MAX_LENGTH + 1)],
                        position=[0.0] * (MAX_LENGTH + 1))
    outcomes = [ingest.on_message(JS, huge_names, T0).outcome,
                ingest.on_message(F64, Float64MultiArray(data=[0.0] * 100_000), T0).outcome]
    assert outcomes == [Outcome.MALFORMED, Outcome.MALFORMED]
    assert ingest.drops.totals().malformed == 2


def test_finite_values_beyond_the_frames_float32_range_are_refused() -> None:
    ingest = _ingest()
    result = ingest.on_message(F64, Float64MultiArray(data=[1e300]), T0)
    assert result.outcome is Outcome.MALFORMED and "beyond the float32 range" in result.reason
    assert ingest.drops.counters("f64").malformed == 1


@pytest.mark.parametrize("with_clock", [False, True])
def test_a_time_read_before_the_lock_is_not_a_clock_jump_when_the_clock_is_given(
        with_clock) -> None:
    """A tick reads `now`, then waits for the lock while ingestion moves time on."""
    current = [T0]
    layout = _layout()
    fmap = FeatureMap.build(layout, ["x", "y", "angular_velocity.z", "linear_acceleration.x",
                                     "a", "b"], ["mode"], {"mode": VOCAB})
    ingest = StreamIngest(layout, fmap, CAPACITY, clock=(lambda: current[0]) if with_clock
                          else None)
    stale = T0
    for k in range(1, 40):
        current[0] = T0 + k * 100 * MS
        ingest.on_message(JS, _joint(current[0]), current[0])
    ingest.advance(stale)                   # read 3.9 s ago, before waiting for the lock
    resets = ingest.aligner.counters.resets
    assert resets == (0 if with_clock else 1)
    assert (len(ingest.buffer) > 0) == with_clock


# -- oversized messages: refused from their serialised size, before deserialising --------

MILLION = 1_000_000


def test_the_size_bound_admits_every_acceptable_message_and_refuses_a_million_elements() -> None:
    layout = _layout()
    largest = {
        JS: JointState(name=["x", "y"], position=[1.0, 2.0], velocity=[0.0, 0.0],
                       effort=[0.0, 0.0]),
        IMU: Imu(),
        F32: Float32MultiArray(data=[1.0, 2.0]),
        F64: Float64MultiArray(data=[1.0]),
    }
    for index, msg in largest.items():
        spec = layout.streams[index]
        if hasattr(msg, "header"):
            msg.header.frame_id = "f" * 1000
        bound = serialized_size_bound(spec, MAX_LENGTH)
        assert len(serialize_message(msg)) <= bound < SERIALIZED_OVERHEAD_BYTES + 1024, spec.name
    spec = layout.streams[JS]
    huge = JointState(name=["x", "y"], position=[0.0] * MILLION)
    assert len(serialize_message(huge)) > 100 * serialized_size_bound(spec, MAX_LENGTH)


def test_extra_names_ignore_admits_a_driver_with_every_joint_and_refuses_a_million() -> None:
    spec = StreamSpec("js", "js", "sensor_msgs/msg/JointState", ("x", "y"))
    assert spec.extra_names == "ignore"
    names = ["x", "y"] + [f"arm_joint_{i}_" + "n" * 200 for i in range(MAX_LENGTH - 2)]
    driver = JointState(name=names, position=[0.0] * MAX_LENGTH, velocity=[0.0] * MAX_LENGTH,
                        effort=[0.0] * MAX_LENGTH)
    driver.header.frame_id = "f" * 1000
    assert len(serialize_message(driver)) <= serialized_size_bound(spec, MAX_LENGTH)
    huge = JointState(name=["x", "y"], position=[0.0] * MILLION)
    assert len(serialize_message(huge)) > 100 * serialized_size_bound(spec, MAX_LENGTH)


def test_max_array_length_caps_the_bound_below_the_channel_count() -> None:
    spec = StreamSpec("wide", "/w", "std_msgs/msg/Float64MultiArray",
                      tuple(f"c{i}" for i in range(100)))
    assert serialized_size_bound(spec, 10) == SERIALIZED_OVERHEAD_BYTES + 8 * 10
    assert serialized_size_bound(spec, 4096) == SERIALIZED_OVERHEAD_BYTES + 8 * 100


def test_an_oversized_message_is_counted_malformed_and_other_streams_lose_nothing() -> None:
    ingest = _ingest()
    layout = _layout()
    decoders = [RawMessageDecoder(spec, MAX_LENGTH) for spec in layout.streams]
    huge = serialize_message(Float32MultiArray(data=[0.5] * MILLION))
    result = ingest.on_message(F32, decoders[F32].decode(huge), T0)
    assert result.outcome is Outcome.MALFORMED
    assert "serialised message is 4000" in result.reason
    assert "refused before deserialising" in result.reason
    good = decoders[JS].decode(serialize_message(_joint(T0)))
    assert isinstance(good, JointState) and list(good.position) == [1.0, 2.0]
    assert ingest.on_message(JS, good, T0).outcome is Outcome.ACCEPTED
    assert ingest.drops.counters("f32").malformed == 1
    assert ingest.drops.counters("js").malformed == 0
    assert ingest.drops.counters("js").accepted == 1


def test_a_refused_message_refuses_every_field_but_copies_like_an_object() -> None:
    refused = RefusedMessage("stream 'x': too large")
    with pytest.raises(MessageError, match="too large"):
        refused.header  # noqa: B018 - the read is the test
    assert copy.copy(refused).reason == refused.reason


def test_a_deserialised_message_passes_through_and_corrupt_bytes_are_refused() -> None:
    decoder = RawMessageDecoder(_layout().streams[JS], MAX_LENGTH)
    msg = _joint(T0)
    assert decoder.decode(msg) is msg
    refused = decoder.decode(b"\x00\x01\x00\x00\xff\xff\xff\x7f")
    assert isinstance(refused, RefusedMessage)
    assert "cannot be deserialised" in refused.reason


# -- throttled warnings: keyed by stream, outcome and problem ----------------------------

def test_problem_kind_keeps_the_wording_and_drops_the_values() -> None:
    assert problem_kind("stream 'f32': data has 5 values; expected 2") == (
        "data has # values; expected #")
    assert problem_kind("stream 'f32': data has 9 values; expected 2") == (
        problem_kind("stream 'f32': data has 5 values; expected 2"))
    assert problem_kind("stream 'js': non-finite value (NaN/Inf) in channels ['x']") == (
        "non-finite value")
    assert problem_kind("stream 'js': header stamp is 9.000 s ahead of the node clock; at "
                        "most 5.000 s is accepted") == (
        "header stamp is # s ahead of the node clock; at most # s is accepted")


def test_a_flood_of_one_problem_never_hides_another_problem_or_another_stream() -> None:
    throttle = LogThrottle()
    malformed = "malformed"
    flood = [throttle.key("f32", malformed, f"stream 'f32': data has {n} values; expected 2")
             for n in range(3, 50)]
    assert len(set(flood)) == 1
    assert throttle.allow(flood[0], 60.0) == 0
    assert all(throttle.allow(key, 60.0) is None for key in flood[1:])
    other_problem = throttle.key("f32", malformed,
                                 "stream 'f32': non-finite value (NaN/Inf) in channels ['a']")
    other_stream = throttle.key("js", malformed, "stream 'js': data has 7 values; expected 2")
    late = throttle.key("f32", "late", "stream 'f32': sample stamped 5 ns is behind ...")
    assert throttle.allow(other_problem, 60.0) == 0
    assert throttle.allow(other_stream, 60.0) == 0
    assert throttle.allow(late, 60.0) == 0
    assert throttle.allow(flood[0], 0.0) == len(flood) - 1   # the suppressed are counted


def test_problem_keys_per_stream_are_capped() -> None:
    throttle = LogThrottle()
    keys = {throttle.key("f32", "internal", "failed " + "x" * n)
            for n in range(3 * MAX_KINDS_PER_STREAM)}
    assert len(keys) == MAX_KINDS_PER_STREAM + 1
    assert throttle.key("f32", "internal", "new") == ("f32", "internal", OTHER_PROBLEM)
    assert throttle.key("f32", "internal", "failed x") == ("f32", "internal", "failed x")
    assert throttle.key("js", "internal", "new")[2] == "new"   # other streams keep their own


def test_a_stamped_stream_decoder_checks_its_paths_and_bounds_its_size() -> None:
    spec = StreamSpec("ft", "/ft", "geometry_msgs/msg/WrenchStamped", ("wrench.force.x",))
    decoder = RawMessageDecoder(spec, MAX_LENGTH)
    msg = WrenchStamped()
    msg.header.frame_id = "f" * 1000
    msg.wrench.force.x = 3.5
    assert decoder.decode(serialize_message(msg)).wrench.force.x == 3.5
    assert isinstance(decoder.decode(b"\0" * (decoder.bound + 1)), RefusedMessage)
    bad = StreamSpec("ft", "/ft", spec.msg_type, ("wrench.force.q",))
    with pytest.raises(ConfigError, match=r"'wrench.force.q' has no field 'q'"):
        RawMessageDecoder(bad, MAX_LENGTH)
