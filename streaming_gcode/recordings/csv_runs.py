# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Recorded runs in the dataset format (`*_aligned.csv[.gz]`) as per-stream samples.

Each CSV row is one controller status report with the sensor readings at that
moment. `run_samples` splits a row into one sample per stream of a layout, all
stamped with the row's time, which is exactly what `csv2bag` writes and what the
node receives when that bag is replayed.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
import gzip
import io
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import NS_PER_S, StreamLayout

RUN_SUFFIXES: tuple[str, ...] = ("_aligned.csv.gz", "_aligned.csv")
TIME_COLUMN = "t_console"
GCODE_COLUMN = "gcode_string"
LINE_COLUMN = "gcode_line"
TEXT_COLUMNS: frozenset[str] = frozenset({TIME_COLUMN, GCODE_COLUMN, "raw_json"})
DAY_NS = 24 * 3600 * NS_PER_S
HOUR_NS = 3600 * NS_PER_S


@dataclass
class RecordedRun:
    """One machining run: row stamps, numeric columns (NaN = empty) and labels."""

    name: str
    path: Path
    stamps_ns: np.ndarray            # int64 [N], strictly increasing
    columns: dict[str, np.ndarray]   # float64 [N] each
    gcode: list[str]                 # executing G-code line text per row
    line_numbers: np.ndarray         # int64 [N] program line numbers (-1 = empty)

    def __len__(self) -> int:
        """Return the number of rows."""
        return len(self.stamps_ns)

    @property
    def family(self) -> str:
        """Return the operation family named by the file, e.g. `face` or `pocket150025`."""
        return self.name.rsplit("_", 1)[0]


def run_name(path: Path) -> str:
    """Return the run name: `face_001` for `face_001_aligned.csv.gz`."""
    for suffix in RUN_SUFFIXES:
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return path.name.split(".")[0]


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of run files; error if none."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p for p in sorted(path.iterdir()) if p.name.endswith(RUN_SUFFIXES)
            )
        elif path.is_file():
            found.append(path)
        else:
            raise RecordingError(f"{path}: no such run file or folder")
    if not found:
        raise RecordingError(
            f"no run files (*{RUN_SUFFIXES[0]} or *{RUN_SUFFIXES[1]}) in {[str(p) for p in paths]}"
        )
    return found


def select_runs(runs: Sequence[Path], count: int) -> list[Path]:
    """Pick `count` runs spread over the sorted list, so several operation families are in."""
    ordered = sorted(runs)
    if count >= len(ordered):
        return ordered
    step = len(ordered) / count
    return [ordered[int(i * step)] for i in range(count)]


def parse_clock_ns(text: str) -> int:
    """`HH:MM:SS.mmm` (or a spreadsheet-mangled `MM:SS.f`) to ns since the hour/day start."""
    parts = text.strip().split(":")
    try:
        if len(parts) == 3:
            hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
        elif len(parts) == 2:
            hours, minutes, seconds = 0, int(parts[0]), float(parts[1])
        else:
            raise ValueError(text)
    except ValueError:
        raise RecordingError(f"bad time {text!r}: expected HH:MM:SS.mmm") from None
    return (hours * 3600 + minutes * 60) * NS_PER_S + int(round(seconds * NS_PER_S))


def _unwrap(raw: list[int], short_format: list[bool], where: str) -> np.ndarray:
    """Make stamps monotonic across midnight (or the hour, for `MM:SS.f` rows)."""
    stamps = np.empty(len(raw), dtype=np.int64)
    offset = 0
    previous: int | None = None
    for i, (value, short) in enumerate(zip(raw, short_format)):
        stamp = value + offset
        if previous is not None and stamp < previous:
            wrap = HOUR_NS if short else DAY_NS
            if previous - stamp < wrap // 2:
                raise RecordingError(
                    f"{where}: row {i + 2}: time goes backwards; expected increasing times"
                )
            offset += wrap
            stamp += wrap
        stamps[i] = stamp
        previous = stamp
    return stamps


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def load_run(path: str | Path) -> RecordedRun:
    """Read one run file (gzip or plain CSV) into arrays."""
    path = Path(path)
    try:
        with _open_text(path) as handle:
            reader = csv.reader(handle)
            header = next(reader)
            rows = [row for row in reader if row]
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such run file") from None
    except StopIteration:
        raise RecordingError(f"{path}: empty file, expected a CSV header") from None
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise RecordingError(f"{path}: unreadable run file ({exc})") from None
    for needed in (TIME_COLUMN, GCODE_COLUMN):
        if needed not in header:
            raise RecordingError(f"{path}: column {needed!r} missing from the header")
    width = len(header)
    bad = [i + 2 for i, row in enumerate(rows) if len(row) != width]
    if bad:
        raise RecordingError(
            f"{path}: rows {bad[:5]} have the wrong number of fields (expected {width})"
        )
    if not rows:
        raise RecordingError(f"{path}: no data rows")
    table = np.array(rows, dtype=object)
    time_index = header.index(TIME_COLUMN)
    times = [str(t) for t in table[:, time_index]]
    stamps = _unwrap(
        [parse_clock_ns(t) for t in times], [t.count(":") == 1 for t in times], str(path)
    )
    columns: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        if name in TEXT_COLUMNS:
            continue
        columns[name] = _to_float(table[:, j], name, path)
    line_numbers = np.nan_to_num(columns.get(LINE_COLUMN, np.full(len(rows), np.nan)), nan=-1)
    return RecordedRun(
        name=run_name(path),
        path=path,
        stamps_ns=stamps,
        columns=columns,
        gcode=[str(g).strip() for g in table[:, header.index(GCODE_COLUMN)]],
        line_numbers=line_numbers.astype(np.int64),
    )


def _to_float(cells: np.ndarray, name: str, path: Path) -> np.ndarray:
    filled = np.where(cells == "", "nan", cells)
    try:
        return filled.astype(np.float64)
    except ValueError:
        for i, cell in enumerate(filled):
            try:
                float(cell)
            except ValueError:
                raise RecordingError(
                    f"{path}: row {i + 2}, column {name!r}: {cell!r} is not a number"
                ) from None
        raise


def stream_matrix(run: RecordedRun, channels: Sequence[str]) -> np.ndarray:
    """Rows x channels for one stream; NaN where the run lacks a channel or a value."""
    nan = np.full(len(run), np.nan)
    return np.stack([run.columns.get(c, nan) for c in channels], axis=1)


def run_samples(run: RecordedRun, layout: StreamLayout) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield `(stream_index, stamp_ns, values)` row by row in layout order.

    A stream contributes a sample for a row only when all its channels have values
    there (a board missing from the run, or an empty row, sends nothing).
    """
    matrices = [stream_matrix(run, spec.channels) for spec in layout.streams]
    present = [np.isfinite(m).all(axis=1) for m in matrices]
    for row, stamp in enumerate(run.stamps_ns):
        for index, matrix in enumerate(matrices):
            if present[index][row]:
                yield index, int(stamp), matrix[row]


def labels_at(run: RecordedRun, stamps_ns: np.ndarray) -> list[str]:
    """Return the executing G-code line of the row stamped exactly at each frame stamp."""
    return [run.gcode[r] for r in rows_at(run, stamps_ns)]


def rows_at(run: RecordedRun, stamps_ns: np.ndarray) -> np.ndarray:
    """Row index of each frame stamp (stamps must be row stamps)."""
    rows = np.clip(np.searchsorted(run.stamps_ns, stamps_ns), 0, max(len(run) - 1, 0))
    if len(stamps_ns) and not np.array_equal(run.stamps_ns[rows], stamps_ns):
        raise RecordingError(f"{run.path}: frame stamps do not match the run's rows")
    return rows
