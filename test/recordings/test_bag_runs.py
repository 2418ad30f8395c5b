# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bags as runs: frames and labels equal those of the source run and of the node's alignment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.features import feature_set, FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.alignment import align_samples
from streaming_gcode.offline.bag_frames import prepare_bag
from streaming_gcode.offline.labelled_windows import prepare_run
from streaming_gcode.recordings.bag_reader import bag_samples
from streaming_gcode.recordings.bag_runs import load_bag_run
from streaming_gcode.recordings.bag_writer import (
    absolute_topic, BAG_FORMAT_VERSION, message_builder, qos_profile, REFERENCE_TOPIC,
    serialize, STRING, string_message, typestore, write_run_bag,
)
from streaming_gcode.recordings.csv_runs import load_run, stream_matrix

REPO = Path(__file__).resolve().parents[2]
RUN = "damageface_004"
MS = 1_000_000
T0 = 1_700_000_000_000_000_000
FRAMES = 40                     # frame clock (controller) at 10 Hz
BATCH = 50                      # vibration: 1 kHz in batches of 50, 20 messages a second


@pytest.fixture(scope="module")
def recorded(data_dir, tmp_path_factory):
    source = data_dir / f"{RUN}_aligned.csv.gz"
    if not source.is_file():
        pytest.skip(f"{source} is not in the dataset")
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    bag = tmp_path_factory.mktemp("bags") / RUN
    run = load_run(source)
    write_run_bag(run, layout, bag)
    return run, bag, layout


@pytest.mark.data
def test_a_bag_gives_the_frames_and_labels_of_its_source_run(recorded) -> None:
    run, bag, layout = recorded
    from_bag = load_bag_run(bag, layout)
    assert from_bag.name == RUN and from_bag.family == "damageface"
    features = feature_set("full", layout)
    fmap = FeatureMap.build(layout, features.continuous, features.categorical,
                            {c: list(range(10)) for c in features.categorical})
    offline, replayed = prepare_run(run, layout, fmap), prepare_run(from_bag, layout, fmap)
    assert len(replayed) == len(offline) > 100
    np.testing.assert_array_equal(replayed.table.continuous, offline.table.continuous)
    np.testing.assert_array_equal(replayed.table.categorical, offline.table.categorical)
    assert replayed.labels == offline.labels


@pytest.mark.data
def test_a_missing_label_topic_is_one_clear_error(recorded) -> None:
    _, bag, layout = recorded
    with pytest.raises(RecordingError, match="/cnc/line_text"):
        load_bag_run(bag, layout, "cnc/line_text")


def test_a_path_that_is_not_a_bag_is_one_clear_error(tmp_path) -> None:
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    (tmp_path / "notes.txt").write_text("not a bag")
    with pytest.raises(RecordingError, match="notes.txt"):
        load_bag_run(tmp_path / "notes.txt", layout)


def _batched_layout() -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["ctrl", "vib"], "frame_clock": "ctrl", "sample_rate_hz": 10.0,
        "streams.ctrl.topic": "cnc/ctrl", "streams.ctrl.type": "sensor_msgs/JointState",
        "streams.ctrl.channels": ["stat", "momo", "posx"],
        "streams.vib.topic": "cnc/vib", "streams.vib.type": "std_msgs/Float32MultiArray",
        "streams.vib.channels": ["vx", "vy"], "streams.vib.aggregate": "rms",
        "streams.vib.sample_rate_hz": 1000.0,
    })


def _write_batched_bag(path: Path, layout: StreamLayout, jitter_ms: float) -> Path:
    """Write a bag as `ros2 bag record` would: controller reports, vibration batches, lines.

    Batches end at their receipt (log time), jittered; messages are in log-time order.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer

    rng = np.random.default_rng(7)
    messages = []   # (log time, stream index or None for the line, values or text)
    for k in range(FRAMES):
        stamp = T0 + k * 100 * MS + 3 * MS
        messages.append((stamp, 0, np.array([5.0, 1.0, 0.5 * k])))
        messages.append((stamp, None, f"G1 X{k // 4}"))
    for j in range(2 * FRAMES):
        end = T0 + (j + 1) * 50 * MS + int(rng.uniform(-jitter_ms, jitter_ms) * MS)
        messages.append((end, 1, rng.normal(0.0, 2.0, (BATCH, 2)).astype(np.float32)))
    writer = Writer(path, version=BAG_FORMAT_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    store = typestore()
    topics = [writer.add_connection(absolute_topic(s.topic), s.msg_type, typestore=store,
                                    offered_qos_profiles=[qos_profile(s.reliable, s.depth)])
              for s in layout.streams]
    line = writer.add_connection(absolute_topic(REFERENCE_TOPIC), STRING, typestore=store)
    builders = [message_builder(s) for s in layout.streams]
    for stamp, index, payload in sorted(messages, key=lambda m: m[0]):
        if index is None:
            writer.write(line, stamp, serialize(string_message(payload), STRING))
        else:
            message = builders[index](stamp, payload)
            writer.write(topics[index], stamp, serialize(message, layout.streams[index].msg_type))
    writer.close()
    return path


# 0.4 ms: batches never reach back to the previous one; 3 ms: they do (their first
# samples move up just after the previous batch's last, 1 ns apart, and none is lost)
@pytest.mark.parametrize("jitter_ms", [0.4, 3.0])
def test_a_bag_with_batches_trains_on_the_frames_the_node_aligns(tmp_path, jitter_ms) -> None:
    layout = _batched_layout()
    bag = _write_batched_bag(tmp_path / "batched_001", layout, jitter_ms)
    fmap = FeatureMap.build(layout, ["posx", "vx", "vy"])
    run = load_bag_run(bag, layout)
    assert run.name == "batched_001"
    assert np.isfinite(stream_matrix(run, ["vx"])).sum() == 2 * FRAMES * BATCH   # every sample
    trained = prepare_run(run, layout, fmap)
    live = align_samples(layout, fmap, bag_samples(bag, layout))
    evaluated, _, _ = prepare_bag(bag, layout, fmap)
    assert len(trained) == len(live) == FRAMES
    for table in (live, evaluated.table):
        np.testing.assert_array_equal(trained.table.stamps, table.stamps)
        np.testing.assert_array_equal(trained.table.continuous, table.continuous)
        np.testing.assert_array_equal(trained.table.degraded, table.degraded)
    assert trained.labels == evaluated.labels
    assert trained.labels[-1] is not None
    if jitter_ms >= 1.0:
        return      # stamps were moved: the numpy check below assumes the nominal spacing
    samples = [(s, v) for i, s, v in bag_samples(bag, layout) if i == 1]
    first_frame = live.stamps[0]
    in_first = np.concatenate([v[end - (BATCH - 1 - np.arange(BATCH)) * MS <= first_frame]
                               for end, v in samples])
    np.testing.assert_allclose(live.continuous[0, 1:],
                               np.sqrt(np.mean(np.square(in_first), axis=0)), rtol=1e-6)
