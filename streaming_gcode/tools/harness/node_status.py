# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node's diagnostic statuses as a tool reads them: their names and their counters.

Names follow diagnostic_updater, `"<node>: <task>"` (`outputs.diagnostics`);
every value arrives as a string. Pure Python, so the display, the soak and
live-evaluation reports and the output listener read them the same way.
"""

from __future__ import annotations

from typing import Mapping

from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.outputs.diagnostics import (
    status_name, STREAM_TASK_PREFIX, TASK_BUFFER, TASK_INFERENCE, TASK_MODEL,
)

NodeStatus = tuple[str, dict[str, str]]   # (status name, key -> value)
STREAM_STATUS_PREFIX = status_name(NODE_NAME, STREAM_TASK_PREFIX)   # + the stream's name
BUFFER_STATUS = status_name(NODE_NAME, TASK_BUFFER)
INFERENCE_STATUS = status_name(NODE_NAME, TASK_INFERENCE)
MODEL_STATUS = status_name(NODE_NAME, TASK_MODEL)
# A stream status's counts of messages that did not become data (before_clock aside).
STREAM_DROP_KEYS: tuple[str, ...] = ("lost", "rmw_lost", "late", "out_of_order", "malformed")


def counter(values: Mapping[str, str], key: str) -> int:
    """Read one integer a status reports (`"12"`, `"12.0"`); 0 when missing or unreadable."""
    try:
        return int(float(values.get(key) or 0))
    except (TypeError, ValueError):
        return 0


__all__ = [
    "BUFFER_STATUS", "INFERENCE_STATUS", "MODEL_STATUS", "NodeStatus", "STREAM_DROP_KEYS",
    "STREAM_STATUS_PREFIX", "counter",
]
