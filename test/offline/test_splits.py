# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The temporal split: the latest runs of each family are validation, files always scored."""

from __future__ import annotations

import pytest

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.offline.splits import (
    in_split, split_paths, temporal_split, training_paths,
)


def test_latest_runs_of_each_family_are_validation() -> None:
    for family in ("face", "pocket150025", "adaptive"):
        assert [temporal_split(f"{family}_{n:03d}") for n in (1, 12, 13, 16, 17)] == [
            "train", "train", "validation", "validation", "validation"]
    for family in ("damageface", "damagepocket", "damageadaptive"):
        assert [temporal_split(f"{family}_{n:03d}") for n in (1, 3, 4)] == [
            "train", "train", "validation"]
    assert in_split("face_002", "all") and in_split("face_002", "train")
    assert not in_split("face_002", "validation")


def test_bad_names_and_splits_are_errors() -> None:
    with pytest.raises(RecordingError, match="expected a name <family>_<NNN>"):
        temporal_split("face-one")
    with pytest.raises(RecordingError, match="unknown split 'test'"):
        in_split("face_001", "test")


def test_folders_give_their_split_and_files_are_always_scored(tmp_path) -> None:
    names = ["face_001", "face_013", "damageface_003", "damageface_004"]
    for name in names:
        (tmp_path / f"{name}_aligned.csv").write_text("t_console,gcode_string\n")
    stems = [p.name.split("_aligned")[0] for p in split_paths([tmp_path])]
    assert stems == ["damageface_004", "face_013"]
    assert len(split_paths([tmp_path], "all")) == 4
    assert [p.name for p in split_paths([tmp_path], "train")] == [
        "damageface_003_aligned.csv", "face_001_aligned.csv"]
    explicit = tmp_path / "face_001_aligned.csv"
    assert split_paths([explicit]) == [explicit]   # a training run, asked for by name
    assert [p.name for p in training_paths([explicit])] == [
        "damageface_003_aligned.csv", "face_001_aligned.csv"]
    (tmp_path / "later").mkdir()
    (tmp_path / "later" / "face_014_aligned.csv").write_text("t_console,gcode_string\n")
    with pytest.raises(RecordingError, match="no train runs in"):
        split_paths([tmp_path / "later"], "train")
