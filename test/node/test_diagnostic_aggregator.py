# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""config/diagnostic_aggregator.yaml groups exactly the statuses the node publishes."""

from __future__ import annotations

from pathlib import Path

import yaml

from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.outputs.agreement import TASK_AGREEMENT
from streaming_gcode.outputs.diagnostics import (
    status_name,
    STREAM_TASK_PREFIX,
    TASK_BUFFER,
    TASK_INFERENCE,
    TASK_MODEL,
)

CONFIG = Path(__file__).resolve().parents[2] / "config" / "diagnostic_aggregator.yaml"
GENERIC = "diagnostic_aggregator/GenericAnalyzer"
GROUP = "diagnostic_aggregator/AnalyzerGroup"


def _group() -> dict:
    params = yaml.safe_load(CONFIG.read_text())["analyzers"]["ros__parameters"]
    group = params[NODE_NAME]
    assert group["type"] == GROUP and group["path"]
    return group["analyzers"]


def _matches(analyzer: dict, name: str) -> bool:
    """Apply GenericAnalyzer's name rules (expected, startswith, find_and_remove_prefix)."""
    prefixes = analyzer.get("startswith", []) + analyzer.get("find_and_remove_prefix", [])
    return name in analyzer.get("expected", []) or any(
        name.startswith(prefix) for prefix in prefixes)


def test_every_analyzer_is_a_generic_analyzer_with_a_path() -> None:
    for name, analyzer in _group().items():
        assert analyzer["type"] == GENERIC, name
        assert analyzer["path"], name
        assert analyzer.get("timeout", 0) > 0, name


def test_each_status_of_the_node_lands_in_exactly_one_analyzer() -> None:
    statuses = [
        status_name(NODE_NAME, STREAM_TASK_PREFIX + "controller"),
        status_name(NODE_NAME, STREAM_TASK_PREFIX + "board_xa_motor"),
        status_name(NODE_NAME, TASK_BUFFER),
        status_name(NODE_NAME, TASK_INFERENCE),
        status_name(NODE_NAME, TASK_MODEL),
        status_name(NODE_NAME, TASK_AGREEMENT),
    ]
    analyzers = _group()
    for status in statuses:
        owners = [name for name, analyzer in analyzers.items() if _matches(analyzer, status)]
        assert len(owners) == 1, f"{status!r} matched by {owners}"


def test_pipeline_statuses_are_expected_so_a_silent_node_shows_stale() -> None:
    expected = _group()["pipeline"]["expected"]
    assert expected == [status_name(NODE_NAME, task)
                        for task in (TASK_BUFFER, TASK_INFERENCE, TASK_MODEL)]


def test_a_status_of_another_node_is_not_claimed() -> None:
    other = status_name("other_node", TASK_BUFFER)
    assert not any(_matches(analyzer, other) for analyzer in _group().values())
