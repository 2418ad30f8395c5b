# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Reading the node's statuses: the names the node gives them, counters from strings.

The names are checked against those real in-process nodes give their statuses:
at the root, in a namespace, and serving several machines.
"""

from __future__ import annotations

import pytest

from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.outputs.diagnostics import (
    BUFFER_KEYS, INFERENCE_KEYS, MODEL_KEYS, TASK_BUFFER, TASK_INFERENCE, TASK_MODEL,
)
from streaming_gcode.outputs.diagnostics import machine_node
from streaming_gcode.tools.harness.node_status import (
    BUFFER_STATUS, counter, INFERENCE_STATUS, is_node_status, is_stream_task,
    MODEL_STATUS, node_fqn, ROOT_NODE, split_status, status_task, stream_status,
    STREAM_STATUS_PREFIX, task_status,
)


def test_status_names_are_the_nodes() -> None:
    assert ROOT_NODE == "/streaming_gcode" == node_fqn() == node_fqn("/")
    assert STREAM_STATUS_PREFIX == "/streaming_gcode: stream "
    assert (BUFFER_STATUS, INFERENCE_STATUS, MODEL_STATUS) == (
        "/streaming_gcode: buffer", "/streaming_gcode: inference", "/streaming_gcode: model")
    # the counters the tools read are the documented keys of those statuses
    assert {"aligner_resets", "degraded_frames", "frames_held"} <= set(BUFFER_KEYS)
    assert {"skipped_ticks", "overruns", "predictions", "errors"} <= set(INFERENCE_KEYS)
    assert {"checkpoint", "random_weights"} <= set(MODEL_KEYS)


def test_names_in_a_namespace_and_per_machine() -> None:
    mill = node_fqn("/mill_1")
    assert mill == node_fqn("mill_1/") == "/mill_1/streaming_gcode"
    assert node_fqn("/cell", "other") == "/cell/other"
    assert task_status(TASK_INFERENCE, mill) == "/mill_1/streaming_gcode: inference"
    assert stream_status("controller", mill) == "/mill_1/streaming_gcode: stream controller"
    cell = node_fqn("/cell")
    assert machine_node(cell, "a") == "/cell/streaming_gcode/a" and machine_node(cell) == cell
    assert stream_status("controller", cell, "a") == "/cell/streaming_gcode/a: stream controller"
    assert task_status(TASK_BUFFER, cell, "b") == "/cell/streaming_gcode/b: buffer"


def test_names_split_into_node_and_task() -> None:
    assert split_status("/cell/streaming_gcode/a: stream x") == (
        "/cell/streaming_gcode/a", "stream x")
    assert split_status("no separator") == ("", "no separator")
    assert status_task("/streaming_gcode: buffer") == TASK_BUFFER
    assert is_stream_task(status_task(stream_status("imu")))
    assert not is_stream_task(status_task(MODEL_STATUS))


@pytest.mark.parametrize(("name", "plain", "mill", "cell"), [
    ("/streaming_gcode: buffer", True, False, False),
    ("/mill_1/streaming_gcode: inference", True, True, False),
    ("/mill_1/streaming_gcode: agreement", True, True, False),
    ("/cell/streaming_gcode/a: stream controller", True, False, True),
    ("/cell/streaming_gcode/b: buffer", True, False, True),
    ("/cell/streaming_gcode: model", True, False, True),
    ("streaming_gcode: buffer", True, False, False),           # the old, not qualified form
    ("/x/mill_1/streaming_gcode: buffer", True, False, False),  # another node's namespace
    ("/mill_1/other_streaming_gcode: buffer", False, False, False),
    ("/mill_1/streaming_gcode_2: buffer", False, False, False),
    ("/cell/streaming_gcode/a/b: buffer", False, False, False),  # a machine is one token
    ("/lidar/driver: temperature", False, False, False),
    ("/streaming_gcode buffer", False, False, False),
    (": buffer", False, False, False),
])
def test_a_status_is_the_watched_nodes(name: str, plain: bool, mill: bool, cell: bool) -> None:
    assert is_node_status(name, NODE_NAME) is plain   # any namespace
    assert is_node_status(name) is plain
    assert is_node_status(name, node_fqn("/mill_1")) is mill   # that node only
    assert is_node_status(name, node_fqn("/cell")) is cell


def test_counters_read_integers_and_fall_back_to_zero() -> None:
    values = {"a": "12", "b": "12.0", "c": "", "d": "x"}
    assert [counter(values, key) for key in "abcde"] == [12, 12, 0, 0, 0]


# (namespace, machines): the default node, one in a namespace, one serving two machines.
NODES = (("", []), ("/mill_1", []), ("/cell_2", ["a", "b"]))


@pytest.fixture(scope="module")
def real_names(tmp_path_factory) -> dict[tuple[str, tuple[str, ...]], list[str]]:
    """Status names of real in-process nodes, by (namespace, machines)."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")
    torch = pytest.importorskip("torch")
    from streaming_gcode.model.checkpoint import save_checkpoint
    from streaming_gcode.model.random_weights import random_model
    from streaming_gcode.node.stream_node import create_node

    torch.set_num_threads(1)
    model = random_model("physical", d_model=8, num_layers=1, window=6, stride=2)
    checkpoint = save_checkpoint(tmp_path_factory.mktemp("names") / "tiny.pt", model.backbone,
                                 model.line_heads, model.config, model.metadata)
    context = rclpy.Context()
    rclpy.init(context=context)
    names: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    try:
        for namespace, machines in NODES:
            overrides = {"checkpoint": str(checkpoint), "model": "physical"}
            if machines:
                overrides["machines"] = machines
            node = create_node(overrides, context=context, namespace=namespace or None)
            try:
                assert node.get_fully_qualified_name() == node_fqn(namespace)
                names[(namespace, tuple(machines))] = [s.name for s in node.statuses()]
            finally:
                node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return names


@pytest.mark.ros
def test_the_tools_names_are_the_real_nodes(real_names) -> None:
    root = real_names[("", ())]
    assert {BUFFER_STATUS, INFERENCE_STATUS, MODEL_STATUS} <= set(root)
    assert any(name.startswith(STREAM_STATUS_PREFIX) for name in root)
    mill = node_fqn("/mill_1")
    assert {task_status(task, mill) for task in (TASK_BUFFER, TASK_INFERENCE, TASK_MODEL)} <= set(
        real_names[("/mill_1", ())])
    cell, cell_names = node_fqn("/cell_2"), real_names[("/cell_2", ("a", "b"))]
    assert {task_status(TASK_BUFFER, cell, m) for m in "ab"} <= set(cell_names)
    assert {task_status(TASK_INFERENCE, cell), task_status(TASK_MODEL, cell)} <= set(cell_names)
    for machine in "ab":
        streams = [n for n in cell_names if split_status(n)[0] == machine_node(cell, machine)
                   and is_stream_task(status_task(n))]
        assert len(streams) == sum(is_stream_task(status_task(n)) for n in root), machine


@pytest.mark.ros
def test_the_filter_takes_every_status_of_the_watched_node_only(real_names) -> None:
    for (namespace, _), names in real_names.items():
        fqn = node_fqn(namespace)
        assert all(is_node_status(name, NODE_NAME) for name in names), namespace
        assert all(is_node_status(name, fqn) for name in names), namespace
        for (other, _), other_names in real_names.items():
            if other != namespace:
                assert not any(is_node_status(name, fqn) for name in other_names), (
                    namespace, other)
