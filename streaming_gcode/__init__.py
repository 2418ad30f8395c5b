# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""streaming_gcode: live G-code recognition from CNC sensor streams (ROS 2)."""

__version__ = "0.1.0"
