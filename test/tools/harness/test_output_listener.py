# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The output listener over real DDS: what is kept, stamped, filtered, counted and waited for.

A publishing node stands in for `stream_node` (its outputs in a namespace of
this test's own), the listener spins in its `SpinThread`; every wait is for a
count or a condition with a generous timeout, never a fixed sleep. The pure
conversions are checked on plain messages.
"""

from __future__ import annotations

import json
import os
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import pytest
import rclpy
from rclpy.node import Node
from std_msgs.msg import Float32, String

from streaming_gcode.outputs.diagnostics import TASK_BUFFER, TASK_INFERENCE
from streaming_gcode.tools.harness.node_status import stream_status, task_status
from streaming_gcode.tools.harness.output_listener import (
    AGREEMENT, agreement_topic, DIAGNOSTICS, diagnostics_topic, GCODE, gcode_topic, listen_qos,
    message_data, node_statuses, OutputListener, PREDICTION, prediction_record, prediction_topic,
    Received, SpinThread, Topic,
)

pytestmark = pytest.mark.ros

OUTPUTS = f"/listener_test_{os.getpid()}/streaming_gcode"   # also the fake node's name
STREAM_A = stream_status("a", OUTPUTS)
INFERENCE = task_status(TASK_INFERENCE, OUTPUTS)
FRAME_TOPIC = f"/listener_test_{os.getpid()}/frames"
MATCH_TIMEOUT_S = 30.0
RECEIVE_TIMEOUT_S = 30.0
QOS = listen_qos(50)


def _status(name: str, hardware_id: str, **values: str) -> DiagnosticStatus:
    return DiagnosticStatus(name=name, hardware_id=hardware_id,
                            values=[KeyValue(key=k, value=v) for k, v in values.items()])


def _array(*statuses: DiagnosticStatus) -> DiagnosticArray:
    array = DiagnosticArray()
    array.status = list(statuses)
    return array


def test_conversions_of_plain_messages() -> None:
    assert prediction_record(String(data='{"text": "G1 X1."}')) == {"text": "G1 X1."}
    with pytest.raises(ValueError, match="prediction is not a JSON object"):
        prediction_record(String(data="[1, 2]"))
    with pytest.raises(ValueError):
        prediction_record(String(data="{not json"))
    assert message_data(Float32(data=0.5)) == 0.5
    array = _array(_status("/streaming_gcode: stream a", "hw1", messages="3"),
                   _status("/streaming_gcode: buffer", "hw2", frames="4"),
                   _status("/other: stream a", "hw1", messages="9"),
                   _status("/streaming_gcode_2: stream a", "hw1", messages="8"))
    assert node_statuses(array) == (("/streaming_gcode: stream a", {"messages": "3"}),
                                    ("/streaming_gcode: buffer", {"frames": "4"}))
    assert node_statuses(array, hardware_id="hw2") == (("/streaming_gcode: buffer",
                                                        {"frames": "4"}),)
    assert node_statuses(array, node_name="/streaming_gcode") == node_statuses(array)
    assert node_statuses(array, node_name="nobody") is None
    assert node_statuses(array, node_name="/mill_1/streaming_gcode") is None


def test_diagnostics_of_a_node_in_a_namespace_with_machines() -> None:
    array = _array(_status("/cell/streaming_gcode/a: stream imu", "a", messages="1"),
                   _status("/cell/streaming_gcode/b: buffer", "b", frames="2"),
                   _status("/cell/streaming_gcode: inference", "cnc", ticks="3"),
                   _status("/mill_1/streaming_gcode: inference", "cnc", ticks="4"),
                   _status("/cell/streaming_gcode/a/x: buffer", "a", frames="5"))
    cell = (("/cell/streaming_gcode/a: stream imu", {"messages": "1"}),
            ("/cell/streaming_gcode/b: buffer", {"frames": "2"}),
            ("/cell/streaming_gcode: inference", {"ticks": "3"}))
    assert node_statuses(array, node_name="/cell/streaming_gcode") == cell
    assert node_statuses(array) == cell + (("/mill_1/streaming_gcode: inference",
                                            {"ticks": "4"}),)
    assert node_statuses(array, node_name="/mill_1/streaming_gcode") == (
        ("/mill_1/streaming_gcode: inference", {"ticks": "4"}),)
    assert node_statuses(array, node_name="/streaming_gcode") is None


@pytest.fixture()
def graph():
    """Make a publishing node and a listening node in this test's own context."""
    context = rclpy.Context()
    rclpy.init(context=context)
    publisher = Node("fake_stream_node", context=context)
    listener_node = Node("listener_under_test", context=context)
    try:
        yield publisher, listener_node, context
    finally:
        publisher.destroy_node()
        listener_node.destroy_node()
        rclpy.try_shutdown(context=context)


def _publishers(node: Node) -> dict[str, object]:
    return {
        PREDICTION: node.create_publisher(String, f"{OUTPUTS}/prediction", QOS),
        GCODE: node.create_publisher(String, f"{OUTPUTS}/gcode", QOS),
        AGREEMENT: node.create_publisher(Float32, f"{OUTPUTS}/agreement", QOS),
        DIAGNOSTICS: node.create_publisher(DiagnosticArray, "/diagnostics", QOS),
        "frames": node.create_publisher(String, FRAME_TOPIC, QOS),
    }


def _wait_matched(publishers: dict[str, object]) -> None:
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while any(p.get_subscription_count() == 0 for p in publishers.values()):
        assert time.monotonic() < deadline, "the listener's subscriptions were not matched"
        time.sleep(0.05)


def test_outputs_are_kept_with_receipt_stamps_and_diagnostics_filtered(graph) -> None:
    publisher, node, context = graph
    seen_on_callback: list[Received] = []
    called = threading.Event()

    def on_prediction(received: Received) -> None:
        seen_on_callback.append(received)
        called.set()

    frames = Topic("frames", FRAME_TOPIC, String, QOS, convert=bytes, raw=True, history=2)
    listener = OutputListener(node, [
        prediction_topic(OUTPUTS, QOS, on_receive=on_prediction), gcode_topic(OUTPUTS, QOS),
        agreement_topic(OUTPUTS, QOS),
        diagnostics_topic(QOS, node_name=OUTPUTS, hardware_id="hw1"), frames,
    ])
    spin = SpinThread(node, "listener-test", context)
    try:
        publishers = _publishers(publisher)
        _wait_matched(publishers)
        before_wall, before_mono = time.time_ns(), time.monotonic_ns()
        publishers[PREDICTION].publish(String(data="{broken"))   # reliable: arrives first
        for index in range(3):
            publishers[PREDICTION].publish(String(data=json.dumps({"index": index})))
            publishers[GCODE].publish(String(data=f"G1 X{index}."))
        publishers[AGREEMENT].publish(Float32(data=0.75))
        publishers[DIAGNOSTICS].publish(_array(
            _status(STREAM_A, "hw1", messages="5", lost="1"),
            _status(STREAM_A, "hw2", messages="99"),
            _status("/streaming_gcode: stream a", "hw1", messages="98")))   # another node
        publishers[DIAGNOSTICS].publish(_array(_status(f"{OUTPUTS}_2: x", "hw1", messages="7")))
        publishers[DIAGNOSTICS].publish(_array(
            _status(INFERENCE, "hw1", predictions="3")))
        for index in range(4):
            publishers["frames"].publish(String(data="x" * index))

        assert listener.wait_for(PREDICTION, 2, RECEIVE_TIMEOUT_S)
        assert listener.wait_for(GCODE, 2, RECEIVE_TIMEOUT_S)
        assert listener.wait_for(AGREEMENT, 0, RECEIVE_TIMEOUT_S)
        assert listener.wait_for(DIAGNOSTICS, 1, RECEIVE_TIMEOUT_S)
        assert listener.wait_for("frames", 3, RECEIVE_TIMEOUT_S)
        assert called.wait(RECEIVE_TIMEOUT_S)

        records = listener.received(PREDICTION)
        assert [r.data for r in records] == [{"index": 0}, {"index": 1}, {"index": 2}]
        assert listener.malformed(PREDICTION) == 1 and listener.count(PREDICTION) == 3
        for received in records:
            assert isinstance(received.wall_ns, int) and isinstance(received.monotonic_ns, int)
            assert received.wall_ns >= before_wall and received.monotonic_ns >= before_mono
        assert [r.monotonic_ns for r in records] == sorted(r.monotonic_ns for r in records)
        assert listener.data(PREDICTION, start=1) == [{"index": 1}, {"index": 2}]
        assert listener.data(GCODE) == ["G1 X0.", "G1 X1.", "G1 X2."]
        assert listener.data(AGREEMENT) == [0.75]
        assert seen_on_callback[:3] == records
        # diagnostics: only this node's statuses with this hardware_id, newest by name
        assert listener.count(DIAGNOSTICS) == 2 and listener.received(DIAGNOSTICS) == []
        assert listener.statuses() == {
            STREAM_A: {"messages": "5", "lost": "1"}, INFERENCE: {"predictions": "3"}}
        assert listener.status_counter(STREAM_A, "messages") == 5
        assert listener.status_counter(task_status(TASK_BUFFER, OUTPUTS), "frames") == 0
        assert listener.status_text(STREAM_A, "lost") == "1"
        # raw bytes converted; only the newest two kept, but every one counted
        assert listener.count("frames") == 4 and len(listener.received("frames")) == 2
        older, newest = listener.data("frames")
        assert b"xx" in older and b"xxx" not in older and b"xxx" in newest
        assert listener.data("frames", start=3) == [newest]
        assert listener.publishers(PREDICTION) >= 1
        assert spin.error is None
    finally:
        spin.close()


def test_waits_end_on_timeout_without_messages(graph) -> None:
    _, node, context = graph
    listener = OutputListener(node, [gcode_topic(OUTPUTS, QOS)])
    spin = SpinThread(node, "listener-idle", context)
    try:
        started = time.monotonic()
        assert listener.wait_for(GCODE, 0, 0.2) is False
        assert listener.wait_quiet(GCODE, 0.1, 5.0) is True
        assert time.monotonic() - started < 5.0
        assert listener.count(GCODE) == 0 and listener.data(GCODE) == []
    finally:
        spin.close()


def test_keys_must_be_distinct(graph) -> None:
    _, node, _ = graph
    with pytest.raises(ValueError, match="distinct keys"):
        OutputListener(node, [gcode_topic(OUTPUTS), gcode_topic("/other")])
