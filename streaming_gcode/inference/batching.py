# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Several machines' streams through the model in one batched forward pass per tick.

Each machine (cell) has its own ring buffer and its own `FeedCursor` (mode,
resets), and in incremental mode its own recurrent state, kept as one row of a
preallocated [layers, machines, d_model] array. A tick plans every machine
(`prepare`, under the buffers' locks: copies into per-machine staging, no
allocation), then `infer` stacks the machines that feed the same number of
frames into one batch, runs the model once per such group and splits the
results back per machine. In steady state every machine feeds `stride` new
frames (incremental) or `window` frames (full window), so a tick is one pass;
a machine re-warming after a reset forms a second group for that tick.

Batching trades a little latency for throughput: a batched LSTM step costs much
less than one step per machine, since the weights are read once per step.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import ContextManager, Mapping, Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.inference.backends import ModelRunner
from streaming_gcode.inference.engine import InferenceResult, prepared_input
from streaming_gcode.inference.feed_cursor import FeedCursor, FeedPlan
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer


@dataclass(frozen=True)
class BatchTick:
    """The plans of one tick: machine index and plan of every machine with new data."""

    plans: tuple[tuple[int, FeedPlan], ...]

    def __len__(self) -> int:  # noqa: D105
        return len(self.plans)


class BatchedInference:
    """Ticks the model over several machines' ring buffers in batched passes."""

    def __init__(
        self,
        runner: ModelRunner,
        machines: Sequence[str],
        window_frames: int,
        capacity: int,
        n_continuous: int,
        n_categorical: int,
        incremental: bool = False,
        max_gap_ns: int | None = None,
    ) -> None:
        if not machines or len(set(machines)) != len(machines):
            raise ConfigError(f"machines must be distinct names, at least one: {list(machines)}")
        if window_frames < 1 or capacity < window_frames:
            raise ConfigError(
                f"need 1 <= window_frames <= capacity, got {window_frames}, {capacity}")
        self.runner = runner
        self.machines = tuple(machines)
        self.cursors = [FeedCursor(window_frames, incremental, max_gap_ns) for _ in self.machines]
        count = len(self.machines)
        layers, width = runner.state_dims
        self._stage_continuous = np.zeros((count, capacity, n_continuous), np.float32)
        self._stage_categorical = np.zeros((count, capacity, n_categorical), np.int64)
        self._batch_continuous = np.zeros(count * capacity * n_continuous, np.float32)
        self._batch_categorical = np.zeros(count * capacity * n_categorical, np.int64)
        self._h = np.zeros((layers, count, width), np.float32)
        self._c = np.zeros((layers, count, width), np.float32)
        self._batch_h = np.zeros(layers * count * width, np.float32)
        self._batch_c = np.zeros(layers * count * width, np.float32)

    def set_incremental(self, incremental: bool) -> None:
        """Switch every machine's mode (states restart from a full window)."""
        for cursor in self.cursors:
            cursor.incremental = incremental

    def prepare(self, buffers: Mapping[str, AlignedRingBuffer],
                locks: Mapping[str, ContextManager] | None = None) -> BatchTick:
        """Plan every machine and copy its frames to staging.

        Each machine's buffer is read under `locks[machine]` when given (else the
        caller holds whatever protects the buffers).
        """
        plans = []
        for index, machine in enumerate(self.machines):
            with locks[machine] if locks is not None else nullcontext():
                plan = self.cursors[index].plan(buffers[machine])
                if plan is None:
                    continue
                frames = plan.frames
                n = len(frames)
                np.copyto(self._stage_continuous[index, :n], frames.continuous)
                np.copyto(self._stage_categorical[index, :n], frames.categorical)
            plans.append((index, plan))
        return BatchTick(tuple(plans))

    def infer(self, tick: BatchTick) -> dict[str, InferenceResult]:
        """Run one batched pass per group of equal frame counts; results per machine."""
        groups: dict[int, list[tuple[int, FeedPlan]]] = {}
        for index, plan in tick.plans:
            groups.setdefault(len(plan.frames), []).append((index, plan))
        results: dict[str, InferenceResult] = {}
        for frames, members in groups.items():
            try:
                results.update(self._run_group(frames, members))
            except Exception:
                for index, _ in members:
                    self.cursors[index].fail()
                raise
        return results

    def _run_group(self, frames: int,
                   members: list[tuple[int, FeedPlan]]) -> dict[str, InferenceResult]:
        batch = len(members)
        rows = np.fromiter((index for index, _ in members), np.intp, batch)
        n_continuous = self._stage_continuous.shape[2]
        n_categorical = self._stage_categorical.shape[2]
        continuous = self._batch_continuous[: batch * frames * n_continuous].reshape(
            batch, frames, n_continuous)
        categorical = self._batch_categorical[: batch * frames * n_categorical].reshape(
            batch, frames, n_categorical)
        np.take(self._stage_continuous[:, :frames], rows, axis=0, out=continuous)
        np.take(self._stage_categorical[:, :frames], rows, axis=0, out=categorical)
        layers, _, width = self._h.shape
        h = self._batch_h[: layers * batch * width].reshape(layers, batch, width)
        c = self._batch_c[: layers * batch * width].reshape(layers, batch, width)
        np.take(self._h, rows, axis=1, out=h)
        np.take(self._c, rows, axis=1, out=c)
        for row, (_, plan) in enumerate(members):
            if plan.from_zero_state:
                h[:, row] = 0.0
                c[:, row] = 0.0
        logits, (new_h, new_c) = self.runner.run(continuous, categorical, (h, c))
        self._h[:, rows] = new_h
        self._c[:, rows] = new_c
        results = {}
        for row, (index, plan) in enumerate(members):
            self.cursors[index].commit(plan)
            results[self.machines[index]] = InferenceResult(
                {head: value[row].copy() for head, value in logits.items()}, prepared_input(plan)
            )
        return results
