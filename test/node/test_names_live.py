# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A node started as an integrator starts it: a namespace, a remapped input, debug logs.

Over DDS, its diagnostics must name the node by its fully qualified name, show
the topics it really listens on (namespace and remapping applied), the stride
and window it really runs with (the checkpoint's when the parameters are 0);
its log must show the start-up at debug level and end with the node's name.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

import fault_support as fs  # noqa: E402, I100
import yaml  # noqa: E402, I100

pytestmark = [pytest.mark.ros]
NAMESPACE = "/mill_1"
FQN = f"{NAMESPACE}/streaming_gcode"
REMAPPED = "/plc/joints"


def test_namespace_remap_effective_stride_and_debug_logs(tmp_path) -> None:
    checkpoint = fs.small_checkpoint(tmp_path / "small.pt")
    params = fs.node_params(checkpoint)["streaming_gcode"]   # stride 0: the checkpoint's
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump({"/**": params}))
    log = tmp_path / "node.log"
    graph = fs.Graph("names_test")
    with open(log, "wb") as handle:
        node = subprocess.Popen(
            [sys.executable, "-c", fs.NODE_MAIN, "--ros-args", "--params-file",
             str(params_file), "-r", f"__ns:={NAMESPACE}", "-r", f"fault/joints:={REMAPPED}",
             "--log-level", f"{FQN[1:].replace('/', '.')}:=debug"],
            stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=fs.REPO)
    try:
        since = time.monotonic()
        graph.wait_for(lambda: f"{FQN}: inference" in graph.statuses(since)
                       or node.poll() is not None, fs.STARTUP_TIMEOUT_S, "the node's statuses")
        assert node.poll() is None, log.read_text()
        statuses = graph.statuses(since)
        assert statuses[f"{FQN}: stream joints"]["topic"] == REMAPPED
        assert statuses[f"{FQN}: stream imu"]["topic"] == f"{NAMESPACE}/fault/imu"
        inference = statuses[f"{FQN}: inference"]
        effective = (inference["stride"], inference["window_frames"])
        assert effective == (str(fs.STRIDE), str(fs.WINDOW))
        assert statuses[f"{FQN}: model"]["window_frames"] == str(fs.WINDOW)
    finally:
        graph.close()
        if node.poll() is None:
            node.send_signal(signal.SIGINT)
        code = node.wait(timeout=fs.STOP_TIMEOUT_S)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    final = next(line for line in text.splitlines() if "final stats:" in line)
    assert final.endswith(f"; node {FQN}"), final
    for debug in ("settings: {", "model loaded:", f"subscribed to {REMAPPED}"):
        assert debug in text, debug
