# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Metrics on hand-checked line keys."""

from __future__ import annotations

import numpy as np
import pytest

from streaming_gcode.offline.metrics import (
    confusion_matrix,
    majority_baseline,
    METRIC_KEYS,
    score,
    ScoreCounts,
    total,
)

G1_X1 = ("G1", True, (("X", 1000),))
G1_X1_Y2 = ("G1", True, (("X", 1000), ("Y", 2000)))
G1_X2 = ("G1", True, (("X", 2000),))
G0_Z0 = ("G0", True, (("Z", 0),))
M30 = ("M30", True, ())


def test_hand_checked_metrics() -> None:
    true = [G1_X1_Y2, G1_X1, G0_Z0, M30, None]
    pred = [G1_X1, G1_X2, ("G1", True, (("Z", 0),)), M30, G0_Z0]
    metrics = score(pred, true).metrics()
    assert set(metrics) == set(METRIC_KEYS)
    assert metrics["frames"] == 4                        # the unlabelled frame is skipped
    assert metrics["command_accuracy"] == pytest.approx(3 / 4)
    # letters: TP X,X,Z = 3; FN Y = 1; FP none -> F1 = 6 / 7
    assert metrics["param_letter_f1"] == pytest.approx(6 / 7)
    # values: X right, Y missed, X wrong, Z right -> 2 / 4
    assert metrics["value_accuracy"] == pytest.approx(2 / 4)
    assert metrics["exact_line_accuracy"] == pytest.approx(1 / 4)


def test_form_is_part_of_the_exact_line() -> None:
    metrics = score([("G1", False, (("X", 1000),))], [G1_X1]).metrics()
    assert metrics["command_accuracy"] == 1.0 and metrics["exact_line_accuracy"] == 0.0


def test_missing_prediction_counts_as_nothing() -> None:
    metrics = score([None], [G1_X1]).metrics()
    assert metrics["command_accuracy"] == 0.0
    assert metrics["param_letter_f1"] == 0.0 and metrics["value_accuracy"] == 0.0


def test_vacuous_cases() -> None:
    metrics = score([M30], [M30]).metrics()
    assert metrics["param_letter_f1"] == 1.0 and metrics["value_accuracy"] == 1.0
    empty = ScoreCounts().metrics()
    assert empty["frames"] == 0 and empty["command_accuracy"] == 0.0


def test_totals_equal_scoring_everything_at_once() -> None:
    true_a, pred_a = [G1_X1, G0_Z0], [G1_X1, G1_X1]
    true_b, pred_b = [G1_X1_Y2, M30, M30], [G1_X1, M30, G0_Z0]
    summed = total([score(pred_a, true_a), score(pred_b, true_b)])
    assert summed.metrics() == score(pred_a + pred_b, true_a + true_b).metrics()
    assert summed.confusion == score(pred_a + pred_b, true_a + true_b).confusion


def test_majority_baseline_takes_each_metric_from_its_own_majority() -> None:
    true = [G1_X1, G1_X2, G1_X1_Y2, G0_Z0, G0_Z0, None]
    metrics = majority_baseline(true)
    assert metrics["frames"] == 5
    assert metrics["command_accuracy"] == pytest.approx(3 / 5)     # G1
    assert metrics["exact_line_accuracy"] == pytest.approx(2 / 5)  # G0 Z0.
    # Always "G0 Z0.": letters TP 2 (Z), FP 3 (Z), FN 4 (X, X, X, Y) -> 4 / 11.
    assert metrics["param_letter_f1"] == pytest.approx(4 / 11)
    assert metrics["value_accuracy"] == pytest.approx(2 / 6)


def test_confusion_matrix_rows_true_columns_predicted() -> None:
    counts = score([G1_X1, G1_X1, G0_Z0, M30], [G1_X1, G0_Z0, G1_X1, G1_X1])
    labels, matrix = confusion_matrix(counts.confusion)
    assert labels == ["G1", "G0", "M30"]  # by labelled frequency
    np.testing.assert_array_equal(matrix, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    labels, matrix = confusion_matrix(counts.confusion, ["G0", "G1"])
    np.testing.assert_array_equal(matrix, [[0, 1], [1, 1]])


def test_length_mismatch() -> None:
    with pytest.raises(ValueError, match="1 predictions for 2 labels"):
        score([G1_X1], [G1_X1, G1_X1])


def test_balanced_accuracy_and_per_command_recall_match_numpy() -> None:
    from streaming_gcode.offline.metrics import (
        command_balanced_accuracy, extended_metrics, per_command_recall,
    )

    rng = np.random.default_rng(3)
    keys = [G1_X1, G1_X2, G0_Z0, M30]
    true_index = rng.choice(4, size=200, p=[0.6, 0.2, 0.15, 0.05])
    pred_index = np.where(rng.random(200) < 0.7, true_index, rng.integers(0, 4, 200))
    counts = score([keys[i] for i in pred_index], [keys[i] for i in true_index])
    commands = np.array([keys[i][0] for i in true_index])
    predicted = np.array([keys[i][0] for i in pred_index])
    expected = {c: float(np.mean(predicted[commands == c] == c)) for c in np.unique(commands)}
    recall = per_command_recall(counts.confusion)
    assert recall.keys() == expected.keys()
    for command, value in expected.items():
        assert recall[command] == pytest.approx(value)
    balanced = command_balanced_accuracy(counts.confusion)
    assert balanced == pytest.approx(np.mean(list(expected.values())))
    metrics = extended_metrics(counts)
    assert metrics["command_balanced_accuracy"] == balanced
    assert metrics["per_command_frames"] == {c: int(np.sum(commands == c)) for c in expected}
    assert set(METRIC_KEYS) <= set(metrics)
    assert command_balanced_accuracy(ScoreCounts().confusion) == 0.0
