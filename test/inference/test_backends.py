# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Backends: onnxruntime agrees with eager PyTorch (window and step); steps equal windows."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.inference.backends import (
    BACKEND_ONNXRUNTIME, BACKEND_ONNXRUNTIME_INT8, BACKEND_TORCH, BACKENDS, EXACT_BACKENDS,
    export_onnx, INT8_ATOL, make_runner, ONNX_ATOL, OnnxRunner, TORCH_NATIVE_LSTM_FRAMES,
    TorchRunner,
)
from streaming_gcode.inference.onnx_export import CompactGraph, export_graph, StepGraph
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.model.random_weights import random_model

torch.set_num_threads(1)
STEP_ATOL = 1e-5   # incremental steps vs one window pass, same backend (float32 rounding)


def _model(categorical_sizes):
    config = ModelConfig(n_continuous=5, categorical_sizes=categorical_sizes,
                         head_sizes={"command": 6, "form": 2, "param_X": 4},
                         d_model=16, num_layers=2, dropout=0.0)
    backbone, line_heads = build_model(config, seed=3)
    backbone.set_normalisation(np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5))
    return backbone.eval(), line_heads.eval()


@pytest.fixture(scope="module", params=[[4, 3], []], ids=["categorical", "continuous_only"])
def runners(request):
    backbone, line_heads = _model(request.param)
    return (TorchRunner(backbone, line_heads), OnnxRunner.from_modules(backbone, line_heads),
            len(request.param))


def _inputs(batch, frames, n_categorical, seed):
    rng = np.random.default_rng(seed)
    continuous = rng.normal(size=(batch, frames, 5)).astype(np.float32)
    continuous[0, 0, 1] = np.nan   # the backbone maps NaN to 0; both backends must
    categorical = rng.integers(0, 5, size=(batch, frames, n_categorical))  # 4 = unknown index
    return continuous, categorical


def _assert_close(a, b, atol):
    logits_a, state_a = a
    logits_b, state_b = b
    assert set(logits_a) == set(logits_b)
    for head in logits_a:
        np.testing.assert_allclose(logits_a[head], logits_b[head], atol=atol, rtol=0)
    for x, y in zip(state_a, state_b):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0)


@pytest.mark.parametrize("batch,frames", [(1, 8), (1, 64), (3, 5), (2, 1)])
def test_onnx_window_matches_torch(runners, batch, frames):
    torch_runner, onnx_runner, k = runners
    continuous, categorical = _inputs(batch, frames, k, seed=frames)
    expected = torch_runner.run(continuous, categorical, None)
    _assert_close(onnx_runner.run(continuous, categorical, None), expected, ONNX_ATOL)
    assert expected[0]["command"].shape == (batch, 6)
    assert expected[1][0].shape == (2, batch, 16)


def test_onnx_steps_match_torch_steps(runners):
    torch_runner, onnx_runner, k = runners
    torch_state = onnx_state = None
    for step, frames in enumerate([8, 3, 1, 8, 16]):
        continuous, categorical = _inputs(2, frames, k, seed=100 + step)
        expected = torch_runner.run(continuous, categorical, torch_state)
        got = onnx_runner.run(continuous, categorical, onnx_state)
        _assert_close(got, expected, ONNX_ATOL)
        torch_state = tuple(s.copy() for s in expected[1])
        onnx_state = got[1]   # fed back as returned: a view of the runner's own buffer


def test_onnx_state_from_two_runs_ago_is_not_overwritten(runners):
    torch_runner, onnx_runner, k = runners
    continuous, categorical = _inputs(1, 4, k, seed=7)
    _, first = onnx_runner.run(continuous, categorical, None)
    kept = tuple(s.copy() for s in first)
    onnx_runner.run(continuous, categorical, first)
    got = onnx_runner.run(continuous, categorical, first)       # `first` is two runs old
    _assert_close(got, torch_runner.run(continuous, categorical, kept), ONNX_ATOL)


@pytest.mark.parametrize("backend", EXACT_BACKENDS)
def test_steps_equal_one_window_pass(runners, backend):
    """Incremental steps from zero state give the window's result (the model's contract)."""
    runner = runners[0] if backend == BACKEND_TORCH else runners[1]
    continuous, categorical = _inputs(2, 24, runners[2], seed=11)
    window = runner.run(continuous, categorical, None)
    window = ({h: v.copy() for h, v in window[0].items()}, tuple(s.copy() for s in window[1]))
    state = None
    for start in range(0, 24, 8):
        step = slice(start, start + 8)
        logits, state = runner.run(continuous[:, step], categorical[:, step], state)
    _assert_close((logits, state), window, STEP_ATOL)


def test_onnx_agrees_on_a_checkpoint_model_after_set_threads():
    loaded = random_model("full", seed=5, d_model=32, num_layers=2)
    torch_runner = make_runner(BACKEND_TORCH, loaded.backbone, loaded.line_heads)
    onnx_runner = make_runner(BACKEND_ONNXRUNTIME, loaded.backbone, loaded.line_heads)
    onnx_runner.set_threads(2)
    assert onnx_runner.threads == 2 and onnx_runner.heads == torch_runner.heads
    rng = np.random.default_rng(0)
    config = loaded.config
    continuous = rng.normal(size=(1, 16, config.n_continuous)).astype(np.float32)
    categorical = np.stack([rng.integers(0, s, size=(1, 16)) for s in config.categorical_sizes],
                           -1)
    _assert_close(onnx_runner.run(continuous, categorical, None),
                  torch_runner.run(continuous, categorical, None), ONNX_ATOL)


def test_export_writes_a_valid_model_with_dynamic_batch_and_time(tmp_path):
    backbone, line_heads = _model([4, 3])
    path = tmp_path / "model.onnx"
    data = export_onnx(backbone, line_heads, path)
    assert path.read_bytes() == data
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    shapes = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
              for i in model.graph.input}
    assert shapes["continuous"] == ["batch", "frames", 5]
    assert shapes["h0"] == [2, "batch", 16]
    assert [o.name for o in model.graph.output] == ["command", "form", "param_X", "h1", "c1"]


def test_int8_backend_stays_within_its_tolerance_window_and_steps():
    backbone, line_heads = _model([4, 3])
    torch_runner = TorchRunner(backbone, line_heads)
    int8 = make_runner(BACKEND_ONNXRUNTIME_INT8, backbone, line_heads)
    assert int8.name == BACKEND_ONNXRUNTIME_INT8 and set(BACKENDS) == {*EXACT_BACKENDS, int8.name}
    torch_state = int8_state = None
    for step, frames in enumerate([16, 4, 4, 1]):
        continuous, categorical = _inputs(1, frames, 2, seed=40 + step)
        expected = torch_runner.run(continuous, categorical, torch_state)
        got = int8.run(continuous, categorical, int8_state)
        for head in expected[0]:
            np.testing.assert_allclose(got[0][head], expected[0][head], atol=INT8_ATOL, rtol=0)
            assert not np.allclose(got[0][head], expected[0][head], atol=ONNX_ATOL, rtol=0)
        torch_state = tuple(s.copy() for s in expected[1])
        int8_state = got[1]


def test_unknown_backend_and_bad_threads_are_config_errors():
    backbone, line_heads = _model([4])
    with pytest.raises(ConfigError, match=r"backend 'tensorrt' unknown; expected one of"):
        make_runner("tensorrt", backbone, line_heads)
    with pytest.raises(ConfigError, match=r"threads must be an integer >= 1, got 0"):
        make_runner(BACKEND_TORCH, backbone, line_heads, threads=0)


def _code_model():
    """Build a model with a code input (column 1) besides categorical ones, as shipped."""
    config = ModelConfig(n_continuous=4, categorical_sizes=[3, 5], head_sizes={"a": 3, "b": 7},
                         d_model=16, num_layers=2, dropout=0.0, code_inputs=[1], code_buckets=11,
                         code_embedding_dim=4)
    backbone, line_heads = build_model(config, seed=8)
    return backbone.eval(), line_heads.eval()


def test_compact_export_graph_is_exported_and_agrees_on_odd_inputs():
    """NaN, infinities, negative and out-of-range codes: the compact graph computes the model."""
    backbone, line_heads = _code_model()
    assert isinstance(export_graph(backbone, line_heads), CompactGraph)
    onnx_runner = OnnxRunner.from_modules(backbone, line_heads)
    torch_runner = TorchRunner(backbone, line_heads)
    rng = np.random.default_rng(4)
    continuous = (5 * rng.normal(size=(3, 20, 4))).astype(np.float32)
    continuous[0, :3, 0] = [np.nan, np.inf, -np.inf]
    continuous[1, :4, 1] = [np.nan, -3.5, 1e12, 2.5]      # the code column
    categorical = rng.integers(-2, 8, size=(3, 20, 2))    # below 0 and above each size
    state = None
    for frames in (slice(0, 12), slice(12, 20)):
        expected = torch_runner.run(continuous[:, frames], categorical[:, frames], state)
        _assert_close(onnx_runner.run(continuous[:, frames], categorical[:, frames], state),
                      expected, ONNX_ATOL)
        state = tuple(s.copy() for s in expected[1])


def test_export_falls_back_to_the_modules_when_the_compact_graph_disagrees(monkeypatch, caplog):
    backbone, line_heads = _model([4, 3])
    compact_forward = CompactGraph.forward
    monkeypatch.setattr(CompactGraph, "forward",
                        lambda self, *args: tuple(t + 1e-3 for t in compact_forward(self, *args)))
    assert isinstance(export_graph(backbone, line_heads), StepGraph)
    assert "disagrees with the model" in caplog.text
    continuous, categorical = _inputs(2, 6, 2, seed=5)
    _assert_close(OnnxRunner.from_modules(backbone, line_heads).run(continuous, categorical, None),
                  TorchRunner(backbone, line_heads).run(continuous, categorical, None), ONNX_ATOL)


@pytest.mark.parametrize("frames", [1, TORCH_NATIVE_LSTM_FRAMES, TORCH_NATIVE_LSTM_FRAMES + 1])
def test_torch_short_steps_skip_onednn_with_the_same_result_and_restore_the_flag(frames):
    backbone, line_heads = _model([4, 3])
    runner = TorchRunner(backbone, line_heads)
    continuous, categorical = _inputs(2, frames, 2, seed=frames)
    state = tuple(np.full((2, 2, 16), 0.3, np.float32) for _ in range(2))
    got = runner.run(continuous, categorical, state)
    assert torch.backends.mkldnn.enabled
    with torch.inference_mode():
        hidden, expected_state = backbone.step(torch.from_numpy(continuous),
                                               torch.from_numpy(categorical),
                                               tuple(torch.from_numpy(s) for s in state))
        logits = line_heads(hidden[:, -1])
    expected = ({h: v.numpy() for h, v in logits.items()},
                tuple(s.numpy() for s in expected_state))
    _assert_close(got, expected, STEP_ATOL)
    with pytest.raises(RuntimeError):
        runner.run(continuous[:, :, :3], categorical, state)   # wrong width: fails inside torch
    assert torch.backends.mkldnn.enabled


def test_onnx_results_stay_whole_when_the_caller_edits_the_returned_dict(runners):
    _, onnx_runner, k = runners
    continuous, categorical = _inputs(1, 3, k, seed=9)
    first, _ = onnx_runner.run(continuous, categorical, None)
    expected = {h: v.copy() for h, v in first.items()}
    first.clear()
    again, _ = onnx_runner.run(continuous, categorical, None)
    assert set(again) == set(expected)
    for head in expected:
        np.testing.assert_array_equal(again[head], expected[head])
