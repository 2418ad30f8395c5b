# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""InferenceEngine over several machines: one batched pass equals running each machine alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.machines import machine_layout
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.inference.backends import EXACT_BACKENDS, make_runner, ONNX_ATOL
from streaming_gcode.inference.engine import InferenceEngine
from streaming_gcode.inference.feed_cursor import FeedCursor, FeedPlan, RESET_GAP
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.ingestion.stream_ingest import StreamIngest
from streaming_gcode.model.network import build_model, ModelConfig

torch.set_num_threads(1)
WINDOW, CAPACITY, STRIDE = 8, 24, 3
PERIOD = 10_000_000
MACHINES = ("cell_a", "cell_b", "cell_c", "cell_d")
BATCH_ATOL = ONNX_ATOL   # batched vs batch-1 runs: float32 summation order only
# The node-like case: machines fed through their StreamIngest (aligner, buffer, lock).
INGEST_WINDOW, INGEST_CAPACITY = 6, 16
INGEST_PERIOD = 50_000_000
T0 = 10_000_000_000


@pytest.fixture(scope="module")
def model():
    config = ModelConfig(n_continuous=4, categorical_sizes=[5],
                         head_sizes={"command": 6, "form": 2},
                         d_model=16, num_layers=2, dropout=0.0)
    backbone, line_heads = build_model(config, seed=9)
    return backbone.eval(), line_heads.eval()


class Machine:
    """One machine's stream: its own data, buffer and an unbatched reference run."""

    def __init__(self, seed: int, runner, incremental: bool) -> None:
        rng = np.random.default_rng(seed)
        self.continuous = rng.normal(size=(400, 4)).astype(np.float32)
        self.categorical = rng.integers(0, 5, size=(400, 1))
        self.buffer = AlignedRingBuffer(CAPACITY, 4, 1)
        self.count = 0
        self.stamp = 0
        self.cursor = FeedCursor(WINDOW, incremental, max_gap_ns=5 * PERIOD)
        self.runner = runner
        self.state = None

    def frames(self, n: int, gap: int = PERIOD) -> None:
        for _ in range(n):
            self.stamp += gap
            gap = PERIOD
            self.buffer.append(self.stamp, self.continuous[self.count],
                               self.categorical[self.count], False)
            self.count += 1

    def reference(self):
        """Run this tick unbatched, on the runner directly (None when nothing is new)."""
        plan = self.cursor.plan(self.buffer)
        if plan is None:
            return None
        state = None if plan.from_zero_state else self.state
        logits, state = self.runner.run(plan.frames.continuous[None].copy(),
                                        plan.frames.categorical[None].copy(), state)
        self.state = tuple(s.copy() for s in state)
        self.cursor.commit(plan)
        return {head: value[0].copy() for head, value in logits.items()}


@pytest.mark.parametrize("backend", EXACT_BACKENDS)  # int8 quantises with the batch's range
@pytest.mark.parametrize("incremental", [False, True], ids=["full_window", "incremental"])
def test_batched_equals_unbatched_per_machine(model, backend, incremental):
    backbone, line_heads = model
    runner = make_runner(backend, backbone, line_heads)
    reference_runner = make_runner(backend, backbone, line_heads)
    machines = {name: Machine(i, reference_runner, incremental) for i, name in enumerate(MACHINES)}
    mode = "incremental" if incremental else "full_window"
    batched = InferenceEngine(runner, MACHINES, WINDOW, CAPACITY, 4, 1, mode=mode,
                              max_gap_ns=5 * PERIOD)
    buffers = {name: m.buffer for name, m in machines.items()}
    groups_seen = set()
    for tick in range(14):
        for i, (name, machine) in enumerate(machines.items()):
            if name == "cell_d" and tick < 4:
                continue                                   # joins late: still filling
            gap = 9 * PERIOD if (name == "cell_b" and tick == 7) else PERIOD
            machine.frames(STRIDE + (i == 2) * (tick % 2), gap=gap)  # cell_c: uneven strides
        plans = batched.prepare(buffers)
        groups_seen.add(len({len(plan.frames) for plan in (plans or {}).values()}))
        results = batched.infer(plans) if plans is not None else {}
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
        assert max(groups_seen) > 1 and batched.cursors["cell_b"].resets == {RESET_GAP: 1}
    else:                                                  # full windows: always one pass
        assert groups_seen == {0, 1}


def test_machines_must_be_distinct(model):
    runner = make_runner("torch", *model)
    with pytest.raises(ConfigError, match=r"machines must be distinct names"):
        InferenceEngine(runner, ["a", "a"], WINDOW, CAPACITY, 4, 1)
    with pytest.raises(ConfigError, match=r"machines must be distinct names, at least one"):
        InferenceEngine(runner, [], WINDOW, CAPACITY, 4, 1)
    with pytest.raises(ConfigError, match=r"need 1 <= window_frames <= capacity, got 8, 4"):
        InferenceEngine(runner, ["a"], WINDOW, 4, 4, 1)


def _ingest_layout() -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["arr"], "streams.arr.topic": "cell/arr",
        "streams.arr.type": "std_msgs/msg/Float32MultiArray", "streams.arr.channels": ["a", "b"],
        "sample_rate_hz": 1e9 / INGEST_PERIOD, "max_staleness_s": 1.0,
        "alignment_timeout_s": 0.0,
    })


@pytest.fixture(scope="module")
def ingest_model():
    config = ModelConfig(n_continuous=2, head_sizes={"command": 4}, d_model=8, num_layers=2,
                         dropout=0.0, window=INGEST_WINDOW)
    backbone, line_heads = build_model(config, seed=5)
    return backbone.eval(), line_heads.eval()


def _ingest_engine(model, machines, mode: str) -> InferenceEngine:
    """Build the engine as the node does: a runner of the `backend`, then the machines."""
    return InferenceEngine(make_runner("torch", *model, 1), machines, INGEST_WINDOW,
                           INGEST_CAPACITY, 2, 0, mode, None)


def _ingest(layout: StreamLayout) -> StreamIngest:
    return StreamIngest(layout, FeatureMap.build(layout, ["a", "b"]), INGEST_CAPACITY)


def _assert_same_plan(got: FeedPlan, expected: FeedPlan) -> None:
    """Plans equal field by field; frames (views of two buffers) by value."""
    assert got._replace(frames=None) == expected._replace(frames=None)
    for a, b in zip(got.frames, expected.frames):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["full_window", "incremental"])
def test_one_batched_engine_equals_one_engine_per_machine(ingest_model, mode):
    float32_array = pytest.importorskip(
        "std_msgs.msg", reason="ROS messages are not installed").Float32MultiArray
    machines = ("cell_a", "cell_b", "cell_c")
    layout = _ingest_layout()
    batched = _ingest_engine(ingest_model, machines, mode)
    alone = {m: _ingest_engine(ingest_model, [m], mode) for m in machines}
    ingests = {m: _ingest(machine_layout(layout, m)) for m in machines}
    own = {m: _ingest(machine_layout(layout, m)) for m in machines}
    rng = np.random.default_rng(0)
    compared = 0
    for frame in range(20):
        for m in machines:
            values = rng.normal(size=2).astype(np.float32).tolist()
            stamp = T0 + frame * INGEST_PERIOD
            for target in (ingests[m], own[m]):
                target.on_message(0, float32_array(data=values), stamp)
                target.advance(stamp + 1)
        if frame % 2:
            continue
        plans = batched.prepare({m: i.buffer for m, i in ingests.items()},
                                {m: i.lock for m, i in ingests.items()})
        results = {} if plans is None else batched.infer(plans)
        for m in machines:
            single = alone[m].prepare({m: own[m].buffer}, {m: own[m].lock})
            assert (single is None) == (m not in results)
            if single is None:
                continue
            expected = alone[m].infer(single)[m]
            np.testing.assert_allclose(results[m].logits["command"], expected.logits["command"],
                                       atol=1e-5, rtol=0)
            _assert_same_plan(results[m].prepared, expected.prepared)
            compared += 1
    assert compared >= 3 * 6 and batched.state_resets == 0
    assert batched.backend_name == "torch" and batched.threads == 1


def test_engine_rejects_unknown_mode_and_backend(ingest_model):
    with pytest.raises(ConfigError, match=r"backend 'gpu' unknown"):
        make_runner("gpu", *ingest_model, 1)
    engine = _ingest_engine(ingest_model, ["a", "b"], "incremental")
    with pytest.raises(ConfigError, match=r"mode 'batch' unknown"):
        engine.set_mode("batch")
    engine.set_mode("full_window")
    assert engine.mode == "full_window"
    assert all(not cursor.incremental for cursor in engine.cursors.values())
