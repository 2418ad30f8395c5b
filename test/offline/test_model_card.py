# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Model cards are rendered from the checkpoint's metadata."""

from __future__ import annotations

import torch

from streaming_gcode.model.checkpoint import load_checkpoint, save_checkpoint
from streaming_gcode.model.random_weights import random_model
from streaming_gcode.offline.model_card import write_card

torch.set_num_threads(1)


def _card(model, meta, tmp_path) -> str:
    """Save `model` with `meta`, load it back and render its card."""
    checkpoint = save_checkpoint(tmp_path / "m.pt", model.backbone, model.line_heads,
                                 model.config, meta)
    return write_card(load_checkpoint(checkpoint), checkpoint, tmp_path / "m.md").read_text()


def test_card_shows_split_metrics_baseline_and_command(tmp_path) -> None:
    model = random_model("physical", d_model=8, num_layers=1)
    metrics = {"command_accuracy": 0.9, "param_letter_f1": 0.8, "value_accuracy": 0.25,
               "exact_line_accuracy": 0.125, "frames": 40}
    meta = model.metadata
    meta.validation_metrics = {
        "mode": "window", "overall": metrics, "families": {"face": metrics},
        "runs": [{"run": "face_004", "family": "face", **metrics}],
        "majority_command": {"command": "G1", "share": 0.875},
    }
    meta.training = {"split": {"train": ["a", "b"], "tune": ["c"], "validation": ["face_004"]},
                     "epochs": 3, "minutes": 1.5, "cpu_minutes": 2.5,
                     "config": {"seed": 7, "threads": 2}, "history": []}
    meta.training_command = "streaming-gcode train --data runs/ --out m.pt"
    card = _card(model, meta, tmp_path)
    assert "# `m.pt`: the `physical` feature set" in card
    assert "144 continuous inputs and 0 categorical (none)" in card
    assert "4 recorded runs (train 2, tune 1, validation 1)" in card
    assert "| face (1) | 40 | 90.0 % | 80.0 % | 25.0 % | 12.5 % |" in card
    assert "always `G1` scores 87.5 % command accuracy" in card
    assert "streaming-gcode train --data runs/ --out m.pt" in card
    assert "3 epochs in 1.5 minutes wall-clock (2.5 CPU minutes, 2 threads), seed 7" in card


def test_card_says_when_the_library_was_refit_on_all_runs(tmp_path) -> None:
    from decimal import Decimal

    import numpy as np

    from streaming_gcode.model.gcode import LineLabel
    from streaming_gcode.model.progress_library import build_progress_library

    model = random_model("physical", d_model=8, num_layers=1)
    meta = model.metadata
    channel = meta.continuous_features[0]
    label = LineLabel("G1", False, (("X", Decimal("1")),))
    library = build_progress_library(
        [("face", "normal", np.zeros((4, 1)), [label] * 4)], [channel])
    meta.program_library = library.to_dict()
    meta.training = {"split": {"train": ["face_001"], "tune": ["face_002"],
                               "validation": ["face_003"]},
                     "library": {"library_runs": "all",
                                 "runs": ["face_001", "face_002", "face_003"],
                                 "validated_with_runs": ["face_001", "face_002"]},
                     "config": {"seed": 0, "threads": 1}, "history": []}
    card = _card(model, meta, tmp_path)
    assert "from all 3 runs (train, tune and validation: rebuilt after validation" in card
    assert "scored with the past-only library (the 2 train and tune runs)" in card
    assert "runs never used for any choice; with the past-only library)" in card
    meta.training["library"] = {"library_runs": "past", "runs": ["face_001", "face_002"],
                                "validated_with_runs": ["face_001", "face_002"]}
    card = _card(model, meta, tmp_path)
    assert "from the train and tune runs" in card and "past-only" not in card
