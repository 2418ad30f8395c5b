# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""One end-to-end session: a node process, its sensor publisher process and this listener.

A session is one configuration of the node (frame rate, stride, executor);
`end_to_end.py` runs a session per configuration and measures in it. The
node's params file is the shipped layout with every stream reliable.
"""

from __future__ import annotations

import json
from pathlib import Path
import subprocess
import sys
from typing import Sequence

import rclpy
from rclpy.node import Node
import yaml

from streaming_gcode.node.executor_choice import EXECUTOR_ENV
from streaming_gcode.tools.harness.node_process import node_command, NodeProcess
from streaming_gcode.tools.harness.node_status import (
    counter, is_stream_task, ROOT_NODE, status_task,
)
from streaming_gcode.tools.harness.output_listener import (
    DIAGNOSTICS, diagnostics_topic, gcode_topic, listen_qos, NODE_OUTPUTS, OutputListener,
    prediction_topic, Received, SpinThread,
)

STREAM_DEPTH = 200                # reliable keep-last depth of every stream, both ends
DIAGNOSTICS_PERIOD_S = 0.5
DIAGNOSTICS_DEPTH = 10
OUTPUT_DEPTH = 100                # reliable keep-last depth of `~/gcode` and `~/prediction` here
FRESH_REPORT_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
TOTAL_KEYS: tuple[str, ...] = ("messages", "accepted", "lost", "rmw_lost", "late")


def bench_params(source: Path, target: Path, model_random: bool, rate_hz: float,
                 stride: int) -> dict:
    """Write the node's params file: the shipped layout, reliable streams, benchmark settings."""
    document = yaml.safe_load(source.read_text())
    params = document["/**"]["ros__parameters"]
    for stream in params["streams"].values():
        stream["reliable"] = True
        stream["depth"] = STREAM_DEPTH
    params.update({
        "sample_rate_hz": rate_hz, "stride": stride, "mode": "incremental",
        "backend": "onnxruntime", "num_threads": 1, "allow_random_model": model_random,
        "diagnostics_period_s": DIAGNOSTICS_PERIOD_S,
    })
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return params


def listen(node: Node) -> OutputListener:
    """Subscribe this process to `~/gcode`, `~/prediction` (each kept) and `/diagnostics`."""
    qos = listen_qos(OUTPUT_DEPTH)
    diagnostics = diagnostics_topic(listen_qos(DIAGNOSTICS_DEPTH), node_name=ROOT_NODE)
    return OutputListener(node, [gcode_topic(NODE_OUTPUTS, qos),
                                 prediction_topic(NODE_OUTPUTS, qos), diagnostics])


def stream_totals(listener: OutputListener) -> dict[str, int]:
    """Sum over input streams of messages received, accepted and lost (newest report)."""
    totals = dict.fromkeys(TOTAL_KEYS, 0)
    for name, values in listener.statuses().items():
        if is_stream_task(status_task(name)):
            for key in totals:
                totals[key] += counter(values, key)
    return totals


def pair_latencies(gcode: Sequence[Received], predictions: Sequence[Received],
                   since_ns: int) -> tuple[list[int], list[int], int]:
    """Tick-to-receipt and data age of each `~/gcode` arrival, paired in order with its record.

    The node publishes a line on `~/gcode` then its record on `~/prediction`;
    both are reliable, so the k-th of each belong together (checked by text).
    Returns the two lists and the number of pairs whose texts disagree (skipped).
    """
    tick_to_receipt, data_age, mismatched = [], [], 0
    for line, prediction in zip(gcode, predictions):
        record = prediction.data
        if record.get("text") != line.data:
            mismatched += 1
            continue
        tick = record.get("tick_unix_ns")
        if tick is None or tick < since_ns:
            continue
        tick_to_receipt.append(line.wall_ns - tick)
        data_age.append(line.wall_ns - record["stamp_ns"])
    return tick_to_receipt, data_age, mismatched


class DdsSession:
    """The node at one frame rate, stride and executor; its publishers; this process listening."""

    def __init__(self, source: Path, folder: Path, env: dict[str, str], model_random: bool,
                 rate_hz: float, stride: int, executor: str) -> None:
        params_file = folder / f"params_{rate_hz:g}hz_s{stride}_{executor}.yaml"
        self.params = bench_params(source, params_file, model_random, rate_hz, stride)
        self.streams = len(self.params["stream_names"])
        self.node_process = NodeProcess(node_command(params_file, {}, sys.executable, "warn"),
                                        {**env, EXECUTOR_ENV: executor})
        self.publisher = subprocess.Popen(
            [sys.executable, "-m", "streaming_gcode.tools.bench.publisher_process",
             str(params_file)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.node = rclpy.create_node("bench_prediction_subscriber")
        self.listener = listen(self.node)
        self.spin = SpinThread(self.node, "bench-listener")

    def wait_ready(self) -> str | None:
        """Wait for the publishers to match the node; the reason when they did not."""
        ready = json.loads(self.publisher.stdout.readline() or '{"ready": false}')
        if not ready.get("ready") or not self.node_process.running():
            return ("the node or the publishers did not start: "
                    + " | ".join(self.node_process.log_tail(5)))
        return None

    def publish(self, rate_hz: float, seconds: float) -> dict:
        """Publish every stream at `rate_hz` for `seconds`; what the publisher sent."""
        self.publisher.stdin.write(json.dumps({"rate_hz": rate_hz, "seconds": seconds}) + "\n")
        self.publisher.stdin.flush()
        line = self.publisher.stdout.readline()
        if not line:
            raise RuntimeError("the publisher process ended unexpectedly")
        return json.loads(line)

    def fresh_totals(self, timeout_s: float = FRESH_REPORT_TIMEOUT_S) -> dict[str, int]:
        """Totals from a diagnostics report that arrives after this call (or the newest one)."""
        self.listener.wait_for(DIAGNOSTICS, self.listener.count(DIAGNOSTICS), timeout_s)
        return stream_totals(self.listener)

    def close(self) -> None:
        """Stop the publishers and the node; stop listening."""
        if self.publisher.poll() is None:
            try:
                self.publisher.stdin.write('{"quit": true}\n')
                self.publisher.stdin.flush()
                self.publisher.wait(STOP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                self.publisher.kill()
                self.publisher.wait()
        self.node_process.stop()
        self.spin.close(timeout_s=STOP_TIMEOUT_S)
        self.node.destroy_node()
