# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What every tool needs to run and watch the node: one of each.

`node_process` starts `stream_node` as deployed (its own process, local-only
DDS); `output_listener` hears its outputs (`~/prediction`, `~/gcode`,
`~/agreement`, `/diagnostics`), `node_status` reads its statuses;
`bag_player` plays a bag with `/clock`; `source_publisher` sends a source's
`source_frames` at their real rates. Submodules are imported on use (rclpy).
"""

__all__ = [
    "bag_player", "node_process", "node_status", "output_listener", "source_frames",
    "source_publisher",
]
