# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""G-code parsing, modal resolution and canonical text, on examples and the dataset's lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from streaming_gcode.core.errors import VocabularyError
from streaming_gcode.model.gcode import (
    format_number,
    label_lines,
    LineLabel,
    ModalResolver,
    motion_from_mode,
    NO_COMMAND,
    parse_line,
    render_line,
)
from streaming_gcode.offline.labelled_windows import run_labels
from streaming_gcode.recordings.csv_runs import find_runs, load_run


def test_parse_splits_commands_and_parameters() -> None:
    parsed = parse_line("G53 G0 Z0.")
    assert parsed.commands == ("G53", "G0")
    assert parsed.params == (("Z", Decimal("0")),)
    assert parsed.motion == "G0"


def test_parse_normalises_words_and_drops_comments_and_block_numbers() -> None:
    parsed = parse_line("n10 g01 x-0.5 Y.25 (rough pass) ; tail")
    assert parsed.commands == ("G1",)
    assert parsed.params == (("X", Decimal("-0.5")), ("Y", Decimal(".25")))


@pytest.mark.parametrize("text", ["G1 X", "hello", "G1 X1.0 ???", "X1..2"])
def test_parse_rejects_what_is_not_gcode(text: str) -> None:
    with pytest.raises(VocabularyError, match="unexpected text"):
        parse_line(text)


def test_continuation_takes_the_controller_mode_over_the_last_motion_seen() -> None:
    # 4 Hz status reports skip program lines: the G3 seen before is not the active mode.
    labels = label_lines(["G3 X1. Y1. R0.5", "X2. Y2."], [3.0, 1.0])
    assert labels[0] == LineLabel("G3", False, (("X", Decimal("1")), ("Y", Decimal("1")),
                                                ("R", Decimal("0.5"))))
    assert labels[1].command == "G1" and labels[1].modal


def test_continuation_inherits_the_last_motion_without_a_controller_mode() -> None:
    labels = label_lines(["G2 X1. R1.", "", "X3. R1."], [float("nan")] * 3)
    assert labels[1] is None  # empty row: unlabelled
    assert (labels[2].command, labels[2].modal) == ("G2", True)


def test_continuation_with_nothing_to_inherit_has_no_command() -> None:
    label = ModalResolver().label(parse_line("X1. Y2."), None)
    assert (label.command, label.modal) == (NO_COMMAND, True)


def test_lines_without_axis_words_are_not_continuations() -> None:
    label = ModalResolver().label(parse_line("T2"), 1.0)
    assert (label.command, label.modal, label.letters) == (NO_COMMAND, False, ("T",))


def test_label_lines_checks_lengths() -> None:
    with pytest.raises(VocabularyError, match="2 G-code lines but 1 controller modes"):
        label_lines(["G0 X1.", "X2."], [0.0])


@pytest.mark.parametrize("mode,expected", [(0, "G0"), (3.0, "G3"), (4, None), (float("nan"), None),
                                           (None, None), (1.5, None)])
def test_motion_from_mode(mode, expected) -> None:
    assert motion_from_mode(mode) == expected


@pytest.mark.parametrize("value,letter,places,text", [
    ("3.2914", "X", 4, "3.2914"), ("3.2910", "X", 4, "3.291"), ("0", "Z", 3, "0."),
    ("22", "F", 0, "22."), ("12000", "S", 0, "12000"), ("2", "T", 0, "2"),
    ("-0.0000", "X", 4, "0."),
])
def test_format_number_follows_the_dataset_style(value, letter, places, text) -> None:
    assert format_number(Decimal(value), letter, places) == text


def test_render_omits_inherited_motion_words_only() -> None:
    assert render_line("G1", True, [("X", "1.")]) == "X1."
    assert render_line("G1", False, [("X", "1.")]) == "G1 X1."
    assert render_line("M30", True, []) == "M30"  # a non-motion command cannot be inherited
    assert render_line(NO_COMMAND, False, [("T", "2")]) == "T2"


@pytest.mark.data
def test_every_dataset_line_parses_and_continuations_agree_with_their_words(data_dir) -> None:
    runs = [load_run(p) for p in find_runs([data_dir])[::27]]
    checked = 0
    for run in runs:
        for text, label in zip(run.gcode, run_labels(run)):
            if label is None:
                assert not text.strip()
                continue
            checked += 1
            if label.modal and "R" in label.letters:
                assert label.command in ("G2", "G3"), text  # an R word means an arc
            elif label.modal:
                assert label.command in ("G0", "G1"), text
    assert checked > 1000
