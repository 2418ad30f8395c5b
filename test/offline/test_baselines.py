# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Baselines beside the model: tables counted from training runs, checked by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from streaming_gcode.model.checkpoint import load_checkpoint
from streaming_gcode.model.gcode import label_lines
from streaming_gcode.model.random_weights import default_vocabulary
from streaming_gcode.offline.baselines import baseline_predictions, build_baselines
from streaming_gcode.offline.evaluate_runs import evaluate_runs
from streaming_gcode.offline.labelled_windows import prepare_run
from streaming_gcode.recordings.csv_runs import load_run

from model_support import continuous_checkpoint  # noqa: I100
from recording_support import two_stream_layout, write_program_run

torch.set_num_threads(1)
G0 = 0.0
G1 = 1.0
TRAINING = {   # (controller line, text, momo) per row
    "face_001": [(1, "G0 X0", G0), (2, "G1 X1", G1), (2, "G1 X1", G1), (3, "G1 X2", G1),
                 (3, "G1 X2", G1)],
    "face_002": [(1, "G0 X0", G0), (2, "G1 X5", G1), (3, "G1 X2", G1), (3, "G1 X2", G1)],
    "pocket_001": [(1, "G1 X9", G1), (1, "G1 X9", G1), (1, "G1 X9", G1), (2, "G0 X3", G0),
                   (5, "G1 X7", G1)],
}
VALIDATION = {
    "face_013": [(1, "G0 X0", G0), (2, "G1 X1", G1), (7, "G1 X8", G1)],
    "pocket_013": [(1, "G1 X9", G1), (2, "G0 X3", G0)],
}


def _key(text: str, momo: float):
    return default_vocabulary().key(label_lines([text], [momo])[0])


@pytest.fixture()
def folder(tmp_path) -> Path:
    for i, (name, rows) in enumerate({**TRAINING, **VALIDATION}.items()):
        write_program_run(tmp_path / f"{name}_aligned.csv", rows, start_s=36000.0 + 100 * i)
    return tmp_path


def test_tables_and_predictions_by_hand(folder) -> None:
    vocab = default_vocabulary()
    tables = build_baselines([load_run(folder / f"{n}_aligned.csv") for n in TRAINING], vocab)
    assert tables.majority_line == _key("G1 X2", G1)            # 4 of 14 rows
    assert tables.majority_command == ("G1", True, ())          # 11 of 14 rows
    assert tables.by_family == {"face": _key("G1 X2", G1), "pocket": _key("G1 X9", G1)}
    assert tables.by_line == {1: _key("G1 X9", G1), 2: _key("G1 X1", G1),
                              3: _key("G1 X2", G1), 5: _key("G1 X7", G1)}
    assert tables.by_family_line[("pocket", 2)] == _key("G0 X3", G0)
    layout = two_stream_layout()
    model = load_checkpoint(continuous_checkpoint(folder / "m.pt", ["posx", "spindle"]))
    face = prepare_run(load_run(folder / "face_013_aligned.csv"), layout,
                       model.feature_map(layout))
    guesses = baseline_predictions(tables, face)
    assert guesses["program_line_lookup"] == [_key("G0 X0", G0), _key("G1 X1", G1),
                                              _key("G1 X2", G1)]   # line 7 unseen: family's
    assert guesses["line_lookup"] == [_key("G1 X9", G1), _key("G1 X1", G1),
                                      _key("G1 X2", G1)]           # line 7 unseen: overall
    assert guesses["family_majority"] == [_key("G1 X2", G1)] * 3
    assert guesses["family_progress"][0] == _key("G0 X0", G0)      # both face runs' first row
    assert tables.by_family_progress[("face", 3)] == _key("G1 X2", G1)
    assert ("pocket", 5) not in tables.by_family_progress           # past the runs: family's
    pocket = prepare_run(load_run(folder / "pocket_013_aligned.csv"), layout,
                         model.feature_map(layout))
    assert baseline_predictions(tables, pocket)["family_progress"] == [_key("G1 X9", G1)] * 2


def test_evaluate_scores_baselines_on_the_validation_runs(folder) -> None:
    model = load_checkpoint(continuous_checkpoint(folder / "m.pt", ["posx", "spindle"]))
    data = evaluate_runs(model, [folder], two_stream_layout()).to_json()
    assert [r["run"] for r in data["runs"]] == ["face_013", "pocket_013"]
    overall = data["overall"]
    assert overall["frames"] == 5
    assert {"command_balanced_accuracy", "per_command_recall", "baselines"} <= set(overall)
    baselines = overall["baselines"]
    expected_exact = {"program_line_lookup": 4 / 5, "line_lookup": 2 / 5, "majority_line": 0.0,
                      "majority_command": 0.0, "family_majority": 1 / 5}
    for name, exact in expected_exact.items():
        assert baselines[name]["exact_line_accuracy"] == pytest.approx(exact), name
        assert baselines[name]["frames"] == 5
    assert baselines["line_lookup"]["command_accuracy"] == pytest.approx(3 / 5)
    assert baselines["majority_command"]["command_accuracy"] == pytest.approx(3 / 5)
    # true G0 G1 G1 G1 G0; line lookup says G1 G1 G1 G1 G1: recall G0 0, G1 1
    assert baselines["line_lookup"]["per_command_recall"] == {"G0": 0.0, "G1": 1.0}
    assert baselines["line_lookup"]["command_balanced_accuracy"] == pytest.approx(0.5)
    assert data["families"]["face"]["baselines"]["program_line_lookup"][
        "exact_line_accuracy"] == pytest.approx(2 / 3)
    assert data["info"]["baseline_training_runs"] == list(TRAINING)
    assert data["info"]["baselines_trained_on_scored_runs"] == []
    everything = evaluate_runs(model, [folder], two_stream_layout(), split="all").to_json()
    assert everything["overall"]["frames"] == 19
    assert everything["info"]["baselines_trained_on_scored_runs"] == sorted(TRAINING)
