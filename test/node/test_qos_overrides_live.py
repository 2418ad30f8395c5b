# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""ROS 2's standard `qos_overrides` parameters set the QoS of the node's inputs and outputs.

Checked where it counts: the QoS the DDS graph shows for the node's endpoints,
and the `qos` key of the stream status; a bad override is one ConfigError.
"""

from __future__ import annotations

from pathlib import Path
import time

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from rclpy.node import Node  # noqa: E402, I100
from rclpy.qos import ReliabilityPolicy  # noqa: E402
import torch  # noqa: E402

from streaming_gcode.core.errors import ConfigError  # noqa: E402
from streaming_gcode.node.stream_node import create_node  # noqa: E402

from fault_support import random_checkpoint  # noqa: E402, I100

pytestmark = pytest.mark.ros
torch.set_num_threads(1)
INPUT = "/cnc/controller_state"      # the shipped layout's controller stream, root namespace
OUTPUT = "/streaming_gcode/gcode"
DISCOVERY_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("qos") / "tiny.pt")


def _reliability(peer: Node, query, topic: str, node_name: str) -> ReliabilityPolicy:
    """Wait until the graph shows the node's endpoint on `topic`; return its reliability."""
    end = time.monotonic() + DISCOVERY_TIMEOUT_S
    while time.monotonic() < end:
        for info in query(topic):
            if info.node_name == node_name:
                return info.qos_profile.reliability
        time.sleep(0.05)
    raise AssertionError(f"{node_name} on {topic} not discovered")


def test_overrides_set_the_qos_on_the_wire_and_in_diagnostics(context, checkpoint) -> None:
    node = create_node({
        "checkpoint": str(checkpoint), "model": "physical",
        f"qos_overrides.{INPUT}.subscription.reliability": "reliable",
        f"qos_overrides.{INPUT}.subscription.depth": 3,
        f"qos_overrides.{OUTPUT}.publisher.reliability": "best_effort",
    }, context=context)
    peer = Node("qos_peer", context=context)
    try:
        name = node.get_name()
        assert _reliability(peer, peer.get_subscriptions_info_by_topic, INPUT,
                            name) == ReliabilityPolicy.RELIABLE
        assert _reliability(peer, peer.get_publishers_info_by_topic, OUTPUT,
                            name) == ReliabilityPolicy.BEST_EFFORT
        assert _reliability(peer, peer.get_subscriptions_info_by_topic, "/cnc/motor_currents",
                            name) == ReliabilityPolicy.BEST_EFFORT   # the layout's default
        status = next(s for s in node.statuses() if s.name.endswith("stream controller"))
        assert status.value("qos") == "reliable keep_last 3"
        assert node.get_parameter(f"qos_overrides.{INPUT}.subscription.depth").value == 3
    finally:
        peer.destroy_node()
        node.destroy_node()


def test_diagnostics_and_the_reference_line_take_overrides_too(context, checkpoint) -> None:
    reference = "/cell/executing_line"
    node = create_node({
        "checkpoint": str(checkpoint), "model": "physical", "reference_topic": reference,
        "qos_overrides./diagnostics.publisher.reliability": "best_effort",
        f"qos_overrides.{reference}.subscription.reliability": "reliable",
        "qos_overrides./streaming_gcode/agreement.publisher.reliability": "best_effort",
    }, context=context)
    peer = Node("qos_peer_outputs", context=context)
    try:
        name = node.get_name()
        assert _reliability(peer, peer.get_publishers_info_by_topic, "/diagnostics",
                            name) == ReliabilityPolicy.BEST_EFFORT
        assert _reliability(peer, peer.get_subscriptions_info_by_topic, reference,
                            name) == ReliabilityPolicy.RELIABLE
        assert _reliability(peer, peer.get_publishers_info_by_topic,
                            "/streaming_gcode/agreement", name) == ReliabilityPolicy.BEST_EFFORT
    finally:
        peer.destroy_node()
        node.destroy_node()


def test_a_bad_override_is_one_config_error(context, checkpoint) -> None:
    with pytest.raises(ConfigError, match=r"qos_overrides for stream 'controller': .*"
                                          r"reliability.*sometimes"):
        create_node({"checkpoint": str(checkpoint), "model": "physical",
                     f"qos_overrides.{INPUT}.subscription.reliability": "sometimes"},
                    context=context)
