# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Feature sets and their resolution against a stream layout."""

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import FeatureMappingError
from streaming_gcode.core.features import feature_set, FEATURE_SET_DESCRIPTIONS, FeatureMap
from streaming_gcode.core.stream_layout import AlignmentSettings, StreamLayout
from streaming_gcode.core.stream_spec import StreamSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def layout():
    return StreamLayout.from_yaml(REPO / "config" / "stream.yaml")


def test_feature_sets_come_from_the_layout(layout):
    full, physical = feature_set("full", layout), feature_set("physical", layout)
    assert set(physical.continuous) < set(full.continuous)
    assert physical.categorical == ()
    assert full.categorical == ("stat", "unit", "dist", "coor", "momo")
    assert full.continuous[:8] == ("line", "posx", "posy", "posz", "mpox", "mpoy", "mpoz", "feed")
    assert not {"momo", "line", "posx"} & set(physical.continuous)
    assert len(physical.continuous) == 8 + 8 * 17
    assert len(full.continuous) == 8 + len(physical.continuous)


def test_feature_sets_on_another_cell():
    controller = StreamSpec("plc", "/plc", "sensor_msgs/msg/JointState", ("n", "mode", "x"),
                            role="controller", categorical=("mode",))
    imu = StreamSpec("imu", "/imu", "sensor_msgs/msg/Imu", ("linear_acceleration.z",))
    other = StreamLayout((controller, imu),
                         AlignmentSettings("plc", 4.0, 10**9, "hold_last", 5 * 10**8))
    assert feature_set("full", other).continuous == ("n", "x", "linear_acceleration.z")
    assert feature_set("full", other).categorical == ("mode",)
    assert feature_set("physical", other).continuous == ("linear_acceleration.z",)
    only_controller = StreamLayout((controller,), other.alignment)
    with pytest.raises(FeatureMappingError, match="no continuous input"):
        feature_set("physical", only_controller)


def test_both_feature_sets_map_onto_the_default_layout(layout):
    for name in FEATURE_SET_DESCRIPTIONS:
        fs = feature_set(name, layout)
        vocab = {c: [0, 1, 2] for c in fs.categorical}
        fmap = FeatureMap.build(layout, fs.continuous, fs.categorical, vocab)
        assert fmap.n_continuous == len(fs.continuous)
        used = sum(len(g.continuous_dst) + len(g.categorical_dst) for g in fmap.gathers)
        assert used == len(fs.continuous) + len(fs.categorical)
        if name == "physical":
            assert "momo" in fmap.unused_channels


def test_missing_features_are_listed_in_one_error(layout):
    with pytest.raises(FeatureMappingError) as info:
        FeatureMap.build(layout, ["posx", "laser.power", "coolant"], ["stat"], {})
    text = str(info.value)
    assert "laser.power" in text and "coolant" in text and "no categorical vocabulary" in text


def test_category_index_maps_codes_and_counts_unknowns(layout):
    fmap = FeatureMap.build(layout, ["posx"], ["momo"], {"momo": [0, 1, 2, 3]})
    assert fmap.category_index(0, 2.0) == 3
    assert fmap.unknown_categorical == 0
    assert fmap.category_index(0, 9.0) == 0
    assert fmap.unknown_categorical == 1


def test_fill_values_length_checked(layout):
    with pytest.raises(FeatureMappingError, match="fill_values has 1 entries, expected 2"):
        FeatureMap.build(layout, ["posx", "posy"], fill_values=np.zeros(1))


def test_unknown_feature_set():
    with pytest.raises(FeatureMappingError, match="unknown feature set 'fancy'"):
        feature_set("fancy", StreamLayout.from_yaml(REPO / "config" / "stream.yaml"))
