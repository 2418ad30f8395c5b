# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The physics witness's progress library: templates, channel choice, drift, the tracker."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.libraries import library_from_dict
from streaming_gcode.model.progress_library import (
    build_progress_library, DAMAGED, JOB_GAP_NS, NORMAL, PROGRESS_FORMAT, ProgressLibrary,
    ProgressTracker, running_mean, select_channels,
)

PERIOD_NS = 250_000_000


def _label(command: str, x: str) -> LineLabel:
    return LineLabel(command, False, (("X", Decimal(x)),))


def test_progress_library_identifies_operation_condition_and_line() -> None:
    rng = np.random.default_rng(0)
    base_signal = np.sin(np.arange(40) / 3.0)[:, None] * np.array([[1.0, 2.0]])
    worn_signal = base_signal + np.array([[0.8, -0.6]])           # the damaged tool
    texts = [_label("G1" if k % 5 else "G0", f"{k}.5") for k in range(40)]
    runs = [(op, tool, signal + 0.05 * rng.normal(size=signal.shape), texts)
            for op, tool, signal in (("face", NORMAL, base_signal), ("face", NORMAL, base_signal),
                                     ("damageface", DAMAGED, worn_signal),
                                     ("damageface", DAMAGED, worn_signal))]
    library = ProgressLibrary.from_dict(build_progress_library(runs, ("a", "b")).to_dict())
    assert library.operations == ("damageface", "face")
    tracker = ProgressTracker(library)
    for k in range(30):
        reading = tracker.observe(k * PERIOD_NS, worn_signal[k] + np.array([0.01, np.nan]))
    assert reading.operation == "damageface" and reading.tool_condition == DAMAGED
    assert reading.progress == 29 and reading.line.label == texts[29]
    # the lines within the 2-frame timing slack, for the agreement monitor
    assert [t.label for t in reading.nearby] == texts[27:32]
    assert reading.tool_condition_confidence > 0.9
    # a pause longer than JOB_GAP_NS starts the next job: progress starts again
    reading = tracker.observe(29 * PERIOD_NS + JOB_GAP_NS + 1, base_signal[0])
    assert reading.progress == 0 and tracker.restarts == 2


def test_channels_that_drift_are_not_selected() -> None:
    rng = np.random.default_rng(1)
    steps = np.arange(50)
    runs = []
    for run in range(4):
        follows = np.sin(steps / 4.0) + 0.05 * rng.normal(size=50)     # repeats every run
        drifts = 20.0 * run + 0.01 * steps                              # level moves per run
        runs.append(("face", np.stack([follows, drifts], 1)))
    assert select_channels(runs, ("follows", "drifts")) == ["follows"]


def _two_operations(rng: np.random.Generator, channels: int = 5):
    """Two operations whose channels follow different courses, two recorded runs each."""
    steps = np.arange(60)[:, None]
    courses = {"pocket": np.sin(steps / 3.0 + np.arange(channels)),
               "adaptive": np.cos(steps / 5.0 + np.arange(channels))}
    texts = [_label("G1", f"{k}.5") for k in range(60)]
    runs = [(op, NORMAL, course + 0.05 * rng.normal(size=course.shape), texts)
            for op, course in courses.items() for _ in range(2)]
    return courses, runs


def _identified(library: ProgressLibrary, values: np.ndarray) -> str:
    tracker = library.tracker()
    for k, row in enumerate(values):
        reading = tracker.observe(k * PERIOD_NS, row)
    return reading.operation


def test_one_channel_far_off_does_not_outvote_the_others() -> None:
    courses, runs = _two_operations(np.random.default_rng(2))
    library = build_progress_library(runs, tuple("abcde"))
    observed = courses["pocket"].copy()
    observed[:, 0] = courses["adaptive"][:, 0] + 40.0 * np.abs(courses["pocket"][:, 0])
    assert _identified(library, observed) == "pocket"


def test_a_drifting_channel_is_compared_by_its_change_since_the_job_start() -> None:
    courses, runs = _two_operations(np.random.default_rng(3), channels=3)
    offset = np.array([0.0, 6.0, 6.0])               # two of three levels moved since training
    plain = build_progress_library(runs, ("a", "b", "c"))
    levelled = ProgressLibrary.from_dict(
        build_progress_library(runs, ("a", "b", "c"), levelled=("b", "c")).to_dict())
    assert levelled.levelled == ("b", "c")
    assert levelled.levelled_mask.tolist() == [False, True, True]
    observed = courses["pocket"] + offset
    assert _identified(plain, observed) != "pocket"         # the offset misleads the level
    assert _identified(levelled, observed) == "pocket"      # the change since the start does not
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
    _, runs = _two_operations(np.random.default_rng(4), channels=2)
    data = build_progress_library(runs, ("a", "b"), levelled=("b",)).to_dict()
    assert data["format"] == PROGRESS_FORMAT == "streaming_gcode.progress_library/2"
    with pytest.raises(ModelConfigError, match=r"levelled channels \['z'\]"):
        ProgressLibrary.from_dict({**data, "levelled": ["z"]})
    with pytest.raises(ModelConfigError, match=r"levelled must be a list of channel names, "
                                               r"got str"):
        ProgressLibrary.from_dict({**data, "levelled": "b"})


def test_a_library_of_the_first_format_reads_with_nothing_levelled() -> None:
    _, runs = _two_operations(np.random.default_rng(5), channels=2)
    data = build_progress_library(runs, ("a", "b")).to_dict()
    old = {k: v for k, v in data.items() if k != "levelled"}
    old["format"] = "streaming_gcode.progress_library/1"
    library = library_from_dict(old)
    assert isinstance(library, ProgressLibrary) and library.levelled == ()
    with pytest.raises(ModelConfigError, match=r"format 'streaming_gcode.progress_library/9'"):
        library_from_dict({**data, "format": "streaming_gcode.progress_library/9"})


def test_a_pause_restarts_the_levelling_with_the_job() -> None:
    courses, runs = _two_operations(np.random.default_rng(6), channels=3)
    library = build_progress_library(runs, ("a", "b", "c"), levelled=("b", "c"))
    tracker, observed = library.tracker(), courses["pocket"] + np.array([0.0, 6.0, 6.0])
    for k, row in enumerate(observed[:30]):
        tracker.observe(k * PERIOD_NS, row + 50.0)        # a first job far off in level
    restart = 29 * PERIOD_NS + JOB_GAP_NS + 1
    for k, row in enumerate(observed):
        reading = tracker.observe(restart + k * PERIOD_NS, row)
    assert tracker.restarts == 2 and reading.operation == "pocket"
    assert reading.operation_confidence > 0.9
