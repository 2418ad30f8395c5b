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


CONTROLLER_HEADER = "t_console,stat,momo,spindle,posx,line,gcode_line,gcode_string\n"
ROW_PERIOD_MS = 250


def write_program_run(path: Path, rows: list[tuple[int, str, float]],
                      start_s: float = 36000.0) -> Path:
    """Write a run with the controller's `line`: one row per `(line, text, momo)`, 4 Hz.

    `spindle` and `posx` vary with the row so that frames differ.
    """
    body = []
    for i, (line, text, momo) in enumerate(rows):
        t = start_s + i * ROW_PERIOD_MS / 1000
        clock = f"{int(t // 3600):02d}:{int(t % 3600 // 60):02d}:{t % 60:06.3f}"
        body.append(f"{clock},5,{momo:g},{0.1 + 0.01 * i:.3f},{i * 0.5:.2f},{line},{line},{text}")
    path.write_text(CONTROLLER_HEADER + "\n".join(body) + "\n")
    return path
