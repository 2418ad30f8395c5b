# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The tools around the live node: demo, benchmark, soak and live evaluation.

Each tool folder stands on the shared `harness` (the node process, one output
listener, the bag player and source publisher) and on the library folders
before it, never on another tool. Modules are imported on use: most of them
bring rclpy or torch, which the CLI must not load to build its parser.
"""

__all__ = ["bench", "demo", "harness", "live_eval", "soak"]
