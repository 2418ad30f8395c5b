# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""High-rate streams: aggregates against numpy, batches stamped, bad layouts malformed."""

from __future__ import annotations

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray, Float64MultiArray, MultiArrayDimension

from streaming_gcode.core.errors import ConfigError, MessageError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import AGGREGATES, StreamSpec
from streaming_gcode.ingestion.adapters import (
    ArrayAdapter, make_adapter, SERIALIZED_OVERHEAD_BYTES, serialized_size_bound,
)
from streaming_gcode.ingestion.aggregation import (
    AGGREGATE_FUNCTIONS, aggregate_samples, batch_stamps, FLOAT32_MAX, StreamAggregator,
)
from streaming_gcode.ingestion.alignment import align_samples
from streaming_gcode.ingestion.batch_adapter import BatchArrayAdapter
from streaming_gcode.ingestion.stream_ingest import Outcome, StreamIngest

MS = 1_000_000
S = 1_000_000_000
T0 = 1_700_000_000 * S
SENSOR_HZ = 1000.0
BATCH = 50                      # samples a message: 20 messages/s
FRAME_MS = 100                  # frame clock at 10 Hz
NUMPY = {
    "newest": lambda v: v[-1],
    "mean": lambda v: v.mean(axis=0),
    "rms": lambda v: np.sqrt((v ** 2).mean(axis=0)),
    "min": lambda v: v.min(axis=0),
    "max": lambda v: v.max(axis=0),
    "peak_to_peak": lambda v: v.max(axis=0) - v.min(axis=0),
}


def _layout(aggregate: str = "rms", rate: float = SENSOR_HZ, policy: str = "hold_last",
            vib_type: str = "std_msgs/Float32MultiArray") -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["js", "vib"], "frame_clock": "js", "sample_rate_hz": 10.0,
        "max_staleness_s": 0.5, "stale_policy": policy, "alignment_timeout_s": 0.05,
        "streams.js.topic": "js", "streams.js.type": "sensor_msgs/JointState",
        "streams.js.channels": ["x"],
        "streams.vib.topic": "vib", "streams.vib.type": vib_type,
        "streams.vib.channels": ["vx", "vy"], "streams.vib.aggregate": aggregate,
        "streams.vib.sample_rate_hz": rate,
    })


def _ingest(layout: StreamLayout) -> StreamIngest:
    fmap = FeatureMap.build(layout, ["x", "vx", "vy"])
    return StreamIngest(layout, fmap, 256, max_array_length=4096, max_future_ns=S)


def _dim(label: str, size: int, stride: int) -> MultiArrayDimension:
    return MultiArrayDimension(label=label, size=size, stride=stride)


def batch(values: np.ndarray, cls: type = Float32MultiArray) -> Float32MultiArray:
    """Return a dense row-major 2-D MultiArray: samples x channels."""
    rows, cols = values.shape
    msg = cls(data=values.ravel().tolist())
    msg.layout.dim = [_dim("samples", rows, rows * cols), _dim("channels", cols, cols)]
    return msg


def _joint(stamp_ns: int, x: float) -> JointState:
    msg = JointState(name=["x"], position=[x])
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)
    return msg


def _samples(n: int, seed: int = 3) -> np.ndarray:
    # float32-representable, so the message's float32 data loses nothing
    return np.random.default_rng(seed).normal(0.0, 2.0, (n, 2)).astype(np.float32) \
        .astype(np.float64)


def _run(ingest: StreamIngest, samples: np.ndarray, frames: int) -> list:
    """1 kHz samples (sample i stamped T0 + (i + 1) ms) in batches of 50; 10 Hz frame clock."""
    events = []
    for j in range(len(samples) // BATCH):
        end = T0 + (j + 1) * BATCH * MS
        events.append((end, 0, 1, samples[j * BATCH:(j + 1) * BATCH]))
    for k in range(1, frames + 1):
        events.append((T0 + k * FRAME_MS * MS, 1, 0, float(k)))
    recorded = []
    for now, _, index, payload in sorted(events, key=lambda e: e[:2]):
        msg = batch(payload) if index == 1 else _joint(now, payload)
        assert ingest.on_message(index, msg, now).outcome is Outcome.ACCEPTED
        recorded.append((index, now, payload if index == 1 else np.array([payload])))
    ingest.advance(now + S)
    return recorded


def _expected(kind: str, samples: np.ndarray, frames: int, staleness_ms: int = 500) -> list:
    stamps_ms = np.arange(1, len(samples) + 1)
    out = []
    for k in range(1, frames + 1):
        lo = max((k - 1) * FRAME_MS, k * FRAME_MS - staleness_ms - 1)
        chosen = samples[(stamps_ms > lo) & (stamps_ms <= k * FRAME_MS)]
        out.append(NUMPY[kind](chosen))
    return out


@pytest.mark.parametrize("kind", AGGREGATES)
def test_every_aggregate_equals_numpy_on_the_same_samples(kind: str) -> None:
    samples = _samples(37, seed=11)
    np.testing.assert_allclose(aggregate_samples(kind, samples), NUMPY[kind](samples),
                               rtol=1e-12)
    np.testing.assert_allclose(aggregate_samples(kind, samples[:1]), NUMPY[kind](samples[:1]))


def test_every_declared_aggregate_has_a_function_and_unknown_ones_are_refused() -> None:
    assert set(AGGREGATE_FUNCTIONS) == set(AGGREGATES) == set(NUMPY)
    with pytest.raises(ConfigError, match="'median' is not one of"):
        StreamAggregator("median")


def test_a_peak_to_peak_of_two_extremes_stays_inside_the_float32_range() -> None:
    extremes = np.array([[FLOAT32_MAX], [-FLOAT32_MAX]])
    assert aggregate_samples("peak_to_peak", extremes)[0] == FLOAT32_MAX


def test_batch_stamps_end_at_the_receipt_spaced_by_the_sample_period() -> None:
    np.testing.assert_array_equal(batch_stamps(10_000, 4, 1000), [7000, 8000, 9000, 10_000])


@pytest.mark.parametrize("kind", AGGREGATES)
def test_frames_of_a_batched_1khz_stream_are_its_aggregate_since_the_previous_frame(
        kind: str) -> None:
    layout = _layout(kind)
    ingest = _ingest(layout)
    samples = _samples(1000)
    recorded = _run(ingest, samples, frames=9)
    window = ingest.buffer.window(9)
    assert not window.degraded.any()
    np.testing.assert_array_equal(window.continuous[:, 0], np.arange(1, 10))
    np.testing.assert_allclose(window.continuous[:, 1:], _expected(kind, samples, 9),
                               rtol=1e-6, atol=1e-6)
    assert ingest.drops.counters("vib").accepted == 20
    # offline (bags, training) aligns the same samples to the same frames
    offline = align_samples(layout, ingest.feature_map, iter(recorded))
    np.testing.assert_array_equal(offline.continuous[:9], window.continuous)
    np.testing.assert_array_equal(offline.stamps[:9], window.stamps)


def test_float64_batches_work_the_same() -> None:
    ingest = _ingest(_layout("mean", vib_type="std_msgs/Float64MultiArray"))
    samples = _samples(BATCH)
    assert ingest.on_message(1, batch(samples, Float64MultiArray), T0 + BATCH * MS).outcome \
        is Outcome.ACCEPTED
    ingest.on_message(0, _joint(T0 + BATCH * MS, 1.0), T0 + BATCH * MS)
    ingest.advance(T0 + S)
    np.testing.assert_allclose(ingest.buffer.window(1).continuous[0, 1:], samples.mean(axis=0),
                               rtol=1e-6)


def test_a_batch_reaching_back_before_the_previous_one_is_moved_up_nothing_lost() -> None:
    """Receipt jitter: the second batch arrives 40 ms after the first, not 50."""
    ingest = _ingest(_layout("mean"))
    first, second = _samples(BATCH, seed=1), _samples(BATCH, seed=2)
    assert ingest.on_message(1, batch(first), T0 + 50 * MS).outcome is Outcome.ACCEPTED
    assert ingest.on_message(1, batch(second), T0 + 90 * MS).outcome is Outcome.ACCEPTED
    ingest.on_message(0, _joint(T0 + 100 * MS, 1.0), T0 + 100 * MS)
    ingest.advance(T0 + S)
    both = np.concatenate([first, second])
    np.testing.assert_allclose(ingest.buffer.window(1).continuous[0, 1:], both.mean(axis=0),
                               rtol=1e-6)


def test_a_frame_without_new_samples_holds_the_previous_value_then_goes_stale() -> None:
    """One batch, then silence: held while fresh, then stale (degraded) per the policy."""
    ingest = _ingest(_layout("max"))
    samples = _samples(BATCH)
    ingest.on_message(1, batch(samples), T0 + 50 * MS)
    for k in range(1, 9):   # frames at 100 .. 800 ms; the batch ends at 50 ms
        ingest.on_message(0, _joint(T0 + k * FRAME_MS * MS, float(k)), T0 + k * FRAME_MS * MS)
    ingest.advance(T0 + 5 * S)
    window = ingest.buffer.window(8)
    np.testing.assert_allclose(window.continuous[:, 1:],
                               np.tile(samples.max(axis=0), (8, 1)), rtol=1e-6)
    # 50 ms + max_staleness 500 ms: frames from 600 ms on are stale (held, flagged)
    np.testing.assert_array_equal(window.degraded, [False] * 5 + [True] * 3)
    assert ingest.drops.counters("vib").accepted == 1


def test_zero_fill_replaces_a_stale_aggregate_with_the_fill_value() -> None:
    ingest = _ingest(_layout("mean", policy="zero_fill"))
    ingest.on_message(1, batch(_samples(BATCH) + 5.0), T0 + 50 * MS)
    ingest.on_message(0, _joint(T0 + 900 * MS, 1.0), T0 + 900 * MS)
    ingest.advance(T0 + 5 * S)
    window = ingest.buffer.window(1)
    assert window.degraded[0]
    np.testing.assert_array_equal(window.continuous[0, 1:], [0.0, 0.0])


def test_a_first_frame_with_only_stale_samples_gets_the_fill_value_not_a_raw_sample() -> None:
    """hold_last has no aggregate to hold yet: one raw sample is not a peak_to_peak."""
    ingest = _ingest(_layout("peak_to_peak"))
    ingest.on_message(1, batch(_samples(BATCH) + 123.0), T0 + 50 * MS)
    ingest.on_message(0, _joint(T0 + 700 * MS, 1.0), T0 + 700 * MS)   # 650 ms > 500 ms stale
    ingest.advance(T0 + 5 * S)
    window = ingest.buffer.window(1)
    assert window.degraded[0]
    np.testing.assert_array_equal(window.continuous[0, 1:],
                                  ingest.aligner.feature_map.continuous_fill[1:])


def test_a_one_sample_stream_slower_than_the_frames_holds_its_aggregate() -> None:
    """An aggregated 1-D stream (no sample rate) at 5 Hz beside a 10 Hz frame clock."""
    layout = _layout("mean", rate=0.0)
    ingest = _ingest(layout)
    for k in range(1, 7):
        t = T0 + k * FRAME_MS * MS
        if k % 2:
            ingest.on_message(1, Float32MultiArray(data=[float(k), -float(k)]), t)
        ingest.on_message(0, _joint(t, float(k)), t)
    ingest.advance(T0 + 5 * S)
    window = ingest.buffer.window(6)
    np.testing.assert_array_equal(window.continuous[:, 1], [1, 1, 3, 3, 5, 5])
    assert not window.degraded.any()


def _bad_layouts() -> list[tuple[str, Float32MultiArray, str]]:
    good = _samples(BATCH)
    three = batch(good)
    three.layout.dim.append(_dim("extra", 1, 1))
    wide = batch(_samples(BATCH * 3).reshape(BATCH, 6)[:, :3].copy())
    short = batch(good)
    short.data = short.data[:-2]
    strided = batch(good)
    strided.layout.dim[1].stride = 4
    offset = batch(good)
    offset.layout.data_offset = 2
    one_d = Float32MultiArray(data=[1.0, 2.0])
    one_d.layout.dim = [_dim("channels", 3, 3)]
    nan = batch(good)
    nan.data[7] = float("nan")
    return [
        ("three dims", three, "layout has 3 dims; expected 2 (samples x channels)"),
        ("channels", wide, "layout 50 x 3 has 3 channels (dim[1]); expected 2"),
        ("length", short, "layout 50 x 2 does not match data of 98 values"),
        ("stride", strided, "layout 50 x 2 has strides 100, 4; expected 100, 2"),
        ("offset", offset, "layout.data_offset is 2; expected 0"),
        ("1-D dim", one_d, "layout dim[0].size 3 does not match data of 2 values"),
        ("non-finite", nan, "non-finite value (NaN/Inf) in channels ['vy']"),
    ]


@pytest.mark.parametrize("what,msg,reason", _bad_layouts(), ids=[c[0] for c in _bad_layouts()])
def test_a_bad_2d_layout_is_malformed_counted_and_costs_nothing_else(what, msg, reason) -> None:
    ingest = _ingest(_layout("mean"))
    result = ingest.on_message(1, msg, T0 + 50 * MS)
    assert result.outcome is Outcome.MALFORMED, what
    assert result.reason.startswith("stream 'vib': ")
    assert reason in result.reason, result.reason
    assert ingest.on_message(1, batch(_samples(BATCH)), T0 + 100 * MS).outcome \
        is Outcome.ACCEPTED
    counters = ingest.drops.counters("vib")
    assert (counters.malformed, counters.accepted) == (1, 1)


def test_a_batch_on_an_aggregated_stream_without_a_sample_rate_is_malformed() -> None:
    ingest = _ingest(_layout("mean", rate=0.0))
    result = ingest.on_message(1, batch(_samples(BATCH)), T0 + 50 * MS)
    assert result.outcome is Outcome.MALFORMED
    assert "layout 50 x 2 is a batch but the stream has no sample rate; expected " \
           "streams.vib.sample_rate_hz > 0" in result.reason


def test_a_batch_on_a_newest_stream_without_a_rate_says_how_to_take_batches() -> None:
    spec = StreamSpec("arr", "/arr", "std_msgs/msg/Float32MultiArray", ("a", "b"))
    adapter = make_adapter(spec)
    assert type(adapter) is ArrayAdapter   # `newest` streams keep the plain hot path
    hint = r"data has 100 values; expected 2 \(a 50 x 2 batch: set streams.arr.sample_rate_hz"
    with pytest.raises(MessageError, match=hint):
        adapter.adapt(batch(_samples(BATCH)), T0)


def test_batched_streams_get_the_batch_adapter_and_a_bound_for_the_whole_batch() -> None:
    spec = StreamSpec("vib", "/vib", "std_msgs/msg/Float32MultiArray", ("a", "b"),
                      aggregate="rms", sample_rate_hz=SENSOR_HZ)
    assert isinstance(make_adapter(spec, max_array_length=4096), BatchArrayAdapter)
    assert serialized_size_bound(spec, 4096) == SERIALIZED_OVERHEAD_BYTES + 4 * 4096
    plain = StreamSpec("arr", "/arr", "std_msgs/msg/Float32MultiArray", ("a", "b"))
    assert serialized_size_bound(plain, 4096) == SERIALIZED_OVERHEAD_BYTES + 4 * 2


def test_a_batch_over_max_array_length_is_malformed() -> None:
    spec = StreamSpec("vib", "/vib", "std_msgs/msg/Float32MultiArray", ("a", "b"),
                      sample_rate_hz=SENSOR_HZ)
    with pytest.raises(MessageError, match="data has 100 elements, over the limit of 64"):
        make_adapter(spec, max_array_length=64).adapt(batch(_samples(BATCH)), T0)


def test_a_batch_older_than_the_stream_is_out_of_order_and_one_behind_the_frames_is_late():
    ingest = _ingest(_layout("mean"))
    assert ingest.on_message(1, batch(_samples(BATCH)), T0 + 200 * MS).outcome \
        is Outcome.ACCEPTED
    assert ingest.aligner.push_batch(1, T0 + 100 * MS, _samples(BATCH)).value == "out_of_order"
    ingest.on_message(0, _joint(T0 + 200 * MS, 1.0), T0 + 200 * MS)
    ingest.advance(T0 + 300 * MS)
    assert ingest.aligner.watermark_ns == T0 + 200 * MS
    fresh = _ingest(_layout("mean"))
    fresh.aligner.push(0, T0 + 800 * MS, np.array([1.0]))
    fresh.aligner.flush()   # 650 ms after the batch's end: more than max_staleness (0.5 s)
    assert fresh.aligner.push_batch(1, T0 + 150 * MS, _samples(BATCH)).value == "late"
    counters = fresh.aligner.counters
    assert (counters.late[1], ingest.aligner.counters.out_of_order[1]) == (1, 1)


def test_a_batched_stream_resuming_after_a_silence_is_taken_again_not_dropped_as_late():
    """As for single samples (test_alignment.py): a batch behind the frame is taken.

    The clock finalised that frame at once (the stream was dead); the next frame
    waits for the stream again and aggregates only its own samples.
    """
    ingest = _ingest(_layout("max"))
    aligner = ingest.aligner
    aligner.push(0, T0 + 100 * MS, np.array([1.0]))
    aligner.push_batch(1, T0 + 100 * MS, _samples(BATCH))
    aligner.advance(T0 + 100 * MS)
    aligner.push(0, T0 + 2000 * MS, np.array([2.0]))    # after a silence: vib is dead
    aligner.advance(T0 + 2000 * MS)
    assert aligner.watermark_ns == T0 + 2000 * MS       # no wait for vib
    resumed = _samples(BATCH, seed=4)
    assert aligner.push_batch(1, T0 + 1990 * MS, resumed).value == "accepted"
    assert aligner.counters.late[1] == 0
    aligner.push(0, T0 + 2100 * MS, np.array([3.0]))
    aligner.advance(T0 + 2100 * MS)
    assert aligner.pending_frames == 1                  # waits for the revived stream
    following = _samples(BATCH, seed=5)
    assert aligner.push_batch(1, T0 + 2100 * MS, following).value == "accepted"
    aligner.advance(T0 + 2100 * MS)
    assert aligner.pending_frames == 0 and aligner.counters.late[1] == 0
    newest = ingest.buffer.window(1).continuous[0, 1:]   # the frame's own samples only
    np.testing.assert_allclose(newest, following.max(axis=0), rtol=1e-6)


def test_samples_of_a_batch_behind_the_newest_frame_are_left_out_the_rest_kept():
    ingest = _ingest(_layout("max"))
    ingest.aligner.push(0, T0 + 100 * MS, np.array([1.0]))
    ingest.aligner.flush()   # frame at 100 ms finalised without vib (stale: held fill)
    samples = _samples(BATCH)
    samples[:30] = 99.0      # stamped 71..100 ms: at or before the finalised frame
    assert ingest.aligner.push_batch(1, T0 + 120 * MS, samples).value == "accepted"
    ingest.aligner.push(0, T0 + 200 * MS, np.array([2.0]))
    ingest.aligner.flush()
    newest = ingest.buffer.window(1).continuous[0, 1:]
    np.testing.assert_allclose(newest, samples[30:].max(axis=0), rtol=1e-6)
    assert ingest.aligner.counters.left_out[1] == 30
    result = ingest.on_message(0, _joint(T0 + 300 * MS, 3.0), T0 + 300 * MS)   # syncs counts
    assert result.outcome is Outcome.ACCEPTED, result.reason
    stream = ingest.layout.streams[1].name
    assert ingest.drops.counters(stream).samples_left_out == 30
    assert ingest.drops.counters(stream).dropped == 0   # samples, not messages


def test_newest_streams_keep_the_plain_push_and_batched_ones_dispatch():
    ingest = _ingest(_layout("newest", rate=0.0))
    assert ingest._push[1] == ingest.aligner.push   # the hot path, unchanged
    batched = _ingest(_layout("newest"))
    assert batched._push[1] != batched.aligner.push
    assert batched.on_message(1, batch(_samples(BATCH)), T0 + 50 * MS).outcome \
        is Outcome.ACCEPTED
    batched.on_message(0, _joint(T0 + 50 * MS, 1.0), T0 + 50 * MS)
    batched.advance(T0 + S)
    np.testing.assert_allclose(batched.buffer.window(1).continuous[0, 1:],
                               _samples(BATCH)[-1], rtol=1e-6)


@pytest.mark.parametrize("aggregate, expected", [("max", True), ("newest", False)])
def test_aggregated_samples_overwritten_before_a_frame_took_them_are_counted(
        aggregate, expected):
    ingest = _ingest(_layout(aggregate))
    depth = ingest.aligner._histories[1].depth
    batches = depth // BATCH + 3          # no frame is finalised meanwhile: the ring overflows
    for k in range(batches):
        result = ingest.on_message(1, batch(_samples(BATCH, seed=k)), T0 + (k + 1) * BATCH * MS)
        assert result.outcome is Outcome.ACCEPTED
    stream = ingest.layout.streams[1].name
    overwritten = batches * BATCH - depth if expected else 0   # `newest` needs one sample
    assert ingest.drops.counters(stream).samples_overwritten == overwritten
    assert ingest.drops.counters(stream).dropped == 0
