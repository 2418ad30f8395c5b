# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""stream.launch.py under launch_pytest: the node comes up, predicts and stops cleanly.

The launch file runs as installed (`colcon build`, then source the workspace),
with the shipped params file, in a namespace, on the system clock, allowed a
random model when no trained one is shipped. This process plays the simulated
cell on the configured streams and waits for `/diagnostics`, `~/gcode` and
`~/prediction`. launch, launch_ros and launch_pytest come with a ROS 2
installation and have no PyPI wheels: without them the module skips.
"""

from __future__ import annotations

import json
from pathlib import Path
import threading
import time
from typing import Callable

import pytest

_NO_LAUNCH = ("{} is not installed: it comes with a ROS 2 installation "
              "(ros-$ROS_DISTRO-launch-pytest), not from PyPI")
# launch_pytest first: it needs the real `launch`, whereas the repository's own launch/
# folder passes for a namespace package called `launch` when the repository is on sys.path.
launch_pytest = pytest.importorskip("launch_pytest", reason=_NO_LAUNCH.format("launch_pytest"))
launch_ros = pytest.importorskip("launch_ros", reason=_NO_LAUNCH.format("launch_ros"))
launch = pytest.importorskip("launch", reason=_NO_LAUNCH.format("launch"))
rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from ament_index_python.packages import get_package_share_directory  # noqa: E402,I100
from ament_index_python.packages import PackageNotFoundError  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from launch.actions import IncludeLaunchDescription, RegisterEventHandler  # noqa: E402
from launch.event_handlers import OnProcessExit, OnShutdown  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from streaming_gcode.core.package import NODE_NAME, PACKAGE_NAME  # noqa: E402
from streaming_gcode.core.stream_layout import StreamLayout  # noqa: E402
from streaming_gcode.tools.demo.sim_cell import SimulatedCell  # noqa: E402
from streaming_gcode.tools.harness.source_publisher import (  # noqa: E402
    SourcePlayer,
    SourcePublisher,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]

NAMESPACE = "launch_test"
STATUS_PREFIX = f"/{NAMESPACE}/{NODE_NAME}: "   # the node's fully qualified name
# The simulated machine runs this much faster than real time, so the model's window
# fills in seconds; stamps stay on this process's clock.
SIM_SPEED = 4.0
STARTUP_TIMEOUT_S = 120.0    # torch import and model set-up on a loaded 2-core machine
SPIN_PERIOD_S = 0.1
SIGTERM_TIMEOUT_S = 5.0      # launch's default `sigterm_timeout` after SIGINT


def _share_dir() -> Path:
    try:
        return Path(get_package_share_directory(PACKAGE_NAME))
    except PackageNotFoundError:
        pytest.skip(f"{PACKAGE_NAME} is not installed in an ament prefix: colcon build the "
                    "workspace and source install/setup.bash first")


class ProcessExits:
    """When launch shut down, and how and when each process it started exited."""

    def __init__(self) -> None:
        self.shutdown_at: float | None = None
        self.codes: dict[str, int] = {}
        self.seconds_after_shutdown: dict[str, float] = {}

    def on_shutdown(self, _event: object, _context: object) -> None:
        self.shutdown_at = time.monotonic()

    def on_exit(self, event: launch.events.process.ProcessExited, _context: object) -> None:
        self.codes[event.process_name] = event.returncode
        if self.shutdown_at is not None:
            self.seconds_after_shutdown[event.process_name] = time.monotonic() - self.shutdown_at


EXITS = ProcessExits()


@launch_pytest.fixture
def stream_launch() -> launch.LaunchDescription:
    """Include the installed stream.launch.py with test-friendly arguments."""
    launch_file = _share_dir() / "launch" / "stream.launch.py"
    return launch.LaunchDescription([
        RegisterEventHandler(OnShutdown(on_shutdown=EXITS.on_shutdown)),
        RegisterEventHandler(OnProcessExit(on_exit=EXITS.on_exit)),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(launch_file)),
            launch_arguments={
                "namespace": NAMESPACE,
                "use_sim_time": "false",
                "allow_random_model": "true",
                "log_level": "info",
                "autostart": "true",   # the lifecycle node configures and activates itself
            }.items(),
        ),
        launch_pytest.actions.ReadyToTest(),
    ])


class Observer:
    """A test node that plays the simulated cell and records what the node publishes."""

    def __init__(self, layout: StreamLayout) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("launch_test_observer", namespace=NAMESPACE,
                                      context=self.context)
        self.lock = threading.Lock()
        self.statuses: set[str] = set()
        self.gcode: list[str] = []
        self.predictions: list[dict] = []
        node = self.node
        node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        node.create_subscription(String, f"{NODE_NAME}/gcode", self._on_gcode, 10)
        node.create_subscription(String, f"{NODE_NAME}/prediction", self._on_prediction, 10)
        publisher = SourcePublisher(node, layout)
        cell = SimulatedCell(layout)
        start_ns = node.get_clock().now().nanoseconds
        self.player = SourcePlayer(cell.frames(start_ns, speed=SIM_SPEED), publisher.publish)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        with self.lock:
            self.statuses.update(s.name for s in msg.status if s.name.startswith(STATUS_PREFIX))

    def _on_gcode(self, msg: String) -> None:
        with self.lock:
            self.gcode.append(msg.data)

    def _on_prediction(self, msg: String) -> None:
        with self.lock:
            self.predictions.append(json.loads(msg.data))

    def spin_until(self, done: Callable[[], object], timeout_s: float) -> bool:
        """Spin until `done()` holds or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=SPIN_PERIOD_S)
            with self.lock:
                if done():
                    return True
        return False

    def close(self) -> None:
        self.player.stop()
        self.player.join(timeout=5.0)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.mark.launch(fixture=stream_launch)
def test_node_comes_up_and_publishes() -> None:
    layout = StreamLayout.from_yaml(_share_dir() / "config" / "stream.yaml")
    observer = Observer(layout)
    try:
        observer.player.start()
        published = observer.spin_until(
            lambda: observer.gcode and observer.predictions
            and {f"{STATUS_PREFIX}buffer", f"{STATUS_PREFIX}model"} <= observer.statuses,
            STARTUP_TIMEOUT_S)
        with observer.lock:
            summary = (f"statuses={sorted(observer.statuses)} gcode={observer.gcode[:3]} "
                       f"predictions={len(observer.predictions)}")
        assert published, f"the launched node did not publish in {STARTUP_TIMEOUT_S} s: {summary}"
        stream_statuses = {f"{STATUS_PREFIX}stream {spec.name}" for spec in layout.streams}
        assert observer.spin_until(lambda: stream_statuses <= observer.statuses, 10.0), summary
    finally:
        observer.close()
    yield
    # Launch shut down: SIGINT to the node, SIGTERM only if it is still running after
    # SIGTERM_TIMEOUT_S. The node must exit 0 on SIGINT alone.
    assert EXITS.codes, "launch reported no process exit"
    assert all(code == 0 for code in EXITS.codes.values()), EXITS.codes
    assert EXITS.seconds_after_shutdown.keys() == EXITS.codes.keys(), "exit before shutdown"
    slow = {name: round(seconds, 1) for name, seconds in EXITS.seconds_after_shutdown.items()
            if seconds >= SIGTERM_TIMEOUT_S}
    assert not slow, f"running {SIGTERM_TIMEOUT_S} s after SIGINT (launch sent SIGTERM): {slow}"
