# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Synthetic recorded operations for the physics witness's library and tracker tests."""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.progress_library import NORMAL, ProgressLibrary
from streaming_gcode.model.progress_tracker import ProgressTracker

PERIOD_NS = 250_000_000   # the 4 Hz status rate


def label(command: str, x: str) -> LineLabel:
    """Return a one-parameter line label."""
    return LineLabel(command, False, (("X", Decimal(x)),))


def two_operations(rng: np.random.Generator, channels: int = 5):
    """Two operations whose channels follow different courses, two recorded runs each."""
    steps = np.arange(60)[:, None]
    courses = {"pocket": np.sin(steps / 3.0 + np.arange(channels)),
               "adaptive": np.cos(steps / 5.0 + np.arange(channels))}
    texts = [label("G1", f"{k}.5") for k in range(60)]
    runs = [(op, NORMAL, course + 0.05 * rng.normal(size=course.shape), texts)
            for op, course in courses.items() for _ in range(2)]
    return courses, runs


def identified(library: ProgressLibrary, values: np.ndarray) -> str:
    """Return the operation a fresh tracker judges running after `values` [N, E]."""
    tracker = ProgressTracker(library)
    for k, row in enumerate(values):
        reading = tracker.observe(k * PERIOD_NS, row)
    return reading.operation
