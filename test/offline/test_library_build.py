# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""library_build: the shipped libraries hold every run; evaluation rebuilds the past one."""

from __future__ import annotations

import shutil

import pytest

from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.stream_layout import resolve_layout
from streaming_gcode.model.checkpoint import load_checkpoint
from streaming_gcode.offline.library_build import training_config_of, validated_library_model


@pytest.fixture(scope="module")
def shipped_full():
    path = default_checkpoint("full")
    if path is None:
        pytest.skip("models/full.pt is not in this tree")
    return load_checkpoint(path)


def test_the_shipped_library_holds_every_run_and_records_the_past_ones(shipped_full) -> None:
    info = shipped_full.metadata.training["library"]
    assert info["library_runs"] == "all"
    assert set(info["validated_with_runs"]) < set(info["runs"])
    assert "face_013" in info["runs"] and "face_013" not in info["validated_with_runs"]
    assert training_config_of(shipped_full).library_runs == "all"


@pytest.mark.data
def test_the_scored_runs_in_the_library_are_rebuilt_away_or_flagged(shipped_full, data_dir,
                                                                    tmp_path) -> None:
    layout = resolve_layout(None)
    unaffected, note = validated_library_model(shipped_full, [data_dir], layout, ["unseen_001"])
    assert unaffected is shipped_full and note == ""
    lone = tmp_path / "face_013_aligned.csv.gz"   # the past runs are not beside it
    shutil.copy(data_dir / lone.name, lone)
    kept, note = validated_library_model(shipped_full, [lone], layout, ["face_013"])
    assert kept is shipped_full
    assert note.startswith("the model's library holds 1 of the scored runs")
    assert note.endswith("these scores are not a validation")
