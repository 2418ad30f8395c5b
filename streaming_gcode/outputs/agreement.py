# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Rolling agreement between predicted lines and the cell's reference (executing) line.

A cell that publishes the line its controller executes can check that the
program running is the one the model recognises: the monitor pairs each
prediction (window end stamp) with the newest reference line stamped at or
before it and keeps the share of agreeing pairs over a rolling window of stamp
time. Its diagnostic status goes WARN/ERROR below configurable rates. Pure
logic, driven by explicit stamps; the node feeds it and publishes the results.

Criteria, from loose to strict, compare the lines *as written*, so a modal
continuation (`X3.2 Y0.4`) matches a predicted continuation:
`command` (the G/M words), `words` (G/M words and the parameter letters) and
`line` (G/M words and every parameter value).

A prediction may bring the other lines its model would also accept (the
physics witness: its program's lines within its timing slack), and how sure it
is of the program: below `min_confidence` the pair is not judged (counted as
abstained), so the start of a job, before the witness knows the program, does
not read as a disagreement.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Hashable, Sequence

from streaming_gcode.core.errors import ConfigError, VocabularyError
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.model.gcode import canonical_params, parse_line
from streaming_gcode.outputs.diagnostics import Level, Status, status_name

CRITERION_COMMAND = "command"
CRITERION_WORDS = "words"
CRITERION_LINE = "line"
CRITERIA: tuple[str, ...] = (CRITERION_COMMAND, CRITERION_WORDS, CRITERION_LINE)

DEFAULT_AGREEMENT_WINDOW_S = 30.0
DEFAULT_AGREEMENT_WARN_BELOW = 0.8
DEFAULT_AGREEMENT_ERROR_BELOW = 0.5
DEFAULT_AGREEMENT_MIN_SAMPLES = 20
DEFAULT_AGREEMENT_CRITERION = CRITERION_WORDS
# Chosen on the tune runs (library from the train runs): no genuine run below ERROR.
DEFAULT_AGREEMENT_MIN_CONFIDENCE = 0.9
MAX_REFERENCES = 4096  # bound on buffered reference lines not yet passed by a prediction

TASK_AGREEMENT = "agreement"
AGREEMENT_KEYS: tuple[str, ...] = (
    "reference_topic", "criterion", "window_s", "rate", "compared", "agreed",
    "rate_since_start", "compared_since_start", "agreed_since_start", "references",
    "predictions_without_reference", "resets", "warn_below", "error_below", "min_samples",
    "last_reference", "last_prediction", "abstained", "min_confidence",
)


def line_key(text: str, criterion: str) -> Hashable | None:
    """Return what a criterion compares of a line; None if empty or unparseable."""
    if not text.strip():
        return None
    try:
        parsed = parse_line(text)
    except VocabularyError:
        return None
    if criterion == CRITERION_COMMAND:
        return parsed.commands
    if criterion == CRITERION_WORDS:
        return parsed.commands, tuple(sorted(set(parsed.letters)))
    params: tuple[tuple[str, Decimal], ...] = canonical_params(parsed.params)
    return parsed.commands, tuple((letter, value.normalize()) for letter, value in params)


@dataclass(frozen=True)
class AgreementSettings:
    """Window, thresholds and criterion (node parameters `agreement_*`)."""

    window_ns: int = int(DEFAULT_AGREEMENT_WINDOW_S * NS_PER_S)
    warn_below: float = DEFAULT_AGREEMENT_WARN_BELOW
    error_below: float = DEFAULT_AGREEMENT_ERROR_BELOW
    min_samples: int = DEFAULT_AGREEMENT_MIN_SAMPLES
    criterion: str = DEFAULT_AGREEMENT_CRITERION
    min_confidence: float = DEFAULT_AGREEMENT_MIN_CONFIDENCE

    def validate(self) -> AgreementSettings:
        """Return self, or raise ConfigError saying which value is wrong."""
        if self.window_ns <= 0:
            raise ConfigError(f"agreement window must be > 0 s, got {self.window_ns / NS_PER_S}")
        if not 0.0 <= self.error_below <= self.warn_below <= 1.0:
            raise ConfigError(
                "agreement thresholds must satisfy 0 <= error_below <= warn_below <= 1, got "
                f"error_below {self.error_below}, warn_below {self.warn_below}"
            )
        if self.min_samples < 1:
            raise ConfigError(f"agreement min_samples must be >= 1, got {self.min_samples}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ConfigError(f"agreement min_confidence must be in [0, 1], got "
                              f"{self.min_confidence}")
        if self.criterion not in CRITERIA:
            raise ConfigError(
                f"agreement criterion {self.criterion!r} is not one of {list(CRITERIA)}"
            )
        return self


@dataclass(frozen=True)
class AgreementReport:
    """The monitor's state at report time."""

    reference_topic: str
    settings: AgreementSettings
    rate: float | None            # over the window; None before any comparison
    compared: int
    agreed: int
    compared_total: int
    agreed_total: int
    references: int
    without_reference: int
    resets: int
    last_reference: str
    last_prediction: str
    abstained: int = 0


class AgreementMonitor:
    """Pairs predictions with the reference line by stamp; rolling agreement rate."""

    def __init__(self, settings: AgreementSettings | None = None) -> None:
        self.settings = (settings or AgreementSettings()).validate()
        self._references: deque[tuple[int, str]] = deque(maxlen=MAX_REFERENCES)
        self._pairs: deque[tuple[int, bool]] = deque()
        self._agreed_in_window = 0
        self._newest_ns: int | None = None
        self.compared_total = 0
        self.agreed_total = 0
        self.references_total = 0
        self.without_reference = 0
        self.abstained = 0
        self.resets = 0
        self.last_reference = ""
        self.last_prediction = ""

    def on_reference(self, stamp_ns: int, text: str) -> None:
        """Take one reference line (stamp: header stamp, or receipt time on the node clock)."""
        if self._references and stamp_ns < self._references[-1][0]:
            self._references.clear()  # clock went back: old lines no longer apply
        self._references.append((stamp_ns, text))
        self.references_total += 1
        self.last_reference = text

    def _reference_at(self, stamp_ns: int) -> str | None:
        while len(self._references) > 1 and self._references[1][0] <= stamp_ns:
            self._references.popleft()  # superseded by a newer line before this stamp
        if self._references and self._references[0][0] <= stamp_ns:
            return self._references[0][1]
        return None

    def on_prediction(self, stamp_ns: int, text: str, also: Sequence[str] = (),
                      confidence: float | None = None) -> bool | None:
        """Compare one prediction; True/False, or None when there is nothing to compare.

        `also`: other lines the model accepts for this frame (any of them agrees);
        `confidence`: how sure it is of the program (below `min_confidence`: abstain).
        """
        if self._newest_ns is not None and stamp_ns < self._newest_ns:
            self.reset()
        self._newest_ns = stamp_ns
        self.last_prediction = text
        reference = self._reference_at(stamp_ns)
        key = None if reference is None else line_key(reference, self.settings.criterion)
        if key is None:
            self.without_reference += 1
            self._evict(stamp_ns)
            return None
        if confidence is not None and confidence < self.settings.min_confidence:
            self.abstained += 1
            self._evict(stamp_ns)
            return None
        agreed = any(line_key(t, self.settings.criterion) == key for t in (text, *also))
        self._pairs.append((stamp_ns, agreed))
        self._agreed_in_window += agreed
        self.compared_total += 1
        self.agreed_total += agreed
        self._evict(stamp_ns)
        return agreed

    def _evict(self, newest_ns: int) -> None:
        oldest = newest_ns - self.settings.window_ns
        while self._pairs and self._pairs[0][0] <= oldest:
            _, agreed = self._pairs.popleft()
            self._agreed_in_window -= agreed

    def reset(self) -> None:
        """Forget the window (the clock went back: a replay restarted)."""
        self._pairs.clear()
        self._agreed_in_window = 0
        self._newest_ns = None
        self.resets += 1

    @property
    def rate(self) -> float | None:
        """Share of agreeing pairs in the window, None before any comparison."""
        return self._agreed_in_window / len(self._pairs) if self._pairs else None

    def report(self, reference_topic: str) -> AgreementReport:
        """Snapshot for diagnostics."""
        return AgreementReport(
            reference_topic, self.settings, self.rate, len(self._pairs), self._agreed_in_window,
            self.compared_total, self.agreed_total, self.references_total,
            self.without_reference, self.resets, self.last_reference, self.last_prediction,
            self.abstained,
        )


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _level(r: AgreementReport) -> tuple[Level, str]:
    s = r.settings
    if r.references == 0:
        if r.without_reference >= s.min_samples:
            return Level.WARN, f"no reference line received on {r.reference_topic}"
        return Level.OK, f"waiting for reference lines on {r.reference_topic}"
    if r.rate is None or r.compared < s.min_samples:
        return Level.OK, f"collecting: {r.compared}/{s.min_samples} predictions compared"
    text = (f"agreement {r.rate:.1%} over the last {s.window_ns / NS_PER_S:g} s "
            f"({r.agreed}/{r.compared}, criterion {s.criterion})")
    if r.rate < s.error_below:
        return Level.ERROR, f"{text} below {s.error_below:.0%}: not the expected program?"
    if r.rate < s.warn_below:
        return Level.WARN, f"{text} below {s.warn_below:.0%}"
    return Level.OK, text


def agreement_status(node: str, hardware_id: str, r: AgreementReport) -> Status:
    """Build the `"<node>: agreement"` status: rolling rate against the thresholds."""
    level, message = _level(r)
    s = r.settings
    since_start = r.agreed_total / r.compared_total if r.compared_total else None
    values = (
        ("reference_topic", r.reference_topic), ("criterion", s.criterion),
        ("window_s", s.window_ns / NS_PER_S), ("rate", r.rate), ("compared", r.compared),
        ("agreed", r.agreed), ("rate_since_start", since_start),
        ("compared_since_start", r.compared_total), ("agreed_since_start", r.agreed_total),
        ("references", r.references), ("predictions_without_reference", r.without_reference),
        ("resets", r.resets), ("warn_below", s.warn_below), ("error_below", s.error_below),
        ("min_samples", s.min_samples), ("last_reference", r.last_reference),
        ("last_prediction", r.last_prediction), ("abstained", r.abstained),
        ("min_confidence", s.min_confidence),
    )
    return Status(status_name(node, TASK_AGREEMENT), level, message, hardware_id,
                  tuple((key, _fmt(value)) for key, value in values))
