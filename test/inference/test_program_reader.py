# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""ProgramReader: each frame fed once whatever the feed, so the engine reads as offline does."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import FeatureMappingError
from streaming_gcode.core.machines import SINGLE_MACHINE
from streaming_gcode.inference.backends import make_runner
from streaming_gcode.inference.engine import InferenceEngine
from streaming_gcode.inference.program_reader import ProgramReader, read_frames
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.model.program_library import build_library, ProgramLibrary

torch.set_num_threads(1)
NAMES = ("line", "x", "noise")
WINDOW = 6
PERIOD = 250_000_000
T0 = 5_000_000_000


def _library() -> ProgramLibrary:
    lines = np.arange(1, 31, dtype=np.float64)
    runs = []
    for family, offset in (("a", 0.0), ("b", 5.0)):
        labels = [LineLabel("G1", False, (("X", Decimal(int(n) + int(offset))),)) for n in lines]
        runs.append((family, lines, (lines + offset)[:, None], labels))
    return build_library(runs, "line", ("x",))


def _stream() -> np.ndarray:
    """Program b for 20 lines, then a restart into program a (a new job)."""
    rng = np.random.default_rng(1)
    lines = np.r_[np.arange(1, 21), np.arange(1, 16)].astype(np.float32)
    x = np.r_[np.arange(1, 21) + 5.0, np.arange(1, 16)].astype(np.float32)
    return np.stack([lines, x, rng.normal(size=len(lines)).astype(np.float32)], 1)


def test_overlapping_windows_feed_each_frame_once() -> None:
    library, frames = _library(), _stream()
    stamps = T0 + PERIOD * np.arange(len(frames))
    expected = read_frames(library, NAMES, stamps, frames)
    reader = ProgramReader(library, NAMES)
    got = []
    for end in range(1, len(frames) + 1):          # a full window every frame, as full_window
        start = max(0, end - WINDOW)
        got.append(reader.observe(stamps[start:end], frames[start:end], start + 1))
    assert got == expected
    assert expected[19].program == "b" and expected[-1].program == "a"
    assert expected[-1].line.label.params == (("X", Decimal(15)),)
    assert reader.tracker.restarts == 1


@pytest.mark.parametrize("mode", ["full_window", "incremental"])
def test_engine_readings_equal_offline_readings(mode: str) -> None:
    library, frames = _library(), _stream()
    config = ModelConfig(n_continuous=3, categorical_sizes=[], head_sizes={"command": 3},
                         d_model=8, num_layers=1, dropout=0.0, window=WINDOW)
    backbone, heads = build_model(config, seed=0)
    engine = InferenceEngine(make_runner("torch", backbone.eval(), heads.eval(), 1),
                             [SINGLE_MACHINE], WINDOW, 4 * WINDOW, 3, 0, mode=mode,
                             library=library, continuous_names=NAMES)
    buffer = AlignedRingBuffer(4 * WINDOW, 3, 0)
    expected = read_frames(library, NAMES, T0 + PERIOD * np.arange(len(frames)), frames)
    ticks = 0
    for t, row in enumerate(frames):
        buffer.append(T0 + t * PERIOD, row, np.zeros(0, np.int64), False)
        if t % 2 == 1 or t == len(frames) - 1:     # stride 2: a tick every other frame
            plans = engine.prepare({SINGLE_MACHINE: buffer})
            if plans is None:                       # the window is not full yet
                continue
            result = engine.infer(plans)[SINGLE_MACHINE]
            assert result.reading == expected[t]
            ticks += 1
    assert ticks >= len(frames) // 2 - WINDOW


def test_library_channels_must_be_model_inputs() -> None:
    with pytest.raises(FeatureMappingError, match=r"reads \['x'\]"):
        ProgramReader(_library(), ("line", "noise"))


def test_the_fill_values_reach_the_witness_tracker_in_its_input_order() -> None:
    from streaming_gcode.model.progress_library import build_progress_library, NORMAL
    from streaming_gcode.model.progress_tracker import ProgressTracker
    rng = np.random.default_rng(2)
    course = np.sin(np.arange(40)[:, None] / 3.0 + np.arange(2))
    labels = [LineLabel("G1", False, (("X", Decimal(k)),)) for k in range(40)]
    library = build_progress_library(
        [("face", NORMAL, course + 0.02 * rng.normal(size=course.shape), labels)], ("x", "line"))
    fill = np.array([7.0, 8.0, 9.0], np.float32)             # NAMES: line, x, noise
    reader = ProgramReader(library, NAMES, fill)
    assert isinstance(reader.tracker, ProgressTracker)
    np.testing.assert_array_equal(reader.tracker.fill_values, [8.0, 7.0])   # x, line
