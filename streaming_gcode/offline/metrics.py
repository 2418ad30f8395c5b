# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Scores of predicted executing lines against labels, per run and overall.

Predictions and labels are compared as line keys `(command, command written,
((letter, quantised value), ...))` at the output vocabulary's precision, so
the scores do not depend on how the predictions were produced (offline model,
replayed bag, live node).

- command_accuracy: predicted command == labelled command (modal lines resolved).
- param_letter_f1: micro F1 of the parameter letters present, over all frames
  (1.0 when neither side has any letter).
- value_accuracy: share of labelled (frame, letter) pairs whose value bucket is
  predicted exactly (a missed letter counts as wrong; 1.0 when there is none).
- exact_line_accuracy: the whole key is right (command, its form, letters, values).
- frames: labelled frames scored (unlabelled frames are skipped).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from streaming_gcode.model.vocabulary import LineKey

METRIC_KEYS: tuple[str, ...] = (
    "command_accuracy", "param_letter_f1", "value_accuracy", "exact_line_accuracy", "frames",
)


@dataclass
class ScoreCounts:
    """Additive counts behind the metrics (sum them to aggregate runs)."""

    frames: int = 0
    command_correct: int = 0
    exact_correct: int = 0
    letter_tp: int = 0
    letter_fp: int = 0
    letter_fn: int = 0
    values_total: int = 0
    values_correct: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)  # (true, predicted)

    def add(self, predicted: LineKey, true: LineKey) -> None:
        """Score one frame."""
        self.frames += 1
        self.command_correct += predicted[0] == true[0]
        self.exact_correct += predicted == true
        self.confusion[(true[0], predicted[0])] += 1
        pred_params, true_params = dict(predicted[2]), dict(true[2])
        shared = pred_params.keys() & true_params.keys()
        self.letter_tp += len(shared)
        self.letter_fp += len(pred_params.keys() - shared)
        self.letter_fn += len(true_params.keys() - shared)
        self.values_total += len(true_params)
        self.values_correct += sum(pred_params[k] == true_params[k] for k in shared)

    def __iadd__(self, other: ScoreCounts) -> ScoreCounts:
        for name in ("frames", "command_correct", "exact_correct", "letter_tp", "letter_fp",
                     "letter_fn", "values_total", "values_correct"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.confusion.update(other.confusion)
        return self

    def metrics(self) -> dict[str, float | int]:
        """Return the reported metrics: fractions 0..1 and the frame count."""
        denominator = 2 * self.letter_tp + self.letter_fp + self.letter_fn
        return {
            "command_accuracy": _ratio(self.command_correct, self.frames),
            "param_letter_f1": 1.0 if denominator == 0 else 2 * self.letter_tp / denominator,
            "value_accuracy": (1.0 if self.values_total == 0
                               else self.values_correct / self.values_total),
            "exact_line_accuracy": _ratio(self.exact_correct, self.frames),
            "frames": self.frames,
        }


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def score(predicted: Sequence[LineKey | None], true: Sequence[LineKey | None]) -> ScoreCounts:
    """Count outcomes over aligned sequences; frames whose label is None are skipped.

    A labelled frame without a prediction (None) scores as a prediction of nothing.
    """
    if len(predicted) != len(true):
        raise ValueError(f"{len(predicted)} predictions for {len(true)} labels")
    counts = ScoreCounts()
    nothing: LineKey = ("", False, ())
    for p, t in zip(predicted, true):
        if t is not None:
            counts.add(p if p is not None else nothing, t)
    return counts


def total(counts: Iterable[ScoreCounts]) -> ScoreCounts:
    """Sum of several runs' counts."""
    out = ScoreCounts()
    for c in counts:
        out += c
    return out


def majority_baseline(true: Sequence[LineKey | None]) -> dict[str, float | int]:
    """Metrics of majority-class guessing: each metric from its own most frequent class.

    command_accuracy is the share of the most frequent command, exact_line_accuracy
    the share of the most frequent line; the letter F1 and value accuracy are those
    of always predicting the most frequent line.
    """
    keys = [t for t in true if t is not None]
    if not keys:
        return ScoreCounts().metrics()
    line, line_count = Counter(keys).most_common(1)[0]
    command_count = Counter(k[0] for k in keys).most_common(1)[0][1]
    metrics = score([line] * len(keys), keys).metrics()
    metrics["command_accuracy"] = command_count / len(keys)
    metrics["exact_line_accuracy"] = line_count / len(keys)
    return metrics


def per_command_recall(confusion: Counter[tuple[str, str]]) -> dict[str, float]:
    """Recall of each labelled command: right frames / its labelled frames (sorted by name)."""
    labelled: Counter[str] = Counter()
    right: Counter[str] = Counter()
    for (t, p), n in confusion.items():
        labelled[t] += n
        if t == p:
            right[t] += n
    return {c: right[c] / labelled[c] for c in sorted(labelled) if labelled[c]}


def command_balanced_accuracy(confusion: Counter[tuple[str, str]]) -> float:
    """Mean recall over the labelled commands: a rare G0 weighs as much as the G1s."""
    recalls = per_command_recall(confusion)
    return sum(recalls.values()) / len(recalls) if recalls else 0.0


def extended_metrics(counts: ScoreCounts) -> dict[str, Any]:
    """Return the metrics plus `command_balanced_accuracy`, `per_command_recall` and frames."""
    labelled: Counter[str] = Counter()
    for (t, _), n in counts.confusion.items():
        labelled[t] += n
    return {**counts.metrics(),
            "command_balanced_accuracy": command_balanced_accuracy(counts.confusion),
            "per_command_recall": per_command_recall(counts.confusion),
            "per_command_frames": dict(sorted(labelled.items()))}


def confusion_matrix(
    confusion: Counter[tuple[str, str]], labels: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """Rows = true command, columns = predicted command, counts as int64."""
    if labels is None:
        seen = Counter()
        for (t, p), n in confusion.items():
            seen[t] += n
            seen[p] += 0
        labels = sorted(seen, key=lambda c: (-seen[c], c))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for (t, p), n in confusion.items():
        if t in index and p in index:
            matrix[index[t], index[p]] += n
    return list(labels), matrix
