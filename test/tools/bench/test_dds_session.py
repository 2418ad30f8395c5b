# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The end-to-end benchmark's reading of the node's diagnostics (fully qualified names)."""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from streaming_gcode.tools.bench.dds_session import listen, stream_totals  # noqa: E402
from streaming_gcode.tools.harness.node_status import (  # noqa: E402
    BUFFER_STATUS, stream_status,
)
from streaming_gcode.tools.harness.output_listener import DIAGNOSTICS  # noqa: E402


class _Statuses:
    """The listener's `statuses()`, fixed."""

    def __init__(self, statuses: dict[str, dict[str, str]]) -> None:
        self._statuses = statuses

    def statuses(self) -> dict[str, dict[str, str]]:
        return self._statuses


def test_stream_totals_sum_the_stream_statuses_of_the_root_node() -> None:
    totals = stream_totals(_Statuses({
        stream_status("controller"): {"messages": "10", "accepted": "9", "lost": "1"},
        stream_status("motor_currents"): {"messages": "5", "accepted": "5", "late": "2"},
        BUFFER_STATUS: {"messages": "100"},
    }))
    assert totals == {"messages": 15, "accepted": 14, "lost": 1, "rmw_lost": 0, "late": 2}


class _FakeNode:
    """Records the listener's subscriptions (their callbacks are called directly)."""

    def __init__(self) -> None:
        self.subscriptions: list = []

    def create_subscription(self, msg_class, topic, callback, qos, raw=False):
        self.subscriptions.append((topic, callback))


def test_the_listener_keeps_the_root_nodes_statuses_only() -> None:
    node = _FakeNode()
    listener = listen(node)   # type: ignore[arg-type]
    on_diagnostics = dict(node.subscriptions)["/diagnostics"]
    array = DiagnosticArray(status=[
        DiagnosticStatus(name=name, values=[KeyValue(key="messages", value="3")])
        for name in (stream_status("a"), stream_status("a", "/mill_1/streaming_gcode"),
                     "/other: stream a")])
    on_diagnostics(array)
    assert listener.count(DIAGNOSTICS) == 1
    assert listener.statuses() == {stream_status("a"): {"messages": "3"}}
