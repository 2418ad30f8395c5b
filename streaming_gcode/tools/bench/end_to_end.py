# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""End to end over DDS on this machine: publishers, the node and a subscriber, three processes.

The node (`stream_node`, the default model, incremental mode, onnxruntime)
subscribes to the shipped stream layout with every stream made reliable; a
publisher process (`publisher_process.py`) sends all streams stamped with the
wall clock; this process listens (the harness's `OutputListener`) to `~/gcode`,
`~/prediction` and `/diagnostics`. Measured:

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
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Callable, Sequence

import rclpy
from rclpy.node import Node
import yaml

from streaming_gcode.core.package import default_checkpoint, default_stream_config
from streaming_gcode.core.stats import summarise_latencies
from streaming_gcode.tools.harness.node_process import (
    DOMAIN_ENV, node_command, NodeProcess, use_local_dds,
)
from streaming_gcode.tools.harness.node_status import counter, STREAM_STATUS_PREFIX
from streaming_gcode.tools.harness.output_listener import (
    DIAGNOSTICS, diagnostics_topic, GCODE, gcode_topic, listen_qos, NODE_OUTPUTS,
    OutputListener, PREDICTION, prediction_topic, Received, SpinThread,
)

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
OUTPUT_DEPTH = 100                # reliable keep-last depth of `~/gcode` and `~/prediction` here
FRESH_REPORT_TIMEOUT_S = 10.0
TOTAL_KEYS: tuple[str, ...] = ("messages", "accepted", "lost", "rmw_lost", "late")


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


def listen(node: Node) -> OutputListener:
    """Subscribe this process to `~/gcode`, `~/prediction` (each kept) and `/diagnostics`."""
    qos = listen_qos(OUTPUT_DEPTH)
    return OutputListener(node, [gcode_topic(NODE_OUTPUTS, qos),
                                 prediction_topic(NODE_OUTPUTS, qos), diagnostics_topic()])


def stream_totals(listener: OutputListener) -> dict[str, int]:
    """Sum over input streams of messages received, accepted and lost (newest report)."""
    totals = dict.fromkeys(TOTAL_KEYS, 0)
    for name, values in listener.statuses().items():
        if name.startswith(STREAM_STATUS_PREFIX):
            for key in totals:
                totals[key] += counter(values, key)
    return totals


def fresh_totals(listener: OutputListener,
                 timeout_s: float = FRESH_REPORT_TIMEOUT_S) -> dict[str, int]:
    """Totals from a diagnostics report that arrives after this call (or the newest one)."""
    listener.wait_for(DIAGNOSTICS, listener.count(DIAGNOSTICS), timeout_s)
    return stream_totals(listener)


def latency_summary(values_ns: list[int]) -> dict:
    """Percentiles in ms (count 0: nothing measured)."""
    summary = summarise_latencies(values_ns)
    return {"count": 0} if summary is None else summary._asdict()


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


def _command(publisher: subprocess.Popen, command: dict) -> dict:
    publisher.stdin.write(json.dumps(command) + "\n")
    publisher.stdin.flush()
    line = publisher.stdout.readline()
    if not line:
        raise RuntimeError("the publisher process ended unexpectedly")
    return json.loads(line)


def _ramp(publisher: subprocess.Popen, listener: OutputListener, rates: tuple[float, ...],
          step_s: float, streams: int, log: Callable[[str], None]) -> list[dict]:
    steps = []
    before = fresh_totals(listener)
    for rate in rates:
        sent = _command(publisher, {"rate_hz": rate, "seconds": step_s})
        time.sleep(SETTLE_S)
        after = fresh_totals(listener)
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


def run_end_to_end(quick: bool, log: Callable[[str], None] = print) -> dict:
    """Run the DDS measurement; {skipped: reason} when it cannot run here."""
    source = default_stream_config()
    if source is None:
        return {"skipped": "config/stream.yaml not found"}
    env = use_local_dds()
    folder = Path(tempfile.mkdtemp(prefix="streaming_gcode_bench_dds_"))
    params_file = folder / "params.yaml"
    params = bench_params(source, params_file, model_random=default_checkpoint("full") is None)
    streams = len(params["stream_names"])
    log(f"end to end over DDS (domain {env[DOMAIN_ENV]}): node incremental/onnxruntime, "
        f"{streams} reliable streams at {LATENCY_RATE_HZ:g} Hz, stride {STRIDE}")
    node_process = NodeProcess(node_command(params_file, {}, sys.executable, "warn"), env)
    publisher = subprocess.Popen(
        [sys.executable, "-m", "streaming_gcode.tools.bench.publisher_process", str(params_file)],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rclpy.init()
    node = rclpy.create_node("bench_prediction_subscriber")
    spin: SpinThread | None = None
    try:
        listener = listen(node)
        spin = SpinThread(node, "bench-listener")
        ready = json.loads(publisher.stdout.readline() or '{"ready": false}')
        if not ready.get("ready") or not node_process.running():
            return {"skipped": "the node or the publishers did not start: "
                    + " | ".join(node_process.log_tail(5))}
        started = time.time_ns() + int(WARMUP_S * 1e9)
        seconds = QUICK_LATENCY_S if quick else FULL_LATENCY_S
        sent = _command(publisher, {"rate_hz": LATENCY_RATE_HZ, "seconds": seconds})
        time.sleep(SETTLE_S)
        tick_to_receipt, data_age, mismatched = pair_latencies(
            listener.received(GCODE), listener.received(PREDICTION), started)
        result = {"node": {"mode": "incremental", "backend": "onnxruntime", "stride": STRIDE,
                           "frame_rate_hz": LATENCY_RATE_HZ, "streams": streams,
                           "model": "models/full.pt" if not params["allow_random_model"]
                           else "random weights (no models/full.pt)"},
                  "latency_phase": {"seconds": seconds, "messages_sent": sent["sent"],
                                    "predictions": listener.count(PREDICTION),
                                    "mismatched_pairs": mismatched},
                  "tick_to_receipt": latency_summary(tick_to_receipt),
                  "data_age": latency_summary(data_age)}
        log(f"  tick-to-receipt {result['tick_to_receipt']}")
        steps = _ramp(publisher, listener, QUICK_RAMP_HZ if quick else FULL_RAMP_HZ,
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
        if spin is not None:
            spin.close(timeout_s=10.0)
        node.destroy_node()
        rclpy.try_shutdown()
