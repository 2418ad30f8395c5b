# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Two nodes on one DDS graph: /mill_1 (one machine) and /cell_2 (machines a and b).

Each machine gets its own inputs, outputs and predictions; no output topic and
no /diagnostics status name is shared by the two nodes; the shipped aggregator
YAML puts every status of both in its group (nothing in "Other") with names that
tell the nodes apart, and the per-node analyzers of the README's plant section
put each node's statuses under that node alone. Matching follows GenericAnalyzer
(see test_diagnostic_aggregator.py).
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import threading
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import String  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from streaming_gcode.node.stream_node import create_node  # noqa: E402

from fault_support import spinning  # noqa: E402, I100
from model_support import continuous_checkpoint  # noqa: E402
from test_diagnostic_aggregator import matching_analyzers  # noqa: E402

pytestmark = [pytest.mark.ros]
torch.set_num_threads(1)
README = Path(__file__).resolve().parents[2] / "README.md"
RATE_HZ = 20.0
PERIOD_NS = int(1e9 / RATE_HZ)
TIMEOUT_S = 60.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
# (node namespace, machine or "", input topic, output prefix, stamp offset telling it apart)
MACHINES = (
    ("/mill_1", "", "/mill_1/cnc/joints", "/mill_1/streaming_gcode", 0),
    ("/cell_2", "a", "/cell_2/a/cnc/joints", "/cell_2/streaming_gcode/a", 1_000),
    ("/cell_2", "b", "/cell_2/b/cnc/joints", "/cell_2/streaming_gcode/b", 2_000),
)
NAMESPACES = ("/mill_1", "/cell_2")
GRAPH_TOPICS = {"/rosout", "/parameter_events", "/diagnostics"}   # shared by every node


def _node(namespace: str, checkpoint: Path, context, machines: list[str]):
    params = {
        "checkpoint": str(checkpoint), "stream_names": ["joints"],
        "streams.joints.topic": "cnc/joints", "streams.joints.type": "sensor_msgs/msg/JointState",
        "streams.joints.channels": ["j1", "j2"], "frame_clock": "joints",
        "sample_rate_hz": RATE_HZ, "alignment_timeout_s": 0.2, "diagnostics_period_s": 0.25,
    }
    if machines:
        params["machines"] = machines
    return create_node(params, context=context, namespace=namespace)


def _per_node_analyzers() -> dict:
    """Return the per-node analyzers the README's plant section gives as an example."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    block = next(b for b in blocks if "/mill_1/streaming_gcode" in b and "analyzers:" in b)
    return yaml.safe_load(block)["analyzers"]["ros__parameters"]


def test_two_nodes_keep_outputs_statuses_and_groups_apart(context, tmp_path) -> None:
    checkpoint = continuous_checkpoint(tmp_path / "m.pt", ["j1", "j2"], stride=2, seed=1)
    nodes = {"/mill_1": _node("/mill_1", checkpoint, context, []),
             "/cell_2": _node("/cell_2", checkpoint, context, ["a", "b"])}
    peer = rclpy.create_node("two_nodes_test_peer", context=context)
    lock = threading.Lock()
    predictions: dict[str, list[dict]] = {out: [] for *_, out, _ in MACHINES}
    gcode: dict[str, int] = dict.fromkeys(predictions, 0)
    diagnostics: set[str] = set()

    def on_prediction(out: str):
        def callback(msg: String) -> None:
            with lock:
                predictions[out].append(json.loads(msg.data))
        return callback

    def on_gcode(out: str):
        def callback(_msg: String) -> None:
            with lock:
                gcode[out] += 1
        return callback

    def on_diagnostics(msg: DiagnosticArray) -> None:
        with lock:
            diagnostics.update(status.name for status in msg.status)

    for out in predictions:
        peer.create_subscription(String, f"{out}/prediction", on_prediction(out), RELIABLE)
        peer.create_subscription(String, f"{out}/gcode", on_gcode(out), RELIABLE)
    peer.create_subscription(DiagnosticArray, "/diagnostics", on_diagnostics, 50)
    publishers = {topic: peer.create_publisher(JointState, topic, 10)
                  for _, _, topic, _, _ in MACHINES}
    expected = {ns: {s.name for s in node.statuses()} for ns, node in nodes.items()}

    def done() -> bool:
        with lock:
            return (all(len(p) >= 3 for p in predictions.values()) and all(gcode.values())
                    and expected["/mill_1"] | expected["/cell_2"] <= diagnostics)
    try:
        with spinning(context, *nodes.values(), peer, threads=4):
            start = peer.get_clock().now().nanoseconds
            deadline = time.monotonic() + TIMEOUT_S
            k = 0
            while time.monotonic() < deadline and not done():
                for _, _, topic, _, offset in MACHINES:
                    msg = JointState(name=["j1", "j2"], position=[float(k), -float(k)])
                    stamp = start + k * PERIOD_NS + offset
                    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
                    publishers[topic].publish(msg)
                k += 1
                time.sleep(1 / RATE_HZ)
            finished = done()
            with lock:
                counts = {out: len(p) for out, p in predictions.items()}
                missing = (expected["/mill_1"] | expected["/cell_2"]) - diagnostics
                assert finished, (counts, gcode, sorted(missing))
                for *_, out, offset in MACHINES:   # each output carries only its machine's frames
                    assert all((r["stamp_ns"] - start) % PERIOD_NS == offset
                               for r in predictions[out]), out
            graph = {ns: {name for name, _ in peer.get_publisher_names_and_types_by_node(
                "streaming_gcode", ns)} - GRAPH_TOPICS for ns in NAMESPACES}
    finally:
        peer.destroy_node()
        for node in nodes.values():
            node.destroy_node()

    # Outputs: every machine's own topics, none published by both nodes.
    for _, machine, _, out, _ in MACHINES:
        ns = out.split("/streaming_gcode")[0]
        assert {f"{out}/prediction", f"{out}/gcode"} <= graph[ns], (ns, graph[ns])
    assert not graph["/mill_1"] & graph["/cell_2"]

    # Statuses: no name from both nodes; each carries its node's fully qualified name.
    mill, cell = expected["/mill_1"], expected["/cell_2"]
    assert not mill & cell
    assert all(re.match(r"/mill_1/streaming_gcode: ", name) for name in mill), sorted(mill)
    assert all(re.match(r"/cell_2/streaming_gcode(/[ab])?: ", name) for name in cell)
    assert {"/cell_2/streaming_gcode/a: buffer", "/cell_2/streaming_gcode/b: buffer",
            "/mill_1/streaming_gcode: buffer"} <= mill | cell

    # The shipped YAML: every status in exactly one of its analyzers (none in "Other"),
    # with the operation statuses a model with a program library adds (not this one).
    mill_operation = "/mill_1/streaming_gcode: operation"
    cell_operation = "/cell_2/streaming_gcode/a: operation"
    for name in mill | cell | {mill_operation, cell_operation}:
        assert len(matching_analyzers(name)) == 1, (name, matching_analyzers(name))

    # The README's per-node analyzers: each node's statuses under that node only.
    per_node = _per_node_analyzers()
    analyzers = {key: value for key, value in per_node.items() if isinstance(value, dict)}
    for names, owner in ((mill | {mill_operation}, "mill_1"), (cell | {cell_operation}, "cell_2")):
        for name in names:
            assert matching_analyzers(name, analyzers) == [owner], name
