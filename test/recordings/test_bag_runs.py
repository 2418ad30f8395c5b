# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bags as runs: the frames and labels of a csv2bag bag equal those of its source run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.features import feature_set, FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.offline.labelled_windows import prepare_run
from streaming_gcode.recordings.bag_runs import load_bag_run
from streaming_gcode.recordings.bag_writer import write_run_bag
from streaming_gcode.recordings.csv_runs import load_run

REPO = Path(__file__).resolve().parents[2]
RUN = "damageface_004"


@pytest.fixture(scope="module")
def recorded(data_dir, tmp_path_factory):
    source = data_dir / f"{RUN}_aligned.csv.gz"
    if not source.is_file():
        pytest.skip(f"{source} is not in the dataset")
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    bag = tmp_path_factory.mktemp("bags") / RUN
    run = load_run(source)
    write_run_bag(run, layout, bag)
    return run, bag, layout


@pytest.mark.data
def test_a_bag_gives_the_frames_and_labels_of_its_source_run(recorded) -> None:
    run, bag, layout = recorded
    from_bag = load_bag_run(bag, layout)
    assert from_bag.name == RUN and from_bag.family == "damageface"
    features = feature_set("full", layout)
    fmap = FeatureMap.build(layout, features.continuous, features.categorical,
                            {c: list(range(10)) for c in features.categorical})
    offline, replayed = prepare_run(run, layout, fmap), prepare_run(from_bag, layout, fmap)
    assert len(replayed) == len(offline) > 100
    np.testing.assert_array_equal(replayed.table.continuous, offline.table.continuous)
    np.testing.assert_array_equal(replayed.table.categorical, offline.table.categorical)
    assert replayed.labels == offline.labels


@pytest.mark.data
def test_a_missing_label_topic_is_one_clear_error(recorded) -> None:
    _, bag, layout = recorded
    with pytest.raises(RecordingError, match="/cnc/line_text"):
        load_bag_run(bag, layout, "cnc/line_text")


def test_a_path_that_is_not_a_bag_is_one_clear_error(tmp_path) -> None:
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    (tmp_path / "notes.txt").write_text("not a bag")
    with pytest.raises(RecordingError, match="notes.txt"):
        load_bag_run(tmp_path / "notes.txt", layout)
