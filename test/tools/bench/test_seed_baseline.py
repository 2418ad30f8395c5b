# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The seed baseline predicts what the node's full-window engine predicts on the same window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.machines import SINGLE_MACHINE
from streaming_gcode.inference.backends import TorchRunner
from streaming_gcode.inference.engine import InferenceEngine
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.tools.bench.seed_baseline import SeedBaseline

torch.set_num_threads(1)
WINDOW, STRIDE = 16, 4
ATOL = 1e-5   # same weights, same frames, same PyTorch ops: float32 rounding only


@pytest.fixture(scope="module")
def model():
    config = ModelConfig(n_continuous=6, categorical_sizes=[4, 7],
                         head_sizes={"command": 5, "param_X": 9},
                         d_model=16, num_layers=2, dropout=0.1, window=WINDOW)
    backbone, line_heads = build_model(config, seed=4)
    backbone.set_normalisation(np.arange(6) * 0.5, np.full(6, 2.0))
    return backbone.eval(), line_heads.eval()


def test_baseline_matches_full_window_engine_every_stride(model):
    backbone, line_heads = model
    baseline = SeedBaseline(backbone, line_heads, window_size=WINDOW, stride=STRIDE)
    buffer = AlignedRingBuffer(2 * WINDOW, 6, 2)
    engine = InferenceEngine(TorchRunner(backbone, line_heads), [SINGLE_MACHINE],
                             window_frames=WINDOW, capacity=2 * WINDOW, n_continuous=6,
                             n_categorical=2, mode="full_window")
    rng = np.random.default_rng(1)
    compared = 0
    for i in range(60):
        continuous = rng.normal(size=6).astype(np.float32)
        categorical = rng.integers(0, 7, size=2) % np.array([4, 7])
        buffer.append(i * 1_000_000, continuous, categorical, False)
        got = baseline.process_sample(torch.from_numpy(continuous.copy()),
                                      torch.from_numpy(categorical))
        if i + 1 < WINDOW or (i + 1) % STRIDE:
            assert got is None, i
            continue
        plans = engine.prepare({SINGLE_MACHINE: buffer})
        expected = engine.infer(plans)[SINGLE_MACHINE].logits
        assert set(got) == set(expected)
        for head in got:
            np.testing.assert_allclose(got[head], expected[head], atol=ATOL, rtol=0)
        compared += 1
    assert compared == (60 - WINDOW) // STRIDE + 1


def test_predict_returns_every_frame_of_the_window_and_reset_empties(model):
    baseline = SeedBaseline(*model, window_size=4, stride=2)
    assert baseline.predict() is None
    for _ in range(5):
        baseline.add_sample(torch.zeros(6), torch.zeros(2, dtype=torch.int64))
    assert baseline.predict()["command"].shape == (1, 4, 5)
    assert len(baseline.continuous_buffer) == 5
    baseline.reset()
    assert not baseline.can_predict() and baseline.samples_since_prediction == 0


def test_invalid_sizes_are_rejected(model):
    with pytest.raises(ValueError, match=r"window_size and stride must be >= 1, got 0, 2"):
        SeedBaseline(*model, window_size=0, stride=2)
