# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Scores of the physics witness's other answers: which operation runs, in what tool condition.

The truth of a run is its family (the operation: face, face150025, damageface,
...) and the tool condition that family was recorded with (`damaged` for the
damage families). Per frame and per run (the majority of the run's frame
answers, as a cell reading the output over a whole job would), on the labelled
frames the line metrics use. Only readings that answer these questions (the
physics witness's) are scored.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.model.progress_library import TOOL_CONDITIONS
from streaming_gcode.offline.labelled_windows import PreparedRun
from streaming_gcode.offline.splits import tool_condition_of

OPERATION_KEYS: tuple[str, ...] = (
    "operation_accuracy", "operation_accuracy_run_vote",
    "tool_condition_balanced_accuracy", "tool_condition_balanced_accuracy_run_vote",
)


def _balanced(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Mean recall over the true classes present (None without any)."""
    recalls = []
    for condition in TOOL_CONDITIONS:
        chosen = [guess for truth, guess in pairs if truth == condition]
        if chosen:
            recalls.append(sum(g == condition for g in chosen) / len(chosen))
    return sum(recalls) / len(recalls) if recalls else None


def operation_scores(runs: Sequence[PreparedRun],
                     readings: Sequence[Sequence[ProgramReading]]) -> dict[str, Any]:
    """Per-frame and run-vote scores of operation and tool condition; {} if not answered."""
    frames: list[tuple[str, str, str, str]] = []   # true op, guessed op, true tool, guessed
    votes: list[tuple[str, str, str, str]] = []
    for run, answers in zip(runs, readings):
        mine = [(a.operation, a.tool_condition) for label, a in zip(run.labels, answers)
                if label is not None and a.tool_condition is not None]
        if not mine:
            continue
        truth = tool_condition_of(run.family)
        frames.extend((run.family, op, truth, tool) for op, tool in mine)
        votes.append((run.family, Counter(op for op, _ in mine).most_common(1)[0][0], truth,
                      Counter(tool for _, tool in mine).most_common(1)[0][0]))
    if not frames:
        return {}
    return {
        "operation_accuracy": sum(t == g for t, g, _, _ in frames) / len(frames),
        "operation_accuracy_run_vote": sum(t == g for t, g, _, _ in votes) / len(votes),
        "tool_condition_accuracy": sum(t == g for _, _, t, g in frames) / len(frames),
        "tool_condition_balanced_accuracy": _balanced([(t, g) for _, _, t, g in frames]),
        "tool_condition_balanced_accuracy_run_vote": _balanced([(t, g) for _, _, t, g in votes]),
        "operation_runs": [{"family": t, "operation": g, "tool_condition": tg}
                           for t, g, _, tg in votes],
    }


__all__ = ["OPERATION_KEYS", "operation_scores"]
