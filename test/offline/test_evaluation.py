# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: per-frame logits in both modes, the report, JSON contract, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from streaming_gcode import cli
from streaming_gcode.ingestion.alignment import FrameTable
from streaming_gcode.model.checkpoint import save_checkpoint
from streaming_gcode.model.gcode import label_lines
from streaming_gcode.model.random_weights import random_model
from streaming_gcode.offline import evaluation as offline_eval
from streaming_gcode.offline.labelled_windows import PreparedRun
from streaming_gcode.offline.metrics import METRIC_KEYS

torch.set_num_threads(1)
WINDOW = 6


@pytest.fixture(scope="module")
def model():
    return random_model("physical", seed=5, window=WINDOW, d_model=16, num_layers=1)


def _table(n: int, n_cont: int, seed: int = 0) -> FrameTable:
    rng = np.random.default_rng(seed)
    continuous = rng.normal(size=(n, n_cont)).astype(np.float32)
    return FrameTable(np.arange(n, dtype=np.int64), continuous, np.zeros((n, 0), np.int64),
                      np.zeros(n, bool))


@torch.no_grad()
def test_window_mode_gives_each_frame_the_window_ending_at_it(model) -> None:
    table = _table(15, model.config.n_continuous)
    logits = offline_eval.frame_logits(model.backbone, model.line_heads, table, "window", WINDOW)
    cont, cat = torch.from_numpy(table.continuous), torch.from_numpy(table.categorical)
    for t in (0, 3, WINDOW - 1, 9, 14):
        start = max(0, t - WINDOW + 1)
        expected = model.line_heads(model.backbone(cont[None, start:t + 1],
                                                   cat[None, start:t + 1]))
        for head, value in expected.items():
            np.testing.assert_allclose(logits[head][t], value[0, -1].numpy(), rtol=1e-5, atol=1e-5)
    chosen = offline_eval.frame_logits(model.backbone, model.line_heads, table, "window", WINDOW,
                                       np.array([2, 11]))
    np.testing.assert_allclose(chosen["command"], logits["command"][[2, 11]], rtol=1e-5, atol=1e-6)


@torch.no_grad()
def test_stateful_mode_runs_from_the_first_frame(model) -> None:
    table = _table(15, model.config.n_continuous)
    stateful = offline_eval.frame_logits(model.backbone, model.line_heads, table, "stateful",
                                         WINDOW)
    window = offline_eval.frame_logits(model.backbone, model.line_heads, table, "window", WINDOW)
    # The same until the first frame whose window starts after the run's first frame.
    np.testing.assert_allclose(stateful["command"][:WINDOW], window["command"][:WINDOW],
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(stateful["command"][-1], window["command"][-1], atol=1e-5)
    with pytest.raises(ValueError, match="unknown evaluation mode"):
        offline_eval.frame_logits(model.backbone, model.line_heads, table, "sideways", WINDOW)


def _prepared(model, name: str, n: int, seed: int) -> PreparedRun:
    texts = ["G0 X0. Y0.", "G1 X1. Y1.", "X2.", ""] * (n // 4)
    modes = [0.0, 1.0, 1.0, float("nan")] * (n // 4)
    return PreparedRun(name, name.rsplit("_", 1)[0], _table(n, model.config.n_continuous, seed),
                       label_lines(texts, modes))


def test_report_json_table_and_plot(model, tmp_path) -> None:
    runs = [_prepared(model, "face_001", 12, 1), _prepared(model, "pocket_001", 8, 2)]
    report = offline_eval.evaluate_prepared(model, runs, "window")
    data = report.to_json()
    assert set(data["overall"]) == set(METRIC_KEYS)
    assert [r["run"] for r in data["runs"]] == ["face_001", "pocket_001"]
    assert all(set(METRIC_KEYS) <= set(r) for r in data["runs"])
    assert data["overall"]["frames"] == 9 + 6  # unlabelled frames are not scored
    assert all(0.0 <= data["overall"][k] <= 1.0 for k in METRIC_KEYS if k != "frames")
    assert set(data["families"]) == {"face", "pocket"}
    table = offline_eval.format_table(report)
    assert "face_001" in table and "[pocket]" in table and "OVERALL" in table
    written = json.loads(offline_eval.write_json(report, tmp_path / "r.json").read_text())
    assert written == json.loads(json.dumps(data))
    png = offline_eval.plot_confusion(report, tmp_path / "confusion.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    every = offline_eval.evaluate_prepared(model, runs, "window", every=2).to_json()
    assert every["runs"][0]["frames"] == 6  # frames 0, 2, 4, 6, 8, 10 (all labelled)


@pytest.mark.data
def test_evaluate_cli_writes_the_json_contract(data_dir, tmp_path) -> None:
    model = random_model("full", seed=0, d_model=16, num_layers=1)
    checkpoint = save_checkpoint(tmp_path / "m.pt", model.backbone, model.line_heads, model.config,
                                 model.metadata)
    out = tmp_path / "eval.json"
    code = cli.main(["evaluate", "--data", str(data_dir / "pocket_004_aligned.csv.gz"),
                     "--checkpoint", str(checkpoint), "--json", str(out), "--quiet",
                     "--confusion", str(tmp_path / "c.png")])
    assert code == 0
    data = json.loads(out.read_text())
    assert set(METRIC_KEYS) <= set(data["overall"])
    assert data["runs"][0]["run"] == "pocket_004"
    assert data["overall"]["frames"] == data["runs"][0]["frames"] > 200
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_evaluate_cli_reports_a_bad_checkpoint_in_one_line(tmp_path, capsys) -> None:
    code = cli.main(["evaluate", "--data", str(tmp_path), "--checkpoint", str(tmp_path / "no.pt")])
    assert code == 2
    assert "no.pt: no such checkpoint file" in capsys.readouterr().err
