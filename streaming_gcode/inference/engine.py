# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The inference engine: N >= 1 machines' ring buffers through the model in batched passes.

Each machine (cell) has its own ring buffer and `FeedCursor` (which frames to
feed, when the state resets: feed_cursor.py) and, in incremental mode, its own
recurrent state: one row of a preallocated [layers, machines, d_model] array.
A node with one machine is simply a batch of one; there is no other path.

A tick is two calls. `prepare` plans every machine under its buffer's lock and
copies the frames to feed into that machine's staging row (preallocated: no
allocation, microseconds), so the locks are released and ingestion goes on
while `infer` runs the model. `infer` stacks the machines that feed the same
number of frames into one batch, runs the backend once per such group and
splits the logits back per machine. In steady state every machine feeds
`stride` new frames (incremental) or `window` frames (full window), so a tick
is one pass; a machine re-warming after a reset forms a second group.

`full_window` runs the newest `window` frames from zero state every tick;
`incremental` carries the LSTM state and feeds only the new frames (O(stride)
per tick). Batching several machines costs much less than one pass each, since
the weights are read once per step. Backends (eager torch, onnxruntime,
onnxruntime_int8) are `ModelRunner`s built by `backends.make_runner`.
"""

from __future__ import annotations

from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
import math
from typing import ContextManager, Mapping, Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameters import MODE_CHOICES, MODE_FULL_WINDOW, MODE_INCREMENTAL
from streaming_gcode.inference.backends import ArrayState, ModelRunner
from streaming_gcode.inference.feed_cursor import FeedCursor, FeedPlan, RESET_REQUESTED
from streaming_gcode.inference.program_reader import ProgramReader
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.model.libraries import Library
from streaming_gcode.model.program_library import ProgramReading

TickPlans = dict[str, FeedPlan]   # what `prepare` planned: machine -> its plan (new data only)


@dataclass(frozen=True)
class InferenceResult:
    """One machine's logits for its newest frame, and the plan they were computed from.

    `prepared.frames` are views of the ring buffer at `prepare` time: read the
    plan's other fields (stamps, sequence, degraded flags), not the frames.
    """

    logits: dict[str, np.ndarray]   # head -> logits [V] float32 (copies)
    prepared: FeedPlan
    reading: ProgramReading | None = None   # the program library's view of the newest frame


def _check_mode(mode: str) -> None:
    """Raise ConfigError unless `mode` is one of the node's `mode` parameter values."""
    if mode not in MODE_CHOICES:
        raise ConfigError(
            f"inference mode {mode!r} unknown; expected one of {list(MODE_CHOICES)}")


def _view(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Return the leading part of a preallocated flat buffer as a contiguous array of `shape`."""
    return flat[: math.prod(shape)].reshape(shape)


class InferenceEngine:
    """Ticks the model over the newest data of every machine's `AlignedRingBuffer`.

    `machines` names the buffers `prepare` reads (one name for one machine, e.g.
    `core.machines.SINGLE_MACHINE`); `runner` is a ready backend, shared by all.
    With a program `library` (and the model's `continuous_names`) every machine
    also has a `ProgramReader`, fed the same staged frames as the model.
    """

    def __init__(
        self,
        runner: ModelRunner,
        machines: Sequence[str],
        window_frames: int,
        capacity: int,
        n_continuous: int,
        n_categorical: int,
        mode: str = MODE_FULL_WINDOW,
        max_gap_ns: int | None = None,
        library: Library | None = None,
        continuous_names: Sequence[str] = (),
        fill_values: np.ndarray | None = None,
    ) -> None:
        machines = tuple(machines)
        if not machines or len(set(machines)) != len(machines):
            raise ConfigError(
                f"inference engine: machines must be distinct names, at least one, "
                f"got {list(machines)}")
        if window_frames < 1 or capacity < window_frames:
            raise ConfigError(
                f"inference engine: need 1 <= window_frames <= capacity, got {window_frames}, "
                f"{capacity} (the model window must fit in the ring buffer)")
        _check_mode(mode)
        self.runner = runner
        self.machines = machines
        self.window_frames = window_frames
        self.mode = mode
        self.cursors = {m: FeedCursor(window_frames, mode == MODE_INCREMENTAL, max_gap_ns)
                        for m in machines}
        self._rows = {m: row for row, m in enumerate(machines)}
        self.readers = ({} if library is None else
                        {m: ProgramReader(library, continuous_names, fill_values)
                         for m in machines})
        count = len(machines)
        layers, width = runner.state_dims
        # Staging: each machine's frames, copied under its lock (row = machine).
        self._stage_continuous = np.zeros((count, capacity, n_continuous), np.float32)
        self._stage_stamps = np.zeros((count, capacity), np.int64)
        self._stage_categorical = np.zeros((count, capacity, n_categorical), np.int64)
        # A group's batch, gathered contiguously from staging for the runner.
        self._batch_continuous = np.zeros(count * capacity * n_continuous, np.float32)
        self._batch_categorical = np.zeros(count * capacity * n_categorical, np.int64)
        # Carried states (incremental) and a group's gathered start state.
        self._h = np.zeros((layers, count, width), np.float32)
        self._c = np.zeros((layers, count, width), np.float32)
        self._batch_h = np.zeros(layers * count * width, np.float32)
        self._batch_c = np.zeros(layers * count * width, np.float32)
        self._prepared: TickPlans | None = None    # planned by `prepare`, run once by `infer`

    @property
    def backend_name(self) -> str:
        """Return the backend's name (the node's `backend` parameter value)."""
        return self.runner.name

    @property
    def threads(self) -> int:
        """Intra-op threads of the backend."""
        return self.runner.threads

    @property
    def state_resets(self) -> int:
        """Incremental state resets so far, all machines and reasons."""
        return sum(self.reset_reasons.values())

    @property
    def reset_reasons(self) -> dict[str, int]:
        """Incremental state resets by reason (see feed_cursor), all machines."""
        total: Counter[str] = Counter()
        for cursor in self.cursors.values():
            total.update(cursor.resets)
        return dict(total)

    def set_mode(self, mode: str) -> None:
        """Switch every machine's mode; incremental states start again from a full window."""
        _check_mode(mode)
        self.mode = mode
        for cursor in self.cursors.values():
            cursor.incremental = mode == MODE_INCREMENTAL

    def set_threads(self, threads: int) -> None:
        """Intra-op threads of the backend, from the next tick."""
        self.runner.set_threads(threads)

    def reset_state(self) -> None:
        """Drop every machine's state; the next incremental tick re-warms on a full window."""
        for cursor in self.cursors.values():
            cursor.reset(RESET_REQUESTED)
        for reader in self.readers.values():
            reader.reset()

    def warm_up(self) -> None:
        """Run the backend on zero frames (a window, then one frame), state discarded.

        A backend's first calls pay one-off costs (allocations, kernel choice, lazy
        initialisation): paid at start-up, they do not delay the first prediction.
        """
        count = len(self.machines)
        for frames in (self.window_frames, 1):
            self.runner.run(
                np.zeros((count, frames, self._stage_continuous.shape[2]), np.float32),
                np.zeros((count, frames, self._stage_categorical.shape[2]), np.int64), None)

    def prepare(self, buffers: Mapping[str, AlignedRingBuffer],
                locks: Mapping[str, ContextManager] | None = None) -> TickPlans | None:
        """Plan every machine and copy its frames to staging; None when no machine has new data.

        Each machine's buffer is read under `locks[machine]` when given (else the
        caller holds whatever protects the buffers); after the copy the buffers
        may change before `infer`.
        """
        plans: TickPlans = {}
        for row, machine in enumerate(self.machines):
            with locks[machine] if locks is not None else nullcontext():
                plan = self.cursors[machine].plan(buffers[machine])
                if plan is None:
                    continue
                n = len(plan.frames)
                np.copyto(self._stage_continuous[row, :n], plan.frames.continuous)
                np.copyto(self._stage_stamps[row, :n], plan.frames.stamps)
                np.copyto(self._stage_categorical[row, :n], plan.frames.categorical)
            plans[machine] = plan
        self._prepared = plans or None
        return self._prepared

    def infer(self, plans: TickPlans) -> dict[str, InferenceResult]:
        """Run one batched pass per group of equal frame counts; results by machine.

        Takes what the last `prepare` returned, once: staging holds only its copies,
        and an incremental state must not absorb the same frames twice.
        """
        if plans is None or plans is not self._prepared:
            raise ValueError("infer takes the plans the last prepare returned, once")
        self._prepared = None
        groups: dict[int, list[str]] = {}
        for machine, plan in plans.items():
            groups.setdefault(len(plan.frames), []).append(machine)
        results: dict[str, InferenceResult] = {}
        for length, members in groups.items():
            try:
                results.update(self._run_group(length, [(m, plans[m]) for m in members]))
            except Exception:
                for machine in members:
                    self.cursors[machine].fail()
                raise
        return results

    def _run_group(self, length: int,
                   members: list[tuple[str, FeedPlan]]) -> dict[str, InferenceResult]:
        """Gather the members' frames and states into one batch, run it, scatter the results."""
        batch = len(members)
        rows = np.fromiter((self._rows[m] for m, _ in members), np.intp, batch)
        continuous = _view(self._batch_continuous,
                           (batch, length, self._stage_continuous.shape[2]))
        categorical = _view(self._batch_categorical,
                            (batch, length, self._stage_categorical.shape[2]))
        np.take(self._stage_continuous[:, :length], rows, axis=0, out=continuous)
        np.take(self._stage_categorical[:, :length], rows, axis=0, out=categorical)
        start = self._start_state(rows, [plan.from_zero_state for _, plan in members])
        logits, (new_h, new_c) = self.runner.run(continuous, categorical, start)
        if self.mode == MODE_INCREMENTAL:
            self._h[:, rows] = new_h
            self._c[:, rows] = new_c
        results = {}
        for row, (machine, plan) in enumerate(members):
            self.cursors[machine].commit(plan)
            reader = self.readers.get(machine)
            reading = None if reader is None else reader.observe(
                self._stage_stamps[rows[row], :length],
                self._stage_continuous[rows[row], :length], plan.frames.first_sequence)
            results[machine] = InferenceResult(
                {head: value[row].copy() for head, value in logits.items()}, plan, reading)
        return results

    def _start_state(self, rows: np.ndarray, from_zero: list[bool]) -> ArrayState | None:
        """Return the state each batch row starts from; None when every row starts from zero."""
        if all(from_zero):
            return None
        layers, _, width = self._h.shape
        shape = (layers, len(rows), width)
        h, c = _view(self._batch_h, shape), _view(self._batch_c, shape)
        np.take(self._h, rows, axis=1, out=h)
        np.take(self._c, rows, axis=1, out=c)
        for row, zero in enumerate(from_zero):
            if zero:
                h[:, row] = 0.0
                c[:, row] = 0.0
        return h, c
