# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node's parameters through its services over DDS, as `ros2 param dump` reads them.

`ros2 param dump` lists every name (`list_parameters`) and gets them all in one
`get_parameters` call; rclpy answers that batch with nothing when any one
parameter has no value, so every declared parameter must have one.
"""

from __future__ import annotations

from pathlib import Path
import time
from typing import Any

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from rcl_interfaces.msg import ParameterType  # noqa: E402, I100
from rcl_interfaces.srv import GetParameters, ListParameters  # noqa: E402
from rclpy.node import Node  # noqa: E402
import torch  # noqa: E402

from streaming_gcode.core.parameters import (  # noqa: E402
    LAYOUT_PARAMETERS, NODE_PARAMETERS, stream_parameter_specs,
)
from streaming_gcode.node.stream_node import create_node  # noqa: E402

from fault_support import random_checkpoint, spinning  # noqa: E402, I100

pytestmark = pytest.mark.ros
torch.set_num_threads(1)
SERVICE_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("params") / "tiny.pt")


def _call(node: Node, service: type, name: str, request: Any) -> Any:
    """Call a service of the stream node from `node` and wait for the answer."""
    client = node.create_client(service, name)
    try:
        assert client.wait_for_service(timeout_sec=SERVICE_TIMEOUT_S), name
        future = client.call_async(request)
        end = time.monotonic() + SERVICE_TIMEOUT_S
        while not future.done() and time.monotonic() < end:
            time.sleep(0.02)
        assert future.done(), f"{name} did not answer"
        return future.result()
    finally:
        node.destroy_client(client)


@pytest.mark.parametrize("machines", [[], ["cell_a", "cell_b"]])
def test_list_then_get_returns_every_parameter_with_a_value(context, checkpoint,
                                                            machines) -> None:
    overrides = {"checkpoint": str(checkpoint), "model": "physical"}
    if machines:   # an empty override would be a byte array; the default is the empty case
        overrides["machines"] = machines
    node = create_node(overrides, context=context)
    client = Node("param_dump_client", context=context)
    try:
        with spinning(context, node, client, threads=2):
            fqn = node.get_fully_qualified_name()
            listed = _call(client, ListParameters, f"{fqn}/list_parameters",
                           ListParameters.Request()).result.names
            layout = node.get_parameter("stream_names").value
            declared = {spec.name for spec in NODE_PARAMETERS + LAYOUT_PARAMETERS}
            declared |= {spec.name for name in layout for spec in stream_parameter_specs(name)}
            assert declared <= set(listed)
            values = _call(client, GetParameters, f"{fqn}/get_parameters",
                           GetParameters.Request(names=list(listed))).values
            assert len(values) == len(listed), "get_parameters answered the batch with nothing"
            unset = [n for n, v in zip(listed, values)
                     if v.type == ParameterType.PARAMETER_NOT_SET]
            assert unset == []
            by_name = dict(zip(listed, values))
            assert by_name["machines"].type == ParameterType.PARAMETER_STRING_ARRAY
            assert list(by_name["machines"].string_array_value) == machines
            assert node.describe_parameter("machines").read_only
    finally:
        client.destroy_node()
        node.destroy_node()
