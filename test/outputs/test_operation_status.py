# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The operation status: the library's newest reading, a damaged tool as a WARN."""

from __future__ import annotations

from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.outputs.diagnostics import Level
from streaming_gcode.outputs.operation_status import operation_status, OPERATION_STATUS_KEYS


def _reading(tool: str, confidence: float = 0.97) -> ProgramReading:
    return ProgramReading("face150025", confidence, None, None, operation="face150025",
                          operation_confidence=confidence, tool_condition=tool,
                          tool_condition_confidence=0.9, progress=42)


def test_a_normal_tool_is_ok_with_every_key() -> None:
    status = operation_status("/mill_1/streaming_gcode", "mill_1", _reading("normal"))
    assert status.name == "/mill_1/streaming_gcode: operation" and status.level == Level.OK
    assert status.message == "running face150025, tool normal"
    assert [k for k, _ in status.values] == list(OPERATION_STATUS_KEYS)
    assert status.value("job_progress_frames") == "42"


def test_a_damaged_tool_and_an_uncertain_operation_warn() -> None:
    status = operation_status("/streaming_gcode", "", _reading("damaged"))
    assert status.level == Level.WARN and "tool condition damaged" in status.message
    uncertain = operation_status("/streaming_gcode", "", _reading("normal", confidence=0.3))
    assert uncertain.level == Level.WARN and "uncertain" in uncertain.message


def test_before_the_first_prediction() -> None:
    status = operation_status("/streaming_gcode", "", None)
    assert status.level == Level.OK and status.message == "no prediction yet"
