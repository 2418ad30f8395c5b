# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What a sensor source publishes at one instant, and the executed line it reports.

The records `SourcePublisher` sends and every source (recorded runs, the
simulated cell) produces: pure data, shared by the harness and the tools.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EXECUTED_TOPIC = "cnc/executed_line"   # Executed as JSON (stamp_ns, gcode, command, ...)


class Executed(NamedTuple):
    """The line the machine was executing at one stamp (the reference for accuracy)."""

    stamp_ns: int
    gcode: str                 # the line as written in the program / recording
    command: str               # modal continuation resolved ("G1", "G53 G0", "NONE")
    modal: bool                # command inherited, not written
    line_number: int           # program line number (-1 unknown)
    source: str                # run name, or "simulated"

    def as_dict(self) -> dict[str, object]:
        """JSON-able form published on the reference topic."""
        return self._asdict()


class SourceFrame(NamedTuple):
    """Everything a source publishes at one instant."""

    due_ns: int                                            # offset from the source's start
    samples: tuple[tuple[int, int, np.ndarray], ...]       # (stream_index, stamp_ns, values)
    executed: Executed | None


__all__ = ["EXECUTED_TOPIC", "Executed", "SourceFrame"]
