# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Which source the demo runs: bag > given runs > the dataset > the simulated cell."""

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.package import repository_root
from streaming_gcode.tools.demo.sources import (
    choose_source, DATA_ENV, default_dataset, KIND_BAG, KIND_RECORDING, KIND_SIMULATED,
    SHIPPED_RECORDING, SOURCE_SIMULATED,
    warm_start,
)
from streaming_gcode.tools.harness.source_frames import Executed, SourceFrame


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """Lay out a clone at tmp/repo with the dataset at tmp/shared/data/bantam_cnc."""
    root = tmp_path / "repo"
    root.mkdir()
    dataset = tmp_path / "shared" / "data" / "bantam_cnc"
    dataset.mkdir(parents=True)
    (dataset / "face_001_aligned.csv.gz").write_bytes(b"")
    bag = tmp_path / "bag"
    bag.mkdir()
    return tmp_path


def test_bag_wins_over_data_and_dataset(tree):
    choice = choose_source(str(tree / "bag"), str(tree / "shared"), env={}, root=tree / "repo")
    assert (choice.kind, choice.path) == (KIND_BAG, tree / "bag")


def test_given_data_wins_over_the_dataset(tree):
    run = tree / "shared" / "data" / "bantam_cnc" / "face_001_aligned.csv.gz"
    choice = choose_source(None, str(run), env={}, root=tree / "repo")
    assert (choice.kind, choice.path) == (KIND_RECORDING, run)


def test_dataset_next_to_the_repository_is_found(tree):
    choice = choose_source(env={}, root=tree / "repo")
    assert (choice.kind, choice.path) == (KIND_RECORDING, tree / "shared" / "data" / "bantam_cnc")
    assert choice.reason.startswith("dataset at ")


def test_without_a_root_the_dataset_is_next_to_this_clone():
    expected = repository_root().parent / "shared" / "data" / "bantam_cnc"
    assert default_dataset({}) == expected
    assert (repository_root() / "streaming_gcode" / "tools").is_dir()


def test_environment_points_elsewhere_and_an_empty_folder_means_simulation(tree, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert default_dataset({DATA_ENV: str(empty)}, tree / "repo") == empty
    choice = choose_source(env={DATA_ENV: str(empty)}, root=tree / "repo", shipped=lambda: None)
    assert (choice.kind, choice.path) == (KIND_SIMULATED, None)
    assert choice.reason == f"no recording found at {empty}"
    missing = choose_source(env={DATA_ENV: str(tmp_path / "nowhere")}, root=tree / "repo",
                            shipped=lambda: None)
    assert missing.kind == KIND_SIMULATED


def test_without_the_dataset_the_shipped_recording_plays(tmp_path):
    choice = choose_source(env={DATA_ENV: str(tmp_path / "nowhere")}, root=tmp_path)
    assert choice.kind == KIND_BAG
    assert choice.path == repository_root() / SHIPPED_RECORDING
    assert (choice.path / "metadata.yaml").is_file()
    assert choice.reason == f"shipped recording (no dataset at {tmp_path / 'nowhere'})"


def test_the_dataset_wins_over_the_shipped_recording(tree):
    assert choose_source(env={}, root=tree / "repo").kind == KIND_RECORDING


def test_source_sim_selects_the_simulated_cell_whatever_exists(tree):
    choice = choose_source(env={}, root=tree / "repo", source=SOURCE_SIMULATED)
    assert (choice.kind, choice.reason) == (KIND_SIMULATED, "asked for (--source sim)")
    with pytest.raises(ConfigError, match="--source sim runs the simulated cell"):
        choose_source(bag=str(tree / "bag"), source=SOURCE_SIMULATED)
    with pytest.raises(ConfigError, match="--source 'tape': expected one of auto, sim"):
        choose_source(source="tape")


def test_explicit_sources_that_do_not_exist_are_errors(tmp_path):
    with pytest.raises(ConfigError, match="--bag .*nope: no such bag folder or file"):
        choose_source(bag=str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="--data .*nope: no such run file or folder"):
        choose_source(data=str(tmp_path / "nope"))


def _frames(start_ns: int, period_ns: int, count: int):
    for i in range(count):
        stamp = start_ns + i * period_ns
        yield SourceFrame(i * period_ns, ((0, stamp, np.array([float(i)])),),
                          Executed(stamp, f"G1 X{i}.", "G1", False, i, "run"))


def test_warm_start_compresses_the_first_frames_then_keeps_the_pace():
    start, period = 10**18, 250_000_000
    frames = list(warm_start(_frames(start, period, 8), count=4, factor=5.0))
    dues = [f.due_ns for f in frames]
    fast = period // 5
    assert dues == [0, fast, 2 * fast, 3 * fast,
                    3 * fast + period, 3 * fast + 2 * period, 3 * fast + 3 * period,
                    3 * fast + 4 * period]
    for i, frame in enumerate(frames):
        assert frame.samples[0][1] == start + frame.due_ns == frame.executed.stamp_ns
        assert frame.samples[0][2][0] == i and frame.executed.gcode == f"G1 X{i}."
    with pytest.raises(ConfigError, match="warm-start factor must be >= 1, got 0.5"):
        next(warm_start(_frames(start, period, 1), 1, 0.5))
