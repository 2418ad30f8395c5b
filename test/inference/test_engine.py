# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""InferenceEngine on one machine (a batch of one): results against direct model calls."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.machines import SINGLE_MACHINE
from streaming_gcode.inference.backends import EXACT_BACKENDS, make_runner
from streaming_gcode.inference.engine import InferenceEngine, InferenceResult
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.model.network import build_model, ModelConfig

torch.set_num_threads(1)
WINDOW = 8
PERIOD = 50_000_000  # 20 Hz frames
T0 = 1_000_000_000_000
M = SINGLE_MACHINE
STEP_ATOL = 1e-5   # the engine vs the runner on the same frames (float32 rounding)


@pytest.fixture(scope="module")
def model():
    config = ModelConfig(n_continuous=3, categorical_sizes=[4], head_sizes={"command": 5, "x": 3},
                         d_model=8, num_layers=2, dropout=0.0, window=WINDOW)
    backbone, line_heads = build_model(config, seed=7)
    backbone.set_normalisation([1.0, -2.0, 0.0], [2.0, 1.0, 0.5])
    return backbone.eval(), line_heads.eval()


def _frames(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 4, size=(n, 1)))


def _fill(buffer: AlignedRingBuffer, cont, cat, start: int = 0, t0: int = T0,
          degraded=()) -> None:
    for i in range(len(cont)):
        buffer.append(t0 + (start + i) * PERIOD, cont[i], cat[i], (start + i) in degraded)


def _direct(model, cont, cat) -> dict[str, np.ndarray]:
    backbone, line_heads = model
    with torch.inference_mode():
        hidden = backbone(torch.from_numpy(cont)[None], torch.from_numpy(cat)[None])
        return {h: v[0, -1].numpy() for h, v in line_heads(hidden).items()}


def _engine(model, mode="full_window", capacity=32, backend="torch", threads=1,
            max_gap_ns=None) -> InferenceEngine:
    runner = make_runner(backend, model[0], model[1], threads)
    return InferenceEngine(runner, [M], WINDOW, capacity, 3, 1, mode=mode, max_gap_ns=max_gap_ns)


def _run(engine: InferenceEngine, buffer: AlignedRingBuffer) -> InferenceResult:
    """Prepare and infer one tick of the one machine."""
    return engine.infer(engine.prepare({M: buffer}))[M]


def _assert_logits(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert set(got) == set(expected)
    for head in expected:
        np.testing.assert_allclose(got[head], expected[head], rtol=1e-5, atol=1e-5)


def test_full_window_matches_the_model_on_the_newest_window(model) -> None:
    cont, cat = _frames(20)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model)
    _fill(buffer, cont[:5], cat[:5])
    assert engine.prepare({M: buffer}) is None  # still filling
    _fill(buffer, cont[5:20], cat[5:20], start=5)
    plans = engine.prepare({M: buffer})
    prepared = plans[M]
    assert len(prepared.frames) == WINDOW and prepared.from_zero_state
    assert prepared.newest_stamp_ns == T0 + 19 * PERIOD
    assert prepared.first_stamp_ns == T0 + 12 * PERIOD
    assert prepared.newest_sequence == 20
    result = engine.infer(plans)[M]
    assert result.prepared is prepared
    _assert_logits(result.logits, _direct(model, cont[12:20], cat[12:20]))
    assert engine.prepare({M: buffer}) is None  # nothing new: no second prediction


def test_full_window_input_is_preallocated(model) -> None:
    cont, cat = _frames(40, seed=1)
    buffer = AlignedRingBuffer(16, 3, 1)
    engine = _engine(model, capacity=16)
    inputs = (engine._stage_continuous, engine._stage_categorical, engine._batch_continuous,
              engine._batch_categorical)
    pointers = [a.__array_interface__["data"][0] for a in inputs]
    for i in range(40):
        _fill(buffer, cont[i:i + 1], cat[i:i + 1], start=i)
        plans = engine.prepare({M: buffer})
        if plans is not None:
            engine.infer(plans)
    inputs = (engine._stage_continuous, engine._stage_categorical, engine._batch_continuous,
              engine._batch_categorical)
    assert [a.__array_interface__["data"][0] for a in inputs] == pointers


def test_incremental_carries_state_across_ticks(model) -> None:
    cont, cat = _frames(30, seed=2)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model, mode="incremental")
    _fill(buffer, cont[:WINDOW], cat[:WINDOW])
    first = _run(engine, buffer)
    _assert_logits(first.logits, _direct(model, cont[:WINDOW], cat[:WINDOW]))
    end = WINDOW
    for step in (1, 3, 4, 2):
        _fill(buffer, cont[end:end + step], cat[end:end + step], start=end)
        end += step
        plans = engine.prepare({M: buffer})
        assert len(plans[M].frames) == step and not plans[M].from_zero_state
        result = engine.infer(plans)[M]
        # Same as running everything since the warm-up's first frame from zero state.
        _assert_logits(result.logits, _direct(model, cont[:end], cat[:end]))
    assert engine.state_resets == 0


class _CountingRunner:
    """A runner that records the frame counts it is called with, then runs the real one."""

    def __init__(self, runner) -> None:
        self.runner, self.calls = runner, []
        self.state_dims = runner.state_dims

    def run(self, continuous, categorical, state):
        self.calls.append((continuous.shape, state is None))
        return self.runner.run(continuous, categorical, state)


@pytest.mark.parametrize("mode", ["full_window", "incremental"])
def test_warm_up_runs_the_backend_and_changes_no_prediction(model, mode) -> None:
    cont, cat = _frames(20, seed=9)
    runner = _CountingRunner(make_runner("torch", model[0], model[1], 1))
    warmed = InferenceEngine(runner, [M], WINDOW, 32, 3, 1, mode=mode)
    warmed.warm_up()
    assert runner.calls == [((1, WINDOW, 3), True), ((1, 1, 3), True)]
    cold = _engine(model, mode=mode)
    buffers = AlignedRingBuffer(32, 3, 1), AlignedRingBuffer(32, 3, 1)
    for end in (WINDOW, 11, 15, 20):
        for buffer in buffers:
            _fill(buffer, cont[len(buffer):end], cat[len(buffer):end], start=len(buffer))
        _assert_logits(_run(warmed, buffers[0]).logits, _run(cold, buffers[1]).logits)


def test_incremental_resets_when_frames_were_overwritten(model) -> None:
    cont, cat = _frames(60, seed=3)
    buffer = AlignedRingBuffer(12, 3, 1)
    engine = _engine(model, mode="incremental", capacity=12)
    _fill(buffer, cont[:WINDOW], cat[:WINDOW])
    _run(engine, buffer)
    _fill(buffer, cont[WINDOW:40], cat[WINDOW:40], start=WINDOW)  # more than capacity
    plans = engine.prepare({M: buffer})
    assert plans[M].from_zero_state and len(plans[M].frames) == WINDOW
    assert engine.state_resets == 1
    _assert_logits(engine.infer(plans)[M].logits, _direct(model, cont[32:40], cat[32:40]))


def test_incremental_resets_on_time_gap_and_clock_jump(model) -> None:
    cont, cat = _frames(40, seed=4)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model, mode="incremental", max_gap_ns=4 * PERIOD)
    _fill(buffer, cont[:WINDOW], cat[:WINDOW])
    _run(engine, buffer)
    # Gap of 10 frame periods (a stall): the state is not carried over the gap.
    _fill(buffer, cont[WINDOW:WINDOW + 1], cat[WINDOW:WINDOW + 1], start=WINDOW + 10)
    plans = engine.prepare({M: buffer})
    assert plans[M].from_zero_state and engine.state_resets == 1
    engine.infer(plans)
    # Clock jump back: the buffer is cleared and refilled with earlier stamps.
    buffer.clear()
    _fill(buffer, cont[20:20 + WINDOW], cat[20:20 + WINDOW], t0=T0 // 2)
    plans = engine.prepare({M: buffer})
    assert plans[M].from_zero_state and engine.state_resets == 2
    assert engine.reset_reasons == {"gap": 1, "clock_jump": 1}
    _assert_logits(engine.infer(plans)[M].logits,
                   _direct(model, cont[20:20 + WINDOW], cat[20:20 + WINDOW]))


def test_mode_switch_rewarms_and_full_window_ignores_state(model) -> None:
    cont, cat = _frames(20, seed=5)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model, mode="incremental")
    _fill(buffer, cont[:WINDOW + 2], cat[:WINDOW + 2])
    _run(engine, buffer)
    engine.set_mode("full_window")
    assert engine.state_resets == 1
    _fill(buffer, cont[WINDOW + 2:WINDOW + 3], cat[WINDOW + 2:WINDOW + 3], start=WINDOW + 2)
    result = _run(engine, buffer)
    _assert_logits(result.logits, _direct(model, cont[3:WINDOW + 3], cat[3:WINDOW + 3]))


def test_degraded_flags_cover_the_model_window(model) -> None:
    cont, cat = _frames(30, seed=6)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model)
    _fill(buffer, cont[:10], cat[:10], degraded={3})
    prepared = engine.prepare({M: buffer})[M]
    assert prepared.degraded and not prepared.newest_degraded  # frame 3 is in frames 2..9
    _fill(buffer, cont[10:14], cat[10:14], start=10, degraded={13})
    prepared = engine.prepare({M: buffer})[M]
    assert prepared.degraded and prepared.newest_degraded
    _fill(buffer, cont[14:30], cat[14:30], start=14)
    assert not engine.prepare({M: buffer})[M].degraded


def test_failed_run_resets_the_state_and_is_raised(model) -> None:
    cont, cat = _frames(20, seed=8)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model, mode="incremental")
    _fill(buffer, cont[:WINDOW], cat[:WINDOW])
    _run(engine, buffer)
    _fill(buffer, cont[WINDOW:WINDOW + 1], cat[WINDOW:WINDOW + 1], start=WINDOW)
    plans = engine.prepare({M: buffer})
    engine.runner.line_heads = None  # the heads are gone: the run raises
    with pytest.raises(TypeError):
        engine.infer(plans)
    assert engine.state_resets == 1
    assert engine.reset_reasons == {"error": 1}


def test_threads_and_invalid_configuration(model) -> None:
    engine = _engine(model, threads=1)
    engine.set_threads(1)
    assert engine.threads == 1 and torch.get_num_threads() == 1
    with pytest.raises(ConfigError, match=r"backend 'onnx' unknown"):
        _engine(model, backend="onnx")
    with pytest.raises(ConfigError, match=r"mode 'batch' unknown; expected one of "
                                          r"\['full_window', 'incremental'\]"):
        _engine(model, mode="batch")
    with pytest.raises(ConfigError, match=r"need 1 <= window_frames <= capacity, got 8, 7"):
        InferenceEngine(engine.runner, [M], WINDOW, WINDOW - 1, 3, 1)
    with pytest.raises(ConfigError, match=r"threads must be an integer >= 1, got 0"):
        engine.set_threads(0)


def test_model_without_categorical_inputs() -> None:
    config = ModelConfig(n_continuous=3, head_sizes={"command": 4}, d_model=8, num_layers=1,
                         dropout=0.0, window=WINDOW)
    backbone, line_heads = build_model(config, seed=1)
    cont, _ = _frames(WINDOW, seed=9)
    buffer = AlignedRingBuffer(16, 3, 0)
    for i in range(WINDOW):
        buffer.append(T0 + i * PERIOD, cont[i], np.zeros(0, np.int64), False)
    engine = InferenceEngine(make_runner("torch", backbone, line_heads), [M], WINDOW, 16, 3, 0)
    result = _run(engine, buffer)
    empty = np.zeros((WINDOW, 0), np.int64)
    _assert_logits(result.logits, _direct((backbone.eval(), line_heads.eval()), cont, empty))


def test_infer_takes_the_last_prepared_plans_once(model) -> None:
    cont, cat = _frames(12, seed=10)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model, mode="incremental")
    _fill(buffer, cont[:WINDOW], cat[:WINDOW])
    stale = engine.prepare({M: buffer})
    _fill(buffer, cont[WINDOW:WINDOW + 2], cat[WINDOW:WINDOW + 2], start=WINDOW)
    plans = engine.prepare({M: buffer})      # staging now holds these frames only
    with pytest.raises(ValueError, match=r"infer takes the plans the last prepare returned"):
        engine.infer(stale)
    engine.infer(plans)
    with pytest.raises(ValueError, match=r"infer takes the plans the last prepare returned"):
        engine.infer(plans)                  # the state must not absorb the frames twice
    assert engine.state_resets == 0


def test_reset_state_rewarms_on_a_full_window(model) -> None:
    cont, cat = _frames(12, seed=11)
    buffer = AlignedRingBuffer(32, 3, 1)
    engine = _engine(model, mode="incremental")
    _fill(buffer, cont[:WINDOW], cat[:WINDOW])
    _run(engine, buffer)
    engine.reset_state()
    _fill(buffer, cont[WINDOW:WINDOW + 2], cat[WINDOW:WINDOW + 2], start=WINDOW)
    plans = engine.prepare({M: buffer})
    assert plans[M].from_zero_state and engine.reset_reasons == {"requested": 1}
    _assert_logits(engine.infer(plans)[M].logits, _direct(model, cont[2:WINDOW + 2],
                                                          cat[2:WINDOW + 2]))


@pytest.fixture(scope="module", params=[[4, 3], []], ids=["categorical", "continuous_only"])
def wide_model(request):
    config = ModelConfig(n_continuous=5, categorical_sizes=request.param,
                         head_sizes={"command": 6, "form": 2, "param_X": 4},
                         d_model=16, num_layers=2, dropout=0.0)
    backbone, line_heads = build_model(config, seed=3)
    backbone.set_normalisation(np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5))
    return backbone.eval(), line_heads.eval(), len(request.param)


@pytest.mark.parametrize("backend", EXACT_BACKENDS)
def test_a_ring_buffer_window_reaches_each_backend(wide_model, backend):
    backbone, line_heads, k = wide_model
    runner = make_runner(backend, backbone, line_heads)
    buffer = AlignedRingBuffer(12, 5, k)
    rng = np.random.default_rng(3)
    continuous = rng.normal(size=(1, 20, 5)).astype(np.float32)
    continuous[0, 0, 1] = np.nan   # in the buffer, not in the window fed
    categorical = rng.integers(0, 5, size=(1, 20, k))  # 4 = unknown index
    for i in range(20):
        buffer.append(i, continuous[0, i], categorical[0, i], False)
    engine = InferenceEngine(runner, [M], 10, 12, 5, k)
    logits = engine.infer(engine.prepare({M: buffer}))[M].logits
    expected = runner.run(continuous[:, 10:], categorical[:, 10:], None)
    for head, value in logits.items():
        assert value.shape == (expected[0][head].shape[1],)
        np.testing.assert_allclose(value, expected[0][head][0], atol=STEP_ATOL, rtol=0)
    assert engine.backend_name == backend
