# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""SIGINT and SIGTERM at any moment: while starting, idle, mid-inference, twice in a row.

Each case starts a node process, lets it reach the moment, sends the signal and
expects a clean exit: code 0, the final stats line, no traceback. Mid-inference
uses a model much slower than the stride, so a tick is running most of the time.
"""

from __future__ import annotations

import signal
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

import torch  # noqa: E402

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def graph():
    graph = fs.Graph("signals_test")
    yield graph
    graph.close()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("signals")
    return tmp, {"small": fs.small_checkpoint(tmp / "small.pt"),
                 "slow": fs.small_checkpoint(tmp / "slow.pt", d_model=256, num_layers=3,
                                             window=48, stride=1)}


def _clean_exit(node: fs.NodeProcess, code: int) -> None:
    text = node.text()
    assert code == 0, text[-3000:]
    assert "final stats:" in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]


@pytest.mark.parametrize("sig,delay_s", [
    (signal.SIGINT, 0.5), (signal.SIGTERM, 0.5), (signal.SIGINT, 3.0), (signal.SIGTERM, 3.0),
], ids=["SIGINT-importing", "SIGTERM-importing", "SIGINT-later", "SIGTERM-later"])
def test_signal_while_starting_up(sig, delay_s, checkpoints, graph) -> None:
    tmp, models = checkpoints
    node = fs.NodeProcess(tmp, fs.node_params(models["small"]), f"start_{sig.name}_{delay_s}")
    try:
        time.sleep(delay_s)    # importing torch and rclpy, loading the model, or spinning
        _clean_exit(node, node.stop(sig))
    finally:
        node.kill()


def test_sigterm_mid_inference_with_a_model_slower_than_the_stride(checkpoints, graph) -> None:
    tmp, models = checkpoints
    node = fs.start(tmp, fs.node_params(models["slow"]), graph, "busy")
    try:
        since = time.monotonic()
        graph.wait_for(lambda: len(graph.predictions_since(since)) >= 2, 30.0,
                       "predictions from the slow model", streams=("joints", "imu", "arr"))
        graph.publish()
        _clean_exit(node, node.stop(signal.SIGTERM))   # a tick runs most of the time
    finally:
        node.kill()


def test_sigint_mid_inference_then_sigterm_during_shutdown(checkpoints, graph) -> None:
    tmp, models = checkpoints
    node = fs.start(tmp, fs.node_params(models["slow"]), graph, "twice")
    try:
        since = time.monotonic()
        graph.wait_for(lambda: len(graph.predictions_since(since)) >= 2, 30.0,
                       "predictions from the slow model", streams=("joints", "imu", "arr"))
        graph.publish()
        node.process.send_signal(signal.SIGINT)
        time.sleep(0.05)
        _clean_exit(node, node.stop(signal.SIGTERM))
    finally:
        node.kill()
