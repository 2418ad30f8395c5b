# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""config/diagnostic_aggregator.yaml groups every status the node publishes, by the real rules.

The rules are ROS 2 GenericAnalyzer's (diagnostic_aggregator/src/generic_analyzer.cpp):
an analyzer initialises only with `startswith`, `contains`, `regex` or
`find_and_remove_prefix`; a status is matched by `regex` (std::regex_match: the
whole name), a prefix (`startswith`, `find_and_remove_prefix`) or a substring
(`contains`); `expected` only pre-creates items and matches nothing. A status no
analyzer matches lands in "Other". The names are those real nodes give their
statuses, in a namespace and with several machines.
"""

from __future__ import annotations

from pathlib import Path
import re

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

import torch  # noqa: E402, I100
import yaml  # noqa: E402

from streaming_gcode.model.checkpoint import save_checkpoint  # noqa: E402
from streaming_gcode.model.random_weights import random_model  # noqa: E402
from streaming_gcode.node.stream_node import create_node  # noqa: E402

pytestmark = pytest.mark.ros
torch.set_num_threads(1)
CONFIG = Path(__file__).resolve().parents[2] / "config" / "diagnostic_aggregator.yaml"
GENERIC = "diagnostic_aggregator/GenericAnalyzer"
GROUP = "diagnostic_aggregator/AnalyzerGroup"
MATCH_RULES = ("startswith", "contains", "regex", "find_and_remove_prefix")
# (namespace, machines, reference_topic): one mill in a namespace with the agreement
# monitor; one node serving two machines; the default node at the root.
NODES = (("/mill_1", [], "cnc/executed_line"), ("/cell_2", ["a", "b"], ""), ("", [], ""))


def shipped_analyzers() -> dict:
    """Return the analyzers of the shipped "Streaming G-code" group."""
    params = yaml.safe_load(CONFIG.read_text())["analyzers"]["ros__parameters"]
    group = params["streaming_gcode"]
    assert group["type"] == GROUP and group["path"]
    return group["analyzers"]


def generic_analyzer_matches(analyzer: dict, name: str) -> bool:
    """GenericAnalyzer::match: regex (whole name), prefixes, substrings; never `expected`."""
    prefixes = analyzer.get("startswith", []) + analyzer.get("find_and_remove_prefix", [])
    return (any(re.fullmatch(pattern, name) for pattern in analyzer.get("regex", []))
            or any(name.startswith(prefix) for prefix in prefixes)
            or any(part in name for part in analyzer.get("contains", [])))


def matching_analyzers(name: str, analyzers: dict | None = None) -> list[str]:
    """Return the analyzers (of the shipped group unless given) that claim status `name`."""
    analyzers = shipped_analyzers() if analyzers is None else analyzers
    return [key for key, analyzer in analyzers.items() if generic_analyzer_matches(analyzer, name)]


@pytest.fixture(scope="module")
def published_names(tmp_path_factory) -> list[str]:
    """Status names of real nodes: namespaced, multi-machine, default, with agreement."""
    model = random_model("physical", d_model=8, num_layers=1, window=6, stride=2)
    checkpoint = save_checkpoint(tmp_path_factory.mktemp("agg") / "tiny.pt", model.backbone,
                                 model.line_heads, model.config, model.metadata)
    context = rclpy.Context()
    rclpy.init(context=context)
    names: list[str] = []
    try:
        for namespace, machines, reference in NODES:
            overrides = {"checkpoint": str(checkpoint), "model": "physical",
                         "reference_topic": reference}
            if machines:
                overrides["machines"] = machines
            node = create_node(overrides, context=context, namespace=namespace or None)
            try:
                names += [status.name for status in node.statuses()]
            finally:
                node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return names


def test_every_analyzer_initialises_with_a_match_rule_and_a_path() -> None:
    for name, analyzer in shipped_analyzers().items():
        assert analyzer["type"] == GENERIC, name
        assert analyzer["path"], name
        assert analyzer.get("timeout", 0) > 0, name
        assert any(analyzer.get(rule) for rule in MATCH_RULES), f"{name}: no match rule"
        for pattern in analyzer.get("regex", []):
            re.compile(pattern)


def test_every_published_status_lands_in_exactly_one_analyzer(published_names) -> None:
    assert "/mill_1/streaming_gcode: stream controller" in published_names
    assert "/mill_1/streaming_gcode: agreement" in published_names
    assert "/cell_2/streaming_gcode/b: buffer" in published_names
    assert "/streaming_gcode: model" in published_names
    for status in published_names:
        owners = matching_analyzers(status)
        assert len(owners) == 1, f"{status!r} matched by {owners} (none: 'Other')"


def test_status_names_are_unique_across_nodes_and_machines(published_names) -> None:
    assert len(set(published_names)) == len(published_names)


def test_statuses_of_other_nodes_are_not_claimed() -> None:
    for other in ("/lidar/driver: temperature", "/robot_state_publisher: status",
                  "streaming_gcode: buffer"):   # not a fully qualified name
        assert not matching_analyzers(other), other
