# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The program library: the cell's programs as line -> text tables, and which one is running.

With the controller's state the task is reading a program, not inference: the
controller reports the executing line number, and a program's line always has
the same text. What the number alone cannot tell is *which* program runs (the
base and the 150025 variants of an operation share line numbers, and only a
few of their shared lines have the same text). So the library keeps, per
program and line, the line's text and where the machine is when it executes it
(the median of the evidence channels, e.g. position and feed, over the
recorded runs), and `ProgramTracker` accumulates per frame the distance between
what the controller reports and each program's medians: the program with the
least evidence against it is the one running.

The tracker is causal and needs no run boundaries: it starts again when the
reported line number goes backwards (a program (re)starts; lines only grow
within a run of these programs), keeping the evidence of a short segment just
before (a job's preamble, such as a tool change, reports a few lines before the
program's numbering starts). Where the programs still in the running (their
evidence within `TIE_MARGIN` of the best) disagree on the reported line's text,
the library gives their texts and the model chooses among them
(`decoding.choose_line`). Programs whose tables agree on their shared lines
(the damaged-tool runs execute the 150025 programs) are one program.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping, Sequence
import warnings

import numpy as np

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.model.gcode import LineLabel

LIBRARY_FORMAT = "streaming_gcode.program_library/1"
EVIDENCE_CAP = 10.0          # a frame adds at most this much evidence against a program
PREAMBLE_FRAMES = 16         # a segment this short before a restart is the job's preamble
TIE_MARGIN = 2 * EVIDENCE_CAP   # evidence within which programs are still tied (two frames)
MERGE_AGREEMENT = 0.95       # tables agreeing on this share of shared lines are one program
MERGE_OVERLAP = 0.5          # ... when they share at least this share of the smaller table
MAX_PROGRAMS = 256
MAX_PROGRAM_LINES = 200_000
MAX_EVIDENCE_CHANNELS = 16


@dataclass(frozen=True)
class ProgramLine:
    """One line of a program: its label and how often the recordings agreed on it."""

    label: LineLabel
    share: float   # fraction of the recorded frames at this line that had this label


@dataclass(frozen=True)
class ProgramReading:
    """What the library says about one frame."""

    program: str | None        # the program judged running (None: no evidence yet)
    confidence: float          # 0..1, how clearly it beats the other programs
    line: ProgramLine | None   # the program's text for the reported line, if it knows it
    line_number: int | None    # the controller's reported line (None: none reported)
    candidates: tuple[ProgramLine, ...] = ()   # texts of the tied programs, when they differ
    operation: str | None = None               # the recorded operation judged running
    operation_confidence: float | None = None
    tool_condition: str | None = None          # normal / damaged (physics witness only)
    tool_condition_confidence: float | None = None
    progress: int | None = None                # frames since the job started (physics)
    nearby: tuple[ProgramLine, ...] = ()       # the program's lines within its timing slack


def label_to_json(label: LineLabel) -> list[Any]:
    """Return a label as plain data `[command, modal, [[letter, value], ...]]`."""
    return [label.command, label.modal, [[letter, str(value)] for letter, value in label.params]]


def label_from_json(data: Any, where: str) -> LineLabel:
    """Return the label `label_to_json` wrote (ModelConfigError naming `where` if bad)."""
    try:
        command, modal, params = data
        return LineLabel(str(command), bool(modal),
                         tuple((str(letter), Decimal(str(value))) for letter, value in params))
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise ModelConfigError(f"{where}: bad line label {data!r}: {exc}") from None


@dataclass
class ProgramLibrary:
    """Line tables and evidence medians of every program of the cell."""

    line_channel: str                       # model input carrying the controller's line
    evidence_channels: tuple[str, ...]      # model inputs compared with the medians
    evidence_scale: np.ndarray              # float64 [E]: divides each channel's distance
    programs: tuple[str, ...]
    members: tuple[tuple[str, ...], ...]    # the recorded families merged into each program
    line_numbers: tuple[np.ndarray, ...]    # int64 [L_p] sorted, per program
    medians: tuple[np.ndarray, ...]         # float64 [L_p, E] per program
    lines: tuple[tuple[ProgramLine, ...], ...]   # per program, aligned with line_numbers

    def __post_init__(self) -> None:
        if not 1 <= len(self.programs) <= MAX_PROGRAMS:
            raise ModelConfigError(
                f"program library: {len(self.programs)} programs, expected 1..{MAX_PROGRAMS}")
        if len(self.evidence_channels) > MAX_EVIDENCE_CHANNELS:
            raise ModelConfigError(
                f"program library: {len(self.evidence_channels)} evidence channels, "
                f"at most {MAX_EVIDENCE_CHANNELS}")
        width = len(self.evidence_channels)
        for name, numbers, med, text in zip(self.programs, self.line_numbers, self.medians,
                                            self.lines):
            if len(numbers) > MAX_PROGRAM_LINES or med.shape != (len(numbers), width) \
                    or len(text) != len(numbers) or np.any(np.diff(numbers) <= 0):
                raise ModelConfigError(
                    f"program library: program {name!r} has inconsistent tables "
                    f"({len(numbers)} lines, medians {med.shape}, {len(text)} texts; lines "
                    f"sorted and unique, at most {MAX_PROGRAM_LINES})")

    @property
    def input_channels(self) -> tuple[str, ...]:
        """Return the model inputs the tracker reads: the line, then the evidence channels."""
        return (self.line_channel, *self.evidence_channels)

    def tracker(self) -> ProgramTracker:
        """Return a fresh tracker of this library."""
        return ProgramTracker(self)

    @property
    def operation_of(self) -> dict[str, tuple[str, ...]]:
        """Return program -> the recorded families it was built from."""
        return dict(zip(self.programs, self.members))

    def evidence(self, line: float, values: np.ndarray) -> np.ndarray:
        """Evidence [P] against each program from one frame (0 for all without a line)."""
        out = np.full(len(self.programs), EVIDENCE_CAP)
        if not np.isfinite(line):
            return out * 0.0
        number = int(line)
        for p, numbers in enumerate(self.line_numbers):
            row = int(np.searchsorted(numbers, number))
            if row < len(numbers) and numbers[row] == number:
                distance = np.abs(values - self.medians[p][row]) / self.evidence_scale
                out[p] = min(float(np.nansum(distance)), EVIDENCE_CAP)
        return out

    def line_of(self, program: int, line: float) -> ProgramLine | None:
        """Return the program's text for a reported line number, if the library has it."""
        if not np.isfinite(line):
            return None
        numbers = self.line_numbers[program]
        row = int(np.searchsorted(numbers, int(line)))
        if row < len(numbers) and numbers[row] == int(line):
            return self.lines[program][row]
        return None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-safe content for a checkpoint's metadata."""
        return {
            "format": LIBRARY_FORMAT,
            "line_channel": self.line_channel,
            "evidence_channels": list(self.evidence_channels),
            "evidence_scale": [float(v) for v in self.evidence_scale],
            "programs": [
                {"name": name, "members": list(members),
                 "lines": [int(n) for n in numbers],
                 "medians": [[float(v) for v in row] for row in med],
                 "labels": [label_to_json(t.label) for t in text],
                 "shares": [round(float(t.share), 4) for t in text]}
                for name, members, numbers, med, text in zip(
                    self.programs, self.members, self.line_numbers, self.medians, self.lines)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "program library") -> ProgramLibrary:
        """Inverse of `to_dict`, with one clear error for bad content."""
        if not isinstance(data, Mapping) or data.get("format") != LIBRARY_FORMAT:
            raise ModelConfigError(f"{where}: expected a mapping with format {LIBRARY_FORMAT!r}")
        try:
            programs = list(data["programs"])
            if len(programs) > MAX_PROGRAMS:
                raise ModelConfigError(f"{where}: {len(programs)} programs, at most "
                                       f"{MAX_PROGRAMS}")
            channels = tuple(str(c) for c in data["evidence_channels"])
            width = len(channels)
            return cls(
                line_channel=str(data["line_channel"]),
                evidence_channels=channels,
                evidence_scale=np.asarray(data["evidence_scale"], np.float64).reshape(width),
                programs=tuple(str(p["name"]) for p in programs),
                members=tuple(tuple(str(m) for m in p["members"]) for p in programs),
                line_numbers=tuple(np.asarray(p["lines"], np.int64).reshape(-1)
                                   for p in programs),
                medians=tuple(np.asarray(p["medians"], np.float64).reshape(-1, width)
                              for p in programs),
                lines=tuple(tuple(ProgramLine(label_from_json(lab, where), float(share))
                                  for lab, share in zip(p["labels"], p["shares"], strict=True))
                            for p in programs),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelConfigError(f"{where}: {type(exc).__name__}: {exc}") from None


def _agree(a: Mapping[int, LineLabel], b: Mapping[int, LineLabel]) -> bool:
    shared = set(a) & set(b)
    if not shared or len(shared) < MERGE_OVERLAP * min(len(a), len(b)):
        return False
    return sum(a[n] == b[n] for n in shared) >= MERGE_AGREEMENT * len(shared)


def build_library(
    recordings: Iterable[tuple[str, np.ndarray, np.ndarray, Sequence[LineLabel | None]]],
    line_channel: str,
    evidence_channels: Sequence[str],
) -> ProgramLibrary:
    """Count recorded frames `(family, line [N], evidence [N,E], labels)` into a library.

    Every family is a program first; families whose line tables agree are merged
    (named after the one with most frames, then the shortest name); medians and
    texts are taken over the merged frames. The scale of each evidence channel is the median
    over lines of its spread, so a channel's distance counts in its usual units.
    """
    frames: dict[str, list[tuple[np.ndarray, np.ndarray, list[LineLabel | None]]]] = {}
    for family, line, evidence, labels in recordings:
        frames.setdefault(family, []).append((np.asarray(line, np.float64),
                                              np.asarray(evidence, np.float64), list(labels)))
    if not frames:
        raise ModelConfigError("program library: no recorded frames to build it from")
    tables = {f: _line_table(parts) for f, parts in frames.items()}
    size = {f: sum(len(p[0]) for p in parts) for f, parts in frames.items()}
    groups: list[list[str]] = []
    for family in sorted(frames, key=lambda f: (-size[f], len(f), f)):
        texts = {n: c[0] for n, c in tables[family].items()}
        for group in groups:
            if _agree({n: c[0] for n, c in tables[group[0]].items()}, texts):
                group.append(family)
                break
        else:
            groups.append([family])
    programs = []
    spreads: list[np.ndarray] = []
    for group in groups:
        parts = [p for f in group for p in frames[f]]
        numbers, med, text, spread = _program_tables(parts, len(evidence_channels))
        programs.append((group, numbers, med, text))
        spreads.append(spread)
    with warnings.catch_warnings():   # a channel without any spread: scale 1
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmedian(np.concatenate(spreads), axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-6), scale, 1.0)
    return ProgramLibrary(
        line_channel, tuple(evidence_channels), scale,
        tuple(g[0] for g, *_ in programs), tuple(tuple(sorted(g)) for g, *_ in programs),
        tuple(p[1] for p in programs), tuple(p[2] for p in programs),
        tuple(p[3] for p in programs))


def _line_table(parts) -> dict[int, tuple[LineLabel, float]]:
    counts: dict[int, dict[LineLabel, int]] = {}
    for line, _, labels in parts:
        for number, label in zip(line, labels):
            if label is not None and np.isfinite(number):
                row = counts.setdefault(int(number), {})
                row[label] = row.get(label, 0) + 1
    out = {}
    for number, row in counts.items():
        label, count = min(row.items(), key=lambda item: (-item[1], repr(item[0])))
        out[number] = (label, count / sum(row.values()))
    return out


def _program_tables(parts, width: int):
    table = _line_table(parts)
    numbers = np.array(sorted(table), np.int64)
    line = np.concatenate([p[0] for p in parts])
    evidence = np.concatenate([p[1] for p in parts]).reshape(-1, width)
    keep = np.isfinite(line)
    line, evidence = line[keep].astype(np.int64), evidence[keep]
    order = np.argsort(line, kind="stable")
    line, evidence = line[order], evidence[order]
    starts = np.searchsorted(line, numbers, side="left")
    stops = np.searchsorted(line, numbers, side="right")
    med = np.zeros((len(numbers), width))
    spread = np.full((len(numbers), width), np.nan)
    for row, (a, b) in enumerate(zip(starts, stops)):
        values = evidence[a:b]
        with np.errstate(all="ignore"):
            med[row] = np.nan_to_num(np.nanmedian(values, axis=0)) if b > a else 0.0
            if b - a > 1:
                spread[row] = np.nanmedian(np.abs(values - med[row]), axis=0)
    text = tuple(ProgramLine(table[int(n)][0], table[int(n)][1]) for n in numbers)
    return numbers, med, text, spread


class ProgramTracker:
    """Causal judgement of which program runs, from frames fed one by one in order."""

    def __init__(self, library: ProgramLibrary) -> None:
        self.library = library
        self.restarts = 0                 # times the reported line went backwards
        self._evidence = np.zeros(len(library.programs))
        self._frames = 0
        self._segment = np.zeros(len(library.programs))   # evidence since the last restart
        self._segment_frames = 0
        self._last_line: float | None = None

    def reset(self) -> None:
        """Forget the evidence (a new job)."""
        self._evidence[:] = 0.0
        self._segment[:] = 0.0
        self._frames = self._segment_frames = 0

    def _restart(self) -> None:
        """Start a new job (the line went back), keeping a short preamble's evidence."""
        self.restarts += 1
        if self._segment_frames < PREAMBLE_FRAMES:
            self._evidence[:] = self._segment
            self._frames = self._segment_frames
        else:
            self._evidence[:] = 0.0
            self._frames = 0
        self._segment[:] = 0.0
        self._segment_frames = 0

    def observe(self, stamp_ns: int, inputs: np.ndarray) -> ProgramReading:
        """Add one frame (`input_channels` values) and return its reading; time is not used."""
        return self.update(float(inputs[0]), inputs[1:])

    def update(self, line: float, values: np.ndarray) -> ProgramReading:
        """Add one frame's evidence and return the reading for that frame."""
        if np.isfinite(line):
            if self._last_line is not None and line < self._last_line:
                self._restart()
            self._last_line = float(line)
            evidence = self.library.evidence(line, values)
            self._evidence += evidence
            self._segment += evidence
            self._frames += 1
            self._segment_frames += 1
        return self.reading(line)

    def reading(self, line: float) -> ProgramReading:
        """Return the current judgement, and the chosen program's text for `line`."""
        number = int(line) if np.isfinite(line) else None
        if self._frames == 0:
            return ProgramReading(None, 0.0, None, number)
        mean = self._evidence / self._frames
        best = int(np.argmin(mean))
        weights = np.exp(-(mean - mean[best]))
        tied = np.flatnonzero(self._evidence <= self._evidence[best] + TIE_MARGIN)
        texts: dict[LineLabel, ProgramLine] = {}
        for p in sorted(tied, key=lambda p: self._evidence[p]):
            known = self.library.line_of(int(p), line)
            if known is not None:
                texts.setdefault(known.label, known)
        answer = self.library.line_of(best, line) if len(texts) <= 1 else None
        confidence = float(1.0 / weights.sum())
        return ProgramReading(self.library.programs[best], confidence, answer, number,
                              tuple(texts.values()) if answer is None else (),
                              self.library.programs[best], confidence)


__all__ = [
    "EVIDENCE_CAP", "LIBRARY_FORMAT", "MAX_PROGRAMS", "ProgramLibrary", "label_from_json",
    "label_to_json", "ProgramLine", "ProgramReading",
    "ProgramTracker", "build_library",
]
