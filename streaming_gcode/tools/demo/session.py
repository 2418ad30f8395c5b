# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The main job of `make demo`: node, sensor source and terminal display, wired together.

`DemoSession.run` picks the source (bag, recorded run, the dataset, or the
simulated cell), starts `stream_node` as its own process with the shipped
model, keeps DDS on this machine, publishes the source's streams at their real
rates, and prints the node's predictions next to the executed lines with live
stats until Ctrl-C, SIGTERM, `--duration` or the end of a finite source. Every
way out stops the source, then the node, and prints a final summary.
"""

from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
import signal
import threading
import time
from typing import Any, Callable, TextIO

import rclpy
from rclpy.signals import SignalHandlerOptions

from streaming_gcode.core.errors import CheckpointError, ConfigError, RecordingError
from streaming_gcode.core.package import default_checkpoint, default_stream_config
from streaming_gcode.core.parameters import DEFAULT_MODEL
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.checkpoint import load_checkpoint, resolve_checkpoint
from streaming_gcode.model.network import DEFAULT_WINDOW
from streaming_gcode.recordings.bag_reader import open_bag
from streaming_gcode.recordings.bag_writer import absolute_topic, REFERENCE_TOPIC
from streaming_gcode.recordings.csv_runs import load_run, RUN_SUFFIXES
from streaming_gcode.tools.demo.graph import DemoGraph
from streaming_gcode.tools.demo.recording_source import missing_streams, RecordingSource
from streaming_gcode.tools.demo.sim_cell import SimulatedCell
from streaming_gcode.tools.demo.sources import (
    choose_source, KIND_BAG, KIND_RECORDING, shipped_recording, SOURCE_AUTO, SourceChoice,
    WARM_START_SPEED,
)
from streaming_gcode.tools.demo.view import DemoView, LineScorer
from streaming_gcode.tools.harness.node_process import (
    demo_namespace, DISCOVERY_ENV, DOMAIN_ENV, hardware_id, node_command, NodeProcess,
    use_local_dds,
)
from streaming_gcode.tools.harness.source_frames import EXECUTED_TOPIC

NODE_READY_TIMEOUT_S = 180.0       # torch import and model load on a busy machine
READY_POLL_S = 0.2
STATS_PERIOD_S = 1.0
DEFAULT_FIRST_RUN = "face_001"
WARM_START_MARGIN_FRAMES = 4       # frames the aligner may still hold back at the start
FIRST_RUN_FAMILY = "face"


@dataclass(frozen=True)
class DemoOptions:
    """What the user asked for on the command line."""

    duration_s: float | None = None
    bag: str | None = None
    data: str | None = None
    speed: float = 1.0
    loop: bool = True
    first_run: str | None = None
    checkpoint: str | None = None
    params_file: str | None = None
    seed: int = 0
    log_level: str = "warn"
    warm_start: bool = True
    source: str = SOURCE_AUTO                # SOURCE_SIMULATED: the simulated cell, always


@dataclass
class ModelInfo:
    """The checkpoint the node will load, as the header and the scorer need it."""

    path: Path | None
    description: str
    scorer: LineScorer
    window: int                              # frames the node needs before predicting
    validation_runs: tuple[str, ...] = ()    # runs held out from training
    library_runs: tuple[str, ...] = ()       # runs the saved library holds (refit on all)

    def run_note(self, run: str) -> str:
        """Say whether the model was trained on `run` (when the checkpoint tells)."""
        if not self.validation_runs:
            return ""
        if run in self.validation_runs:
            if run in self.library_runs:   # train --library-runs all
                return "validation run of the weights, in the library since"
            return "validation run"
        return "a training run"


def _display_path(path: Path) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return relative if len(relative) < len(str(path)) else str(path)


def resolve_model(checkpoint: str | None) -> ModelInfo:
    """Find the given checkpoint or the shipped models/full.pt (neither: a random model)."""
    if not checkpoint and default_checkpoint(DEFAULT_MODEL) is None:
        return ModelInfo(None, f"no trained model found (models/{DEFAULT_MODEL}.pt is absent): "
                         "RANDOM weights (allow_random_model), predictions are meaningless",
                         LineScorer(), DEFAULT_WINDOW)
    path = resolve_checkpoint(checkpoint, DEFAULT_MODEL)
    if not path.is_file():
        raise CheckpointError(f"--checkpoint {path}: no such file")
    loaded = load_checkpoint(path)
    meta = loaded.metadata
    validation = meta.validation_metrics or {}
    overall = validation.get("overall") or {}
    extra = ""
    if "exact_line_accuracy" in overall and "command_accuracy" in overall:
        extra = (f"; on validation runs: line {float(overall['exact_line_accuracy']):.1%}, "
                 f"command {float(overall['command_accuracy']):.1%}")
    runs = tuple(str(r.get("run")) for r in validation.get("runs") or () if isinstance(r, dict))
    library = meta.training.get("library") or {}
    return ModelInfo(path, f"{_display_path(path)} (feature set {meta.feature_set}, "
                     f"window {meta.window} frames{extra})", LineScorer(loaded.vocabulary),
                     meta.window, runs, tuple(str(r) for r in library.get("runs", ())))


def first_run(requested: str | None, folder: bool, model: ModelInfo,
              complete: Callable[[str], bool] = lambda run: True) -> str | None:
    """Pick the run a folder starts with: the requested one, else a held-out face run.

    Among held-out runs (face runs first), the first one where every stream has
    data (`complete`) wins, so the demo does not open on a run with a board
    missing; without held-out runs, face_001.
    """
    if requested or not folder:
        return requested
    held_out = sorted(model.validation_runs)
    faces = [r for r in held_out if r.startswith(FIRST_RUN_FAMILY + "_")]
    candidates = faces + [r for r in held_out if r not in faces]
    return next((r for r in candidates if complete(r)), (candidates or [DEFAULT_FIRST_RUN])[0])


def resolve_params_file(params_file: str | None) -> Path:
    """Find the stream layout file: the given one or the shipped config/stream.yaml."""
    path = Path(params_file) if params_file else default_stream_config()
    if path is None or not path.is_file():
        raise ConfigError(f"params file {params_file or 'config/stream.yaml'} not found")
    return path


class DemoSession:
    """One run of the demo; `run()` returns the process exit code."""

    def __init__(self, options: DemoOptions, out: TextIO) -> None:
        self.options = options
        self.out = out
        self.stop_event = threading.Event()
        self.stop_reason = "stopped"
        self.error: BaseException | None = None
        self.stopped_ns: int | None = None
        self._lock = threading.Lock()

    def request_stop(self, reason: str) -> None:
        """Make the main loop finish (signal handlers, source errors, end of data)."""
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def run(self) -> int:
        """Set everything up, stream until asked to stop, tear down, summarise."""
        previous = _install_signal_handlers(self.request_stop)
        try:
            options = self.options
            params_file = resolve_params_file(options.params_file)
            layout = StreamLayout.from_yaml(params_file)
            choice = choose_source(options.bag, options.data, source=options.source)
            model = resolve_model(options.checkpoint)
            source = _make_source(choice, layout, options, model)
            if self.stop_event.is_set():
                self.out.write(f"demo stopped before it started ({self.stop_reason})\n")
                return 0
            env = use_local_dds()
            namespace = demo_namespace()
            node = NodeProcess(node_command(params_file,
                                            _node_parameters(model, choice, namespace),
                                            log_level=options.log_level,
                                            namespace=namespace), env, namespace)
            return self._run_with_node(node, choice, source, layout, model, env)
        finally:
            _restore_signal_handlers(previous)

    def _run_with_node(self, node: NodeProcess, choice: SourceChoice, source: Any,
                       layout: StreamLayout, model: ModelInfo, env: dict[str, str]) -> int:
        view = DemoView(self.out, time.monotonic_ns(), model.scorer, model.run_note)
        view.header(self._header(choice, source, model, node, env))
        graph: DemoGraph | None = None
        code = 0
        try:
            rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
            graph = DemoGraph(layout, view, self._lock, self.request_stop, choice.kind,
                              node.namespace)
            if self._wait_for_node(node, graph, layout):
                view.start_ns = time.monotonic_ns()
                with self._lock:
                    view.columns()
                graph.start_source(source, self.options.speed, self._warm_frames(choice, model),
                                   self._on_source_error)
                self._stream(view, node, graph)
            elif not self.stop_event.is_set():
                code = 1
            code = 1 if self.error is not None else code
        finally:
            self.stopped_ns = self.stopped_ns or time.monotonic_ns()
            if graph is not None:
                graph.stop_source()
            exit_code = node.stop()
            if graph is not None:
                graph.close()
            rclpy.try_shutdown()
        self._summary(view, node, exit_code)
        return code

    def _warm_frames(self, choice: SourceChoice, model: ModelInfo) -> int:
        """Frames to send fast at the start so the node's window fills (0: none)."""
        if not self.options.warm_start or self.options.speed >= WARM_START_SPEED:
            return 0
        if choice.kind == KIND_BAG:
            # A bag's reference line carries no stamp and is matched by arrival: the fast
            # start ends before the first prediction, so predictions meet their own line.
            return model.window - 1
        return model.window + WARM_START_MARGIN_FRAMES

    def _on_source_error(self, exc: BaseException) -> None:
        self.error = exc
        self.request_stop(f"source failed: {exc}")

    def _wait_for_node(self, node: NodeProcess, graph: DemoGraph, layout: StreamLayout) -> bool:
        """Wait until the node subscribes to the frame-clock topic (it is up and listening)."""
        self.out.write("waiting for stream_node to load the model and subscribe ...\n")
        self.out.flush()
        topic = layout.streams[layout.clock_index or 0].topic
        deadline = time.monotonic() + NODE_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not node.running():
                self.out.write("stream_node exited during start-up:\n")
                for line in node.log_tail():
                    self.out.write(f"  | {line}\n")
                self.out.flush()
                self.stop_reason = "stream_node failed to start"
                return False
            if graph.node_subscribed(topic):
                return True
            if self.stop_event.wait(READY_POLL_S):
                return False
        self.out.write(f"stream_node did not subscribe to {topic} within "
                       f"{NODE_READY_TIMEOUT_S:.0f} s; its log: {node.log_path}\n")
        self.stop_reason = "stream_node did not come up"
        return False

    def _stream(self, view: DemoView, node: NodeProcess, graph: DemoGraph) -> None:
        """Print a stats line every second until a stop condition."""
        started = time.monotonic()
        duration = self.options.duration_s
        next_stats = started + STATS_PERIOD_S
        while not self.stop_event.is_set():
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                self.request_stop(f"--duration {duration:g} s reached")
                break
            if not node.running():
                self.error = RuntimeError("stream_node exited")
                self.request_stop("stream_node exited unexpectedly")
                break
            if graph.source_finished():
                self.request_stop("end of the recording")
                break
            if now >= next_stats:
                with self._lock:
                    view.write(view.stats_line(time.monotonic_ns()))
                next_stats += STATS_PERIOD_S
            wait = min(next_stats, started + duration if duration else next_stats) - now
            self.stop_event.wait(max(wait, 0.01))
        self.stopped_ns = time.monotonic_ns()

    def _header(self, choice: SourceChoice, source: Any, model: ModelInfo,
                node: NodeProcess, env: dict[str, str]) -> list[str]:
        stop = (f"stops after {self.options.duration_s:g} s or on Ctrl-C"
                if self.options.duration_s else "Ctrl-C to stop")
        warm = self._warm_frames(choice, model)
        if warm:
            stop = (f"the first {warm} frames go {WARM_START_SPEED:g}x faster to fill the "
                    f"model window, then the source keeps its pace; {stop}")
        return [
            "streaming_gcode demo: live G-code recognition from CNC sensor streams",
            f"  source : {_source_text(choice, source, self.options, model)}",
            f"  model  : {model.description}",
            f"  node   : stream_node pid {node.pid}, log {node.log_path}",
            f"  DDS    : {DOMAIN_ENV}={env[DOMAIN_ENV]}, "
            f"{DISCOVERY_ENV}={env[DISCOVERY_ENV]}, namespace {node.namespace}",
            f"  {stop}",
        ]

    def _summary(self, view: DemoView, node: NodeProcess, exit_code: int | None) -> None:
        lines = view.summary(self.stopped_ns or time.monotonic_ns(), self.stop_reason)
        tail = node.log_tail(3)
        lines.append(f"  stream_node exited with code {exit_code}"
                     + (f"; last output: {tail[-1]}" if tail else ""))
        if self.error is not None:
            lines += [f"  error: {self.error}"] + [f"  | {t}" for t in node.log_tail()]
        with self._lock:
            for line in lines:
                view.write(line)


def _node_parameters(model: ModelInfo, choice: SourceChoice,
                     namespace: str) -> dict[str, object]:
    """Parameter overrides: model (or random), sim time, reference, hardware_id."""
    parameters: dict[str, object] = {"hardware_id": hardware_id(namespace)}
    if model.path is not None:
        parameters["checkpoint"] = str(model.path)
    else:
        parameters["allow_random_model"] = True
    if choice.kind == KIND_BAG:
        parameters["use_sim_time"] = True
        parameters["reference_topic"] = namespace + absolute_topic(REFERENCE_TOPIC)
    else:
        parameters["reference_topic"] = namespace + absolute_topic(EXECUTED_TOPIC)
    return parameters


def _make_source(choice: SourceChoice, layout: StreamLayout, options: DemoOptions,
                 model: ModelInfo) -> Any:
    """Build (and check) the source before anything is started."""
    if choice.kind == KIND_RECORDING:
        first = first_run(options.first_run, choice.path.is_dir(), model,
                          lambda run: _run_is_complete(choice.path, run, layout))
        return RecordingSource([choice.path], layout, options.speed, options.loop, first)
    if choice.kind == KIND_BAG:
        with open_bag(choice.path) as bag:
            return bag.info
    return SimulatedCell(layout, seed=options.seed)


def _run_is_complete(folder: Path, run: str, layout: StreamLayout) -> bool:
    """Tell whether `run` is in `folder` with data for every stream of the layout."""
    for suffix in RUN_SUFFIXES:
        path = folder / f"{run}{suffix}"
        if path.is_file():
            try:
                return not missing_streams(load_run(path), layout)
            except RecordingError:
                return False
    return False


def _source_text(choice: SourceChoice, source: Any, options: DemoOptions,
                 model: ModelInfo) -> str:
    speed = "real time" if options.speed == 1 else f"{options.speed:g}x real time"
    if choice.kind == KIND_RECORDING:
        where = _display_path(choice.path if choice.path.is_dir() else choice.path.parent)
        others = len(source.runs) - 1
        follow = (f"; then the other {others} run(s) in turn" if others and options.loop
                  else "")
        note = model.run_note(source.first_run.name)
        missing = source.missing_in_first_run
        gaps = (f"; no data for {', '.join(missing)} in this run: its frames are flagged "
                "degraded" if missing else "")
        return (f"replaying recording {source.first_run.name} from {where} "
                f"({len(source.first_run)} rows{', ' + note if note else ''}, {speed}{follow})"
                f"{gaps}")
    if choice.kind == KIND_BAG:
        run = source.custom_data.get("streaming_gcode.source_run", "")
        note = model.run_note(run) if run else ""
        about = f" (run {run}{', ' + note if note else ''})" if run else ""
        what = "the shipped recording" if choice.path == shipped_recording() else "bag"
        return (f"replaying {what} {_display_path(choice.path)}{about} at {speed}, "
                "node on /clock")
    return (f"simulated cell: {choice.reason}; a facing program on a kinematic toy model "
            "of the Bantam mill (controller, motor currents, 8 sensor boards, ~4 Hz)")


def _install_signal_handlers(stop: Callable[[str], None]) -> dict[int, Any]:
    previous = {}
    for sig, name in ((signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")):
        previous[sig] = signal.signal(sig, lambda *_, n=name: stop(f"{n} received"))
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)
