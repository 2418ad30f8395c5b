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

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Float32MultiArray, Float64MultiArray

from streaming_gcode.core.errors import MessageError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout, StreamSpec
from streaming_gcode.ingestion.adapters import make_adapter
from streaming_gcode.ingestion.stream_ingest import Outcome, StreamIngest

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
