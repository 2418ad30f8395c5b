# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`evaluate --bags` / `--live`: bags replayed through the live node, scored like offline.

`session` holds the command's options and entry point; `bag_evaluation`
evaluates each bag with `playback` (options, the player process) and
`capture` (the node in-process, what it publishes) and scores it with
`report`, against the offline model on the same windows. Submodules are
imported on use (rclpy, torch).
"""

__all__ = ["bag_evaluation", "capture", "playback", "report", "session"]
