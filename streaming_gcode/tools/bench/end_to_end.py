# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""End to end over DDS on this machine: publishers, the node and a subscriber, three processes.

The node (`stream_node`, the default model, incremental mode, onnxruntime)
subscribes to the shipped stream layout with every stream made reliable; a
publisher process (`bench_dds_publisher`) sends all streams stamped with the
wall clock; this process subscribes to `~/gcode`, `~/prediction` and
`/diagnostics`. Measured:

- tick-to-receipt: from the start of the tick that made a prediction (the
  record's `tick_unix_ns`) to its `~/gcode` message arriving here;
- data age: from the publication of the newest frame in the window (its
  stamp) to that same arrival;
- ingestion: publication rate raised step by step; a step is loss-free when the
  node's diagnostics count as accepted every message the publisher sent. The
  highest loss-free rate is reported (the ramp stops at the first loss).

Both ends read the same wall clock, so the differences are exact on one host.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable

import numpy as np
import yaml

NODE = "streaming_gcode"
LATENCY_RATE_HZ = 50.0            # frames/s of the latency phase (every stream at this rate)
STRIDE = 4                        # frames per prediction: 12.5 predictions/s at 50 Hz
STREAM_DEPTH = 200                # reliable keep-last depth of every stream, both ends
QUICK_LATENCY_S, FULL_LATENCY_S = 3.0, 30.0
WARMUP_S = 1.0                    # predictions of the first second are not counted
QUICK_RAMP_HZ: tuple[float, ...] = (100.0, 500.0)
FULL_RAMP_HZ: tuple[float, ...] = (100.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0)
QUICK_STEP_S, FULL_STEP_S = 1.5, 5.0
DIAGNOSTICS_PERIOD_S = 0.5
SETTLE_S = 1.5                    # after a step: let the node drain and report
START_TIMEOUT_S = 90.0


def bench_params(source: Path, target: Path, model_random: bool) -> dict:
    """Write the node's params file: the shipped layout, reliable streams, benchmark settings."""
    document = yaml.safe_load(source.read_text())
    params = document["/**"]["ros__parameters"]
    for stream in params["streams"].values():
        stream["reliable"] = True
        stream["depth"] = STREAM_DEPTH
    params.update({
        "sample_rate_hz": LATENCY_RATE_HZ, "stride": STRIDE, "mode": "incremental",
        "backend": "onnxruntime", "num_threads": 1, "allow_random_model": model_random,
        "diagnostics_period_s": DIAGNOSTICS_PERIOD_S,
    })
    target.write_text(yaml.safe_dump(document, sort_keys=False))
    return params


class Receiver:
    """This process's subscriptions: arrival times of gcode and predictions, newest diagnostics."""

    def __init__(self, node) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.gcode: list[tuple[int, str]] = []
        self.predictions: list[tuple[int, dict]] = []
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.diagnostics_at = 0
        self._lock = threading.Lock()
        node.create_subscription(String, f"/{NODE}/gcode", self._on_gcode, qos)
        node.create_subscription(String, f"/{NODE}/prediction", self._on_prediction, qos)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_gcode(self, msg) -> None:
        arrived = time.time_ns()
        with self._lock:
            self.gcode.append((arrived, msg.data))

    def _on_prediction(self, msg) -> None:
        arrived = time.time_ns()
        with self._lock:
            self.predictions.append((arrived, json.loads(msg.data)))

    def _on_diagnostics(self, msg) -> None:
        with self._lock:
            for status in msg.status:
                self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}
            self.diagnostics_at = time.monotonic_ns()

    def stream_totals(self) -> dict[str, int]:
        """Sum over input streams of messages received, accepted and lost (newest report)."""
        with self._lock:
            streams = [v for k, v in self.diagnostics.items() if k.startswith(f"{NODE}: stream ")]
        totals = {"messages": 0, "accepted": 0, "lost": 0, "rmw_lost": 0, "late": 0}
        for values in streams:
            for key in totals:
                totals[key] += int(float(values.get(key, 0) or 0))
        return totals

    def fresh_totals(self, after_ns: int, timeout_s: float = 10.0) -> dict[str, int]:
        """Totals from a diagnostics report newer than `after_ns` (monotonic)."""
        deadline = time.monotonic() + timeout_s
        while self.diagnostics_at <= after_ns and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.stream_totals()


def latency_summary(values_ns: list[int]) -> dict:
    """Percentiles in ms (count 0: nothing measured)."""
    if not values_ns:
        return {"count": 0}
    ms = np.asarray(values_ns, dtype=np.float64) / 1e6
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return {"count": int(ms.size), "p50_ms": float(p50), "p95_ms": float(p95),
            "p99_ms": float(p99), "max_ms": float(ms.max()), "mean_ms": float(ms.mean())}


def pair_latencies(gcode: list[tuple[int, str]], predictions: list[tuple[int, dict]],
                   since_ns: int) -> tuple[list[int], list[int], int]:
    """Tick-to-receipt and data age of each `~/gcode` arrival, paired in order with its record.

    The node publishes a line on `~/gcode` then its record on `~/prediction`;
    both are reliable, so the k-th of each belong together (checked by text).
    Returns the two lists and the number of pairs whose texts disagree (skipped).
    """
    tick_to_receipt, data_age, mismatched = [], [], 0
    for (arrived, text), (_, record) in zip(gcode, predictions):
        if record.get("text") != text:
            mismatched += 1
            continue
        tick = record.get("tick_unix_ns")
        if tick is None or tick < since_ns:
            continue
        tick_to_receipt.append(arrived - tick)
        data_age.append(arrived - record["stamp_ns"])
    return tick_to_receipt, data_age, mismatched


def _command(publisher: subprocess.Popen, command: dict) -> dict:
    publisher.stdin.write(json.dumps(command) + "\n")
    publisher.stdin.flush()
    line = publisher.stdout.readline()
    if not line:
        raise RuntimeError("the publisher process ended unexpectedly")
    return json.loads(line)


def _ramp(publisher: subprocess.Popen, receiver: Receiver, rates: tuple[float, ...],
          step_s: float, streams: int, log: Callable[[str], None]) -> list[dict]:
    steps = []
    before = receiver.fresh_totals(time.monotonic_ns())
    for rate in rates:
        sent = _command(publisher, {"rate_hz": rate, "seconds": step_s})
        time.sleep(SETTLE_S)
        after = receiver.fresh_totals(time.monotonic_ns())
        delta = {k: after[k] - before[k] for k in after}
        step = {"requested_per_s": rate * streams, "sent": sent["sent"],
                "sent_per_s": sent["messages_per_s"], "received": delta["messages"],
                "accepted": delta["accepted"], "lost": delta["lost"] + delta["rmw_lost"],
                "late": delta["late"]}
        step["zero_loss"] = step["accepted"] == step["sent"] and step["lost"] == 0
        steps.append(step)
        log(f"  ingestion {step['sent_per_s']:8.0f} msg/s sent, {step['accepted']}/{step['sent']} "
            f"accepted, lost {step['lost']}{'' if step['zero_loss'] else '  <- loss'}")
        before = after
        if not step["zero_loss"]:
            break
    return steps


def _start_node(params_file: Path, env: dict):
    from streaming_gcode.tools.harness.node_process import NodeProcess, node_command

    return NodeProcess(node_command(params_file, {}, sys.executable, "warn"), env)


def run_end_to_end(quick: bool, log: Callable[[str], None] = print) -> dict:
    """Run the DDS measurement; {skipped: reason} when it cannot run here."""
    try:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
    except ImportError as exc:
        return {"skipped": f"rclpy is not importable ({exc})"}
    from streaming_gcode.core.package import default_checkpoint, default_stream_config
    from streaming_gcode.tools.harness.node_process import local_dds_environment

    source = default_stream_config()
    if source is None:
        return {"skipped": "config/stream.yaml not found"}
    env = local_dds_environment(os.environ)
    os.environ.update({k: env[k] for k in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE")})
    folder = Path(tempfile.mkdtemp(prefix="streaming_gcode_bench_dds_"))
    params_file = folder / "params.yaml"
    params = bench_params(source, params_file, model_random=default_checkpoint("full") is None)
    streams = len(params["stream_names"])
    log(f"end to end over DDS (domain {env['ROS_DOMAIN_ID']}): node incremental/onnxruntime, "
        f"{streams} reliable streams at {LATENCY_RATE_HZ:g} Hz, stride {STRIDE}")
    node_process = _start_node(params_file, env)
    publisher = subprocess.Popen(
        [sys.executable, "-m", "streaming_gcode.tools.bench.publisher_process", str(params_file)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rclpy.init()
    node = rclpy.create_node("bench_prediction_subscriber")
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    try:
        receiver = Receiver(node)
        spinner.start()
        ready = json.loads(publisher.stdout.readline() or '{"ready": false}')
        if not ready.get("ready") or not node_process.running():
            return {"skipped": "the node or the publishers did not start: "
                    + " | ".join(node_process.log_tail(5))}
        started = time.time_ns() + int(WARMUP_S * 1e9)
        seconds = QUICK_LATENCY_S if quick else FULL_LATENCY_S
        sent = _command(publisher, {"rate_hz": LATENCY_RATE_HZ, "seconds": seconds})
        time.sleep(SETTLE_S)
        tick_to_receipt, data_age, mismatched = pair_latencies(
            list(receiver.gcode), list(receiver.predictions), started)
        result = {"node": {"mode": "incremental", "backend": "onnxruntime", "stride": STRIDE,
                           "frame_rate_hz": LATENCY_RATE_HZ, "streams": streams,
                           "model": "models/full.pt" if not params["allow_random_model"]
                           else "random weights (no models/full.pt)"},
                  "latency_phase": {"seconds": seconds, "messages_sent": sent["sent"],
                                    "predictions": len(receiver.predictions),
                                    "mismatched_pairs": mismatched},
                  "tick_to_receipt": latency_summary(tick_to_receipt),
                  "data_age": latency_summary(data_age)}
        log(f"  tick-to-receipt {result['tick_to_receipt']}")
        steps = _ramp(publisher, receiver, QUICK_RAMP_HZ if quick else FULL_RAMP_HZ,
                      QUICK_STEP_S if quick else FULL_STEP_S, streams, log)
        clean = [s["sent_per_s"] for s in steps if s["zero_loss"]]
        result["ingestion"] = {"steps": steps, "qos": f"reliable keep_last {STREAM_DEPTH}",
                               "max_zero_loss_rate_hz": max(clean) if clean else None}
        return result
    finally:
        if publisher.poll() is None:
            try:
                publisher.stdin.write('{"quit": true}\n')
                publisher.stdin.flush()
                publisher.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                publisher.kill()
        node_process.stop()
        log("  node and publishers stopped")
        executor.shutdown()
        if spinner.is_alive():
            spinner.join(10)
        node.destroy_node()
        rclpy.try_shutdown()
