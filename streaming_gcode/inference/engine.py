# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Run the model on the ring buffer: full-window or incremental, behind a backend seam.

The node calls `prepare` under the buffer lock (a copy of the window, or of the
frames new since the last tick, into the backend's preallocated input: no
allocation, microseconds), then `infer` without the lock, so ingestion keeps
running while the model does. `full_window` runs the newest `window` frames from
zero state every tick; `incremental` carries the LSTM state and feeds only the
new frames (O(stride) per tick), resetting and re-warming on a full window after
lost frames, time gaps, a clock jump or degraded input (policy: feed_cursor).
Both return the heads' logits for the newest frame. Backends (eager torch,
onnxruntime, onnxruntime_int8) live in backends.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from streaming_gcode.core.parameters import BACKEND_CHOICES, MODE_CHOICES, MODE_INCREMENTAL
from streaming_gcode.inference.backends import ArrayState, make_runner, ModelRunner, RunnerBackend
from streaming_gcode.inference.feed_cursor import FeedCursor, FeedPlan, RESET_REQUESTED
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer


@dataclass(frozen=True)
class PreparedInput:
    """What `prepare` loaded into the backend, and about which frames."""

    frames: int               # frames loaded (window length, or new frames)
    from_zero_state: bool     # full window, or incremental warm-up after a reset
    newest_stamp_ns: int
    first_stamp_ns: int       # oldest frame of the model window
    newest_sequence: int      # ring buffer sequence number of the newest frame
    degraded: bool            # any frame of the model window was stale-filled
    newest_degraded: bool


@dataclass(frozen=True)
class InferenceResult:
    """Logits for the newest frame plus what they are about."""

    logits: dict[str, np.ndarray]
    prepared: PreparedInput


def prepared_input(plan: FeedPlan) -> PreparedInput:
    """Describe what a feed plan loads, as the engine reports it."""
    return PreparedInput(
        frames=len(plan.frames),
        from_zero_state=plan.from_zero_state,
        newest_stamp_ns=plan.newest_stamp_ns,
        first_stamp_ns=plan.first_stamp_ns,
        newest_sequence=plan.newest_sequence,
        degraded=plan.degraded,
        newest_degraded=plan.newest_degraded,
    )


class InferenceEngine:
    """Ticks the model over the newest data of an `AlignedRingBuffer`.

    `backend` names a backend (`backends.BACKENDS`; onnxruntime exports the
    modules here) or is a ready `ModelRunner`, e.g. one shared export.
    """

    def __init__(
        self,
        backbone: torch.nn.Module,
        line_heads: torch.nn.Module,
        window_frames: int,
        capacity: int,
        n_continuous: int,
        n_categorical: int,
        mode: str = MODE_CHOICES[0],
        backend: str | ModelRunner = BACKEND_CHOICES[0],
        threads: int = 1,
        max_gap_ns: int | None = None,
    ) -> None:
        if window_frames < 1 or capacity < window_frames:
            raise ValueError(
                f"need 1 <= window_frames <= capacity, got {window_frames}, {capacity}"
            )
        if mode not in MODE_CHOICES:
            raise ValueError(f"mode {mode!r} unknown; expected one of {MODE_CHOICES}")
        if isinstance(backend, str):
            if backend not in BACKEND_CHOICES:
                raise ValueError(f"backend {backend!r} unknown; expected one of {BACKEND_CHOICES}")
            backend = make_runner(backend, backbone, line_heads, threads)
        self.window_frames = window_frames
        self.max_gap_ns = max_gap_ns
        self.backend = RunnerBackend(backend, capacity, n_continuous, n_categorical)
        self.threads = backend.threads
        self.mode = mode
        self.cursor = FeedCursor(window_frames, mode == MODE_INCREMENTAL, max_gap_ns)
        self._state: ArrayState | None = None
        self._plan: FeedPlan | None = None      # loaded by `prepare`, committed by `infer`

    @property
    def state_resets(self) -> int:
        """Incremental state resets so far (all reasons)."""
        return sum(self.cursor.resets.values())

    @property
    def reset_reasons(self) -> dict[str, int]:
        """Incremental state resets by reason (see feed_cursor)."""
        return dict(self.cursor.resets)

    def set_mode(self, mode: str) -> None:
        """Switch mode; the incremental state starts again from a full window."""
        if mode not in MODE_CHOICES:
            raise ValueError(f"mode {mode!r} unknown; expected one of {MODE_CHOICES}")
        self.mode = mode
        self.cursor.incremental = mode == MODE_INCREMENTAL
        if not self.cursor.has_state:
            self._state = None

    def set_threads(self, threads: int) -> None:
        """Change the backend's thread count (between ticks)."""
        self.backend.set_threads(threads)
        self.threads = threads

    def reset_state(self) -> None:
        """Drop the recurrent state; the next incremental tick re-warms on a full window."""
        self.cursor.reset(RESET_REQUESTED)
        self._state = None

    def prepare(self, buffer: AlignedRingBuffer) -> PreparedInput | None:
        """Load the data of this tick; None while filling or when nothing is new.

        Call with the buffer's lock held; it copies, so the lock can be released
        before `infer`.
        """
        plan = self.cursor.plan(buffer)
        if plan is None:
            return None
        self.backend.load(plan.frames)
        self._plan = plan
        return prepared_input(plan)

    def infer(self, prepared: PreparedInput) -> InferenceResult:
        """Run the backend on what `prepare` loaded; keeps the state in incremental mode."""
        state = None if prepared.from_zero_state else self._state
        try:
            logits, new_state = self.backend.run(prepared.frames, state)
        except Exception:
            self.cursor.fail()
            self._state = None
            raise
        plan = self._plan
        current = plan is not None and plan.newest_sequence == prepared.newest_sequence
        if self.cursor.incremental and current:
            self._state = new_state
            self.cursor.commit(plan)
        return InferenceResult(logits, prepared)
