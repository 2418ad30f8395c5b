# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""When the inference tick runs: as soon as `stride` new frames are complete, or at its deadline.

Frames are completed in the ingestion callback; waiting there for a timer on
its own phase would delay every prediction by half a tick period on average.
`TickWakeup` instead runs the tick when a machine has completed the frame its
next tick is due at: under the single-threaded executor (the node's) right
there, in the ingestion callback (a guard condition would wait for the rest of
the callback's drain and one more executor round); under a multi-threaded one,
and in-process where the caller spins the node, it triggers a guard condition
in the tick's callback group, so ingestion goes on meanwhile. The tick timer
stays as the deadline: it runs the tick when frames were completed outside
ingestion (alignment timeouts), a wake-up was skipped, or a whole period went
by without a tick while frames waited, and reports a period in which no frame
was completed (an idle tick). A trigger while the tick runs
wakes it once more afterwards: ticks never queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from rclpy.node import Node

from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer


@dataclass
class TickCounters:
    """Inference tick bookkeeping (guarded by the node's stats lock)."""

    ticks: int = 0
    predictions: int = 0
    overruns: int = 0
    skipped: int = 0
    skipped_reported: int = 0
    idle: int = 0
    errors: int = 0
    last_error: str = ""
    skip_next: bool = False


class TickWakeup:
    """Wakes the tick on `stride` new frames; decides what the deadline timer does.

    Ticks are due on a grid of frame sequence numbers `stride` apart: a tick that
    ran late and took a few frames more does not push the following ones back.
    """

    def __init__(self, node: Node, buffers: Mapping[str, AlignedRingBuffer],
                 stride: Callable[[], int], on_tick: Callable[[], None],
                 callback_group: Any, inline: bool = False) -> None:
        self._buffers = dict(buffers)
        self._inline = inline   # the tick runs in the ingestion callback (single-threaded)
        self._stride = stride
        self._on_tick = on_tick
        self._due = dict.fromkeys(self._buffers, stride())  # sequence the next tick waits for
        self._taken = dict.fromkeys(self._buffers, 0)       # newest sequence a tick took
        self._seen = dict.fromkeys(self._buffers, 0)        # sequences at the previous deadline
        self._ticked = False                                # a tick ran since that deadline
        self._guard = node.create_guard_condition(self._on_wake, callback_group)

    def release(self, node: Node) -> None:
        """Destroy the wake-up's guard condition (lifecycle cleanup)."""
        node.destroy_guard_condition(self._guard)

    def frames_completed(self, machine: str) -> None:
        """Ingestion finalised frames of `machine`: run or wake the tick if it is due."""
        if self.is_due(machine):
            if self._inline:
                self._on_wake()
            else:
                self._guard.trigger()

    def is_due(self, machine: str) -> bool:
        """Tell whether `machine` completed the frame its next tick waits for."""
        return self._buffers[machine].total_appended >= self._due[machine]

    def appended(self) -> dict[str, int]:
        """Return each buffer's frame sequence now (read before planning a tick)."""
        return {m: b.total_appended for m, b in self._buffers.items()}

    def took(self, appended: Mapping[str, int], plans: Mapping[str, Any] | None) -> None:
        """Move the next due frame past the newest a tick has taken (plan, else `appended`)."""
        stride = max(self._stride(), 1)
        self._ticked = True
        for machine, count in appended.items():
            newest = plans[machine].newest_sequence if plans and machine in plans else count
            self._taken[machine] = newest
            due = self._due[machine]
            if newest >= due:   # the next grid point after the frames taken
                self._due[machine] = due + ((newest - due) // stride + 1) * stride

    def _is_due(self) -> bool:
        return any(self.is_due(m) for m in self._buffers)

    def _on_wake(self) -> None:
        if self._is_due():   # a trigger raced with the tick that took those frames: no tick
            self._on_tick()

    def on_deadline(self) -> bool:
        """Run the tick if it is due; True when no frame came this period (idle).

        Fewer than `stride` new frames wait for the rest, unless a whole period
        went by without a tick (frames slower than nominal, gaps): then the
        timer ticks on them, as a timer alone would.
        """
        appended = self.appended()
        completed, self._seen = appended != self._seen, appended
        ticked, self._ticked = self._ticked, False
        if self._is_due() or (not ticked and any(
                n > self._taken[m] for m, n in appended.items())):
            self._on_tick()
            return False
        return not completed
