# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's set-up decisions: which model, which first run, which node parameters."""

import dataclasses
from pathlib import Path

import pytest

from streaming_gcode.core.errors import CheckpointError, ConfigError
from streaming_gcode.model.checkpoint import save_checkpoint
from streaming_gcode.model.random_weights import random_model
from streaming_gcode.tools.demo.session import (
    _node_parameters, first_run, ModelInfo, resolve_model, resolve_params_file,
)
from streaming_gcode.tools.demo.sources import KIND_BAG, KIND_RECORDING, SourceChoice
from streaming_gcode.tools.demo.view import LineScorer

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """Save a small model whose metadata names its held-out runs, as training does."""
    model = random_model("full", d_model=16, num_layers=1, num_heads=2, window=8)
    meta = model.metadata
    meta.validation_metrics = {
        "mode": "full_window",
        "overall": {"exact_line_accuracy": 0.4321, "command_accuracy": 0.9123},
        "runs": [{"run": "pocket_004"}, {"run": "face_008"}, {"run": "face_004"}],
    }
    path = tmp_path_factory.mktemp("model") / "full.pt"
    return save_checkpoint(path, model.backbone, model.line_heads, model.config, meta)


def test_checkpoint_metadata_reaches_the_header_and_the_scorer(checkpoint):
    model = resolve_model(str(checkpoint))
    assert model.path == checkpoint
    assert "feature set full, window 8 frames" in model.description
    assert "on validation runs: line 43.2%, command 91.2%" in model.description
    assert model.validation_runs == ("pocket_004", "face_008", "face_004")
    assert model.window == 8
    assert model.run_note("face_004") == "validation run"
    assert model.run_note("face_001") == "a training run"
    refit = dataclasses.replace(model, library_runs=("face_001", "face_004"))   # refit on all
    assert refit.run_note("face_004") == "validation run of the weights, in the library since"
    with pytest.raises(CheckpointError, match="--checkpoint .*missing.pt: no such file"):
        resolve_model(str(checkpoint.parent / "missing.pt"))


def test_first_run_prefers_a_held_out_face_run(checkpoint):
    model = resolve_model(str(checkpoint))
    assert first_run(None, True, model) == "face_004"
    # A run with a board missing is passed over for a complete one.
    assert first_run(None, True, model, lambda run: run != "face_004") == "face_008"
    assert first_run(None, True, model, lambda run: run == "pocket_004") == "pocket_004"
    assert first_run(None, True, model, lambda run: False) == "face_004"
    assert first_run("adaptive_002", True, model) == "adaptive_002"
    assert first_run(None, False, model) is None    # a single run file: nothing to choose
    untrained = ModelInfo(None, "random", LineScorer(), 64)
    assert first_run(None, True, untrained) == "face_001"
    assert untrained.run_note("face_001") == ""


def test_node_parameters_follow_model_and_source(checkpoint, tmp_path):
    trained = ModelInfo(checkpoint, "", LineScorer(), 8)
    recording = SourceChoice(KIND_RECORDING, tmp_path, "")
    assert _node_parameters(trained, recording, "/demo_9") == {
        "checkpoint": str(checkpoint), "reference_topic": "/demo_9/cnc/executed_line",
        "hardware_id": "cnc_demo_9"}
    untrained = ModelInfo(None, "", LineScorer(), 64)
    bag = SourceChoice(KIND_BAG, tmp_path, "")
    assert _node_parameters(untrained, bag, "/demo_9") == {
        "allow_random_model": True, "use_sim_time": True,
        "reference_topic": "/demo_9/cnc/executing_line", "hardware_id": "cnc_demo_9"}


def test_params_file_must_exist(tmp_path):
    assert resolve_params_file(None).name == "stream.yaml"
    with pytest.raises(ConfigError, match="params file .*nope.yaml not found"):
        resolve_params_file(str(tmp_path / "nope.yaml"))
