# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Operation and tool-condition scores: per frame, per run vote, balanced over conditions."""

from __future__ import annotations

import numpy as np
import pytest

from streaming_gcode.ingestion.alignment import FrameTable
from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.offline.labelled_windows import PreparedRun
from streaming_gcode.offline.operation_scores import operation_scores
from streaming_gcode.offline.splits import tool_condition_of

LABEL = LineLabel("G1", False, ())


def _run(family: str, n: int) -> PreparedRun:
    table = FrameTable(np.arange(n, dtype=np.int64), np.zeros((n, 1), np.float32),
                       np.zeros((n, 0), np.int64), np.zeros(n, bool))
    return PreparedRun(f"{family}_013", family, table, [LABEL] * n)


def _answers(pairs: list[tuple[str, str]]) -> list[ProgramReading]:
    return [ProgramReading(op, 1.0, None, None, operation=op, tool_condition=tool)
            for op, tool in pairs]


def test_run_votes_and_balanced_condition() -> None:
    runs = [_run("face", 4), _run("damageface", 4)]
    readings = [
        _answers([("face", "normal")] * 3 + [("damageface", "damaged")]),
        _answers([("damageface", "damaged")] * 2 + [("face", "normal")] * 2),
    ]
    scores = operation_scores(runs, readings)
    assert scores["operation_accuracy"] == pytest.approx(5 / 8)
    assert scores["operation_accuracy_run_vote"] == 1.0   # ties go to the first answer seen
    assert scores["tool_condition_balanced_accuracy"] == pytest.approx((3 / 4 + 2 / 4) / 2)
    assert scores["tool_condition_balanced_accuracy_run_vote"] == 1.0


def test_readings_without_a_tool_condition_are_not_scored() -> None:
    runs = [_run("face", 2)]
    assert operation_scores(runs, [[ProgramReading("face", 1.0, None, 3)] * 2]) == {}
    assert tool_condition_of("damagepocket") == "damaged"
    assert tool_condition_of("pocket150025") == "normal"
