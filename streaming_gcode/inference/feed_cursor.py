# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Which frames of one ring buffer the model must see at a tick, and when its state resets.

Full-window mode feeds the newest `window` frames from zero state every tick.
Incremental mode carries the recurrent state and feeds only the frames appended
since the last tick (O(stride) work), and starts again from zero state on a full
window (a *reset*, counted by reason) when carrying the state on would hide a
discontinuity or keep fabricated input:

- `lost_frames`: frames were overwritten before the model saw them (ticks fell
  behind by more than the buffer's spare capacity) or the buffer was cleared;
- `clock_jump`: the next frame is not later than the last one fed (time went
  backwards, e.g. a sim-time restart);
- `gap`: more than `max_gap_ns` between the last frame fed and the next one
  (a stream outage with `stale_policy: skip`, a paused recording);
- `degraded`: the state has absorbed stale-filled (degraded) frames, and the
  model window no longer holds any of them: the state restarts from that clean
  window, so fabricated inputs never outlive the window, as in full-window mode.

A reset costs one full-window run; every other tick feeds the new frames only.
Frames arriving between two ticks are all fed, however many (no frame is skipped).
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer, Window

RESET_LOST = "lost_frames"
RESET_CLOCK = "clock_jump"
RESET_GAP = "gap"
RESET_DEGRADED = "degraded"
RESET_MODE = "mode"
RESET_ERROR = "error"
RESET_REQUESTED = "requested"
RESET_REASONS: tuple[str, ...] = (
    RESET_LOST, RESET_CLOCK, RESET_GAP, RESET_DEGRADED, RESET_MODE, RESET_ERROR, RESET_REQUESTED,
)


class FeedPlan(NamedTuple):
    """What to feed this tick; `frames` are views, copy them before releasing the buffer."""

    frames: Window             # the frames to feed (the whole window after a reset)
    from_zero_state: bool      # run from zero state (full window or re-warm)
    newest_sequence: int       # sequence number of the newest frame
    newest_stamp_ns: int
    first_stamp_ns: int        # oldest frame of the model window
    degraded: bool             # any frame of the model window is degraded
    newest_degraded: bool
    last_degraded_fed: int     # sequence of the newest degraded frame in `frames` (0 = none)
    reset_reason: str | None   # why the state was reset at this tick, if it was


class FeedCursor:
    """Tracks, for one buffer, what the model has seen; pure logic, no model."""

    def __init__(self, window_frames: int, incremental: bool,
                 max_gap_ns: int | None = None) -> None:
        if window_frames < 1:
            raise ConfigError(f"feed cursor: window_frames must be >= 1, got {window_frames}")
        if max_gap_ns is not None and max_gap_ns <= 0:
            raise ConfigError(f"feed cursor: max_gap_ns must be > 0 or None, got {max_gap_ns}")
        self.window_frames = window_frames
        self.max_gap_ns = max_gap_ns
        self.resets: Counter[str] = Counter()
        self._incremental = incremental
        self._planned = 0          # newest sequence already planned (0 = none)
        self._fed = 0              # newest sequence in the carried state (0 = no state)
        self._fed_stamp = 0
        self._tainted = 0          # newest degraded sequence in the carried state (0 = clean)

    @property
    def incremental(self) -> bool:
        """Tell whether the recurrent state is carried between ticks."""
        return self._incremental

    @incremental.setter
    def incremental(self, value: bool) -> None:
        if value != self._incremental:
            self._incremental = value
            self.reset(RESET_MODE)

    @property
    def has_state(self) -> bool:
        """Tell whether a carried state exists (the next tick may feed new frames only)."""
        return self._fed != 0

    def reset(self, reason: str) -> None:
        """Forget the carried state; the next tick runs a full window from zero state."""
        if reason not in RESET_REASONS:
            raise ValueError(f"reset reason {reason!r} unknown; expected one of {RESET_REASONS}")
        if self._fed:
            self.resets[reason] += 1
        self._fed = 0
        self._tainted = 0

    def _reset_reason(self, buffer: AlignedRingBuffer, window: Window) -> str | None:
        new = buffer.since(self._fed)
        if new is None or new.first_sequence != self._fed + 1:
            return RESET_LOST
        gap = int(new.stamps[0]) - self._fed_stamp
        if gap <= 0:
            return RESET_CLOCK
        if self.max_gap_ns is not None and gap > self.max_gap_ns:
            return RESET_GAP
        if self._tainted and window.first_sequence > self._tainted:
            return RESET_DEGRADED
        return None

    def plan(self, buffer: AlignedRingBuffer) -> FeedPlan | None:
        """Return the frames to feed now; None while the buffer fills or nothing is new."""
        window = buffer.window(self.window_frames)
        if window is None:
            return None
        newest = window.first_sequence + len(window) - 1
        if newest == self._planned:
            return None
        self._planned = newest
        frames, reason = window, None
        if self._incremental and self._fed:
            reason = self._reset_reason(buffer, window)
            if reason is None:
                frames = buffer.since(self._fed)
            else:
                self.reset(reason)
        marks = np.flatnonzero(frames.degraded)
        return FeedPlan(
            frames=frames,
            from_zero_state=frames is window,
            newest_sequence=newest,
            newest_stamp_ns=int(window.stamps[-1]),
            first_stamp_ns=int(window.stamps[0]),
            degraded=bool(window.degraded.any()),
            newest_degraded=bool(window.degraded[-1]),
            last_degraded_fed=int(frames.first_sequence + marks[-1]) if marks.size else 0,
            reset_reason=reason,
        )

    def commit(self, plan: FeedPlan) -> None:
        """Record that the model ran on `plan` (incremental: the state ends at its newest)."""
        if not self._incremental:
            return
        if plan.from_zero_state:
            self._tainted = 0
        self._tainted = plan.last_degraded_fed or self._tainted
        self._fed = plan.newest_sequence
        self._fed_stamp = plan.newest_stamp_ns

    def fail(self) -> None:
        """Drop the state after a failed run of the planned frames (an error reset)."""
        self.reset(RESET_ERROR)
