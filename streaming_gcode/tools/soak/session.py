# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The live side of a soak: the node process, bags played in a loop, sampling over time.

`run_soak` starts `stream_node` as deployed (its own process, the shipped
stream layout, `use_sim_time`), plays the bags one after another at a high
rate with `/clock` (each pass is a new publisher whose sequence numbers start
again, and sim time goes back to the bag's start: the node must reset and count
it), and every sample period reads the node's resident memory (psutil), its
diagnostics and the predictions it published. At the end it lets the node
drain, takes the final counters, stops the node with SIGINT and builds the
report (`analysis.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
import platform
import time
from typing import Any, Callable, Sequence

import psutil
import rclpy
from rclpy.node import Node

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stats import NS_PER_S
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.outputs.diagnostics import TASK_BUFFER
from streaming_gcode.recordings.bag_writer import absolute_topic
from streaming_gcode.tools.harness.bag_player import BagPlayer, ReplayOptions
from streaming_gcode.tools.harness.node_process import node_command, NodeProcess, use_local_dds
from streaming_gcode.tools.harness.node_status import (
    counter, INFERENCE_STATUS, is_stream_task, MODEL_STATUS, ROOT_NODE, status_task,
)
from streaming_gcode.tools.harness.output_listener import (
    DIAGNOSTICS, diagnostics_topic, listen_qos, NODE_OUTPUTS, OutputListener, PREDICTION,
    prediction_topic, SpinThread,
)
from streaming_gcode.tools.soak import analysis as soak

CLOCK_TOPIC = "/clock"
LISTENER_NODE_NAME = "streaming_gcode_soak"
PLAYER_NODE_NAME = "streaming_gcode_soak_player"
NODE_READY_TIMEOUT_S = 180.0      # torch import and model load on a busy machine
SUBSCRIBER_WAIT_S = 30.0          # the node subscribes to every stream and /clock
PASS_DELAY_S = 1.0                # /clock runs this long before a pass's data (discovery)
CLOCK_HZ = 40.0
# Publishers outlive a pass's last message this long: a reader discards the unread
# samples of a writer that goes away.
PASS_LINGER_S = 3.0
PASS_TIMEOUT_S = 600.0            # at the end, wait this long at most for the pass to end
DRAIN_DIAGNOSTICS_S = 10.0        # wait this long for the diagnostics after the drain
POLL_S = 0.1
PREDICTION_DEPTH = 500


@dataclass(frozen=True)
class SoakOptions:
    """What to run and for how long."""

    seconds: float
    bags: tuple[Path, ...]
    config: Path
    checkpoint: Path | None = None          # None: the shipped model, else a random one
    rate: float = soak.DEFAULT_RATE
    sample_period_s: float = soak.DEFAULT_SAMPLE_PERIOD_S
    warmup_s: float | None = None           # None: soak.warmup_seconds(seconds)
    command: str = ""


def prediction_latency_ms(message: Any) -> float:
    """Read only the inference latency of a `~/prediction` record (what the soak keeps)."""
    return float(json.loads(message.data)["latency_ms"])


class SoakListener:
    """The node's latest diagnostics and the latency of every prediction, over the soak."""

    def __init__(self, context: Any) -> None:
        self._origin_ns = time.monotonic_ns()
        self.node = Node(LISTENER_NODE_NAME, context=context)
        self.outputs = OutputListener(self.node, [
            prediction_topic(NODE_OUTPUTS, listen_qos(PREDICTION_DEPTH),
                             convert=prediction_latency_ms),
            diagnostics_topic(node_name=ROOT_NODE),   # the node runs in the root namespace
        ])
        self._spin = SpinThread(self.node, "soak-listener", context)

    def restart_clock(self) -> float:
        """Measure prediction times from now on; returns the new origin (monotonic s)."""
        self._origin_ns = time.monotonic_ns()
        return self._origin_ns / NS_PER_S

    def latencies(self, start: int = 0) -> list[tuple[float, float]]:
        """(seconds since the origin, latency ms) of each prediction from the `start`-th on."""
        return [((item.monotonic_ns - self._origin_ns) / NS_PER_S, item.data)
                for item in self.outputs.received(PREDICTION, start)]

    def diagnostics_received(self) -> int:
        """Count the diagnostics arrays with the node's statuses received so far."""
        return self.outputs.count(DIAGNOSTICS)

    def wait_for_diagnostics(self, after: int, timeout: float) -> bool:
        """Wait until more than `after` diagnostics arrays have arrived."""
        return self.outputs.wait_for(DIAGNOSTICS, after, timeout)

    def tallies(self) -> dict[str, dict[str, int]]:
        """Per-topic (absolute name) stream counters from the latest diagnostics."""
        return {absolute_topic(values.get("topic", name)): soak.stream_tally(values)
                for name, values in self.outputs.statuses().items()
                if is_stream_task(status_task(name))}

    def aligner_resets(self) -> int:
        """Aligner resets from the latest diagnostics (summed over machines, if several)."""
        return sum(counter(values, "aligner_resets")
                   for name, values in self.outputs.statuses().items()
                   if status_task(name) == TASK_BUFFER)

    def wait_for_node(self, topics: Sequence[str], alive: Callable[[], bool],
                      timeout: float) -> bool:
        """Wait until every topic has a subscriber: the node is up.

        With sim time the node's tick timer waits for /clock, so its subscriptions,
        not its outputs, say that it is up.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end and alive():
            if all(self.node.count_subscribers(t) > 0 for t in topics):
                return True
            time.sleep(POLL_S)
        return False

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        self._spin.close()
        self.node.destroy_node()


class BagLoop:
    """Plays the bags one after another (one new player, and publisher, per pass)."""

    def __init__(self, bags: Sequence[Path], layout: StreamLayout, rate: float,
                 context: Any) -> None:
        self.bags = list(bags)
        self.topics = tuple(absolute_topic(spec.topic) for spec in layout.streams)
        self.rate = rate
        self.context = context
        self.passes = 0
        self.published: dict[str, int] = dict.fromkeys(self.topics, 0)
        self._player: Any = None
        self._finished_at: float | None = None

    def _absorb(self) -> None:
        player, self._player = self._player, None
        if player is None:
            return
        player.close()
        for topic, count in player.stats.published.items():
            self.published[topic] = self.published.get(topic, 0) + count
        if player.error is not None:
            raise player.error

    def poll(self) -> None:
        """Start the next pass when the current one has ended."""
        if self._player is not None:
            if not self._player.finished.is_set():
                return
            if self._finished_at is None:
                self._finished_at = time.monotonic()
            if time.monotonic() - self._finished_at < PASS_LINGER_S:
                return
        self._absorb()
        self._finished_at = None
        bag = self.bags[self.passes % len(self.bags)]
        options = ReplayOptions(rate=self.rate, clock_hz=CLOCK_HZ, topics=self.topics,
                                wait_for_subscribers_s=SUBSCRIBER_WAIT_S, delay_s=PASS_DELAY_S)
        self._player = BagPlayer(bag, options, context=self.context,
                                 node_name=PLAYER_NODE_NAME)
        self._player.start()
        self.passes += 1

    def published_total(self) -> int:
        """Messages published so far, the running pass included."""
        running = sum(self._player.stats.published.values()) if self._player else 0
        return sum(self.published.values()) + running

    def finish(self, timeout: float) -> None:
        """Let the running pass end (so the run ends on a pass boundary), then drain."""
        if self._player is not None:
            self._player.finished.wait(timeout)
            self._player.stop()
            time.sleep(PASS_LINGER_S)
        self._absorb()

    def stop(self) -> None:
        """Stop the running pass now and count what it published."""
        if self._player is not None:
            self._player.stop()
        self._absorb()


def _sample(elapsed: float, rss: int, listener: SoakListener, loop: BagLoop,
            since: int) -> tuple[soak.SoakSample, int]:
    latencies = [ms for _, ms in listener.latencies(since)]
    count = since + len(latencies)
    drops = sum(soak.counted_drops(t) for t in listener.tallies().values())
    outputs = listener.outputs
    sample = soak.SoakSample(
        elapsed_s=round(elapsed, 3), rss_bytes=rss, predictions=count,
        latency_p99_ms=soak.latency_p99_ms(latencies), counted_drops=drops,
        skipped_ticks=outputs.status_counter(INFERENCE_STATUS, "skipped_ticks"),
        aligner_resets=listener.aligner_resets(),
        passes=loop.passes, published=loop.published_total(),
    )
    return sample, count


def _start_node(options: SoakOptions) -> NodeProcess:
    parameters: dict[str, object] = {"use_sim_time": True}
    if options.checkpoint is not None:
        parameters["checkpoint"] = str(options.checkpoint)
    else:
        parameters["allow_random_model"] = True   # used only when no shipped model exists
    return NodeProcess(node_command(options.config, parameters, log_level="warn"),
                       use_local_dds())


@dataclass
class _Finish:
    """What the soak knows once the node has drained."""

    samples: list[soak.SoakSample]
    tallies: dict[str, dict[str, int]]
    latencies: list[tuple[float, float]]
    inference: dict[str, int]
    checkpoint: str
    random_weights: bool


def _wait_until_up(node: NodeProcess, listener: SoakListener, loop: BagLoop) -> None:
    if not listener.wait_for_node((*loop.topics, CLOCK_TOPIC), node.running,
                                  NODE_READY_TIMEOUT_S):
        raise ConfigError("the node did not come up:\n  " + "\n  ".join(node.log_tail()))
    loop.poll()   # sim time starts: the node's tick timer runs from now on
    if not listener.wait_for_diagnostics(0, NODE_READY_TIMEOUT_S) or not node.running():
        raise ConfigError("the node publishes no diagnostics:\n  "
                          + "\n  ".join(node.log_tail()))


def _soak(options: SoakOptions, node: NodeProcess, listener: SoakListener,
          loop: BagLoop) -> _Finish:
    """Play and sample for `options.seconds`, end on a pass boundary, drain."""
    process = psutil.Process(node.pid)
    started = listener.restart_clock()
    samples, seen = [], 0
    next_sample = started
    while time.monotonic() - started < options.seconds:
        if not node.running():
            raise ConfigError("the node died during the soak:\n  "
                              + "\n  ".join(node.log_tail()))
        loop.poll()
        now = time.monotonic()
        if now >= next_sample:
            sample, seen = _sample(now - started, process.memory_info().rss, listener, loop,
                                   seen)
            samples.append(sample)
            next_sample += options.sample_period_s
        time.sleep(POLL_S)
    loop.finish(PASS_TIMEOUT_S)
    received = listener.diagnostics_received()
    listener.wait_for_diagnostics(received + 1, DRAIN_DIAGNOSTICS_S)  # counters after it
    sample, seen = _sample(time.monotonic() - started, process.memory_info().rss, listener,
                           loop, seen)
    samples.append(sample)
    outputs = listener.outputs
    inference = {key: outputs.status_counter(INFERENCE_STATUS, key)
                 for key in ("predictions", "overruns", "errors")}
    return _Finish(samples, listener.tallies(), listener.latencies(), inference,
                   outputs.status_text(MODEL_STATUS, "checkpoint"),
                   outputs.status_text(MODEL_STATUS, "random_weights") == "true")


def _report(options: SoakOptions, done: _Finish, loop: BagLoop, exit_code: int | None,
            node: NodeProcess) -> dict[str, object]:
    samples = done.samples
    end_s = samples[-1].elapsed_s
    warmup = options.warmup_s if options.warmup_s is not None else soak.warmup_seconds(end_s)
    report: dict[str, object] = {
        "format": soak.SOAK_FORMAT,
        "seconds_requested": options.seconds,
        "seconds_run": end_s,
        "warmup_s": warmup,
        "rate": options.rate,
        "bags": [str(b) for b in options.bags],
        "checkpoint": done.checkpoint,
        "random_weights": done.random_weights,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine()},
        "command": options.command,
        "passes": loop.passes,
        "predictions": done.inference["predictions"],
        "predictions_received": len(done.latencies),
        "skipped_ticks": samples[-1].skipped_ticks,
        "overruns": done.inference["overruns"],
        "inference_errors": done.inference["errors"],
        "aligner_resets": samples[-1].aligner_resets,
        "node_exit_code": exit_code,
        "final_stats": node.final_stats(),
        "node_log": str(node.log_path),
    }
    report.update(soak.drop_summary(loop.published, done.tallies))
    report.update(soak.memory_summary(samples, warmup))
    report.update(soak.latency_summary(done.latencies, warmup, end_s))
    report["samples"] = [s.as_dict() for s in samples]
    return report


def run_soak(options: SoakOptions, progress: Callable[[str], Any] = print) -> dict[str, object]:
    """Run the soak and return the report (see `soak.REPORT_KEYS`)."""
    if not options.bags:
        raise ConfigError("a soak needs at least one bag")
    layout = StreamLayout.from_yaml(options.config)
    node = _start_node(options)
    context = rclpy.Context()
    rclpy.init(context=context)
    listener = SoakListener(context)
    loop = BagLoop(options.bags, layout, options.rate, context)
    try:
        _wait_until_up(node, listener, loop)
        progress(f"node up (pid {node.pid}); soaking for {options.seconds:.0f} s at "
                 f"{options.rate:g}x over {len(options.bags)} bag(s)")
        done = _soak(options, node, listener, loop)
    finally:
        loop.stop()
        exit_code = node.stop()
        listener.close()
        rclpy.try_shutdown(context=context)
    return _report(options, done, loop, exit_code, node)
