# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Replaying recorded runs: the schedule of messages, their stamps and the executed lines."""

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError, RecordingError
from streaming_gcode.core.stream_layout import NS_PER_S, StreamLayout
from streaming_gcode.recordings.csv_runs import load_run, run_samples
from streaming_gcode.tools.demo.recording_source import (
    missing_streams, order_runs, RecordingSource, replay_schedule, run_duration_ns,
)

from recording_support import two_stream_layout, write_run  # noqa: I100

REPO = Path(__file__).resolve().parents[3]
START = 1_760_000_000 * NS_PER_S


@pytest.fixture(scope="module")
def layout() -> StreamLayout:
    return StreamLayout.from_yaml(REPO / "config" / "stream.yaml")


@pytest.fixture(scope="module")
def small_layout() -> StreamLayout:
    return two_stream_layout()


def _write(path: Path, rows: str) -> Path:
    return write_run(path, rows)


@pytest.fixture()
def two_runs(tmp_path: Path) -> Path:
    _write(tmp_path / "face_001_aligned.csv",
           "10:00:00.000,5,1,5.1,1.0,10,G1 X1.\n"
           "10:00:00.250,5,3,,1.1,11,X1.1 Y0.2 R0.083\n"
           "10:00:00.500,5,0,5.2,1.2,12,G0 Z0.6\n")
    _write(tmp_path / "adaptive_001_aligned.csv",
           "11:00:00.000,5,1,5.0,2.0,20,G1 X2.\n"
           "11:00:00.300,3,4,5.0,2.0,21,M30\n")
    return tmp_path


@pytest.fixture(scope="module")
def face_001(data_dir: Path):
    path = data_dir if data_dir.is_file() else data_dir / "face_001_aligned.csv.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return load_run(path)


def test_schedule_of_a_real_run_keeps_order_spacing_and_values(face_001, layout):
    run = face_001
    frames = list(replay_schedule(run, layout, START))
    assert len(frames) == len(run)
    offsets = run.stamps_ns - run.stamps_ns[0]
    np.testing.assert_array_equal([f.due_ns for f in frames], offsets)
    expected = list(run_samples(run, layout))
    published = [s for f in frames for s in f.samples]
    assert len(published) == len(expected)
    for (index, stamp, values), (e_index, e_stamp, e_values) in zip(published, expected):
        assert index == e_index
        assert stamp == START + (e_stamp - run.stamps_ns[0])
        np.testing.assert_array_equal(values, e_values)
    for row, frame in enumerate(frames):
        assert frame.executed.stamp_ns == START + offsets[row]
        assert frame.executed.gcode == run.gcode[row]
        assert all(stamp == frame.executed.stamp_ns for _, stamp, _ in frame.samples)
    # A continuation line takes its command from the controller's motion mode.
    row = run.gcode.index("X3.275 Y0.3746 R0.083")
    assert (frames[row].executed.command, frames[row].executed.modal) == ("G3", True)
    assert frames[row].executed.source == "face_001"


def test_faster_replay_compresses_time(face_001, layout):
    frames = list(replay_schedule(face_001, layout, START, speed=4.0))
    offsets = (face_001.stamps_ns - face_001.stamps_ns[0]) / 4.0
    np.testing.assert_array_equal([f.due_ns for f in frames], np.round(offsets).astype(int))
    assert frames[-1].executed.stamp_ns == START + run_duration_ns(face_001, 4.0)


def test_rows_without_complete_samples_still_give_the_executed_line(tmp_path, small_layout):
    run = load_run(_write(tmp_path / "face_002_aligned.csv",
                          "10:00:00.000,5,1,,1.0,10,G1 X1.\n"))
    (frame,) = replay_schedule(run, small_layout, START)
    assert [index for index, _, _ in frame.samples] == [0]
    assert frame.executed.gcode == "G1 X1." and frame.executed.line_number == 10


def test_runs_follow_one_another_on_one_clock(two_runs, small_layout):
    source = RecordingSource([two_runs], small_layout, first="face_001")
    assert [p.name for p in source.runs] == ["face_001_aligned.csv", "adaptive_001_aligned.csv"]
    frames = source.frames(START)
    first = [next(frames) for _ in range(3)]
    second = [next(frames) for _ in range(2)]
    third = next(frames)   # the folder repeats
    assert [f.executed.source for f in first + second + [third]] == [
        "face_001"] * 3 + ["adaptive_001"] * 2 + ["face_001"]
    gap = small_layout.frame_period_ns
    assert [f.due_ns for f in first] == [0, 250_000_000, 500_000_000]
    assert [f.due_ns for f in second] == [500_000_000 + gap, 800_000_000 + gap]
    assert third.due_ns == 800_000_000 + 2 * gap
    assert [f.executed.command for f in first] == ["G1", "G3", "G0"]
    stamps = [f.executed.stamp_ns for f in first + second + [third]]
    assert stamps == [START + f.due_ns for f in first + second + [third]]


def test_streams_without_any_data_are_named(tmp_path, small_layout):
    run = load_run(_write(tmp_path / "face_003_aligned.csv",
                          "10:00:00.000,5,1,,1.0,10,G1 X1.\n"
                          "10:00:00.250,5,1,,1.1,11,X1.1\n"))
    assert missing_streams(run, small_layout) == ["cur"]
    source = RecordingSource([tmp_path / "face_003_aligned.csv"], small_layout)
    assert source.missing_in_first_run == ["cur"]


def test_once_stops_after_the_runs(two_runs, small_layout):
    source = RecordingSource([two_runs / "adaptive_001_aligned.csv"], small_layout, loop=False)
    assert len(list(source.frames(START))) == 2


def test_order_runs_starts_with_the_named_run():
    paths = [Path(f"{name}_aligned.csv.gz") for name in ("a_001", "b_001", "c_001")]
    assert [p.name[:5] for p in order_runs(paths, "b_001")] == ["b_001", "c_001", "a_001"]
    assert order_runs(paths, "missing") == paths
    assert order_runs(paths, None) == paths


def test_bad_speed_and_missing_runs_are_refused(two_runs, small_layout, tmp_path):
    with pytest.raises(ConfigError, match=r"replay speed must be in \(0, 100.0\], got 0"):
        RecordingSource([two_runs], small_layout, speed=0)
    run = load_run(two_runs / "face_001_aligned.csv")
    with pytest.raises(ConfigError, match="replay speed must be in"):
        next(replay_schedule(run, small_layout, START, speed=1000.0))
    with pytest.raises(RecordingError, match="no such run file or folder"):
        RecordingSource([tmp_path / "nothing_here"], small_layout)
