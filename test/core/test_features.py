# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Feature sets and their resolution against a stream layout."""

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import FeatureMappingError
from streaming_gcode.core.features import feature_set, FEATURE_SETS, FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def layout():
    return StreamLayout.from_yaml(REPO / "config" / "stream.yaml")


def test_feature_sets_are_consistent():
    full, physical = FEATURE_SETS["full"], FEATURE_SETS["physical"]
    assert set(physical.continuous) < set(full.continuous)
    assert physical.categorical == ()
    assert "momo" in full.categorical and "line" in full.continuous
    assert not {"momo", "line", "posx"} & set(physical.continuous)
    assert len(physical.continuous) == 8 + 8 * 17


def test_both_feature_sets_map_onto_the_default_layout(layout):
    for name, fs in FEATURE_SETS.items():
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
        feature_set("fancy")
