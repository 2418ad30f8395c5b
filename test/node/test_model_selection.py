# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Which model the node loads: explicit checkpoint, shipped model, or random on request."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from streaming_gcode.core.errors import CheckpointError
from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.parameters import NodeSettings
from streaming_gcode.model.checkpoint import save_checkpoint
from streaming_gcode.model.random_weights import random_model
from streaming_gcode.node.model_selection import load_node_model

torch.set_num_threads(1)
# where the node's model selection looks up the shipped models/<model>.pt
SHIPPED_LOOKUP = "streaming_gcode.model.checkpoint.default_checkpoint"


def _save_tiny(path: Path) -> Path:
    model = random_model("physical", d_model=8, num_layers=1, window=6, stride=2)
    return save_checkpoint(path, model.backbone, model.line_heads, model.config, model.metadata)


def test_explicit_checkpoint_is_loaded(tmp_path: Path) -> None:
    path = _save_tiny(tmp_path / "tiny.pt")
    loaded = load_node_model(NodeSettings(checkpoint=str(path), model="physical"))
    assert loaded.source == str(path) and not loaded.random_weights
    assert (loaded.window, loaded.stride) == (6, 2)
    report = loaded.report(window_frames=6, unknown=3, unknown_recent=1)
    assert report.checkpoint == str(path) and report.model == "physical"
    assert report.continuous_features == 144 and report.categorical_features == 0
    assert report.parameters > 0 and report.unknown_categorical_recent == 1
    assert "physical" in loaded.description and str(path) in loaded.description


def test_missing_explicit_checkpoint_is_an_error_even_if_random_is_allowed(tmp_path) -> None:
    settings = NodeSettings(checkpoint=str(tmp_path / "nope.pt"), allow_random_model=True)
    with pytest.raises(CheckpointError, match=r"nope.pt: no such checkpoint file"):
        load_node_model(settings)


def test_without_any_checkpoint_random_needs_explicit_permission(monkeypatch) -> None:
    monkeypatch.setattr(SHIPPED_LOOKUP, lambda model: None)
    with pytest.raises(CheckpointError, match=r"no checkpoint for model 'full'.*"
                       r"allow_random_model:=true"):
        load_node_model(NodeSettings())
    loaded = load_node_model(NodeSettings(allow_random_model=True, window_frames=12))
    assert loaded.random_weights and loaded.source == "random" and loaded.window == 12
    assert "random weights" in loaded.description
    assert loaded.report(12, 0, 0).random_weights


def test_shipped_checkpoint_is_used_when_no_path_is_given(tmp_path, monkeypatch) -> None:
    path = _save_tiny(tmp_path / "physical.pt")
    monkeypatch.setattr(SHIPPED_LOOKUP, lambda model: path if model == "physical" else None)
    loaded = load_node_model(NodeSettings(model="physical"))
    assert loaded.source == str(path) and not loaded.random_weights


@pytest.mark.parametrize("model,kind", [("full", "program library of"),
                                        ("physical", "physics witness of")])
def test_the_shipped_models_say_what_they_read_programs_with(model: str, kind: str) -> None:
    if default_checkpoint(model) is None:
        pytest.skip(f"the shipped models/{model}.pt is not installed")
    chosen = load_node_model(NodeSettings(model=model))
    assert chosen.report(64, 0, 0).program_library.startswith(kind)
    assert kind in chosen.description
