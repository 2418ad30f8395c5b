# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Training: split in time, statistics, windows, and a tiny run that beats the baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.package import default_stream_config
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.alignment import FrameTable
from streaming_gcode.model.checkpoint import load_checkpoint
from streaming_gcode.model.gcode import label_lines
from streaming_gcode.model.vocabulary import OutputVocabulary
from streaming_gcode.offline.labelled_windows import (
    gather_windows,
    IGNORE_INDEX,
    prepare_run,
    PreparedRun,
    run_labels,
    targets,
    window_starts,
)
from streaming_gcode.offline.metrics import majority_baseline
from streaming_gcode.offline.splits import every_fourth_split, training_roles
from streaming_gcode.offline.training import input_statistics, train
from streaming_gcode.offline.training_config import TrainingConfig
from streaming_gcode.recordings.csv_runs import load_run, rows_at

TINY_RUNS = ("pocket_010", "pocket_011", "pocket_012", "pocket_013")


def _layout() -> StreamLayout:
    return StreamLayout.from_yaml(default_stream_config())


@pytest.mark.parametrize("name,split", [
    ("face_004", "validation"), ("face_016", "validation"), ("damageface_004", "validation"),
    ("face_002", "tune"), ("pocket150025_010", "tune"), ("face_001", "train"),
    ("face_006", "train"), ("face_014", "train"), ("damagepocket_003", "train"),
])
def test_every_fourth_split_is_by_run_number(name: str, split: str) -> None:
    assert every_fourth_split(name) == split


def test_every_fourth_split_of_unnumbered_runs_is_stable() -> None:
    assert every_fourth_split("morning_shift") == every_fourth_split("morning_shift")
    assert {every_fourth_split(f"cell{c}_x") for c in "abcdefghijklmnop"} == {
        "train", "tune", "validation"}


def test_training_roles_are_in_time() -> None:
    names = [f"face_{n:03d}" for n in range(1, 17)] + [f"damageface_{n:03d}" for n in range(1, 5)]
    roles = training_roles(names + ["morning_shift"])
    assert [n for n in names if roles[n] == "validation"] == [
        "face_013", "face_014", "face_015", "face_016", "damageface_004"]
    assert [n for n in names if roles[n] == "tune"] == ["face_011", "face_012", "damageface_003"]
    assert roles["morning_shift"] == every_fourth_split("morning_shift")
    # tune and validation always come after every training run of the family
    latest_train = max(n for n in names if roles[n] == "train" and n.startswith("face_"))
    assert latest_train == "face_010"


def test_window_starts_cover_the_run_and_end_at_its_end() -> None:
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]
    assert window_starts(3, 4, 3).tolist() == [0]


def test_gather_windows_pads_short_runs_at_the_end_with_ignored_targets() -> None:
    table = FrameTable(np.arange(3, dtype=np.int64), np.arange(6, dtype=np.float32).reshape(3, 2),
                       np.ones((3, 1), dtype=np.int64), np.zeros(3, bool))
    batch = gather_windows([table], [{"command": np.array([1, 2, 3])}], [(0, 0)], 5)
    assert batch.continuous.shape == (1, 5, 2)
    np.testing.assert_array_equal(batch.continuous[0, 3:], [[4, 5], [4, 5]])
    np.testing.assert_array_equal(batch.targets["command"][0],
                                  [1, 2, 3, IGNORE_INDEX, IGNORE_INDEX])


def test_targets_ignore_unlabelled_frames() -> None:
    labels = label_lines(["G0 X1.", "", "X2."], [0.0, float("nan"), 0.0])
    vocab = OutputVocabulary.build(labels)
    table = FrameTable(np.arange(3), np.zeros((3, 1), np.float32), np.zeros((3, 0), np.int64),
                       np.zeros(3, bool))
    out = targets(PreparedRun("r", "f", table, labels), vocab)
    assert out["command"].tolist() == [1, IGNORE_INDEX, 1]
    assert out["form"].tolist() == [0, IGNORE_INDEX, 1]


@pytest.mark.data
def test_frames_come_from_the_node_alignment_and_carry_their_row_label(data_dir) -> None:
    run = load_run(data_dir / "pocket_001_aligned.csv.gz")
    layout = _layout()
    mean, std, codes = input_statistics([run], ["line", "x_motor"], ["momo"])
    assert mean[0] == pytest.approx(np.nanmean(run.columns["line"]))
    assert codes["momo"] == sorted({int(v) for v in run.columns["momo"] if v == v})
    from streaming_gcode.core.features import FeatureMap

    fmap = FeatureMap.build(layout, ["line", "x_motor"], ["momo"], codes, mean.astype(np.float32))
    prepared = prepare_run(run, layout, fmap)
    rows = rows_at(run, prepared.table.stamps)
    np.testing.assert_array_equal(prepared.table.continuous[:, 0], run.columns["line"][rows])
    for label, row in zip(prepared.labels, rows):
        assert (label is None) == (not run.gcode[row])


@pytest.mark.data
def test_no_training_runs_is_a_clear_error(data_dir) -> None:
    config = TrainingConfig(data=[str(data_dir / "pocket_013_aligned.csv.gz")])
    with pytest.raises(RecordingError, match="no training runs among 1 runs"):
        train(config, _layout(), progress=False)


@pytest.mark.data
@pytest.mark.slow
def test_tiny_training_beats_the_majority_baseline(data_dir, tmp_path) -> None:
    torch.set_num_threads(1)
    config = TrainingConfig(
        data=[str(data_dir / f"{name}_aligned.csv.gz") for name in TINY_RUNS],
        d_model=32, num_layers=1, window=32, window_stride=16, batch_size=16, lr=5e-3,
        max_epochs=6, patience=6, threads=1, dropout=0.0, tune_every=2,
    )
    result = train(config, _layout(), out=tmp_path / "tiny.pt", command="test", progress=False)
    assert result.split == {"train": ["pocket_010", "pocket_011"], "tune": ["pocket_012"],
                            "validation": ["pocket_013"]}
    report = result.validation.to_json()
    vocab = result.model.vocabulary
    run = result.validation.runs[0]
    assert run.run == "pocket_013"
    prepared_labels = [label for label in run_labels(load_run(
        data_dir / "pocket_013_aligned.csv.gz")) if label is not None]
    assert len(prepared_labels) == report["overall"]["frames"] > 0  # one frame per status row
    # The baseline: always the most frequent validation line (at the vocabulary's precision).
    keys = [vocab.key(label) for label in prepared_labels]
    baseline = majority_baseline(keys)
    overall = report["overall"]
    assert overall["command_accuracy"] > baseline["command_accuracy"] + 0.02
    assert overall["param_letter_f1"] > baseline["param_letter_f1"] + 0.1
    assert overall["value_accuracy"] > baseline["value_accuracy"]
    loaded = load_checkpoint(tmp_path / "tiny.pt")
    assert loaded.metadata.validation_metrics["overall"] == overall
    assert loaded.metadata.training["split"] == result.split
    assert loaded.metadata.training_command == "test"
    # the full feature set reads the controller: the past runs became a program library
    library = loaded.metadata.library
    assert library is not None and library.programs == ("pocket",)
    assert overall["exact_line_accuracy"] > baseline["exact_line_accuracy"] + 0.5


@pytest.mark.data
def test_same_seed_same_weights(data_dir) -> None:
    torch.set_num_threads(1)
    config = TrainingConfig(
        data=[str(data_dir / "pocket_001_aligned.csv.gz")],  # a train run only: no evaluation
        feature_set="physical", d_model=8, num_layers=1, window=16, window_stride=16,
        batch_size=16, max_epochs=1, threads=1, tune_every=8,
    )
    first, second = (train(config, _layout(), progress=False).model for _ in range(2))
    for a, b in zip(first.backbone.state_dict().values(), second.backbone.state_dict().values()):
        assert torch.equal(a, b)
    other = train(TrainingConfig(**{**vars(config), "seed": 1}), _layout(), progress=False).model
    assert not torch.equal(other.line_heads.heads["command"].weight,
                           first.line_heads.heads["command"].weight)


def test_unknown_library_runs_is_a_config_error() -> None:
    from streaming_gcode.core.errors import ConfigError

    with pytest.raises(ConfigError, match="library_runs 'later'"):
        train(TrainingConfig(data=[], library_runs="later"), _layout(), progress=False)


@pytest.mark.data
@pytest.mark.slow
def test_library_runs_all_validates_the_past_library_then_refits_on_every_run(
        data_dir, tmp_path) -> None:
    """`--library-runs all`: the same validation figures as `past`, a library of all runs."""
    torch.set_num_threads(1)
    config = TrainingConfig(
        data=[str(data_dir / f"{name}_aligned.csv.gz") for name in TINY_RUNS],
        d_model=8, num_layers=1, window=16, window_stride=16, batch_size=16, max_epochs=1,
        threads=1, tune_every=8,
    )
    past = train(config, _layout(), progress=False).model
    refit = train(TrainingConfig(**{**vars(config), "library_runs": "all"}), _layout(),
                  out=tmp_path / "all.pt", progress=False).model
    loaded = load_checkpoint(tmp_path / "all.pt")
    earlier = ["pocket_010", "pocket_011", "pocket_012"]
    assert past.metadata.training["library"] == {
        "library_runs": "past", "runs": earlier, "validated_with_runs": earlier}
    assert loaded.metadata.training["library"] == {
        "library_runs": "all", "runs": [*earlier, "pocket_013"], "validated_with_runs": earlier}
    assert loaded.metadata.training["config"]["library_runs"] == "all"
    # validation scored the past-only library: the figures are those of `past`
    assert loaded.metadata.validation_metrics == past.metadata.validation_metrics
    assert loaded.metadata.validation_metrics["library_runs"] == earlier
    # the saved library counted the validation run too
    assert loaded.metadata.program_library != past.metadata.program_library
    assert loaded.metadata.program_library == refit.metadata.program_library
    for a, b in zip(past.backbone.state_dict().values(), loaded.backbone.state_dict().values()):
        assert torch.equal(a, b)
    # evaluate rebuilds the library from the runs it was validated with: the past scores
    from streaming_gcode.offline.evaluate_runs import evaluate_runs

    runs = [config.data[-1]]   # pocket_013, the validation run
    as_past = evaluate_runs(past, runs, _layout(), continuous=True)
    as_refit = evaluate_runs(loaded, runs, _layout(), continuous=True)
    assert as_refit.to_json()["overall"] == as_past.to_json()["overall"]
    assert "rebuilt from the 3 runs it was validated with" in as_refit.info["library_note"]
    assert as_refit.info["scored_runs_in_model_training"] == []
    assert "library_note" not in as_past.info


NEW_CELL_LAYOUT = """\
/**:
  ros__parameters:
    stream_names: [plc, drives, vibration]
    frame_clock: plc
    sample_rate_hz: 4.0
    max_staleness_s: 1.0
    stale_policy: hold_last
    alignment_timeout_s: 0.5
    streams:
      plc:
        topic: plc/status
        type: sensor_msgs/msg/JointState
        field: position
        channels: [stat, line, posx, posy, posz, feed, momo]
        role: controller
        categorical: [stat, momo]
      drives:
        topic: drives/currents
        type: sensor_msgs/msg/JointState
        field: effort
        channels: [spindle, x_motor, y_motor, z_motor]
      vibration:
        topic: vibration/frame
        type: sensor_msgs/msg/JointState
        channels: [frame_l2.Ax, frame_l2.Ay, frame_l2.Az, frame_l2.RMS]
"""


@pytest.mark.ros
@pytest.mark.data
@pytest.mark.slow
def test_a_new_cell_trains_from_its_bags_and_the_node_runs_it(data_dir, tmp_path) -> None:
    """The new-cell workflow: its own layout (other topics, fewer boards), bags, train, run."""
    from streaming_gcode.recordings.bag_writer import write_run_bag
    from streaming_gcode.tools.live_eval.bag_evaluation import evaluate_live
    from streaming_gcode.tools.live_eval.playback import LiveOptions

    layout_path = tmp_path / "cell.yaml"
    layout_path.write_text(NEW_CELL_LAYOUT, encoding="utf-8")
    layout = StreamLayout.from_yaml(layout_path)
    bags = tmp_path / "bags"
    for name in TINY_RUNS:
        write_run_bag(load_run(data_dir / f"{name}_aligned.csv.gz"), layout, bags / name)
    torch.set_num_threads(1)
    config = TrainingConfig(data=[], bags=[str(bags)], layout=str(layout_path), d_model=16,
                            num_layers=1, window=16, window_stride=16, batch_size=16,
                            max_epochs=1, threads=1, tune_every=4)
    result = train(config, layout, out=tmp_path / "cell.pt", command="test", progress=False)
    meta = result.model.metadata
    assert meta.continuous_features == ["line", "posx", "posy", "posz", "feed", "spindle",
                                        "x_motor", "y_motor", "z_motor", "frame_l2.Ax",
                                        "frame_l2.Ay", "frame_l2.Az", "frame_l2.RMS"]
    assert meta.categorical_features == ["stat", "momo"]
    assert meta.library is not None and meta.library.programs == ("pocket",)
    assert result.split["validation"] == ["pocket_013"]
    assert result.validation.to_json()["overall"]["exact_line_accuracy"] > 0.9
    options = LiveOptions(rate=20.0, node_parameters={"stride": 4})
    report, _ = evaluate_live([bags / "pocket_013"], tmp_path / "cell.pt", layout_path, options)
    run = report["runs"][0]
    assert run["online_equals_offline"], run["offline_mismatches"]
    assert run["predictions"] > 20 and run["lost_messages"] == 0
    with pytest.raises(RecordingError, match="/plc/line_text"):
        train(TrainingConfig(**{**vars(config), "label_topic": "plc/line_text"}), layout,
              progress=False)
