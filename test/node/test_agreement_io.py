# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The agreement monitor inside the node: what a reference message says."""

from __future__ import annotations

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from streaming_gcode.node.agreement_io import reference_text  # noqa: E402, I100


def test_reference_lines_are_text_or_json_with_a_gcode_field() -> None:
    assert reference_text("  G1 X2 F100 \n") == "G1 X2 F100"
    assert reference_text('{"gcode": "G0 X1", "line": 3}') == "G0 X1"
    assert reference_text('{"line": 3}') == ""
    assert reference_text('{"gcode": 3}') == ""
    assert reference_text("{not json") == ""
