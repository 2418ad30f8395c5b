# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node's diagnostic statuses as a tool reads them: their names and their counters.

Names follow diagnostic_updater with `use_fqn`, `"<node>: <task>"`
(`outputs.diagnostics.status_name`, the one implementation of the rule), where
`<node>` is the node's fully qualified name (`/streaming_gcode`,
`/mill_1/streaming_gcode`) and, for the stream and buffer statuses of each of
several `machines`, `<node>/<machine>` (`/cell/streaming_gcode/a: buffer`).
Every value arrives as a string. Pure Python, so the display, the soak and
live-evaluation reports and the output listener read them the same way.
"""

from __future__ import annotations

from typing import Mapping

from streaming_gcode.core.machines import SINGLE_MACHINE
from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.outputs.diagnostics import (
    machine_node, status_name, STREAM_TASK_PREFIX, TASK_BUFFER, TASK_INFERENCE, TASK_MODEL,
)

NodeStatus = tuple[str, dict[str, str]]   # (status name, key -> value)
NAME_SEPARATOR = status_name("", "")      # what joins the node part and the task
ROOT_NODE = "/" + NODE_NAME               # the default node in the root namespace (its FQN)


def node_fqn(namespace: str = "", name: str = NODE_NAME) -> str:
    """Return the fully qualified name of node `name` in `namespace` (`""`, `/`: the root)."""
    parts = [part for part in namespace.split("/") if part]
    return "/" + "/".join(parts + [name])


def task_status(task: str, node: str = ROOT_NODE, machine: str = SINGLE_MACHINE) -> str:
    """Return the name of the status of `task` of `node` (and `machine`, for per machine tasks)."""
    return status_name(machine_node(node, machine), task)


def stream_status(stream: str, node: str = ROOT_NODE, machine: str = SINGLE_MACHINE) -> str:
    """Return the name of an input stream's status (`"<node>: stream <stream>"`)."""
    return task_status(STREAM_TASK_PREFIX + stream, node, machine)


# The statuses of the default node in the root namespace, one machine.
STREAM_STATUS_PREFIX = stream_status("")   # + the stream's name
BUFFER_STATUS = task_status(TASK_BUFFER)
INFERENCE_STATUS = task_status(TASK_INFERENCE)
MODEL_STATUS = task_status(TASK_MODEL)
# A stream status's counts of messages that did not become data (before_clock aside).
STREAM_DROP_KEYS: tuple[str, ...] = ("lost", "rmw_lost", "late", "out_of_order", "malformed")


def split_status(name: str) -> tuple[str, str]:
    """Return (node part, task) of a status name; ("", name) for a name not of that form."""
    node, separator, task = name.partition(NAME_SEPARATOR)
    return (node, task) if separator else ("", name)


def status_task(name: str) -> str:
    """Return the task of a status name (`buffer`, `stream controller`, ...)."""
    return split_status(name)[1]


def is_stream_task(task: str) -> bool:
    """Tell whether a task is an input stream's (`stream <name>`)."""
    return task.startswith(STREAM_TASK_PREFIX)


def _names_node(part: str, node_name: str) -> bool:
    if node_name.startswith("/"):        # a fully qualified name: that node only
        return part == node_name
    return part == node_name or part.endswith("/" + node_name)   # any namespace


def is_node_status(name: str, node_name: str = NODE_NAME) -> bool:
    """Tell whether a status is one of node `node_name`'s.

    `node_name` is a fully qualified name (`/mill_1/streaming_gcode`: that
    node) or a plain one (`streaming_gcode`: the node of that name in any
    namespace). The status's node part must be the node's or, for a machine's
    statuses, the node's followed by `/<machine>`.
    """
    part, task = split_status(name)
    if not part or not task:
        return False
    if _names_node(part, node_name):
        return True
    owner, _, machine = part.rpartition("/")
    return bool(owner and machine) and _names_node(owner, node_name)


def counter(values: Mapping[str, str], key: str) -> int:
    """Read one integer a status reports (`"12"`, `"12.0"`); 0 when missing or unreadable."""
    try:
        return int(float(values.get(key) or 0))
    except (TypeError, ValueError):
        return 0


__all__ = [
    "BUFFER_STATUS", "INFERENCE_STATUS", "MODEL_STATUS", "NAME_SEPARATOR", "NodeStatus",
    "ROOT_NODE", "STREAM_DROP_KEYS", "STREAM_STATUS_PREFIX", "counter", "is_node_status",
    "is_stream_task", "node_fqn", "split_status", "status_task",
    "stream_status", "task_status",
]
