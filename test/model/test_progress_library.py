# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The physics witness's progress library: templates, channel choice, drift, shifted evidence."""

from __future__ import annotations

import numpy as np
import pytest

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.model.libraries import library_from_dict
from streaming_gcode.model.progress_library import (
    build_progress_library, PROGRESS_CAP, PROGRESS_FORMAT, ProgressLibrary, running_mean,
    select_channels,
)

from progress_support import identified, two_operations  # noqa: I100


def test_channels_that_drift_are_not_selected() -> None:
    rng = np.random.default_rng(1)
    steps = np.arange(50)
    runs = []
    for run in range(4):
        follows = np.sin(steps / 4.0) + 0.05 * rng.normal(size=50)     # repeats every run
        drifts = 20.0 * run + 0.01 * steps                              # level moves per run
        runs.append(("face", np.stack([follows, drifts], 1)))
    assert select_channels(runs, ("follows", "drifts")) == ["follows"]


def test_one_channel_far_off_does_not_outvote_the_others() -> None:
    courses, runs = two_operations(np.random.default_rng(2))
    library = build_progress_library(runs, tuple("abcde"))
    observed = courses["pocket"].copy()
    observed[:, 0] = courses["adaptive"][:, 0] + 40.0 * np.abs(courses["pocket"][:, 0])
    assert identified(library, observed) == "pocket"


def test_a_drifting_channel_is_compared_by_its_change_since_the_job_start() -> None:
    courses, runs = two_operations(np.random.default_rng(3), channels=3)
    offset = np.array([0.0, 6.0, 6.0])               # two of three levels moved since training
    plain = build_progress_library(runs, ("a", "b", "c"))
    levelled = ProgressLibrary.from_dict(
        build_progress_library(runs, ("a", "b", "c"), levelled=("b", "c")).to_dict())
    assert levelled.levelled == ("b", "c")
    assert levelled.levelled_mask.tolist() == [False, True, True]
    observed = courses["pocket"] + offset
    assert identified(plain, observed) != "pocket"         # the offset misleads the level
    assert identified(levelled, observed) == "pocket"      # the change since the start does not
    # the template holds the change since the start, as the tracker computes it causally
    o = levelled.operations.index("pocket")
    expected = courses["pocket"][:, 1] - running_mean(courses["pocket"])[:, 1]
    assert np.abs(levelled.templates[o][:, 1] - expected).max() < 0.2


def test_running_mean_skips_missing_values() -> None:
    values = np.array([[np.nan, 1.0], [2.0, 3.0], [4.0, np.nan]])
    means = running_mean(values)
    assert np.isnan(means[0, 0]) and means[1, 0] == 2.0 and means[2, 0] == 3.0
    assert means[:, 1].tolist() == [1.0, 2.0, 2.0]


def test_levelled_channels_must_be_a_list_of_library_channels() -> None:
    _, runs = two_operations(np.random.default_rng(4), channels=2)
    data = build_progress_library(runs, ("a", "b"), levelled=("b",)).to_dict()
    assert data["format"] == PROGRESS_FORMAT == "streaming_gcode.progress_library/2"
    with pytest.raises(ModelConfigError, match=r"levelled channels \['z'\]"):
        ProgressLibrary.from_dict({**data, "levelled": ["z"]})
    with pytest.raises(ModelConfigError, match=r"levelled must be a list of channel names, "
                                               r"got str"):
        ProgressLibrary.from_dict({**data, "levelled": "b"})


def test_a_library_of_the_first_format_reads_with_nothing_levelled() -> None:
    _, runs = two_operations(np.random.default_rng(5), channels=2)
    data = build_progress_library(runs, ("a", "b")).to_dict()
    old = {k: v for k, v in data.items() if k != "levelled"}
    old["format"] = "streaming_gcode.progress_library/1"
    library = library_from_dict(old)
    assert isinstance(library, ProgressLibrary) and library.levelled == ()
    with pytest.raises(ModelConfigError, match=r"format 'streaming_gcode.progress_library/9'"):
        library_from_dict({**data, "format": "streaming_gcode.progress_library/9"})


def test_shifted_evidence_compares_the_template_near_progress_plus_shift() -> None:
    courses, runs = two_operations(np.random.default_rng(7), channels=3)
    library = build_progress_library(runs, ("a", "b", "c"))
    o = library.operations.index("pocket")
    evidence = library.shifted_evidence(20, courses["pocket"][26], max_shift=8)
    assert evidence.shape == (2, 17)
    assert int(np.argmin(evidence[o])) in range(12, 17)      # shift +6, within the slack
    assert evidence[o, 8] > evidence[o, 14]                  # shift 0 fits worse
    late = library.shifted_evidence(59, courses["pocket"][59], max_shift=2)
    assert np.all(late[o, 3:] == PROGRESS_CAP)               # past the template's end: over
    assert late[o, 2] < PROGRESS_CAP
