# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The physics witness's tracker: operation, condition and line frame by frame, job starts."""

from __future__ import annotations

import numpy as np

from streaming_gcode.model.progress_library import (
    build_progress_library, DAMAGED, JOB_GAP_NS, NORMAL, ProgressLibrary,
)
from streaming_gcode.model.progress_tracker import OPERATION_SHIFT, ProgressTracker

from progress_support import label, PERIOD_NS, two_operations  # noqa: I100


def test_progress_library_identifies_operation_condition_and_line() -> None:
    rng = np.random.default_rng(0)
    base_signal = np.sin(np.arange(40) / 3.0)[:, None] * np.array([[1.0, 2.0]])
    worn_signal = base_signal + np.array([[0.8, -0.6]])           # the damaged tool
    texts = [label("G1" if k % 5 else "G0", f"{k}.5") for k in range(40)]
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


def test_a_pause_restarts_the_levelling_with_the_job() -> None:
    courses, runs = two_operations(np.random.default_rng(6), channels=3)
    library = build_progress_library(runs, ("a", "b", "c"), levelled=("b", "c"))
    tracker, observed = ProgressTracker(library), courses["pocket"] + np.array([0.0, 6.0, 6.0])
    for k, row in enumerate(observed[:30]):
        tracker.observe(k * PERIOD_NS, row + 50.0)        # a first job far off in level
    restart = 29 * PERIOD_NS + JOB_GAP_NS + 1
    for k, row in enumerate(observed):
        reading = tracker.observe(restart + k * PERIOD_NS, row)
    assert tracker.restarts == 2 and reading.operation == "pocket"
    assert reading.operation_confidence > 0.9


def test_a_job_seen_from_a_later_frame_is_recognised_by_its_shifted_template() -> None:
    rng = np.random.default_rng(8)
    steps = np.arange(70)[:, None]
    pocket = np.sin(steps / 3.0 + np.arange(4))
    # adaptive starts as pocket 6 frames in, then follows a course of its own
    adaptive = np.where(steps < 20, np.sin((steps + 6) / 3.0 + np.arange(4)),
                        np.cos(steps / 5.0 + np.arange(4)))
    texts = [label("G1", f"{k}.5") for k in range(70)]
    runs = [(op, NORMAL, course[:64] + 0.02 * rng.normal(size=(64, 4)), texts[:64])
            for op, course in (("pocket", pocket), ("adaptive", adaptive)) for _ in range(2)]
    library = build_progress_library(runs, tuple("abcd"))
    observed = pocket[6:56]                       # the node started 6 frames into the job
    readings = {}
    for shift in (0, OPERATION_SHIFT):
        tracker = ProgressTracker(library, max_shift=shift)
        for k, row in enumerate(observed):
            readings[shift] = tracker.observe(k * PERIOD_NS, row)
    assert readings[0].operation == "adaptive"    # frames since the start alone: misled
    assert readings[OPERATION_SHIFT].operation == "pocket"
    # the line stays at the frames since the start, whatever shift judged the operation
    assert readings[OPERATION_SHIFT].progress == 49
    assert readings[OPERATION_SHIFT].line.label == texts[49]


def _missing_board_case():
    """Pocket and adaptive; adaptive's first three channels sit at 0.0, the fill value."""
    rng = np.random.default_rng(9)
    steps = np.arange(60)[:, None]
    pocket = np.sin(steps / 3.0 + np.arange(5))
    adaptive = np.cos(steps / 5.0 + np.arange(5))
    adaptive[:, :3] = 0.0
    texts = [label("G1", f"{k}.5") for k in range(60)]
    runs = [(op, NORMAL, course + 0.02 * rng.normal(size=course.shape), texts)
            for op, course in (("pocket", pocket), ("adaptive", adaptive)) for _ in range(2)]
    observed = pocket.copy()
    observed[:, :3] = 0.0        # the board of the first three channels is not reporting
    return build_progress_library(runs, tuple("abcde")), observed


def test_inputs_at_the_fill_value_are_a_missing_board_and_left_out() -> None:
    library, observed = _missing_board_case()
    fill = np.zeros(5, np.float32)
    readings = {}
    for given in (None, fill):
        tracker = ProgressTracker(library, fill_values=given)
        for k, row in enumerate(observed):
            readings[given is None] = tracker.observe(k * PERIOD_NS, row)
    assert readings[True].operation == "adaptive"    # the filled channels decide: misled
    assert readings[False].operation == "pocket"     # the reporting channels decide
