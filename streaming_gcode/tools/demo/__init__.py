# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`make demo`: the node on a bag, a recorded run or a simulated cell, shown in a terminal.

`session` wires it together: `sources` picks the source (`recording_source`,
`sim_cell` with `sim_program`, or a bag), `graph` publishes it and listens to
the node, `view` prints predictions next to executed lines with live stats.
Submodules are imported on use (rclpy, torch).
"""

__all__ = ["graph", "recording_source", "session", "sim_cell", "sim_program", "sources", "view"]
