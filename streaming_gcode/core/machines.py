# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The cell's machines: their names, and each machine's namespaced topics.

With the `machines` parameter empty the node serves one machine on the
layout's topics (`~/gcode`, `~/prediction`). With `machines: [cell_a, cell_b]`
every machine gets the same stream layout under its own namespace (the
relative topic `cnc/controller_state` becomes `cell_a/cnc/controller_state`)
and its own outputs (`~/cell_a/gcode`, `~/cell_a/prediction`). This is layout,
not inference: the ingestion, the node and the engine all key on these names.

A plant with more machines than one host can serve runs one node per host on
the same DDS graph, each with its own `machines` list (and node name).
"""

from __future__ import annotations

from dataclasses import replace
import re
from typing import Sequence

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import StreamLayout

SINGLE_MACHINE = ""                    # the one machine of a node without `machines`
MACHINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_MACHINES = 256


def check_machine_names(names: Sequence[str]) -> tuple[str, ...]:
    """Return the machine names, validated: ROS name tokens, distinct, at most MAX_MACHINES."""
    names = tuple(names)
    bad = [n for n in names if not MACHINE_NAME.match(n)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if bad:
        problems.append(f"{bad} are not valid names (a letter, then letters, digits, _)")
    if duplicates:
        problems.append(f"{duplicates} appear more than once")
    if len(names) > MAX_MACHINES:
        problems.append(f"{len(names)} machines, at most {MAX_MACHINES}")
    if problems:
        raise ConfigError("invalid machines parameter: " + "; ".join(problems))
    return names or (SINGLE_MACHINE,)


def machine_layout(layout: StreamLayout, machine: str) -> StreamLayout:
    """Return the layout with every topic in the machine's namespace (SINGLE_MACHINE: as is)."""
    if machine == SINGLE_MACHINE:
        return layout
    absolute = [s.name for s in layout.streams if s.topic.startswith(("/", "~"))]
    if absolute:
        raise ConfigError(
            f"with machines, stream topics must be relative so each machine gets its own: "
            f"streams {absolute} have absolute or private topics"
        )
    streams = tuple(replace(s, topic=f"{machine}/{s.topic}") for s in layout.streams)
    return replace(layout, streams=streams)


def output_prefix(machine: str) -> str:
    """Return the prefix of a machine's output topics: `~/` or `~/<machine>/`."""
    return "~/" if machine == SINGLE_MACHINE else f"~/{machine}/"
