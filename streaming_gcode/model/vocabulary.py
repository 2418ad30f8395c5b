# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Output vocabularies: the classes of each model head, and the reference token vocabulary.

`OutputVocabulary` decomposes an executing line into heads that each answer one
question per frame: `command` (modal lines resolved), `form` (is the command
word written or inherited) and one `param_<L>` head per parameter letter whose
classes are "absent", "unknown value" and the values seen in training,
quantised at a per-letter precision. Presence and value share one softmax, so
a letter is never predicted present without a value.

`ReferenceVocabulary` reads `gcode_vocab_v2.json` (170 tokens) and tokenises
lines the way it was built. What its config and tokens show:

- a number word `X3.2914` becomes the letter token `X` and the bucket token
  `NUM_X_<b>`, where `q = round(value / precision[letter])` and `<b>` is the
  first `bucket_digits` (2) characters of `q` zero-padded to 2 digits
  (`X3.2914` -> q 3291 -> `NUM_X_32`; `Z0.002` -> `NUM_Z_02`; `Z-0.125` ->
  q -125 -> `NUM_Z_-1`; `R0.083` at precision 0.0001 -> `NUM_R_83`);
- words whose number ends with a bare point (`Z0.`, `F22.`, `Y0.`) stay whole
  tokens, and G/M words are tokens of their own (`G53`, `G0`, `M30`);
- the buckets keep leading digits only, so they cannot give a value back: it
  is a fingerprinting vocabulary, not one that round-trips. On the dataset's
  lines this rule reproduces all 165 non-special tokens of the file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, ROUND_HALF_UP
from functools import cached_property
import json
from pathlib import Path
import re
from typing import Any, Iterable, Mapping

from streaming_gcode.core.errors import VocabularyError
from streaming_gcode.model.gcode import (
    format_number,
    LineLabel,
    MOTION_COMMANDS,
    NO_COMMAND,
    PARAMETER_ORDER,
    parse_line,
    render_line,
)

VOCABULARY_FORMAT = "streaming_gcode.output_vocabulary"
VOCABULARY_VERSION = 1
UNKNOWN = "<unk>"
ABSENT = "<absent>"
COMMAND_HEAD = "command"
FORM_HEAD = "form"
FORM_LABELS: tuple[str, ...] = ("explicit", "modal")
PARAM_HEAD_PREFIX = "param_"
UNKNOWN_INDEX = 0          # command head: unknown command
ABSENT_INDEX = 0           # parameter heads: letter absent
UNKNOWN_VALUE_INDEX = 1    # parameter heads: letter present, value not in the vocabulary
FIRST_VALUE_INDEX = 2
# Per-letter precision of the reference vocabulary's config, plus T (tool numbers).
DEFAULT_PRECISION: dict[str, Decimal] = {
    **{letter: Decimal("0.001") for letter in "XYZABCPQ"},
    **{letter: Decimal("0.0001") for letter in "IJKRE"},
    "F": Decimal("1"), "S": Decimal("10"), "T": Decimal("1"),
}
FALLBACK_PRECISION = Decimal("0.001")

LineKey = tuple[str, bool, tuple[tuple[str, int], ...]]


def param_head(letter: str) -> str:
    """Head name of a parameter letter (`param_X`)."""
    return f"{PARAM_HEAD_PREFIX}{letter}"


def decimal_places(precision: Decimal) -> int:
    """Decimals needed to print multiples of `precision` (0.001 -> 3, 10 -> 0)."""
    return max(0, -precision.normalize().as_tuple().exponent)


def command_written(command: str, modal: bool) -> bool:
    """Tell whether the command word appears in the line's text."""
    return command != NO_COMMAND and not (modal and command in MOTION_COMMANDS)


@dataclass(frozen=True)
class OutputVocabulary:
    """Classes of every head; index 0 is reserved (unknown command / absent letter)."""

    commands: tuple[str, ...]
    letters: tuple[str, ...]
    precision: dict[str, Decimal]
    values: dict[str, tuple[int, ...]]   # sorted quantised values (value / precision)

    def __post_init__(self) -> None:
        missing = [letter for letter in self.letters if letter not in self.values]
        if missing or len(set(self.commands)) != len(self.commands):
            raise VocabularyError(
                f"inconsistent vocabulary: letters without values {missing}, "
                f"{len(self.commands) - len(set(self.commands))} duplicate commands"
            )

    # -- heads ---------------------------------------------------------------
    @cached_property
    def head_labels(self) -> dict[str, tuple[str, ...]]:
        """Class labels of every head, in head order."""
        heads = {COMMAND_HEAD: (UNKNOWN, *self.commands), FORM_HEAD: FORM_LABELS}
        for letter in self.letters:
            texts = tuple(self.value_text(letter, q) for q in self.values[letter])
            heads[param_head(letter)] = (ABSENT, UNKNOWN, *texts)
        return heads

    @property
    def head_sizes(self) -> dict[str, int]:
        """Return the number of classes of every head (the model's `head_sizes`)."""
        return {name: len(labels) for name, labels in self.head_labels.items()}

    @cached_property
    def _command_index(self) -> dict[str, int]:
        return {c: i + 1 for i, c in enumerate(self.commands)}

    @cached_property
    def _value_index(self) -> dict[str, dict[int, int]]:
        return {
            letter: {q: i + FIRST_VALUE_INDEX for i, q in enumerate(qs)}
            for letter, qs in self.values.items()
        }

    # -- values --------------------------------------------------------------
    def precision_of(self, letter: str) -> Decimal:
        """Quantisation step of a letter."""
        return self.precision.get(letter, DEFAULT_PRECISION.get(letter, FALLBACK_PRECISION))

    def quantise(self, letter: str, value: Decimal) -> int:
        """Value as an integer number of precision steps (half away from zero)."""
        return int((value / self.precision_of(letter)).to_integral_value(ROUND_HALF_UP))

    def value_text(self, letter: str, q: int) -> str:
        """Text of a quantised value (`3.291`, `0.`, `12000`)."""
        step = self.precision_of(letter)
        return format_number(q * step, letter, decimal_places(step))

    # -- labels --------------------------------------------------------------
    def key(self, label: LineLabel) -> LineKey:
        """Return what makes two lines equal at this vocabulary's precision."""
        return (
            label.command,
            command_written(label.command, label.modal),
            tuple((letter, self.quantise(letter, v)) for letter, v in label.params),
        )

    def text(self, label: LineLabel) -> str:
        """Canonical text of a label at this vocabulary's precision."""
        words = [(letter, self.value_text(letter, self.quantise(letter, v)))
                 for letter, v in label.params]
        return render_line(label.command, label.modal, words)

    def encode(self, label: LineLabel) -> dict[str, int]:
        """Target class of every head (unknown command/value -> its reserved index)."""
        targets = {
            COMMAND_HEAD: self._command_index.get(label.command, UNKNOWN_INDEX),
            FORM_HEAD: int(label.modal),
        }
        present = label.param_dict()
        for letter in self.letters:
            if letter not in present:
                targets[param_head(letter)] = ABSENT_INDEX
                continue
            q = self.quantise(letter, present[letter])
            targets[param_head(letter)] = self._value_index[letter].get(q, UNKNOWN_VALUE_INDEX)
        return targets

    def is_representable(self, label: LineLabel) -> bool:
        """Tell whether every part of the label has a class of its own."""
        targets = self.encode(label)
        return (
            targets[COMMAND_HEAD] != UNKNOWN_INDEX
            and all(letter in self.values for letter in label.letters)
            and all(targets[param_head(letter)] != UNKNOWN_VALUE_INDEX for letter in label.letters)
        )

    # -- building and files --------------------------------------------------
    @classmethod
    def build(
        cls,
        labels: Iterable[LineLabel | None],
        precision: Mapping[str, Decimal | float | str] | None = None,
        min_count: int = 1,
    ) -> OutputVocabulary:
        """Vocabulary of the given labels (commands and values seen >= min_count times)."""
        steps = dict(DEFAULT_PRECISION)
        steps.update({k: Decimal(str(v)) for k, v in (precision or {}).items()})
        probe = cls((), (), steps, {})
        commands: Counter[str] = Counter()
        values: dict[str, Counter[int]] = {}
        for label in labels:
            if label is None:
                continue
            commands[label.command] += 1
            for letter, value in label.params:
                values.setdefault(letter, Counter())[probe.quantise(letter, value)] += 1
        order = {letter: i for i, letter in enumerate(PARAMETER_ORDER)}
        letters = tuple(sorted(values, key=lambda x: (order.get(x, len(order)), x)))
        return cls(
            commands=tuple(sorted(c for c, n in commands.items() if n >= min_count)),
            letters=letters,
            precision={letter: steps.get(letter, FALLBACK_PRECISION) for letter in letters},
            values={
                letter: tuple(sorted(q for q, n in values[letter].items() if n >= min_count))
                for letter in letters
            },
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (also stored in checkpoints)."""
        return {
            "format": VOCABULARY_FORMAT,
            "version": VOCABULARY_VERSION,
            "commands": list(self.commands),
            "letters": list(self.letters),
            "precision": {k: str(v) for k, v in self.precision.items()},
            "values": {k: list(v) for k, v in self.values.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "vocabulary") -> OutputVocabulary:
        """Inverse of `to_dict`; raises VocabularyError naming `where` on bad content."""
        if data.get("format") != VOCABULARY_FORMAT or data.get("version") != VOCABULARY_VERSION:
            raise VocabularyError(
                f"{where}: not an output vocabulary (format {data.get('format')!r} version "
                f"{data.get('version')!r}, expected {VOCABULARY_FORMAT!r} {VOCABULARY_VERSION})"
            )
        try:
            return cls(
                commands=tuple(str(c) for c in data["commands"]),
                letters=tuple(str(letter) for letter in data["letters"]),
                precision={str(k): Decimal(str(v)) for k, v in data["precision"].items()},
                values={str(k): tuple(int(q) for q in v) for k, v in data["values"].items()},
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise VocabularyError(f"{where}: malformed output vocabulary ({exc!r})") from None

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> OutputVocabulary:
        """Read a vocabulary written by `save`."""
        return cls.from_dict(_read_json(Path(path)), str(path))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VocabularyError(f"{path}: no such vocabulary file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VocabularyError(f"{path}: unreadable vocabulary file ({exc})") from None
    if not isinstance(data, dict):
        raise VocabularyError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


_REFERENCE_NUMBER = re.compile(r"^([A-Z])(-?\d+\.\d+|-?\d+)$")


@dataclass(frozen=True)
class ReferenceVocabulary:
    """The token vocabulary of `gcode_vocab_v2.json` and its tokeniser."""

    token_to_id: dict[str, int]
    precision: dict[str, Decimal]
    bucket_digits: int
    special: dict[str, int]
    config: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path) -> ReferenceVocabulary:
        """Read the reference file; raises VocabularyError naming what is missing."""
        data = _read_json(Path(path))
        try:
            config = dict(data["config"])
            tokens = {str(k): int(v) for k, v in data["vocab"].items()}
            precision = {str(k): Decimal(str(v)) for k, v in config["precision"].items()}
            digits = int(config["bucket_digits"])
            special = {str(k): int(v) for k, v in config["special"].items()}
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise VocabularyError(
                f"{path}: not a reference token vocabulary (needs config.precision, "
                f"config.bucket_digits, config.special and vocab; {exc!r})"
            ) from None
        return cls(tokens, precision, digits, special, config)

    @property
    def unknown_id(self) -> int:
        """Id of the UNK token."""
        return self.special.get("UNK", self.token_to_id.get("UNK", 0))

    def bucket(self, letter: str, value: Decimal) -> str:
        """Bucket token of a number word (`NUM_X_32` for X3.2914)."""
        step = self.precision.get(letter, FALLBACK_PRECISION)
        q = int((value / step).to_integral_value(ROUND_HALF_UP))
        return f"NUM_{letter}_{f'{q:0{self.bucket_digits}d}'[: self.bucket_digits]}"

    def tokenize(self, line: str) -> list[str]:
        """Token strings of a line, as the reference vocabulary was built."""
        parse_line(line)  # reject what is not G-code with a clear error
        tokens: list[str] = []
        for word in line.split():
            match = _REFERENCE_NUMBER.match(word.upper())
            if word[0].upper() in "GM" or match is None:
                tokens.append(word.upper())
                continue
            letter, number = match.groups()
            tokens.extend((letter, self.bucket(letter, Decimal(number))))
        return tokens

    def encode(self, line: str, add_special: bool = False) -> list[int]:
        """Token ids of a line (UNK for tokens the vocabulary lacks)."""
        ids = [self.token_to_id.get(t, self.unknown_id) for t in self.tokenize(line)]
        if add_special:
            ids = [self.special["BOS"], *ids, self.special["EOS"]]
        return ids
