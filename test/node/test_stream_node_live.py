# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The stream node over real DDS: a node process, synthetic sensor streams, its outputs.

The node runs as `stream_node` does (its own process, a params file, SIGINT to
stop) with a tiny checkpoint saved in tmp_path; this test process publishes four
streams (JointState frame clock, Imu, a reliable Float32MultiArray and a silent
Float64MultiArray) and listens to `~/gcode`, `~/prediction` and `/diagnostics`.
Rates are tolerant and timeouts generous: nothing here measures performance.
"""

from __future__ import annotations

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

if not os.environ.get("ROS_DOMAIN_ID"):  # conftest.py sets both; this keeps the module safe
    os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(100, 199))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

import pytest  # noqa: E402

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402, I100
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Imu, JointState  # noqa: E402
from std_msgs.msg import Float32MultiArray, String  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from streaming_gcode.model.checkpoint import ModelMetadata, save_checkpoint  # noqa: E402
from streaming_gcode.model.network import build_model, ModelConfig  # noqa: E402
from streaming_gcode.model.random_weights import default_vocabulary  # noqa: E402
from streaming_gcode.outputs.diagnostics import (  # noqa: E402
    BUFFER_KEYS,
    INFERENCE_KEYS,
    Level,
    LIFECYCLE_KEYS,
    MODEL_KEYS,
    STREAM_KEYS,
)

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
RATE_HZ = 20.0
PERIOD_NS = int(1e9 / RATE_HZ)
WINDOW = 8
STRIDE = 2
HARDWARE_ID = "test_mill"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)


def _tiny_checkpoint(path: Path) -> Path:
    vocab = default_vocabulary()
    continuous = ["j1", "j2", "angular_velocity.z", "a0", "a1"]
    config = ModelConfig(n_continuous=len(continuous), categorical_sizes=[4],
                         head_sizes=vocab.head_sizes, d_model=16, num_layers=1, dropout=0.0,
                         window=WINDOW)
    backbone, line_heads = build_model(config, seed=3)
    meta = ModelMetadata(continuous_features=continuous, categorical_features=["mode"],
                         categorical_vocab={"mode": [0, 1, 2]}, norm_mean=[0.0] * 5,
                         norm_std=[1.0] * 5, vocabulary=vocab.to_dict(), window=WINDOW,
                         stride=STRIDE, feature_set="test")
    return save_checkpoint(path, backbone, line_heads, config, meta)


def _params(checkpoint: Path, with_imu: bool = True) -> dict:
    streams = {
        "joints": {"topic": "test/joints", "type": "sensor_msgs/msg/JointState",
                   "field": "position", "channels": ["j1", "j2"]},
        "imu": {"topic": "test/imu", "type": "sensor_msgs/msg/Imu",
                "channels": ["angular_velocity.z"]},
        "arr": {"topic": "test/arr", "type": "std_msgs/msg/Float32MultiArray",
                "channels": ["a0", "a1", "mode"], "reliable": True, "depth": 50},
        "silent": {"topic": "test/silent", "type": "std_msgs/msg/Float64MultiArray",
                   "channels": ["unused"]},
    }
    if not with_imu:
        del streams["imu"]
    return {"streaming_gcode": {"ros__parameters": {
        "checkpoint": str(checkpoint), "stride": 0, "hardware_id": HARDWARE_ID,
        "stream_names": list(streams), "streams": streams, "frame_clock": "joints",
        "sample_rate_hz": RATE_HZ, "max_staleness_s": 0.5, "alignment_timeout_s": 0.2,
        "stale_policy": "hold_last", "staleness_warn_s": 1.0, "staleness_error_s": 2.0,
        "diagnostics_period_s": 0.5, "log_throttle_s": 1.0,
    }}}


def _start_node(tmp: Path, params: dict) -> tuple[subprocess.Popen, Path]:
    params_file = tmp / "params.yaml"
    params_file.write_text(yaml.safe_dump(params))
    log = tmp / "node.log"
    command = [sys.executable, "-c",
               "import sys; from streaming_gcode.node.stream_node import main; sys.exit(main())",
               "--ros-args", "--params-file", str(params_file)]
    with open(log, "wb") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, cwd=REPO)
    return process, log


class Harness:
    """Publishes the test streams and records everything the node publishes."""

    def __init__(self) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("stream_node_test", context=self.context)
        self.lock = threading.RLock()
        self.predictions: list[tuple[float, dict]] = []
        self.gcode: list[str] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.joint_stamps: set[int] = set()
        node = self.node
        node.create_subscription(String, "/streaming_gcode/prediction", self._on_prediction,
                                 RELIABLE)
        node.create_subscription(String, "/streaming_gcode/gcode",
                                 lambda m: self._append(self.gcode, m.data), RELIABLE)
        node.create_subscription(DiagnosticArray, "/diagnostics",
                                 lambda m: self._append(self.diagnostics, m), RELIABLE)
        self.joints = node.create_publisher(JointState, "test/joints", qos_profile_sensor_data)
        self.imu = node.create_publisher(Imu, "test/imu", qos_profile_sensor_data)
        self.arr = node.create_publisher(Float32MultiArray, "test/arr", RELIABLE)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        self.k = 0

    def _append(self, target: list, item) -> None:
        with self.lock:
            target.append(item)

    def _on_prediction(self, msg: String) -> None:
        self._append(self.predictions, (time.monotonic(), json.loads(msg.data)))

    def publish_frame(self, arr_data: list[float] | None = None,
                      joint_stamp_ns: int | None = None) -> int:
        """One sample of every live stream; returns the frame clock stamp."""
        self.k += 1
        now = time.time_ns()
        stamp = now if joint_stamp_ns is None else joint_stamp_ns
        joint = JointState(name=["j2", "j1"], position=[math.cos(self.k / 5), self.k / 10])
        joint.header.stamp.sec, joint.header.stamp.nanosec = divmod(stamp, 1_000_000_000)
        imu = Imu()
        imu.header.stamp = joint.header.stamp
        imu.angular_velocity.z = math.sin(self.k / 7)
        self.imu.publish(imu)
        self.arr.publish(Float32MultiArray(
            data=arr_data if arr_data is not None else [0.1 * self.k, -1.0, float(self.k % 3)]))
        self.joints.publish(joint)
        if joint_stamp_ns is None:
            with self.lock:
                self.joint_stamps.add(stamp)
        return stamp

    def run(self, seconds: float, **frame) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.publish_frame(**frame)
            time.sleep(PERIOD_NS / 1e9)

    def wait_for(self, predicate, timeout: float, what: str, publish: bool = False) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if predicate():
                    return
            if publish:
                self.publish_frame()
            time.sleep(PERIOD_NS / 1e9)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def latest_statuses(self) -> dict[str, object]:
        with self.lock:
            return {s.name: s for s in self.diagnostics[-1].status} if self.diagnostics else {}

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def _values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("node_live")
    checkpoint = _tiny_checkpoint(tmp / "tiny.pt")
    process, log = _start_node(tmp, _params(checkpoint))
    harness = Harness()
    try:
        harness.wait_for(lambda: bool(harness.diagnostics) or process.poll() is not None,
                         STARTUP_TIMEOUT_S, "the node's first diagnostics")
        assert process.poll() is None, log.read_text()
        yield harness, process, log, checkpoint
    finally:
        harness.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_predictions_arrive_at_stride_cadence_with_frame_stamps(live) -> None:
    harness, process, log, _ = live
    harness.wait_for(lambda: len(harness.predictions) >= 3, 20.0, "first predictions",
                     publish=True)
    with harness.lock:
        start = len(harness.predictions)
    harness.run(3.0)
    time.sleep(0.5)
    with harness.lock:
        records = [r for _, r in harness.predictions[start:]]
        times = [t for t, _ in harness.predictions[start:]]
        published = set(harness.joint_stamps)
        gcode = list(harness.gcode)
    # 3 s of frames at 20 Hz, stride 2: about 30 predictions; tolerant bounds.
    assert 10 <= len(records) <= 45, len(records)
    stamps = [r["stamp_ns"] for r in records]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)  # only new data
    assert set(stamps) <= published  # stamped with the frame clock's header stamps
    for r in records:
        assert r["stamp"]["sec"] * 1_000_000_000 + r["stamp"]["nanosec"] == r["stamp_ns"]
        assert r["window_frames"] == WINDOW
        assert r["format"] == "streaming_gcode.outputs.prediction/1"
        assert r["tokens"] == r["text"].split()
        assert set(r["heads"]) == set(default_vocabulary().head_sizes)
        assert all(0.0 < h["confidence"] <= 1.0 for h in r["heads"].values())
        assert r["latency_ms"] > 0 and isinstance(r["degraded"], bool)
        assert r["stamp_ns"] - r["window_start_ns"] == pytest.approx(
            (WINDOW - 1) * PERIOD_NS, rel=0.5)
    steps = sorted(b["frame_sequence"] - a["frame_sequence"] for a, b in zip(records, records[1:]))
    assert steps[len(steps) // 2] == STRIDE  # median: one prediction per stride frames
    gaps = sorted(b - a for a, b in zip(times, times[1:]))
    assert 0.03 < gaps[len(gaps) // 2] < 0.4  # ~0.1 s: stride x frame period
    texts = {r["text"] for r in records}
    assert gcode and set(gcode[-5:]) <= texts | {r["text"] for _, r in harness.predictions}


def test_diagnostics_carry_documented_names_keys_and_levels(live) -> None:
    harness, _, _, checkpoint = live
    harness.run(3.0)  # the silent stream has now been silent > staleness_error_s
    statuses = harness.latest_statuses()
    expected = {f"/streaming_gcode: stream {s}" for s in ("joints", "imu", "arr", "silent")}
    expected |= {"/streaming_gcode: buffer", "/streaming_gcode: inference",
                 "/streaming_gcode: model"}
    assert set(statuses) == expected
    for status in statuses.values():
        assert status.hardware_id == HARDWARE_ID
    keys = {name: [kv.key for kv in status.values] for name, status in statuses.items()}
    assert keys["/streaming_gcode: stream joints"] == list(STREAM_KEYS)
    assert keys["/streaming_gcode: buffer"] == list(BUFFER_KEYS)
    assert keys["/streaming_gcode: inference"] == list(INFERENCE_KEYS + LIFECYCLE_KEYS)
    assert keys["/streaming_gcode: model"] == list(MODEL_KEYS)
    joints = statuses["/streaming_gcode: stream joints"]
    assert joints.level == bytes([Level.OK]), joints.message
    assert 5.0 < float(_values(joints)["rate_hz"]) < 40.0
    silent = statuses["/streaming_gcode: stream silent"]
    assert silent.level == bytes([Level.ERROR])
    assert silent.message.startswith("no messages received for")
    model = _values(statuses["/streaming_gcode: model"])
    assert model["checkpoint"] == str(checkpoint) and model["random_weights"] == "false"
    assert model["continuous_features"] == "5" and model["window_frames"] == str(WINDOW)
    inference = _values(statuses["/streaming_gcode: inference"])
    assert int(inference["predictions"]) > 0 and float(inference["latency_recent_p99_ms"]) > 0
    assert inference["mode"] == "full_window" and inference["threads"] == "1"
    buffer = _values(statuses["/streaming_gcode: buffer"])
    assert int(buffer["frames"]) > WINDOW and buffer["stale_policy"] == "hold_last"


def test_malformed_and_late_messages_are_counted_and_do_not_stop_the_node(live) -> None:
    harness, process, _, _ = live
    before = _values(harness.latest_statuses()["/streaming_gcode: stream arr"])
    for _ in range(5):
        harness.publish_frame(arr_data=[1.0, 2.0])             # wrong length
        time.sleep(0.02)
        harness.publish_frame(arr_data=[1.0, math.nan, 0.0])   # NaN
        time.sleep(0.02)
    late_stamps = 3
    for i in range(late_stamps):
        harness.publish_frame(joint_stamp_ns=time.time_ns() - 3_000_000_000 - i)
        time.sleep(0.02)
    with harness.lock:
        predictions_before = len(harness.predictions)
    harness.run(2.0)

    def counted() -> bool:
        statuses = harness.latest_statuses()
        arr = _values(statuses["/streaming_gcode: stream arr"])
        joints = _values(statuses["/streaming_gcode: stream joints"])
        return (int(arr["malformed"]) - int(before["malformed"]) == 10
                and int(joints["late"]) >= 1)

    harness.wait_for(counted, 10.0, "malformed and late counts in diagnostics", publish=True)
    joints = _values(harness.latest_statuses()["/streaming_gcode: stream joints"])
    assert int(joints["late"]) <= late_stamps
    assert process.poll() is None
    with harness.lock:
        assert len(harness.predictions) > predictions_before + 5  # still predicting


def test_sigint_exits_zero_with_a_final_stats_line(live) -> None:
    harness, process, log, _ = live
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_TIMEOUT_S) == 0
    text = log.read_text()
    assert "final stats: ticks" in text and "malformed 10" in text
    assert "Traceback" not in text


def test_startup_fails_with_one_clear_missing_features_error(tmp_path) -> None:
    checkpoint = _tiny_checkpoint(tmp_path / "tiny.pt")
    process, log = _start_node(tmp_path, _params(checkpoint, with_imu=False))
    assert process.wait(timeout=STARTUP_TIMEOUT_S) == 2
    text = log.read_text()
    assert "no stream provides 1 model feature(s): ['angular_velocity.z']" in text
    assert "Traceback" not in text
    assert text.count("error:") == 1
