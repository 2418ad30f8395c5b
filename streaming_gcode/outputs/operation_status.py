# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The `operation` diagnostic status: what the program library says is running, and the tool.

Present when the model carries a program library. With the physics witness it
says which recorded operation the machine is physically running, how far into
the job, and the tool's condition: a `damaged` judgement is a WARN (replace or
inspect the tool), as is an operation too uncertain to act on.
"""

from __future__ import annotations

from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.model.progress_library import DAMAGED
from streaming_gcode.outputs.diagnostics import _status, Level, Status

TASK_OPERATION = "operation"
OPERATION_STATUS_KEYS: tuple[str, ...] = (
    "operation", "operation_confidence", "tool_condition", "tool_condition_confidence",
    "program", "program_confidence", "reported_line", "job_progress_frames",
)
UNCERTAIN_BELOW = 0.5   # an operation confidence below this is a WARN


def operation_status(node: str, hardware_id: str, reading: ProgramReading | None) -> Status:
    """Return the status of the newest reading (OK "no prediction yet" before the first)."""
    if reading is None:
        return _status(node, TASK_OPERATION, hardware_id, [], "no prediction yet",
                       [(key, None) for key in OPERATION_STATUS_KEYS])
    problems: list[tuple[Level, str]] = []
    if reading.tool_condition == DAMAGED:
        problems.append((Level.WARN, f"tool condition damaged "
                         f"(confidence {reading.tool_condition_confidence or 0:.2f})"))
    confidence = reading.operation_confidence
    if confidence is not None and confidence < UNCERTAIN_BELOW:
        problems.append((Level.WARN, f"operation uncertain ({reading.operation}, confidence "
                         f"{confidence:.2f})"))
    ok = f"running {reading.operation}" + (
        f", tool {reading.tool_condition}" if reading.tool_condition else "")
    values = [
        ("operation", reading.operation), ("operation_confidence", confidence),
        ("tool_condition", reading.tool_condition),
        ("tool_condition_confidence", reading.tool_condition_confidence),
        ("program", reading.program), ("program_confidence", reading.confidence),
        ("reported_line", reading.line_number), ("job_progress_frames", reading.progress),
    ]
    return _status(node, TASK_OPERATION, hardware_id, problems, ok, values)


__all__ = ["OPERATION_STATUS_KEYS", "TASK_OPERATION", "operation_status"]
