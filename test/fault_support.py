# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Shared pieces of the fault tests: a node process, a test graph, messages, waiting.

The node runs as `stream_node` does (its own process, a params file, signals to
stop) with a small checkpoint saved in tmp_path. `Graph` is this test
process's side of DDS: publishers it can destroy and recreate (a new
publisher identity), subscriptions to everything the node publishes, and
parameter service clients. Not a test module (no `test_` prefix).
"""

from __future__ import annotations

from contextlib import contextmanager
import copy
import json
import math
import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator

if not os.environ.get("ROS_DOMAIN_ID"):  # conftest.py sets both; this keeps the module safe
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(100, 199))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import psutil  # noqa: E402
import rclpy  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.msg import Parameter as ParameterMsg  # noqa: E402
from rcl_interfaces.srv import SetParameters, SetParametersAtomically  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import (  # noqa: E402
    qos_profile_sensor_data, QoSProfile, ReliabilityPolicy,
)
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402
from std_msgs.msg import Float32MultiArray, String  # noqa: E402
import yaml  # noqa: E402

from streaming_gcode.model.checkpoint import ModelMetadata, save_checkpoint  # noqa: E402
from streaming_gcode.model.network import build_model, ModelConfig  # noqa: E402
from streaming_gcode.model.random_weights import default_vocabulary, random_model  # noqa: E402
from streaming_gcode.outputs.diagnostics import TASK_BUFFER, TASK_INFERENCE  # noqa: E402
from streaming_gcode.tools.harness.node_status import (  # noqa: E402
    stream_status, task_status,
)

REPO = Path(__file__).resolve().parents[1]
S = 1_000_000_000
RATE_HZ = 20.0
PERIOD_S = 1.0 / RATE_HZ
WINDOW = 8
STRIDE = 2
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
BEST_EFFORT = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
CONTINUOUS = ["j1", "j2", "angular_velocity.z", "a0"]
NODE_MAIN = "import sys; from streaming_gcode.node_entry import main; sys.exit(main())"
# The node runs in the root namespace: its statuses are `/streaming_gcode: <task>`.
STATUS = task_status("")                 # + a task: the prefix of the node's status names
JOINTS = stream_status("joints")         # the status names of the fault layout's streams
IMU = stream_status("imu")
ARR = stream_status("arr")
BUFFER = task_status(TASK_BUFFER)
INFERENCE = task_status(TASK_INFERENCE)
STREAMS = ("joints", "imu", "arr")


@contextmanager
def spinning(context: Any, *nodes: Any, threads: int = 3) -> Iterator[Any]:
    """Spin `nodes` in a background multi-threaded executor for the block, then stop it."""
    executor = MultiThreadedExecutor(num_threads=threads, context=context)
    for node in nodes:
        executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield executor
    finally:
        executor.shutdown()
        spinner.join(10)


def random_checkpoint(path: Path) -> Path:
    """Save a tiny random `physical` checkpoint for the shipped layout (live node tests)."""
    model = random_model("physical", d_model=8, num_layers=1, window=6, stride=2)
    return save_checkpoint(path, model.backbone, model.line_heads, model.config, model.metadata)


def small_checkpoint(path: Path, d_model: int = 16, num_layers: int = 1,
                     window: int = WINDOW, stride: int = STRIDE) -> Path:
    """Save a checkpoint for the test layout (larger `d_model`/`window`: a slow model)."""
    vocab = default_vocabulary()
    n = len(CONTINUOUS)
    config = ModelConfig(n_continuous=n, categorical_sizes=[4], head_sizes=vocab.head_sizes,
                         d_model=d_model, num_layers=num_layers, dropout=0.0, window=window)
    backbone, line_heads = build_model(config, seed=5)
    meta = ModelMetadata(continuous_features=CONTINUOUS, categorical_features=["mode"],
                         categorical_vocab={"mode": [0, 1, 2]}, norm_mean=[0.0] * n,
                         norm_std=[1.0] * n, vocabulary=vocab.to_dict(), window=window,
                         stride=stride, feature_set="test")
    return save_checkpoint(path, backbone, line_heads, config, meta)


# Three streams: JointState frame clock, Imu, a reliable Float32MultiArray.
FAULT_STREAMS: dict[str, dict[str, Any]] = {
    "joints": {"topic": "fault/joints", "type": "sensor_msgs/msg/JointState",
               "field": "position", "channels": ["j1", "j2"]},
    "imu": {"topic": "fault/imu", "type": "sensor_msgs/msg/Imu",
            "channels": ["angular_velocity.z"]},
    "arr": {"topic": "fault/arr", "type": "std_msgs/msg/Float32MultiArray",
            "channels": ["a0", "mode"], "reliable": True, "depth": 50},
}


def node_params(checkpoint: Path, **overrides: Any) -> dict:
    """Return the node's parameters over `FAULT_STREAMS`, with `overrides`."""
    streams = copy.deepcopy(FAULT_STREAMS)
    values = {
        "checkpoint": str(checkpoint), "stride": 0, "hardware_id": "fault_mill",
        "stream_names": list(streams), "streams": streams, "frame_clock": "joints",
        "sample_rate_hz": RATE_HZ, "max_staleness_s": 0.3, "alignment_timeout_s": 0.15,
        "stale_policy": "hold_last", "staleness_warn_s": 0.5, "staleness_error_s": 1.5,
        "diagnostics_period_s": 0.25, "log_throttle_s": 1.0,
    }
    values.update(overrides)
    return {"streaming_gcode": {"ros__parameters": values}}


EXIT_CONFIG = 2   # stream_node's exit code for a configuration error


def refused_startup(tmp: Path, params: dict, name: str) -> str:
    """Start a node that must refuse its configuration (exit 2); return its log."""
    node = NodeProcess(tmp, params, name=name)
    try:
        assert node.process.wait(timeout=STARTUP_TIMEOUT_S) == EXIT_CONFIG, node.text()
    finally:
        node.kill()
    return node.text()


class NodeProcess:
    """One `stream_node` process with its log."""

    def __init__(self, tmp: Path, params: dict, name: str = "node") -> None:
        params_file = tmp / f"{name}.yaml"
        params_file.write_text(yaml.safe_dump(params))
        self.log = tmp / f"{name}.log"
        with open(self.log, "wb") as handle:
            self.process = subprocess.Popen(
                [sys.executable, "-c", NODE_MAIN, "--ros-args", "--params-file",
                 str(params_file)],
                stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)

    def alive(self) -> bool:
        return self.process.poll() is None

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss

    def stop(self, sig: int = signal.SIGINT, timeout: float = STOP_TIMEOUT_S) -> int:
        if self.alive():
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()


def joint_state(stamp_ns: int, k: int) -> JointState:
    msg = JointState(name=["j2", "j1"], position=[math.cos(k / 5), k / 10])
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)
    return msg


def imu(stamp_ns: int, k: int) -> Imu:
    msg = Imu()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, S)
    msg.angular_velocity.z = math.sin(k / 7)
    return msg


def values(status: Any) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


class Graph:
    """This test's publishers and subscriptions; everything received is kept."""

    def __init__(self, name: str = "fault_test") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.lock = threading.RLock()
        self.predictions: list[tuple[float, dict]] = []
        self.diagnostics: list[tuple[float, DiagnosticArray]] = []
        node = self.node
        node.create_subscription(String, "/streaming_gcode/prediction", self._on_prediction,
                                 RELIABLE)
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics,
                                 RELIABLE)
        self.publishers: dict[str, Any] = {}
        self.make_publisher("joints", JointState, "fault/joints", qos_profile_sensor_data)
        self.make_publisher("imu", Imu, "fault/imu", qos_profile_sensor_data)
        self.make_publisher("arr", Float32MultiArray, "fault/arr", RELIABLE)
        self.clock = node.create_publisher(Clock, "/clock", RELIABLE)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        self.k = 0

    def make_publisher(self, key: str, msg_type: type, topic: str, qos: QoSProfile) -> Any:
        """(Re)create a publisher: a new publisher identity whose sequence starts at 1."""
        old = self.publishers.pop(key, None)
        if old is not None:
            self.node.destroy_publisher(old)
        self.publishers[key] = self.node.create_publisher(msg_type, topic, qos)
        return self.publishers[key]

    def _on_prediction(self, msg: String) -> None:
        with self.lock:
            self.predictions.append((time.monotonic(), json.loads(msg.data)))

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.diagnostics.append((time.monotonic(), msg))

    def publish(self, streams: tuple[str, ...] = ("joints", "imu", "arr"),
                stamp_ns: int | None = None, arr: list[float] | None = None) -> int:
        """One sample of the chosen streams, stamped now (or `stamp_ns`)."""
        self.k += 1
        stamp = time.time_ns() if stamp_ns is None else stamp_ns
        if "imu" in streams:
            self.publishers["imu"].publish(imu(stamp, self.k))
        if "arr" in streams:
            data = arr if arr is not None else [0.1 * self.k, float(self.k % 3)]
            self.publishers["arr"].publish(Float32MultiArray(data=data))
        if "joints" in streams:
            self.publishers["joints"].publish(joint_state(stamp, self.k))
        return stamp

    def run(self, seconds: float, streams: tuple[str, ...] = ("joints", "imu", "arr"),
            period_s: float = PERIOD_S, stamp: Callable[[], int] | None = None) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.publish(streams, None if stamp is None else stamp())
            time.sleep(period_s)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str,
                 streams: tuple[str, ...] = (), stamp: Callable[[], int] | None = None) -> None:
        """Wait for `predicate`, publishing `streams` meanwhile; fail saying `what`."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if predicate():
                    return
            if streams:
                self.publish(streams, None if stamp is None else stamp())
            time.sleep(PERIOD_S)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def statuses(self, since: float = 0.0) -> dict[str, dict[str, str]]:
        """Values of the newest diagnostics received after monotonic time `since`."""
        with self.lock:
            for stamp, array in reversed(self.diagnostics):
                if stamp >= since:
                    return {s.name: values(s) for s in array.status}
        return {}

    def levels(self, since: float = 0.0) -> dict[str, tuple[int, str]]:
        """Level and message of every status of the newest diagnostics after `since`."""
        with self.lock:
            for stamp, array in reversed(self.diagnostics):
                if stamp >= since:
                    return {s.name: (s.level[0], s.message) for s in array.status}
        return {}

    def status_history(self, name: str, since: float = 0.0) -> list[tuple[int, str, dict]]:
        with self.lock:
            return [(s.level[0], s.message, values(s)) for stamp, array in self.diagnostics
                    if stamp >= since for s in array.status if s.name == name]

    def predictions_since(self, since: float) -> list[dict]:
        with self.lock:
            return [r for t, r in self.predictions if t >= since]

    def set_parameters(self, params: dict[str, Any], atomically: bool = False,
                       timeout: float = 20.0) -> list[Any]:
        """Call the node's (atomic) set-parameters service; returns the results."""
        service = SetParametersAtomically if atomically else SetParameters
        suffix = "set_parameters_atomically" if atomically else "set_parameters"
        client = self.node.create_client(service, f"/streaming_gcode/{suffix}")
        try:
            assert client.wait_for_service(timeout_sec=timeout), suffix
            request = service.Request()
            request.parameters = [Parameter(k, value=v).to_parameter_msg()
                                  for k, v in params.items()]
            assert all(isinstance(p, ParameterMsg) for p in request.parameters)
            future = client.call_async(request)
            end = time.monotonic() + timeout
            while not future.done() and time.monotonic() < end:
                time.sleep(0.02)
            assert future.done(), f"{suffix} did not answer"
            response = future.result()
            return [response.result] if atomically else list(response.results)
        finally:
            self.node.destroy_client(client)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


LIFECYCLE_PROBE_TIMEOUT_S = 2.0       # one unanswered probe of a lifecycle service
UNKNOWN_TRANSITION = "no_such_transition"   # a change_state that changes nothing


class LifecycleClient:
    """Calls a node's lifecycle services (`change_state`, `get_state`) from the test graph."""

    def __init__(self, graph: Graph, node_name: str = "/streaming_gcode",
                 timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._graph_node = graph.node
        namespace, _, name = node_name.rpartition("/")
        self._name = (name, namespace or "/")
        self._change = graph.node.create_client(ChangeState, f"{node_name}/change_state")
        self._get = graph.node.create_client(GetState, f"{node_name}/get_state")

    def ready(self) -> bool:
        """Tell whether the node and both services are seen (non-blocking: `start`'s `ready`).

        The node's name as well: in a process that destroyed an in-process node of
        the same name, the graph can show its services ready before the new ones.
        """
        return (self._name in self._graph_node.get_node_names_and_namespaces()
                and self._change.service_is_ready() and self._get.service_is_ready())

    def _call(self, client: Any, request: Any, timeout: float | None = None) -> Any:
        assert client.wait_for_service(timeout_sec=self.timeout), client.srv_name
        future = client.call_async(request)
        end = time.monotonic() + (timeout or self.timeout)
        while not future.done() and time.monotonic() < end:
            time.sleep(0.002)
        assert future.done(), f"{client.srv_name} did not answer"
        return future.result()

    def wait_answering(self, timeout: float = 60.0) -> None:
        """Wait until both services answer, probed with requests that change nothing.

        A request sent while a service is still being matched is lost, and a
        transition must not be sent twice: get_state and a change_state with an
        unknown transition label (refused) are asked until each answers.
        """
        probe = ChangeState.Request()
        probe.transition.label = UNKNOWN_TRANSITION
        pending = [(self._get, GetState.Request()), (self._change, probe)]
        end = time.monotonic() + timeout
        while pending and time.monotonic() < end:
            try:
                self._call(*pending[0], timeout=LIFECYCLE_PROBE_TIMEOUT_S)
                pending.pop(0)
            except AssertionError:
                continue
        assert not pending, f"{pending[0][0].srv_name} did not answer in {timeout} s"

    def state(self) -> str:
        """Return the node's lifecycle state label (`unconfigured`, `inactive`, ...)."""
        return self._call(self._get, GetState.Request()).current_state.label

    def change(self, transition: str) -> bool:
        """Request a transition by label (`configure`, `activate`, ...); True on success."""
        request = ChangeState.Request()
        request.transition.label = transition
        return bool(self._call(self._change, request).success)


def start(tmp: Path, params: dict, graph: Graph, name: str = "node",
          ready: Callable[[], bool] | None = None) -> NodeProcess:
    """Start a node and wait for its first diagnostics (or `ready`)."""
    node = NodeProcess(tmp, params, name)
    since = time.monotonic()
    check = ready or (lambda: bool(graph.statuses(since)))
    graph.wait_for(lambda: check() or not node.alive(), STARTUP_TIMEOUT_S,
                   "the node's first diagnostics")
    assert node.alive(), node.text()
    return node


def live_node(tmp: Path, graph_name: str | None = None,
              **overrides: Any) -> Iterator[tuple[Graph, NodeProcess]]:
    """Run a node on a small checkpoint until it predicts; yield (graph, node); clean up.

    The body of the live test modules' `live` fixtures: one node per module.
    """
    checkpoint = small_checkpoint(tmp / "small.pt")
    graph = Graph(graph_name) if graph_name else Graph()
    node = None
    try:
        node = start(tmp, node_params(checkpoint, **overrides), graph)
        graph.wait_for(lambda: len(graph.predictions) >= 3, 30.0, "first predictions",
                       streams=STREAMS)
        yield graph, node
    finally:
        graph.close()
        if node is not None:
            node.kill()
