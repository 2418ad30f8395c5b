# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The program library: tables from recorded frames, merging, evidence, the causal tracker."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.program_library import (
    build_library, EVIDENCE_CAP, ProgramLibrary, ProgramTracker,
)

EVIDENCE = ("posx", "feed")


def _label(command: str, x: str) -> LineLabel:
    return LineLabel(command, False, (("X", Decimal(x)),))


def _run(family: str, lines: list[int], x_of: dict[int, float], text_of: dict[int, LineLabel],
         feed: float):
    line = np.array(lines, np.float64)
    evidence = np.stack([[x_of[n] for n in lines], [feed] * len(lines)], 1)
    return family, line, evidence, [text_of[n] for n in lines]


BASE_TEXT = {n: _label("G1", f"{n}.5") for n in range(1, 21)}
FAST_TEXT = {n: _label("G0" if n % 2 else "G1", f"{n}.25") for n in range(1, 21)}
BASE_X = {n: float(n) for n in range(1, 21)}
FAST_X = {n: float(n) + 3.0 for n in range(1, 21)}


def _library() -> ProgramLibrary:
    lines = list(range(1, 21))
    return build_library([
        _run("base", lines, BASE_X, BASE_TEXT, 100.0),
        _run("base", lines, {n: v + 0.01 for n, v in BASE_X.items()}, BASE_TEXT, 100.0),
        _run("fast", lines, FAST_X, FAST_TEXT, 150.0),
        _run("damagefast", lines, FAST_X, FAST_TEXT, 150.0),   # same program, other tool
    ], "line", EVIDENCE)


def test_families_with_the_same_table_are_one_program() -> None:
    library = _library()
    assert set(library.programs) == {"base", "fast"}
    assert library.operation_of["fast"] == ("damagefast", "fast")
    base = library.programs.index("base")
    assert library.line_of(base, 7.0).label == BASE_TEXT[7]
    assert library.line_of(base, 99.0) is None and library.line_of(base, float("nan")) is None


def test_evidence_is_small_for_the_matching_program_and_capped_elsewhere() -> None:
    library = _library()
    base, fast = library.programs.index("base"), library.programs.index("fast")
    evidence = library.evidence(5.0, np.array([5.005, 100.0]))   # the two runs' median
    assert evidence[base] < 1.0 and evidence[fast] == EVIDENCE_CAP
    assert np.all(library.evidence(float("nan"), np.array([5.0, 100.0])) == 0.0)
    unknown_line = library.evidence(500.0, np.array([5.0, 100.0]))
    assert np.all(unknown_line == EVIDENCE_CAP)


def test_tracker_identifies_the_program_and_restarts_when_the_line_goes_back() -> None:
    library = _library()
    tracker = ProgramTracker(library)
    assert tracker.reading(3.0).program is None        # no evidence yet: no judgement
    for n in range(1, 21):
        reading = tracker.update(float(n), np.array([FAST_X[n], 150.0]))
    assert reading.program == "fast" and reading.line.label == FAST_TEXT[20]
    assert reading.confidence > 0.9 and reading.line_number == 20
    # the next job runs the base program: the line goes back, the evidence starts again
    for n in range(1, 4):
        reading = tracker.update(float(n), np.array([BASE_X[n], 100.0]))
    assert tracker.restarts == 1
    assert reading.program == "base" and reading.line.label == BASE_TEXT[3]


def test_library_round_trips_through_plain_data() -> None:
    library = _library()
    again = ProgramLibrary.from_dict(library.to_dict())
    assert again.programs == library.programs and again.members == library.members
    for a, b in zip(again.lines, library.lines):
        assert [x.label for x in a] == [x.label for x in b]
    np.testing.assert_allclose(again.evidence(4.0, np.array([4.0, 100.0])),
                               library.evidence(4.0, np.array([4.0, 100.0])))


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d.update(format="other"), "expected a mapping with format"),
    (lambda d: d["programs"][0].update(lines=d["programs"][0]["lines"][::-1]), "inconsistent"),
    (lambda d: d["programs"][0].update(labels=[["G1", False, [["X", "abc"]]]] * 20),
     "bad line label"),
    (lambda d: d["programs"][0].pop("medians"), "KeyError"),
    (lambda d: d.update(programs=[]), "0 programs"),
])
def test_bad_library_content_is_one_clear_error(mutate, match: str) -> None:
    data = _library().to_dict()
    mutate(data)
    with pytest.raises(ModelConfigError, match=match):
        ProgramLibrary.from_dict(data, "test library")


def test_no_frames_is_a_clear_error() -> None:
    with pytest.raises(ModelConfigError, match="no recorded frames"):
        build_library([], "line", EVIDENCE)


def test_a_short_preamble_before_the_restart_counts_for_the_job() -> None:
    library = _library()
    tracker = ProgramTracker(library)
    for n in range(1, 21):                                  # a whole base job
        tracker.update(float(n), np.array([BASE_X[n], 100.0]))
    for n in (18, 19):                                      # the next job's preamble (fast)
        tracker.update(float(n), np.array([FAST_X[n], 150.0]))
    reading = tracker.update(1.0, np.array([FAST_X[1], 150.0]))   # its numbering starts
    assert tracker.restarts == 2 and reading.program == "fast"


def test_tied_programs_that_disagree_give_their_lines_as_candidates() -> None:
    library = _library()
    tracker = ProgramTracker(library)
    # a frame both programs explain equally (between their medians): no winner yet
    reading = tracker.update(4.0, np.array([5.5, 125.0]))
    assert reading.line is None
    assert {c.label for c in reading.candidates} == {BASE_TEXT[4], FAST_TEXT[4]}
