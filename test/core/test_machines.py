# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The cell's machines: names are checked, each machine gets its layout under its namespace."""

from __future__ import annotations

import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.machines import (
    check_machine_names, machine_layout, MAX_MACHINES, output_prefix, SINGLE_MACHINE,
)
from streaming_gcode.core.stream_layout import StreamLayout

PERIOD = 50_000_000


def _layout(topic: str = "cell/arr") -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["arr"], "streams.arr.topic": topic,
        "streams.arr.type": "std_msgs/msg/Float32MultiArray", "streams.arr.channels": ["a", "b"],
        "sample_rate_hz": 1e9 / PERIOD, "max_staleness_s": 1.0, "alignment_timeout_s": 0.0,
    })


def test_machine_names_are_checked_and_default_to_one_unnamed_machine():
    assert check_machine_names([]) == (SINGLE_MACHINE,)
    assert check_machine_names(["cell_a", "B2"]) == ("cell_a", "B2")
    with pytest.raises(ConfigError, match=r"\['2cell', 'a/b'\] are not valid names.*"
                                          r"\['x'\] appear more than once"):
        check_machine_names(["2cell", "a/b", "x", "x"])


def test_at_most_max_machines():
    names = [f"m{i}" for i in range(MAX_MACHINES)]
    assert len(check_machine_names(names)) == MAX_MACHINES
    with pytest.raises(ConfigError, match=rf"{MAX_MACHINES + 1} machines, at most {MAX_MACHINES}"):
        check_machine_names(names + ["one_more"])


def test_each_machine_gets_the_layout_under_its_namespace():
    layout = _layout()
    assert machine_layout(layout, SINGLE_MACHINE) is layout
    namespaced = machine_layout(layout, "cell_b")
    assert [s.topic for s in namespaced.streams] == ["cell_b/cell/arr"]
    assert namespaced.alignment == layout.alignment
    assert output_prefix("cell_b") == "~/cell_b/" and output_prefix(SINGLE_MACHINE) == "~/"
    with pytest.raises(ConfigError, match=r"streams \['arr'\] have absolute or private topics"):
        machine_layout(_layout("/plant/arr"), "cell_b")
