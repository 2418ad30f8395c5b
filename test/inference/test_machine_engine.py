# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Several machines in one node: names, namespaced layouts, one engine equal to one per machine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.inference.machine_engine import (
    check_machine_names, machine_layout, MachineEngine, output_prefix, SINGLE_MACHINE,
)
from streaming_gcode.ingestion.stream_ingest import StreamIngest
from streaming_gcode.model.network import build_model, ModelConfig

Float32MultiArray = pytest.importorskip("std_msgs.msg", reason="ROS messages are not installed"
                                        ).Float32MultiArray
torch.set_num_threads(1)
WINDOW, CAPACITY = 6, 16
PERIOD = 50_000_000
T0 = 10_000_000_000


def _layout(topic: str = "cell/arr") -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["arr"], "streams.arr.topic": topic,
        "streams.arr.type": "std_msgs/msg/Float32MultiArray", "streams.arr.channels": ["a", "b"],
        "sample_rate_hz": 1e9 / PERIOD, "max_staleness_s": 1.0, "alignment_timeout_s": 0.0,
    })


@pytest.fixture(scope="module")
def model():
    config = ModelConfig(n_continuous=2, head_sizes={"command": 4}, d_model=8, num_layers=2,
                         dropout=0.0, window=WINDOW)
    backbone, line_heads = build_model(config, seed=5)
    return backbone.eval(), line_heads.eval()


def test_machine_names_are_checked_and_default_to_one_unnamed_machine():
    assert check_machine_names([]) == (SINGLE_MACHINE,)
    assert check_machine_names(["cell_a", "B2"]) == ("cell_a", "B2")
    with pytest.raises(ConfigError, match=r"\['2cell', 'a/b'\] are not valid names.*"
                                          r"\['x'\] appear more than once"):
        check_machine_names(["2cell", "a/b", "x", "x"])


def test_each_machine_gets_the_layout_under_its_namespace():
    layout = _layout()
    assert machine_layout(layout, SINGLE_MACHINE) is layout
    namespaced = machine_layout(layout, "cell_b")
    assert [s.topic for s in namespaced.streams] == ["cell_b/cell/arr"]
    assert namespaced.alignment == layout.alignment
    assert output_prefix("cell_b") == "~/cell_b/" and output_prefix(SINGLE_MACHINE) == "~/"
    with pytest.raises(ConfigError, match=r"streams \['arr'\] have absolute or private topics"):
        machine_layout(_layout("/plant/arr"), "cell_b")


def _ingest(layout: StreamLayout) -> StreamIngest:
    return StreamIngest(layout, FeatureMap.build(layout, ["a", "b"]), CAPACITY)


@pytest.mark.parametrize("mode", ["full_window", "incremental"])
def test_one_batched_engine_equals_one_engine_per_machine(model, mode):
    machines = ("cell_a", "cell_b", "cell_c")
    layout = _layout()
    batched = MachineEngine(*model, machines, WINDOW, CAPACITY, 2, 0, mode, "torch", 1, None)
    alone = {m: MachineEngine(*model, [m], WINDOW, CAPACITY, 2, 0, mode, "torch", 1, None)
             for m in machines}
    ingests = {m: _ingest(machine_layout(layout, m)) for m in machines}
    own = {m: _ingest(machine_layout(layout, m)) for m in machines}
    rng = np.random.default_rng(0)
    compared = 0
    for frame in range(20):
        for m in machines:
            values = rng.normal(size=2).astype(np.float32).tolist()
            stamp = T0 + frame * PERIOD
            for target in (ingests[m], own[m]):
                target.on_message(0, Float32MultiArray(data=values), stamp)
                target.advance(stamp + 1)
        if frame % 2:
            continue
        prepared = batched.prepare(ingests)
        results = {} if prepared is None else batched.infer(prepared)
        for m in machines:
            single = alone[m].prepare({m: own[m]})
            assert (single is None) == (m not in results)
            if single is None:
                continue
            expected = alone[m].infer(single)[m]
            np.testing.assert_allclose(results[m].logits["command"], expected.logits["command"],
                                       atol=1e-5, rtol=0)
            assert results[m].prepared == expected.prepared
            compared += 1
    assert compared >= 3 * 6 and batched.state_resets == 0
    assert batched.backend_name == "torch" and batched.threads == 1


def test_engine_rejects_unknown_mode_and_backend(model):
    with pytest.raises(ValueError, match=r"backend 'gpu' unknown"):
        MachineEngine(*model, ["a"], WINDOW, CAPACITY, 2, 0, "full_window", "gpu", 1, None)
    engine = MachineEngine(*model, ["a", "b"], WINDOW, CAPACITY, 2, 0, "incremental", "torch",
                           1, None)
    with pytest.raises(ValueError, match=r"mode 'batch' unknown"):
        engine.set_mode("batch")
    engine.set_mode("full_window")
    assert engine.mode == "full_window"
