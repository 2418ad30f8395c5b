# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Runs back to back: restamped with a pause, one alignment pass, scored per run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.model.checkpoint import load_checkpoint
from streaming_gcode.offline.continuous import (
    CONTINUOUS_PAUSE_NS, evaluate_continuous, prepare_continuous, restamp_runs,
)
from streaming_gcode.offline.evaluate_runs import evaluate_runs
from streaming_gcode.offline.evaluation import evaluate_prepared, frame_logits
from streaming_gcode.offline.labelled_windows import prepare_run
from streaming_gcode.recordings.csv_runs import load_run

from model_support import continuous_checkpoint  # noqa: I100
from recording_support import two_stream_layout, write_program_run

torch.set_num_threads(1)
WINDOW = 4


def _rows(n: int, line0: int) -> list[tuple[int, str, float]]:
    return [(line0 + i // 2, f"G1 X{i // 2}", 1.0) if i % 3 else (line0, "G0 X0", 0.0)
            for i in range(n)]


@pytest.fixture()
def runs(tmp_path):
    paths = [write_program_run(tmp_path / "face_013_aligned.csv", _rows(9, 1), 36000.0),
             write_program_run(tmp_path / "pocket_014_aligned.csv", _rows(7, 5), 50000.0),
             write_program_run(tmp_path / "damageface_004_aligned.csv", _rows(8, 2), 1000.0)]
    return [load_run(p) for p in paths]


@pytest.fixture()
def model(tmp_path):
    return load_checkpoint(continuous_checkpoint(tmp_path / "m.pt", ["posx", "spindle"],
                                                 window=WINDOW))


def test_restamped_runs_follow_each_other_after_the_pause(runs) -> None:
    played = restamp_runs(runs)
    assert played[0].stamps_ns[0] == runs[0].stamps_ns[0]
    for before, after, original in zip(played, played[1:], runs[1:]):
        assert after.stamps_ns[0] - before.stamps_ns[-1] == CONTINUOUS_PAUSE_NS
        np.testing.assert_array_equal(np.diff(after.stamps_ns), np.diff(original.stamps_ns))
    with pytest.raises(RecordingError, match="expected a positive pause"):
        restamp_runs(runs, 0)


def test_stream_frames_equal_the_per_run_frames_away_from_boundaries(runs, model) -> None:
    layout = two_stream_layout()
    fmap = model.feature_map(layout)
    stream = prepare_continuous(runs, layout, fmap)
    alone = [prepare_run(r, layout, fmap) for r in runs]
    assert len(stream.stream) == sum(len(p) for p in alone)
    assert stream.starts == [0, len(alone[0]), len(alone[0]) + len(alone[1])]
    margin = 1   # the first frame of a run may still carry the previous run's state
    for part, single in zip(stream.runs, alone):
        assert part.name == single.name and part.labels == single.labels
        np.testing.assert_array_equal(part.controller_lines, single.controller_lines)
        np.testing.assert_array_equal(np.diff(part.table.stamps), np.diff(single.table.stamps))
        np.testing.assert_array_equal(part.table.continuous[margin:],
                                      single.table.continuous[margin:])
    # Nothing marks a run start: a window at the second run's first frame sees the first run.
    logits = frame_logits(model.backbone, model.line_heads, stream.stream.table, "window", WINDOW)
    first = frame_logits(model.backbone, model.line_heads, alone[1].table, "window", WINDOW)
    assert not np.allclose(logits["command"][stream.starts[1]], first["command"][0])
    late = stream.starts[1] + WINDOW   # a full window inside the second run: identical
    np.testing.assert_allclose(logits["command"][late], first["command"][WINDOW], atol=1e-5)


def test_continuous_report_is_per_run_like_the_separate_one(runs, model) -> None:
    layout = two_stream_layout()
    fmap = model.feature_map(layout)
    continuous = evaluate_continuous(model, prepare_continuous(runs, layout, fmap), "stateful")
    separate = evaluate_prepared(model, [prepare_run(r, layout, fmap) for r in runs], "stateful")
    assert [r.run for r in continuous.runs] == [r.run for r in separate.runs]
    assert [r.counts.frames for r in continuous.runs] == [r.counts.frames for r in separate.runs]
    assert continuous.info["continuous"] is True
    every = evaluate_continuous(model, prepare_continuous(runs, layout, fmap), every=2)
    assert every.overall().frames == sum(1 for i in range(len(runs[0]) + len(runs[1]) + 8)
                                         if i % 2 == 0)


def test_evaluate_runs_continuous_with_baselines(tmp_path, runs, model) -> None:
    write_program_run(tmp_path / "face_001_aligned.csv", _rows(6, 1), 20000.0)
    data = evaluate_runs(model, [tmp_path], two_stream_layout(), continuous=True).to_json()
    assert [r["run"] for r in data["runs"]] == ["damageface_004", "face_013", "pocket_014"]
    assert data["info"]["continuous"] is True and data["info"]["split"] == "validation"
    assert "program_line_lookup" in data["overall"]["baselines"]
    assert all("baselines" in r for r in data["runs"])
