"""streaming_gcode: live G-code recognition from CNC sensor streams (ROS 2)."""

__version__ = "0.1.0"
