# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Recorded runs: parsing, stamps, per-stream samples, and bad files."""

import gzip
from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.features import feature_set, FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.alignment import align_samples
from streaming_gcode.recordings.csv_runs import (
    find_runs, labels_at, load_run, parse_clock_ns, run_samples, select_runs,
)

from recording_support import HEADER, two_stream_layout, write_run  # noqa: I100

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def layout():
    return two_stream_layout()


def _write(path: Path, body: str) -> Path:
    return write_run(path, body)


def test_parse_clock_formats():
    assert parse_clock_ns("01:02:03.250") == (3723 * 1000 + 250) * 1_000_000
    assert parse_clock_ns("22:05.9") == (22 * 60 + 5.9) * 1e9
    with pytest.raises(RecordingError, match="bad time 'noon'"):
        parse_clock_ns("noon")


def test_small_run_parses_and_splits_into_stream_samples(tmp_path, layout):
    path = _write(tmp_path / "face_007_aligned.csv",
                  "23:59:59.900,5,1,0.2,1.5,10,G1 X1.5\n"
                  "00:00:00.150,5,1,,1.6,11,X1.6\n"
                  "00:00:00.400,5,0,0.3,1.7,12,G0 X1.7\n")
    run = load_run(path)
    assert run.name == "face_007" and run.family == "face"
    assert np.all(np.diff(run.stamps_ns) == 250_000_000)  # midnight unwrapped
    samples = list(run_samples(run, layout))
    assert [(s, t - run.stamps_ns[0]) for s, t, _ in samples] == [
        (0, 0), (1, 0), (0, 250_000_000), (0, 500_000_000), (1, 500_000_000)]
    fmap = FeatureMap.build(layout, ["posx", "spindle"], ["momo"], {"momo": [0, 1]})
    table = align_samples(layout, fmap, iter(samples))
    assert labels_at(run, table.stamps) == ["G1 X1.5", "X1.6", "G0 X1.7"]
    np.testing.assert_allclose(table.continuous[:, 1], [0.2, 0.2, 0.3])
    np.testing.assert_array_equal(table.categorical[:, 0], [2, 2, 1])


def test_gzip_runs_and_folders(tmp_path):
    with gzip.open(tmp_path / "pocket_001_aligned.csv.gz", "wt") as handle:
        handle.write(HEADER + "10:00:00.000,5,1,0.1,1,1,G1 X1\n")
    (tmp_path / "notes.txt").write_text("x")
    runs = find_runs([tmp_path])
    assert [p.name for p in runs] == ["pocket_001_aligned.csv.gz"]
    assert load_run(runs[0]).gcode == ["G1 X1"]


@pytest.mark.parametrize(
    "body, message",
    [
        ("", "no data rows"),
        ("10:00:00.000,5,1,0.1\n", "wrong number of fields"),
        ("10:00:00.000,5,1,abc,1,1,G1\n", "column 'spindle': 'abc' is not a number"),
        ("10:00:01.000,5,1,0.1,1,1,G1\n10:00:00.000,5,1,0.1,1,1,G1\n", "backwards|row 3"),
    ],
)
def test_bad_run_files(tmp_path, body, message):
    path = _write(tmp_path / "bad_001_aligned.csv", body)
    with pytest.raises(RecordingError, match=message):
        load_run(path)


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(RecordingError, match="no such run file or folder"):
        find_runs([tmp_path / "nope"])
    with pytest.raises(RecordingError, match="no run files"):
        find_runs([tmp_path])
    (tmp_path / "x_aligned.csv").write_text("")
    with pytest.raises(RecordingError, match="empty file"):
        load_run(tmp_path / "x_aligned.csv")
    (tmp_path / "y_aligned.csv").write_text("a,b\n1,2\n")
    with pytest.raises(RecordingError, match="column 't_console' missing"):
        load_run(tmp_path / "y_aligned.csv")
    (tmp_path / "z_aligned.csv.gz").write_bytes(b"not gzip")
    with pytest.raises(RecordingError, match="unreadable run file"):
        load_run(tmp_path / "z_aligned.csv.gz")


def test_select_runs_spreads_the_choice_over_the_sorted_runs():
    runs = [Path(f"r{i}") for i in (5, 0, 3, 1, 4, 2)]
    assert select_runs(runs, 3) == [Path("r0"), Path("r2"), Path("r4")]
    assert select_runs(runs, 9) == sorted(runs)


def test_real_run_aligns_to_one_frame_per_controller_row(data_dir):
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    fs = feature_set("full", layout)
    fmap = FeatureMap.build(layout, fs.continuous, fs.categorical,
                            {c: list(range(10)) for c in fs.categorical})
    run = load_run(data_dir / "face_001_aligned.csv.gz")
    table = align_samples(layout, fmap, run_samples(run, layout))
    assert len(table) == len(run)
    np.testing.assert_array_equal(table.stamps, run.stamps_ns)
    np.testing.assert_allclose(table.continuous[:, 1], run.columns["posx"].astype(np.float32))
    assert not table.degraded.any()
    assert labels_at(run, table.stamps)[:2] == ["X3.291 Z0.0003", "X3.275 Y0.3746 R0.083"]
