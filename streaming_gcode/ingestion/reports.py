# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What ingestion reports about its streams and its buffer, as plain records.

Filled in by `StreamIngest` at report time; the diagnostics in `outputs`
grade them into statuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, Hashable, TypeVar

from streaming_gcode.ingestion.drop_accounting import DropCounters


@dataclass(frozen=True)
class StreamReport:
    """What the node knows about one input stream at report time."""

    name: str
    topic: str
    msg_type: str
    qos: str
    total: DropCounters
    recent: DropCounters          # since the previous report
    rate_hz: float | None
    age_s: float                  # since the newest message, or since start if none
    incompatible_policy: str = ""
    stamp_offset_s: float | None = None       # newest header stamp minus node clock
    stamp_offset_peak_s: float | None = None  # largest |offset| since the previous report
    live_publishers: tuple[Hashable, ...] = ()   # gids heard recently, the first one first
    graph_publishers: int | None = None       # publishers the ROS graph shows on the topic
    multiple_publishers: str = "warn"
    ignored_names: int = 0            # messages whose extra JointState names were left out
    stamp_source: str = "header"      # header, or receipt (the node clock at arrival)
    optional: bool = False            # may be absent (a board not fitted)


@dataclass(frozen=True)
class BufferReport:
    """Ring buffer and aligner state at report time."""

    capacity: int
    frames_held: int
    window_frames: int
    frames: int
    frames_recent: int
    degraded_frames: int
    degraded_recent: int
    newest_frame_degraded: bool
    skipped_frames: int
    timed_out_frames: int
    pending_frames: int
    aligner_resets: int
    last_reset_reason: str
    newest_frame_stamp_ns: int | None
    stale_policy: str


K = TypeVar("K", bound=Hashable)


class RecentDelta(Generic[K]):
    """Remembers the previous snapshot per key to report counts since the last report."""

    def __init__(self) -> None:
        self._previous: dict[K, DropCounters] = {}

    def delta(self, key: K, current: DropCounters) -> DropCounters:
        """Return `current` minus the snapshot given for `key` last time (all the first time)."""
        previous = self._previous.get(key, DropCounters())
        self._previous[key] = current
        return current.minus(previous)
