# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Batched inference over several machines equals running each machine on its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.inference.backends import (
    EXACT_BACKENDS,
    make_runner,
    ONNX_ATOL,
    RunnerBackend,
)
from streaming_gcode.inference.batching import BatchedInference
from streaming_gcode.inference.feed_cursor import FeedCursor, RESET_GAP
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.model.network import build_model, ModelConfig

torch.set_num_threads(1)
WINDOW, CAPACITY, STRIDE = 8, 24, 3
PERIOD = 10_000_000
MACHINES = ("cell_a", "cell_b", "cell_c", "cell_d")
BATCH_ATOL = ONNX_ATOL   # batched vs batch-1 runs: float32 summation order only


@pytest.fixture(scope="module")
def model():
    config = ModelConfig(n_continuous=4, categorical_sizes=[5],
                         head_sizes={"command": 6, "form": 2},
                         d_model=16, num_layers=2, dropout=0.0)
    backbone, line_heads = build_model(config, seed=9)
    return backbone.eval(), line_heads.eval()


class Machine:
    """One machine's stream: its own data, buffer and an unbatched reference engine."""

    def __init__(self, seed: int, runner, incremental: bool) -> None:
        rng = np.random.default_rng(seed)
        self.continuous = rng.normal(size=(400, 4)).astype(np.float32)
        self.categorical = rng.integers(0, 5, size=(400, 1))
        self.buffer = AlignedRingBuffer(CAPACITY, 4, 1)
        self.count = 0
        self.stamp = 0
        self.cursor = FeedCursor(WINDOW, incremental, max_gap_ns=5 * PERIOD)
        self.backend = RunnerBackend(runner, CAPACITY, 4, 1)
        self.state = None

    def frames(self, n: int, gap: int = PERIOD) -> None:
        for _ in range(n):
            self.stamp += gap
            gap = PERIOD
            self.buffer.append(self.stamp, self.continuous[self.count],
                               self.categorical[self.count], False)
            self.count += 1

    def reference(self):
        """Run this tick unbatched (None when nothing is new)."""
        plan = self.cursor.plan(self.buffer)
        if plan is None:
            return None
        self.backend.load(plan.frames)
        state = None if plan.from_zero_state else self.state
        logits, state = self.backend.run(len(plan.frames), state)
        self.state = tuple(s.copy() for s in state)
        self.cursor.commit(plan)
        return logits


@pytest.mark.parametrize("backend", EXACT_BACKENDS)  # int8 quantises with the batch's range
@pytest.mark.parametrize("incremental", [False, True], ids=["full_window", "incremental"])
def test_batched_equals_unbatched_per_machine(model, backend, incremental):
    backbone, line_heads = model
    runner = make_runner(backend, backbone, line_heads)
    reference_runner = make_runner(backend, backbone, line_heads)
    machines = {name: Machine(i, reference_runner, incremental) for i, name in enumerate(MACHINES)}
    batched = BatchedInference(runner, MACHINES, WINDOW, CAPACITY, 4, 1, incremental=incremental,
                               max_gap_ns=5 * PERIOD)
    buffers = {name: m.buffer for name, m in machines.items()}
    groups_seen = set()
    for tick in range(14):
        for i, (name, machine) in enumerate(machines.items()):
            if name == "cell_d" and tick < 4:
                continue                                   # joins late: still filling
            gap = 9 * PERIOD if (name == "cell_b" and tick == 7) else PERIOD
            machine.frames(STRIDE + (i == 2) * (tick % 2), gap=gap)  # cell_c: uneven strides
        prepared = batched.prepare(buffers)
        groups_seen.add(len({len(plan.frames) for _, plan in prepared.plans}))
        results = batched.infer(prepared)
        for name, machine in machines.items():
            expected = machine.reference()
            assert (name in results) == (expected is not None), (tick, name)
            if expected is None:
                continue
            for head, value in expected.items():
                np.testing.assert_allclose(results[name].logits[head], value, atol=BATCH_ATOL,
                                           rtol=0)
            assert results[name].prepared.newest_stamp_ns == machine.stamp
    if incremental:                                        # mixed frame counts were exercised
        assert max(groups_seen) > 1 and batched.cursors[1].resets == {RESET_GAP: 1}
    else:                                                  # full windows: always one pass
        assert groups_seen == {0, 1}


def test_machines_must_be_distinct(model):
    runner = make_runner("torch", *model)
    with pytest.raises(ConfigError, match=r"machines must be distinct names"):
        BatchedInference(runner, ["a", "a"], WINDOW, CAPACITY, 4, 1)
    with pytest.raises(ConfigError, match=r"need 1 <= window_frames <= capacity, got 8, 4"):
        BatchedInference(runner, ["a"], WINDOW, 4, 4, 1)
