# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A high-rate stream over DDS: a 1 kHz accelerometer in batches of 50, beside the others.

The node aggregates it (`aggregate: rms`, `sample_rate_hz: 1000`) into the
frames of the fault layout's 20 Hz frame clock; its channels are model inputs,
so predictions depend on it. Counters, not timings, are checked: every batch
taken, none malformed, and a bad layout counted as malformed without a loss.
"""

from __future__ import annotations

from contextlib import contextmanager
import math
from pathlib import Path
import threading
import time
from typing import Iterator

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from std_msgs.msg import Float32MultiArray, MultiArrayDimension  # noqa: E402
import torch  # noqa: E402, I100

from streaming_gcode.model.checkpoint import ModelMetadata, save_checkpoint  # noqa: E402
from streaming_gcode.model.network import build_model, ModelConfig  # noqa: E402
from streaming_gcode.model.random_weights import default_vocabulary  # noqa: E402

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros]
torch.set_num_threads(1)
SENSOR_HZ = 1000.0
BATCH = 50                          # samples a message: 20 messages/s
BATCH_PERIOD_S = BATCH / SENSOR_HZ
VIB_CHANNELS = ["vib_x", "vib_y", "vib_z"]
VIB = fs.stream_status("vib")
STREAMS = {
    **fs.FAULT_STREAMS,
    "vib": {"topic": "fault/vib", "type": "std_msgs/msg/Float32MultiArray",
            "channels": VIB_CHANNELS, "reliable": True, "depth": 50,
            "aggregate": "rms", "sample_rate_hz": SENSOR_HZ},
}
RUN_S = 3.0
BAD_BATCHES = 3


def _checkpoint(path: Path) -> Path:
    """Save a small random model whose inputs include the accelerometer's channels."""
    vocab = default_vocabulary()
    continuous = fs.CONTINUOUS + VIB_CHANNELS
    n = len(continuous)
    config = ModelConfig(n_continuous=n, categorical_sizes=[4], head_sizes=vocab.head_sizes,
                         d_model=16, num_layers=1, dropout=0.0, window=fs.WINDOW)
    backbone, line_heads = build_model(config, seed=5)
    meta = ModelMetadata(continuous_features=continuous, categorical_features=["mode"],
                         categorical_vocab={"mode": [0, 1, 2]}, norm_mean=[0.0] * n,
                         norm_std=[1.0] * n, vocabulary=vocab.to_dict(), window=fs.WINDOW,
                         stride=fs.STRIDE, feature_set="test")
    return save_checkpoint(path, backbone, line_heads, config, meta)


def vib_batch(k: int, channels: int = len(VIB_CHANNELS)) -> Float32MultiArray:
    """Batch k of a 1 kHz three-axis signal: `BATCH` samples x `channels`, row-major."""
    data = [math.sin((k * BATCH + i) * 0.05 + c) for i in range(BATCH) for c in range(channels)]
    msg = Float32MultiArray(data=data)
    msg.layout.dim = [MultiArrayDimension(label="samples", size=BATCH, stride=BATCH * channels),
                      MultiArrayDimension(label="channels", size=channels, stride=channels)]
    return msg


@contextmanager
def accelerometer(graph: fs.Graph) -> Iterator[list[int]]:
    """Publish a batch every 50 ms in a thread for the block; yields [batches sent]."""
    sent = [0]
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            graph.publishers["vib"].publish(vib_batch(sent[0]))
            sent[0] += 1
            stop.wait(BATCH_PERIOD_S)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join(5)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("high_rate_live")
    graph = fs.Graph("high_rate_test")
    graph.make_publisher("vib", Float32MultiArray, "fault/vib", fs.RELIABLE)
    node = None
    try:
        params = fs.node_params(_checkpoint(tmp / "vib.pt"), stream_names=list(STREAMS),
                                streams=STREAMS)
        with accelerometer(graph):
            node = fs.start(tmp, params, graph)
            graph.wait_for(lambda: len(graph.predictions) >= 3, 30.0, "first predictions",
                           streams=fs.STREAMS)
        yield graph, node
    finally:
        graph.close()
        if node is not None:
            node.kill()


def _vib_status(graph: fs.Graph, since: float) -> dict[str, str]:
    graph.wait_for(lambda: VIB in graph.statuses(since), 30.0, "diagnostics of 'vib'")
    return graph.statuses(since)[VIB]


def test_batches_are_taken_aggregated_into_frames_and_none_is_malformed(live) -> None:
    graph, node = live
    before = int(_vib_status(graph, 0.0)["accepted"])
    predicted = len(graph.predictions)
    with accelerometer(graph) as sent:
        graph.run(RUN_S)
    since = time.monotonic()
    vib = _vib_status(graph, since)
    assert vib["malformed"] == "0" and vib["lost"] == "0", vib
    taken = int(vib["accepted"]) - before
    assert taken >= sent[0] // 2, (taken, sent[0], vib)   # reliable: tolerant of timing only
    assert len(graph.predictions) > predicted, "no prediction with the accelerometer running"
    assert all(int(graph.statuses(since)[name]["malformed"]) == 0
               for name in (fs.JOINTS, fs.IMU, fs.ARR))
    assert node.alive(), node.text()[-3000:]


def test_a_batch_with_a_bad_layout_is_counted_malformed_and_nothing_else_is_lost(live) -> None:
    graph, node = live
    start = _vib_status(graph, 0.0)
    for k in range(BAD_BATCHES):
        graph.publishers["vib"].publish(vib_batch(k, channels=2))   # 2 channels, not 3
    with accelerometer(graph):
        graph.run(1.0)
    since = time.monotonic()
    graph.wait_for(lambda: int(graph.statuses(since).get(VIB, {}).get("malformed", 0))
                   >= BAD_BATCHES, 30.0, "the bad batches counted as malformed")
    vib = _vib_status(graph, since)
    assert int(vib["malformed"]) == BAD_BATCHES, vib
    assert int(vib["accepted"]) > int(start["accepted"]), vib
    reason = "layout 50 x 2 has 2 channels (dim[1]); expected 3"
    graph.wait_for(lambda: reason in node.text(), 10.0, "the malformed batch logged")
    assert node.alive()
