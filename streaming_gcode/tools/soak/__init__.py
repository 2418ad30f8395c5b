# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`make soak`: bags replayed in a loop against the live node for a long time.

`session` runs the node and the bags and samples memory, latency and
counters; `analysis` turns the samples into the report (no ROS). Submodules
are imported on use (rclpy).
"""

__all__ = ["analysis", "session"]
