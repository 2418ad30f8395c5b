# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A small recorded run for tests: a dataset CSV header and the two-stream layout it feeds."""

from __future__ import annotations

from pathlib import Path

from streaming_gcode.core.stream_layout import StreamLayout

HEADER = "t_console,stat,momo,spindle,posx,gcode_line,gcode_string\n"


def two_stream_layout() -> StreamLayout:
    """Build a controller stream (frame clock) and a motor-current stream over HEADER's columns."""
    return StreamLayout.from_parameters({
        "stream_names": ["ctrl", "cur"], "frame_clock": "ctrl",
        "streams.ctrl.topic": "c", "streams.ctrl.type": "sensor_msgs/JointState",
        "streams.ctrl.channels": ["stat", "momo", "posx"],
        "streams.cur.topic": "i", "streams.cur.type": "sensor_msgs/JointState",
        "streams.cur.channels": ["spindle"],
    })


def write_run(path: Path, rows: str) -> Path:
    """Write a run file: HEADER, then `rows`."""
    path.write_text(HEADER + rows)
    return path
