# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The `stream_node` executable: live sensor streams in, G-code predictions out.

A lifecycle node (lifecycle_transitions.py: configure subscribes, activate ticks and
publishes). Thin glue around the pure core: parameters (core/parameters.py, declared by
parameter_declaration.py) and the stream layout, one subscription per stream and
machine (machine_io.py: adapt, validate, align into a `StreamIngest`), the
inference tick in its own callback group (with a multi-threaded executor,
ingestion goes on while the model runs; main's executor: executor_choice.py),
woken as soon as `stride` new frames are complete with a timer on the node clock
as its deadline (tick_wakeup.py; `use_sim_time` works), and a diagnostics timer.
"""

from __future__ import annotations

from collections import Counter
import sys
import threading
import time
from typing import Any, Callable, Sequence

from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.parameter import Parameter

from streaming_gcode.core.errors import StreamingGcodeError
from streaming_gcode.core.machines import check_machine_names, SINGLE_MACHINE
from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.core.parameters import (
    DEFAULT_AUTOSTART, NodeSettings, USE_SIM_TIME, validate_changes,
)
from streaming_gcode.core.stats import LatencyStats, NS_PER_MS, NS_PER_S
from streaming_gcode.inference.backends import make_runner
from streaming_gcode.inference.engine import InferenceEngine, InferenceResult
from streaming_gcode.model.decoding import choose_line
from streaming_gcode.node.agreement_io import declare_agreement, ReferenceAgreement
from streaming_gcode.node.conversions import diagnostic_array
from streaming_gcode.node.lifecycle_transitions import ManagedNode, run_process, started
from streaming_gcode.node.log_throttle import LogThrottle
from streaming_gcode.node.machine_io import MachineIO
from streaming_gcode.node.model_selection import load_node_model, NodeModel
from streaming_gcode.node.parameter_declaration import declare_layout, declare_settings
from streaming_gcode.node.qos_overrides import diagnostics_publisher
from streaming_gcode.node.tick_wakeup import TickCounters, TickWakeup
from streaming_gcode.outputs.diagnostics import (
    inference_status, InferenceReport, model_status, Status, Thresholds,
)
from streaming_gcode.outputs.prediction import prediction_record

MIN_BUFFER_MARGIN = 64        # frames kept beyond the window for incremental catch-up
GAP_RESET_FRAMES = 4          # incremental state resets after a gap this many periods long


class StreamNode(ManagedNode):
    """Subscribes to the sensor streams, runs the model on every `stride` frames, publishes."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        self._latency = LatencyStats()         # ticks and latency: totals since start
        self._ticks = TickCounters()
        self._tick_lock = threading.Lock()     # a tick vs. applying new parameters, transitions
        self._stats_lock = threading.Lock()    # tick counters and latency vs. diagnostics
        self._throttle = LogThrottle()
        self._fixed = {USE_SIM_TIME: self.get_parameter(USE_SIM_TIME).value}  # see below
        self._pending_settings: NodeSettings | None = None
        self._released: Counter = Counter()    # message totals of machines cleaned up
        self._machines: dict[str, MachineIO] = {}
        self._model: NodeModel | None = None           # configure builds these, cleanup drops
        self._engine: InferenceEngine | None = None
        self._wakeup: TickWakeup | None = None
        self._agreement: ReferenceAgreement | None = None
        self._diagnostics_pub = self._tick_timer = self._diagnostics_timer = None
        self._active, self._started_ns = False, 0
        self._ingest_group, self._tick_group, self._diagnostics_group = (
            MutuallyExclusiveCallbackGroup() for _ in range(3))
        self._declaration_error: StreamingGcodeError | None = None   # configure reports it
        try:
            self._settings: NodeSettings = declare_settings(self)
            self._layout = declare_layout(self)
            self._agreement_values = declare_agreement(self)
        except StreamingGcodeError as exc:
            self._declaration_error = exc
            self._settings = NodeSettings(autostart=bool(self.get_parameter(
                "autostart").value) if self.has_parameter("autostart") else DEFAULT_AUTOSTART)
        self.autostart_requested = self._settings.autostart   # `autostart`: read-only
        if self._declaration_error is None:
            self.add_on_set_parameters_callback(self._validate_parameters)
            self.add_post_set_parameters_callback(self._apply_parameters)

    # -- lifecycle hooks (lifecycle_transitions.py) ---------------------------------------

    def configure_pipeline(self) -> None:
        """Load the model, build the engine, subscribe; raise StreamingGcodeError if bad."""
        if self._declaration_error is not None:
            raise self._declaration_error
        settings = self._settings
        logger = self.get_logger()   # debug: what `--log-level debug` shows of start-up
        logger.debug(f"settings: {settings.as_dict()}")
        logger.debug(f"alignment: {self._layout.alignment}; streams: "
                     f"{[(s.name, s.topic, s.msg_type) for s in self._layout.streams]}")
        self._model = load_node_model(settings)
        logger.debug(f"model loaded: {self._model.description} (checkpoint window "
                     f"{self._model.window}, stride {self._model.stride})")
        feature_map = self._model.loaded.feature_map(self._layout)
        window = settings.window_frames or self._model.window
        capacity = window + max(window, MIN_BUFFER_MARGIN)
        machines = check_machine_names(settings.machines)
        period = self._layout.frame_period_ns
        runner = make_runner(settings.backend, self._model.loaded.backbone,
                             self._model.loaded.line_heads, settings.num_threads)
        self._engine = InferenceEngine(
            runner, machines, window, capacity, feature_map.n_continuous,
            feature_map.n_categorical, settings.mode,
            max(GAP_RESET_FRAMES * period, self._layout.alignment.max_staleness_ns),
            self._model.loaded.metadata.library, feature_map.continuous_names,
            feature_map.continuous_fill)
        self._engine.warm_up()
        self._started_ns = self._now_ns()
        for m in machines:   # one by one: a failure releases the machines already built
            self._machines[m] = MachineIO(
                self, m, self._layout, feature_map, capacity, settings, self._ingest_group,
                self._now_ns, self._warn_throttled,
                self._model.loaded.metadata.library is not None)
        self._diagnostics_pub = diagnostics_publisher(self)
        self._agreement = ReferenceAgreement(self, self._agreement_values)  # reference_topic
        self._wakeup = TickWakeup(self, {m: io.ingest.buffer for m, io in self._machines.items()},
                                  self._stride, self._on_tick, self._tick_group,
                                  self.inline_ticks)
        self._diagnostics_timer = self._make_diagnostics_timer()
        logger.info(
            f"{self._model.description}; {len(self._layout.streams)} streams, window {window} "
            f"frames, stride {self._stride()} ({self._tick_period_ns() / NS_PER_MS:.1f} ms), "
            f"mode {settings.mode}, backend {settings.backend}, {settings.num_threads} "
            f"thread(s), machines {list(settings.machines) or 'one (no namespace)'}"
        )

    def start_outputs(self) -> None:
        """Tick timer and wake-up on: the buffer kept filling while inactive."""
        with self._tick_lock:
            self._active = True
            for io in self._machines.values():
                io.wakeup = self._wakeup
            self._tick_timer = self._make_tick_timer()

    def stop_outputs(self) -> None:
        """Tick timer and wake-up off (a running tick finishes first: the tick lock)."""
        with self._tick_lock:
            self._active = False
            for io in self._machines.values():
                io.wakeup = None
            if self._tick_timer is not None:
                self.destroy_timer(self._tick_timer)
                self._tick_timer = None

    def release_pipeline(self) -> None:
        """Destroy what configure created; keep the message totals for the final line."""
        with self._tick_lock:
            self._active = False
            for timer in (self._tick_timer, self._diagnostics_timer):
                if timer is not None:
                    self.destroy_timer(timer)
            self._tick_timer = self._diagnostics_timer = None
            for io in self._machines.values():
                self._released.update(io.release(self))
            self._machines = {}
            if self._wakeup is not None:
                self._wakeup.release(self)
            if self._agreement is not None:
                self._agreement.release()
            if self._diagnostics_pub is not None:
                self.destroy_publisher(self._diagnostics_pub)
            self._wakeup = self._agreement = self._diagnostics_pub = None
            self._engine = self._model = None   # the weights go with them

    def messages_received(self) -> int:
        """Messages delivered since start, over every configuration."""
        return self._released["received"] + sum(
            io.ingest.summary()["received"] for io in self._machines.values())

    # -- wiring ---------------------------------------------------------------------------

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _stride(self) -> int:
        return self._settings.stride or self._model.stride

    def _tick_period_ns(self) -> int:
        return self._stride() * self._layout.frame_period_ns

    def _make_tick_timer(self):
        return self.create_timer(self._tick_period_ns() / NS_PER_S, self._on_deadline,
                                 callback_group=self._tick_group)

    def _make_diagnostics_timer(self):
        # Steady time: diagnostics keep coming when /clock stalls or jumps (sim time).
        return self.create_timer(self._settings.diagnostics_period_s, self._on_diagnostics,
                                 callback_group=self._diagnostics_group,
                                 clock=Clock(clock_type=ClockType.STEADY_TIME))

    def _warn_throttled(self, stream: str, kind: str, text: str) -> None:
        key = self._throttle.key(stream, kind, text)  # per stream, outcome and problem
        suppressed = self._throttle.allow(key, self._settings.log_throttle_s)
        if suppressed is not None:
            more = f" ({suppressed} similar suppressed)" if suppressed else ""
            self.get_logger().warning(text + more)

    # -- inference ------------------------------------------------------------------------

    def _on_deadline(self) -> None:
        """Tick timer (tick_wakeup.py): finalise timed-out frames, tick if due, else count idle."""
        if self._now_ns() > 0:   # 0: sim time before the first /clock message
            for io in self._machines.values():
                io.ingest.advance(None)
        if self._wakeup.on_deadline():
            with self._stats_lock:
                self._ticks.ticks += 1
                self._ticks.idle += 1

    def _on_tick(self) -> None:
        """Run the model on new data; an overrun makes the next tick skip (counted)."""
        with self._tick_lock:
            if not self._active:   # a wake-up raced with deactivate: no output
                return
            try:
                self._tick()
            except Exception as exc:  # noqa: BLE001 - count, report in diagnostics, go on
                error = f"{type(exc).__name__}: {exc}"
                with self._stats_lock:
                    self._ticks.errors += 1
                    self._ticks.last_error = error
                self._warn_throttled("", "inference", f"inference failed: {error}")

    def _tick(self) -> None:
        counters = self._ticks
        with self._stats_lock:
            counters.ticks += 1
            if counters.skip_next:
                counters.skip_next = False
                counters.skipped += 1
                return
        started_ns = self._now_ns()
        tick_unix_ns = time.time_ns()
        begin = time.perf_counter_ns()
        ingests = {m: io.ingest for m, io in self._machines.items()}
        appended = self._wakeup.appended()
        prepared = self._engine.prepare({m: i.buffer for m, i in ingests.items()},
                                        {m: i.lock for m, i in ingests.items()})
        self._wakeup.took(appended, prepared)
        if prepared is None:
            with self._stats_lock:
                counters.idle += 1
            return
        results = self._engine.infer(prepared)
        vocab = self._model.loaded.vocabulary
        decoded = {m: choose_line(r.logits, r.reading, vocab) for m, r in results.items()}
        latency_ns = time.perf_counter_ns() - begin
        for machine, result in results.items():
            self._publish(machine, result, decoded[machine], latency_ns, tick_unix_ns)
        overrun = self._now_ns() - started_ns > self._tick_period_ns()
        with self._stats_lock:
            self._latency.record(latency_ns)
            counters.predictions += 1
            if overrun:
                counters.overruns += 1
                counters.skip_next = True

    def _publish(self, machine: str, result: InferenceResult, chosen: Any, latency_ns: int,
                 tick_unix_ns: int) -> None:
        decoded, source = chosen
        self._machines[machine].publish(decoded.text, prediction_record(
            result, decoded, latency_ns, self._engine.mode, self._engine.window_frames,
            tick_unix_ns, source), result.reading)
        if machine == SINGLE_MACHINE:
            self._agreement.on_prediction(result.prepared.newest_stamp_ns, decoded.text,
                                          result.reading, self._model.loaded.vocabulary)

    # -- diagnostics ----------------------------------------------------------------------

    def statuses(self) -> list[Status]:
        """Every diagnostic status, as plain data, named `<fully qualified node name>: <task>`.

        The namespace in the name (diagnostic_updater's use_fqn) keeps the statuses of
        mills in different namespaces apart: aggregators key their items by name.
        """
        settings = self._settings
        name, hw = self.get_fully_qualified_name(), settings.hardware_id
        thresholds = Thresholds.from_settings(settings)
        now = self._now_ns()
        if self._started_ns <= 0:  # started on sim time before the first /clock message
            self._started_ns = now
        out = [status for io in self._machines.values() for status in io.statuses(
            name, hw, now, self._started_ns, thresholds, self._engine.window_frames)]
        with self._stats_lock:
            t = self._ticks
            skipped_recent = t.skipped - t.skipped_reported
            t.skipped_reported = t.skipped
            report = InferenceReport(
                self._engine.mode, self._engine.backend_name, self._engine.threads,
                self._tick_period_ns() / NS_PER_MS, t.ticks, t.predictions, t.overruns,
                t.skipped, skipped_recent, t.idle, self._engine.state_resets, t.errors,
                t.last_error, self._latency.recent(), self._latency.since_start(),
                self._stride(), self._engine.window_frames, self.lifecycle_report(),
            )
        out.append(inference_status(name, hw, report, thresholds))
        unknown, unknown_recent = (sum(counts) for counts in zip(
            *(io.ingest.unknown_categorical() for io in self._machines.values())))
        if unknown_recent:
            self._warn_throttled("", "categorical", f"{unknown_recent} categorical value(s) "
                                 "outside the model's vocabulary since the last report, read "
                                 f"as 'unknown' ({unknown} in all)")
        out.append(model_status(name, hw, self._model.report(
            self._engine.window_frames, unknown, unknown_recent)))
        out.extend(self._agreement.statuses(name, hw))
        return out

    def _on_diagnostics(self) -> None:
        try:
            array = diagnostic_array(self.statuses(), self.get_clock().now().to_msg())
            self._diagnostics_pub.publish(array)
        except Exception as exc:  # noqa: BLE001 - diagnostics must not stop the node
            self._warn_throttled("", "diagnostics", f"diagnostics failed: {exc!r}")

    # -- parameters -----------------------------------------------------------------------

    def _validate_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        # Registered after rclpy's TimeSource, so called before it: refusing use_sim_time
        # here stops the clock switch (rclpy stops at the first unsuccessful callback).
        changes = {p.name: p.value for p in parameters}
        updated, reason = validate_changes(self._settings, changes, self._fixed)
        self._pending_settings = updated
        return SetParametersResult(successful=updated is not None, reason=reason)

    def _apply_parameters(self, parameters: list[Parameter]) -> None:
        """Swap in the validated settings between two ticks."""
        updated = self._pending_settings
        if updated is None or updated == self._settings:
            return
        with self._tick_lock:   # unconfigured or inactive: configure and activate use them
            previous, self._settings = self._settings, updated
            if self._engine is not None:
                self._engine.set_mode(updated.mode)
                self._engine.set_threads(updated.num_threads)
            if updated.stride != previous.stride and self._tick_timer is not None:
                self.destroy_timer(self._tick_timer)
                self._tick_timer = self._make_tick_timer()
            if (updated.diagnostics_period_s != previous.diagnostics_period_s
                    and self._diagnostics_timer is not None):
                self.destroy_timer(self._diagnostics_timer)
                self._diagnostics_timer = self._make_diagnostics_timer()
        self.get_logger().info("parameters applied: " + ", ".join(p.name for p in parameters))

    # -- shutdown -------------------------------------------------------------------------

    def final_stats(self) -> str:
        """One line summing up the run; it ends with the node's fully qualified name."""
        totals = Counter(self._released)
        for io in self._machines.values():
            totals.update(io.ingest.summary())
        t = self._ticks
        since = self._latency.since_start()
        latency = ("no predictions" if since is None else
                   f"latency p50 {since.p50_ms:.2f} ms p99 {since.p99_ms:.2f} ms "
                   f"max {since.max_ms:.2f} ms")
        return (   # main() prefixes the package's name: the node's own closes the line
            f"final stats: ticks {t.ticks}, predictions {t.predictions}, skipped "
            f"{t.skipped}, overruns {t.overruns}, errors {t.errors}; {latency}; messages "
            f"{totals['received']}, accepted {totals['accepted']}, lost "
            f"{totals['missing']}, late {totals['late']}, out of order "
            f"{totals['out_of_order']}, malformed {totals['malformed']}; frames "
            f"{totals['frames']}, degraded {totals['degraded_frames']}, resets "
            f"{totals['aligner_resets']}; node {self.get_fully_qualified_name()}"
        )


def create_node(parameters: dict[str, Any] | None = None, **node_kwargs: Any) -> StreamNode:
    """Build a `StreamNode` in-process with parameter overrides (rclpy must be initialised).

    With `autostart` (default) it comes back active; a bad configuration raises.
    """
    overrides = [Parameter(name, value=value) for name, value in (parameters or {}).items()]
    return started(StreamNode(parameter_overrides=overrides, **node_kwargs))


def main(args: Sequence[str] | None = None,
         stop_requested: Callable[[], bool] | None = None) -> int:
    """Run the node until SIGINT/SIGTERM; exit 0 with a final stats line, 2 on bad config.

    `stop_requested`: a signal came before rclpy handled signals (node_entry.py).
    """
    return run_process(StreamNode, args, stop_requested)


if __name__ == "__main__":
    sys.exit(main())
