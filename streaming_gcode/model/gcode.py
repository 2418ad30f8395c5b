# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""G-code lines as labels: parsing, modal resolution and canonical text.

A label is what the machine is executing: the command (with modal continuation
lines resolved to the motion command they inherit), whether that command word
is written in the line or inherited, and the parameter words in order.

Modal resolution. A line without a G0/G1/G2/G3 word (`X3.275 Y0.3746 R0.083`)
continues the active motion mode. The recordings hold one line per controller
status report (about 4 Hz), so most program lines between two rows are never
seen and "the last motion word seen in the recording" is often not the active
mode (in the Bantam data it disagrees with the controller on 13.4k of 21.1k
continuation rows). The controller's reported motion mode (`momo`: 0=G0, 1=G1,
2=G2, 3=G3) is exact there: it agrees with every continuation row's own words
(an `R` word always comes with mode 2 or 3) and with 99.99 % of the explicit
motion lines. So the label of a continuation row takes the controller's mode
when the row reports one in 0..3, else the last motion command of the run. This
is a *label source only*: a model trained on the `physical` feature set never
sees `momo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
import re
from typing import Iterable, Sequence

from streaming_gcode.core.errors import VocabularyError

MOTION_COMMANDS: tuple[str, ...] = ("G0", "G1", "G2", "G3")
COMMAND_LETTERS = frozenset("GM")
# Block numbers say where a line is in the file, not what it does.
IGNORED_LETTERS = frozenset("NO")
# Words that make a line without a G/M word a motion continuation.
AXIS_LETTERS = frozenset("XYZABCUVWIJKR")
# Canonical order of parameter words in rendered text (the dataset's own order).
PARAMETER_ORDER: tuple[str, ...] = tuple("XYZABCUVWIJKRPQLEHDFST")
# Letters printed without a decimal point when integral (`S12000`, `T2`).
INTEGER_STYLE_LETTERS = frozenset("STHDLN")
NO_COMMAND = "NONE"

_WORD = re.compile(r"([A-Za-z])\s*([-+]?(?:\d+\.?\d*|\.\d+))")
_COMMENT = re.compile(r"\([^)]*\)|;.*$")


@dataclass(frozen=True)
class ParsedLine:
    """The words of one G-code line, in line order."""

    commands: tuple[str, ...]                 # normalised G/M words: ("G53", "G0")
    params: tuple[tuple[str, Decimal], ...]   # (letter, value)

    @property
    def motion(self) -> str | None:
        """Return the last motion word of the line (G0..G3), if any."""
        found = [c for c in self.commands if c in MOTION_COMMANDS]
        return found[-1] if found else None

    @property
    def letters(self) -> tuple[str, ...]:
        """Parameter letters in line order."""
        return tuple(letter for letter, _ in self.params)


@dataclass(frozen=True)
class LineLabel:
    """The executing line as the model's target: command, form and parameters."""

    command: str                              # "G1", "G53 G0", "M30" or NO_COMMAND
    modal: bool                               # command inherited, not written in the line
    params: tuple[tuple[str, Decimal], ...]   # (letter, value) in canonical order

    @property
    def letters(self) -> tuple[str, ...]:
        """Parameter letters in canonical order."""
        return tuple(letter for letter, _ in self.params)

    def param_dict(self) -> dict[str, Decimal]:
        """Parameters by letter."""
        return dict(self.params)


def normalise_command(letter: str, number: str) -> str:
    """`G01` -> `G1`, `g0` -> `G0`, `G17.1` -> `G17.1`."""
    value = Decimal(number)
    if value == value.to_integral_value():
        return f"{letter.upper()}{int(value)}"
    return f"{letter.upper()}{value.normalize()}"


def parse_line(text: str) -> ParsedLine:
    """Split a line into command words and parameter words; comments are dropped."""
    body = _COMMENT.sub(" ", text).strip()
    commands: list[str] = []
    params: list[tuple[str, Decimal]] = []
    position = 0
    for match in _WORD.finditer(body):
        if body[position:match.start()].strip():
            raise VocabularyError(
                f"G-code line {text!r}: unexpected text {body[position:match.start()]!r}"
                " (expected letter-number words)"
            )
        position = match.end()
        letter, number = match.group(1).upper(), match.group(2)
        if letter in IGNORED_LETTERS:
            continue
        if letter in COMMAND_LETTERS:
            commands.append(normalise_command(letter, number))
            continue
        try:
            params.append((letter, Decimal(number)))
        except InvalidOperation:  # pragma: no cover - the regex admits numbers only
            raise VocabularyError(f"G-code line {text!r}: bad number {number!r}") from None
    if body[position:].strip():
        raise VocabularyError(
            f"G-code line {text!r}: unexpected text {body[position:]!r}"
            " (expected letter-number words)"
        )
    return ParsedLine(tuple(commands), tuple(params))


def canonical_params(params: Iterable[tuple[str, Decimal]]) -> tuple[tuple[str, Decimal], ...]:
    """Parameters sorted into PARAMETER_ORDER (unknown letters last, alphabetically)."""
    rank = {letter: i for i, letter in enumerate(PARAMETER_ORDER)}
    return tuple(sorted(params, key=lambda p: (rank.get(p[0], len(rank)), p[0])))


def motion_from_mode(mode: float | None) -> str | None:
    """Map the controller motion mode (`momo`) 0..3 to G0..G3; anything else to None."""
    if mode is None or mode != mode:  # None or NaN
        return None
    if float(mode).is_integer() and 0 <= int(mode) < len(MOTION_COMMANDS):
        return MOTION_COMMANDS[int(mode)]
    return None


class ModalResolver:
    """Labels the lines of one run in order, carrying the active motion command."""

    def __init__(self) -> None:
        self.last_motion: str | None = None

    def label(self, parsed: ParsedLine, controller_mode: float | None = None) -> LineLabel:
        """Label one line; `controller_mode` is the row's reported motion mode, if any."""
        params = canonical_params(parsed.params)
        if parsed.commands:
            if parsed.motion is not None:
                self.last_motion = parsed.motion
            return LineLabel(" ".join(parsed.commands), False, params)
        if not any(letter in AXIS_LETTERS for letter in parsed.letters):
            return LineLabel(NO_COMMAND, False, params)
        motion = motion_from_mode(controller_mode) or self.last_motion
        if motion is not None:
            self.last_motion = motion
        return LineLabel(motion or NO_COMMAND, True, params)


def label_lines(
    texts: Sequence[str], controller_modes: Sequence[float] | None = None
) -> list[LineLabel | None]:
    """Labels of a run's rows in order; None for rows without a line (unlabelled)."""
    if controller_modes is not None and len(controller_modes) != len(texts):
        raise VocabularyError(
            f"{len(texts)} G-code lines but {len(controller_modes)} controller modes"
        )
    resolver = ModalResolver()
    labels: list[LineLabel | None] = []
    for i, text in enumerate(texts):
        if not text.strip():
            labels.append(None)
            continue
        mode = None if controller_modes is None else controller_modes[i]
        labels.append(resolver.label(parse_line(text), mode))
    return labels


def format_number(value: Decimal, letter: str, places: int) -> str:
    """Text of a value with at most `places` decimals, in the dataset's style.

    Trailing zeros are dropped and integral values keep their point (`Z0.`,
    `F22.`), except for integer-style letters (`S12000`, `T2`).
    """
    if letter in INTEGER_STYLE_LETTERS and value == value.to_integral_value():
        return str(int(value))
    text = f"{value:.{max(places, 0)}f}"
    if "." not in text:
        return text + "."
    text = text.rstrip("0")
    if text in ("-.", "-0."):
        return "0."
    return text


def render_line(command: str, modal: bool, words: Sequence[tuple[str, str]]) -> str:
    """Line text from a command, its form and `(letter, number text)` words.

    The command word is written unless the line is a modal continuation of a
    motion command (a non-motion command cannot be inherited, so it is written).
    """
    parts: list[str] = []
    if command != NO_COMMAND and not (modal and command in MOTION_COMMANDS):
        parts.extend(command.split())
    parts.extend(f"{letter}{number}" for letter, number in words)
    return " ".join(parts)
