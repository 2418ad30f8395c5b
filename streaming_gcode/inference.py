# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Run the model on the ring buffer: full-window or incremental, behind a backend seam.

The node calls `prepare` under the buffer lock (a copy of the window, or of the
frames new since the last tick, into the backend's preallocated input: no
allocation, microseconds), then `infer` without the lock, so ingestion keeps
running while the model does. `full_window` runs the newest `window` frames from
zero state every tick; `incremental` carries the LSTM state and feeds only the
new frames, resetting (and re-warming on a full window) after lost frames, time
gaps or a clock jump. Both return the heads' logits for the newest frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from streaming_gcode.params import BACKEND_CHOICES, MODE_CHOICES, MODE_INCREMENTAL
from streaming_gcode.ring_buffer import AlignedRingBuffer, Window


class InferenceBackend(Protocol):
    """Executes the model on frames copied into its own preallocated input."""

    name: str

    def load(self, window: Window) -> None:
        """Copy `window`'s frames (at most the backend's capacity) into the input."""

    def run(self, frames: int, state: Any | None) -> tuple[dict[str, np.ndarray], Any]:
        """Run the first `frames` loaded frames after `state` (None = zero state).

        Returns the logits of the last frame per head ([V] float32) and the new state.
        """

    def set_threads(self, threads: int) -> None:
        """Intra-op threads for the next runs."""


class TorchBackend:
    """Eager PyTorch on CPU under `torch.inference_mode`."""

    name = "torch"

    def __init__(self, backbone: torch.nn.Module, lm: torch.nn.Module, capacity: int,
                 n_continuous: int, n_categorical: int, threads: int) -> None:
        self.backbone = backbone.eval()
        self.lm = lm.eval()
        self._continuous = torch.zeros((1, capacity, n_continuous), dtype=torch.float32)
        self._categorical = torch.zeros((1, capacity, n_categorical), dtype=torch.int64)
        # numpy views sharing memory with the tensors: copies in, no allocation.
        self._continuous_np = self._continuous.numpy()[0]
        self._categorical_np = self._categorical.numpy()[0]
        self.set_threads(threads)

    def set_threads(self, threads: int) -> None:
        """Set torch's intra-op thread count (process-wide)."""
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)

    def load(self, window: Window) -> None:
        """Copy the frames into the preallocated input tensors."""
        n = len(window)
        np.copyto(self._continuous_np[:n], window.continuous)
        np.copyto(self._categorical_np[:n], window.categorical)

    def run(self, frames: int, state: Any | None) -> tuple[dict[str, np.ndarray], Any]:
        """Backbone over `frames` frames, heads on the last one only."""
        with torch.inference_mode():
            hidden, new_state = self.backbone.step(
                self._continuous[:, :frames], self._categorical[:, :frames], state
            )
            logits = self.lm(hidden[:, -1:])
        return {head: value[0, -1].numpy().copy() for head, value in logits.items()}, new_state


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


class InferenceEngine:
    """Ticks the model over the newest data of an `AlignedRingBuffer`."""

    def __init__(
        self,
        backbone: torch.nn.Module,
        lm: torch.nn.Module,
        window_frames: int,
        capacity: int,
        n_continuous: int,
        n_categorical: int,
        mode: str = MODE_CHOICES[0],
        backend: str = BACKEND_CHOICES[0],
        threads: int = 1,
        max_gap_ns: int | None = None,
    ) -> None:
        if window_frames < 1 or capacity < window_frames:
            raise ValueError(
                f"need 1 <= window_frames <= capacity, got {window_frames}, {capacity}"
            )
        if backend != "torch":
            raise ValueError(f"backend {backend!r} unknown; expected one of {BACKEND_CHOICES}")
        self.window_frames = window_frames
        self.max_gap_ns = max_gap_ns
        self.backend: InferenceBackend = TorchBackend(
            backbone, lm, capacity, n_continuous, n_categorical, threads
        )
        self.threads = threads
        self.mode = ""
        self.state_resets = 0
        self._state: Any | None = None
        self._last_sequence = 0       # newest frame predicted (0 = none yet)
        self._fed_sequence = 0        # newest frame fed into the incremental state
        self._fed_stamp = 0
        self.set_mode(mode)

    def set_mode(self, mode: str) -> None:
        """Switch mode; the incremental state starts again from a full window."""
        if mode not in MODE_CHOICES:
            raise ValueError(f"mode {mode!r} unknown; expected one of {MODE_CHOICES}")
        if mode != self.mode:
            self.mode = mode
            self.reset_state()

    def set_threads(self, threads: int) -> None:
        """Change the backend's thread count (between ticks)."""
        self.backend.set_threads(threads)
        self.threads = threads

    def reset_state(self) -> None:
        """Drop the recurrent state; the next incremental tick re-warms on a full window."""
        if self._state is not None or self._fed_sequence:
            self.state_resets += 1
        self._state = None
        self._fed_sequence = 0

    def _needs_reset(self, new: Window) -> bool:
        if new.first_sequence != self._fed_sequence + 1:
            return True  # frames were overwritten or the buffer was cleared (clock jump)
        gap = int(new.stamps[0]) - self._fed_stamp
        return gap <= 0 or (self.max_gap_ns is not None and gap > self.max_gap_ns)

    def prepare(self, buffer: AlignedRingBuffer) -> PreparedInput | None:
        """Load the data of this tick; None while filling or when nothing is new.

        Call with the buffer's lock held; it copies, so the lock can be released
        before `infer`.
        """
        window = buffer.window(self.window_frames)
        if window is None:
            return None
        newest_sequence = window.first_sequence + len(window) - 1
        if newest_sequence == self._last_sequence:
            return None
        load = window
        if self.mode == MODE_INCREMENTAL and self._fed_sequence:
            new = buffer.since(self._fed_sequence)
            if new is not None and not self._needs_reset(new):
                load = new
            else:
                self.reset_state()
        from_zero = load is window
        self.backend.load(load)
        self._last_sequence = newest_sequence
        return PreparedInput(
            frames=len(load),
            from_zero_state=from_zero,
            newest_stamp_ns=int(window.stamps[-1]),
            first_stamp_ns=int(window.stamps[0]),
            newest_sequence=newest_sequence,
            degraded=bool(window.degraded.any()),
            newest_degraded=bool(window.degraded[-1]),
        )

    def infer(self, prepared: PreparedInput) -> InferenceResult:
        """Run the backend on what `prepare` loaded; keeps the state in incremental mode."""
        incremental = self.mode == MODE_INCREMENTAL
        state = None if prepared.from_zero_state else self._state
        try:
            logits, new_state = self.backend.run(prepared.frames, state)
        except Exception:
            self.reset_state()
            raise
        if incremental:
            self._state = new_state
            self._fed_sequence = prepared.newest_sequence
            self._fed_stamp = prepared.newest_stamp_ns
        return InferenceResult(logits, prepared)
