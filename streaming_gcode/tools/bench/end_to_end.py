# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""End to end over DDS on this machine: publishers, the node and a subscriber, three processes.

The node (`stream_node`, the default model, incremental mode, onnxruntime)
subscribes to the shipped stream layout with every stream made reliable; a
publisher process (`publisher_process.py`) sends all streams stamped with the
wall clock; this process listens (the harness's `OutputListener`) to `~/gcode`,
`~/prediction` and `/diagnostics`. Each frame rate (with its stride) is a
node session of its own (dds_session.py): its first window is sent up to
WARM_FILL_SPEEDUP times faster, then at least MIN_PREDICTIONS predictions are
measured at the real rate. Measured:

- tick-to-receipt: from the start of the tick that made a prediction (the
  record's `tick_unix_ns`) to its `~/gcode` message arriving here;
- data age: from the publication of the newest frame in the window (its
  stamp) to that same arrival;
- ingestion (at PRIMARY_RATE, once per executor, see node/executor_choice.py):
  publication rate raised step by step; a step is loss-free when the node's
  diagnostics count as accepted every message the publisher sent. The highest
  loss-free rate is reported (the ramp stops at the first loss).

Both ends read the same wall clock, so the differences are exact on one host.
Result keys: `rates[]` (one entry per frame rate), `executors{}` (ingestion per
executor) and, for the PRIMARY_RATE entry, `node`, `latency_phase`,
`tick_to_receipt`, `data_age` and `ingestion` at the top level.
"""

from __future__ import annotations

from pathlib import Path
import tempfile
import time
from typing import Callable, Sequence

import rclpy

from streaming_gcode.core.package import default_checkpoint, default_stream_config
from streaming_gcode.core.stats import NS_PER_MS, NS_PER_S, summarise_latencies
from streaming_gcode.node.executor_choice import EXECUTORS
from streaming_gcode.tools.bench.dds_session import DdsSession, pair_latencies, STREAM_DEPTH
from streaming_gcode.tools.harness.node_process import DOMAIN_ENV, use_local_dds
from streaming_gcode.tools.harness.output_listener import GCODE, PREDICTION

PRIMARY_RATE = (50.0, 4)          # frames/s and stride of the top-level keys and the ramp
QUICK_RATES: tuple[tuple[float, int], ...] = ((4.0, 1), PRIMARY_RATE)
FULL_RATES: tuple[tuple[float, int], ...] = QUICK_RATES + ((200.0, 8),)
MIN_PREDICTIONS = 40              # measured per rate, also in --quick
PREDICTION_MARGIN = 8             # predictions beyond the minimum the quick phase aims for
QUICK_LATENCY_S, FULL_LATENCY_S = 3.0, 30.0
WARM_FILL_FRAMES = 72             # sent fast first: fills the shipped model's 64-frame window
WARM_FILL_SPEEDUP = 8.0
WARM_FILL_MAX_HZ = 100.0          # ... but never faster than this (ingestion is measured apart)
QUICK_RAMP_HZ: tuple[float, ...] = (100.0, 300.0, 500.0, 700.0, 1000.0)
FULL_RAMP_HZ: tuple[float, ...] = (100.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 750.0, 1000.0)
QUICK_STEP_S, FULL_STEP_S = 1.5, 5.0
SETTLE_S = 1.5                    # after a phase: let the node drain and report
LATENCY_KEYS = ("tick_to_receipt", "data_age")


def latency_summary(values_ns: list[int]) -> dict:
    """Percentiles in ms (count 0: nothing measured)."""
    summary = summarise_latencies(values_ns)
    return {"count": 0} if summary is None else summary._asdict()


def rate_entry(rate_hz: float, stride: int, tick_to_receipt: Sequence[int],
               data_age: Sequence[int], **extra: object) -> dict:
    """One `end_to_end.rates[]` entry from the measured latencies (ns)."""
    return {"frame_rate_hz": rate_hz, "stride": stride, "predictions": len(data_age),
            "tick_to_receipt": latency_summary(list(tick_to_receipt)),
            "data_age": latency_summary(list(data_age)),
            "data_age_ms": [round(v / NS_PER_MS, 3) for v in data_age], **extra}


def measure_seconds(rate_hz: float, stride: int, quick: bool) -> float:
    """Return the seconds at the real rate: MIN_PREDICTIONS and margin, FULL_LATENCY_S in full."""
    needed = (MIN_PREDICTIONS + PREDICTION_MARGIN) * stride / rate_hz
    return max(needed, QUICK_LATENCY_S if quick else FULL_LATENCY_S)


def _measure_rate(session: DdsSession, rate_hz: float, stride: int, quick: bool) -> dict:
    """Fill the window fast, then measure the latencies of the real-rate predictions."""
    fast = max(rate_hz, min(rate_hz * WARM_FILL_SPEEDUP, WARM_FILL_MAX_HZ))
    warm = session.publish(fast, WARM_FILL_FRAMES / fast)
    since = time.time_ns() + int(stride * NS_PER_S / rate_hz)   # first real-rate tick on
    seconds = measure_seconds(rate_hz, stride, quick)
    sent = session.publish(rate_hz, seconds)
    time.sleep(SETTLE_S)
    listener = session.listener
    tick_to_receipt, data_age, mismatched = pair_latencies(
        listener.received(GCODE), listener.received(PREDICTION), since)
    return rate_entry(rate_hz, stride, tick_to_receipt, data_age, seconds=round(seconds, 2),
                      messages_sent=warm["sent"] + sent["sent"],
                      received_predictions=listener.count(PREDICTION),
                      mismatched_pairs=mismatched)


def _ramp(session: DdsSession, rates: tuple[float, ...], step_s: float,
          log: Callable[[str], None]) -> list[dict]:
    steps = []
    before = session.fresh_totals()
    for rate in rates:
        sent = session.publish(rate, step_s)
        time.sleep(SETTLE_S)
        after = session.fresh_totals()
        delta = {k: after[k] - before[k] for k in after}
        step = {"requested_per_s": rate * session.streams, "sent": sent["sent"],
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


def _ingestion(steps: list[dict]) -> dict:
    clean = [s["sent_per_s"] for s in steps if s["zero_loss"]]
    return {"steps": steps, "qos": f"reliable keep_last {STREAM_DEPTH}",
            "max_zero_loss_rate_hz": max(clean) if clean else None}


def _session(make: Callable[[], DdsSession], run: Callable[[DdsSession], dict],
             log: Callable[[str], None]) -> dict:
    """Start a session, run a measurement in it, always stop it; {skipped: reason} on failure."""
    session = make()
    try:
        reason = session.wait_ready()
        return {"skipped": reason} if reason else run(session)
    finally:
        session.close()
        log("  node and publishers stopped")


def run_end_to_end(quick: bool, log: Callable[[str], None] = print) -> dict:
    """Run the DDS measurement; {skipped: reason} when it cannot run here."""
    source = default_stream_config()
    if source is None:
        return {"skipped": "config/stream.yaml not found"}
    env = use_local_dds()
    folder = Path(tempfile.mkdtemp(prefix="streaming_gcode_bench_dds_"))
    random_model = default_checkpoint("full") is None
    ramp = (QUICK_RAMP_HZ, QUICK_STEP_S) if quick else (FULL_RAMP_HZ, FULL_STEP_S)

    def make(rate_hz: float, stride: int, executor: str) -> Callable[[], DdsSession]:
        return lambda: DdsSession(source, folder, env, random_model, rate_hz, stride, executor)

    def latency_and_ramp(rate_hz: float, stride: int) -> Callable[[DdsSession], dict]:
        def run(session: DdsSession) -> dict:
            entry = _measure_rate(session, rate_hz, stride, quick)
            log(f"  {rate_hz:g} Hz stride {stride}: {entry['predictions']} predictions, "
                f"tick-to-receipt {entry['tick_to_receipt']}, data age {entry['data_age']}")
            if (rate_hz, stride) == PRIMARY_RATE:
                entry["ingestion"] = _ingestion(_ramp(session, *ramp, log))
            return entry
        return run

    rclpy.init()
    try:
        rates, executors = [], {}
        for rate_hz, stride in QUICK_RATES if quick else FULL_RATES:
            log(f"end to end over DDS (domain {env[DOMAIN_ENV]}): node incremental/onnxruntime, "
                f"reliable streams at {rate_hz:g} Hz, stride {stride}, executor {EXECUTORS[0]}")
            entry = _session(make(rate_hz, stride, EXECUTORS[0]),
                             latency_and_ramp(rate_hz, stride), log)
            if "skipped" in entry:
                return entry
            rates.append(entry)
        primary = next(e for e in rates if (e["frame_rate_hz"], e["stride"]) == PRIMARY_RATE)
        executors[EXECUTORS[0]] = primary.pop("ingestion")
        for executor in EXECUTORS[1:]:
            log(f"ingestion with executor {executor} at {PRIMARY_RATE[0]:g} Hz")
            executors[executor] = _session(
                make(*PRIMARY_RATE, executor),
                lambda session: _ingestion(_ramp(session, *ramp, log)), log)
        return _document(rates, primary, executors, random_model)
    finally:
        rclpy.try_shutdown()


def _document(rates: list[dict], primary: dict, executors: dict, random_model: bool) -> dict:
    """Build `end_to_end`: every rate, the executors, the primary rate at the top level."""
    return {"node": {"mode": "incremental", "backend": "onnxruntime", "stride": primary["stride"],
                     "frame_rate_hz": primary["frame_rate_hz"], "executor": EXECUTORS[0],
                     "model": "random weights (no models/full.pt)" if random_model
                     else "models/full.pt"},
            "latency_phase": {"seconds": primary["seconds"],
                              "messages_sent": primary["messages_sent"],
                              "predictions": primary["received_predictions"],
                              "mismatched_pairs": primary["mismatched_pairs"]},
            **{key: primary[key] for key in LATENCY_KEYS},
            "ingestion": executors[EXECUTORS[0]],
            "executors": executors, "rates": rates}
