# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bags written from recorded runs read back with the same messages, stamps and metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path
import sys

import numpy as np
import pytest
import yaml

from streaming_gcode.cli import main as cli_main
from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import NS_PER_S
from streaming_gcode.recordings.bag_reader import (
    bag_reference,
    bag_samples,
    open_bag,
    recording_stamps,
)
from streaming_gcode.recordings.bag_writer import (
    absolute_topic,
    BAG_FORMAT_VERSION,
    RECORDING_EPOCH_NS,
    REFERENCE_TOPIC,
    SOURCE_RUN_KEY,
    TIME_OFFSET_KEY,
    time_offset_ns,
    to_bag_time,
    write_missing_run_bags,
    write_run_bag,
)
from streaming_gcode.recordings.csv_runs import load_run, run_samples

REPO = Path(__file__).resolve().parents[2]
HEADER = "t_console,stat,momo,spindle,x_motor,posx,gcode_line,gcode_string\n"
ROWS = (
    "14:25:23.700,1,0,0.5,0.1,1.25,1,G0 X1\n"
    "14:25:23.955,5,1,0.6,,1.5,2,G1 X2 F100\n"   # x_motor empty: no current sample
    "14:25:24.259,5,1,0.7,0.3,2.0,3,X3\n"
    "23:59:59.900,5,1,0.8,0.4,2.5,4,\n"          # crosses midnight below
    "00:00:00.150,4,0,0.9,0.5,3.0,5,M30\n"
)


def _layout(reliable_currents: bool = True) -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["ctrl", "cur"], "frame_clock": "ctrl",
        "streams.ctrl.topic": "cnc/ctrl", "streams.ctrl.type": "sensor_msgs/JointState",
        "streams.ctrl.channels": ["stat", "momo", "posx"], "streams.ctrl.depth": 7,
        "streams.cur.topic": "/cnc/cur", "streams.cur.type": "sensor_msgs/msg/JointState",
        "streams.cur.field": "effort", "streams.cur.channels": ["spindle", "x_motor"],
        "streams.cur.reliable": reliable_currents,
    })


@pytest.fixture
def run(tmp_path: Path):
    path = tmp_path / "face_900_aligned.csv"
    path.write_text(HEADER + ROWS)
    return load_run(path)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_round_trip_messages_stamps_and_metadata(tmp_path, run, storage):
    layout = _layout()
    summary = write_run_bag(run, layout, tmp_path / "bag", storage=storage)
    expected = list(run_samples(run, layout))
    assert summary.messages == len(expected) + len(run)
    with open_bag(summary.path) as bag:
        info = bag.info
        samples = list(bag_samples(bag, layout))
        stamps, lines = bag_reference(bag)
    assert info.storage == storage
    assert info.message_count == summary.messages
    assert [(i, s) for i, s, _ in samples] == [(i, to_bag_time(s)) for i, s, _ in expected]
    for (_, _, got), (_, _, want) in zip(samples, expected):
        np.testing.assert_array_equal(got, want)
    assert lines == run.gcode
    np.testing.assert_array_equal(recording_stamps(info, stamps), run.stamps_ns)
    assert info.start_ns == to_bag_time(run.stamps_ns[0])
    assert info.end_ns == to_bag_time(run.stamps_ns[-1])
    ctrl, cur = info.topics["/cnc/ctrl"], info.topics["/cnc/cur"]
    assert (ctrl.msg_type, ctrl.count, ctrl.reliable, ctrl.depth) == (
        "sensor_msgs/msg/JointState", 5, False, 7)
    assert (cur.count, cur.reliable) == (4, True)
    reference = info.topics[absolute_topic(REFERENCE_TOPIC)]
    assert (reference.msg_type, reference.count, reference.reliable) == (
        "std_msgs/msg/String", 5, True)
    assert info.custom_data[TIME_OFFSET_KEY] == str(RECORDING_EPOCH_NS)
    assert info.custom_data[SOURCE_RUN_KEY] == "face_900"


def test_metadata_yaml_is_standard_rosbag2(tmp_path, run):
    summary = write_run_bag(run, _layout(), tmp_path / "bag")
    document = yaml.safe_load((summary.path / "metadata.yaml").read_text())
    info = document["rosbag2_bagfile_information"]
    assert info["version"] == BAG_FORMAT_VERSION
    assert info["storage_identifier"] == "mcap"
    for name in info["relative_file_paths"]:
        assert (summary.path / name).is_file()
    topics = info["topics_with_message_count"]
    assert sum(t["message_count"] for t in topics) == info["message_count"]
    for topic in topics:
        metadata = topic["topic_metadata"]
        assert metadata["serialization_format"] == "cdr"
        assert metadata["name"].startswith("/")
        # version 8 stores the offered QoS as a YAML string (Jazzy and Kilted read it)
        profiles = yaml.safe_load(metadata["offered_qos_profiles"])
        assert profiles[0]["history"] == 1 and profiles[0]["durability"] == 2
        assert metadata["type_description_hash"].startswith("RIHS01_")


def _type_description(msg_type: str) -> Path | None:
    """Find the installed rosidl type description (share/<pkg>/msg/<Type>.json)."""
    package, _, name = msg_type.partition("/msg/")
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    for prefix in [*prefixes, sys.prefix]:
        path = Path(prefix) / "share" / package / "msg" / f"{name}.json"
        if path.is_file():
            return path
    return None


def test_type_hashes_match_the_installed_ros_messages(tmp_path, run):
    summary = write_run_bag(run, _layout(), tmp_path / "bag")
    with open_bag(summary.path) as bag:
        topics = bag.info.topics.values()
    for topic in topics:
        description = _type_description(topic.msg_type)
        if description is None:
            pytest.skip(f"no installed type description for {topic.msg_type}")
        hashes = json.loads(description.read_text())["type_hashes"]
        wanted = next(h["hash_string"] for h in hashes if h["type_name"] == topic.msg_type)
        assert topic.type_hash == wanted, topic.name


def test_messages_decode_with_rclpy(tmp_path, run):
    serialization = pytest.importorskip("rclpy.serialization")
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    summary = write_run_bag(run, _layout(), tmp_path / "bag")
    with open_bag(summary.path) as bag:
        messages = list(bag.messages(["/cnc/cur", absolute_topic(REFERENCE_TOPIC)]))
    current = serialization.deserialize_message(messages[0].data, JointState)
    assert list(current.name) == ["spindle", "x_motor"]
    assert list(current.effort) == [0.5, 0.1] and len(current.position) == 0
    stamp = current.header.stamp.sec * NS_PER_S + current.header.stamp.nanosec
    assert stamp == messages[0].log_time_ns == to_bag_time(run.stamps_ns[0])
    line = serialization.deserialize_message(messages[1].data, String)
    assert line.data == "G0 X1"


def test_lone_mcap_file_keeps_custom_data(tmp_path, run):
    summary = write_run_bag(run, _layout(), tmp_path / "bag")
    with open_bag(summary.path / "bag.mcap") as bag:
        assert bag.info.time_offset_ns == RECORDING_EPOCH_NS
        assert bag.info.message_count == summary.messages


def test_existing_bag_is_kept_unless_overwrite(tmp_path, run):
    layout = _layout()
    write_run_bag(run, layout, tmp_path / "bag")
    with pytest.raises(RecordingError, match=r"bag exists already; remove it or allow"):
        write_run_bag(run, layout, tmp_path / "bag")
    summary = write_run_bag(run, layout, tmp_path / "bag", storage="sqlite3", overwrite=True)
    with open_bag(summary.path) as bag:
        assert bag.info.storage == "sqlite3"
    (tmp_path / "other").mkdir()
    with pytest.raises(RecordingError, match=r"other exists and is not a rosbag2 bag"):
        write_run_bag(run, layout, tmp_path / "other", overwrite=True)


def test_missing_run_bags_are_written_once(tmp_path):
    run_file = tmp_path / "face_900_aligned.csv"
    run_file.write_text(HEADER + ROWS)
    said: list[str] = []
    bags = write_missing_run_bags([run_file], _layout(), tmp_path / "bags", said.append)
    assert bags == [tmp_path / "bags" / "face_900"] and len(said) == 1
    assert (bags[0] / "metadata.yaml").is_file()
    assert write_missing_run_bags([run_file], _layout(), tmp_path / "bags", said.append) == bags
    assert len(said) == 1  # the bag converted before is reused


def test_unknown_storage_is_rejected(tmp_path, run):
    with pytest.raises(RecordingError, match=r"storage 'zip' is not supported"):
        write_run_bag(run, _layout(), tmp_path / "bag", storage="zip")
    assert not (tmp_path / "bag").exists()


def test_absolute_stamps_are_kept():
    assert time_offset_ns(np.array([1_700_000_000 * NS_PER_S])) == 0
    assert time_offset_ns(np.array([52_000 * NS_PER_S])) == RECORDING_EPOCH_NS


def test_array_and_imu_streams_round_trip(tmp_path, run):
    layout = StreamLayout.from_parameters({
        "stream_names": ["ctrl", "imu"], "frame_clock": "ctrl",
        "streams.ctrl.topic": "ctrl", "streams.ctrl.type": "std_msgs/Float32MultiArray",
        "streams.ctrl.channels": ["stat", "posx"],
        "streams.imu.topic": "imu", "streams.imu.type": "sensor_msgs/Imu",
        "streams.imu.channels": ["angular_velocity.z", "linear_acceleration.x"],
    })
    run.columns["angular_velocity.z"] = run.columns["spindle"]
    run.columns["linear_acceleration.x"] = run.columns["posx"]
    summary = write_run_bag(run, layout, tmp_path / "bag")
    samples = list(bag_samples(summary.path, layout))
    expected = list(run_samples(run, layout))
    assert [(i, s) for i, s, _ in samples] == [(i, to_bag_time(s)) for i, s, _ in expected]
    for (index, _, got), (_, _, want) in zip(samples, expected):
        # Float32MultiArray carries float32; Imu carries float64
        want = want.astype(np.float32) if index == 0 else want
        np.testing.assert_array_equal(got, want)


def test_csv2bag_converts_real_runs(tmp_path, data_dir, capsys):
    runs = [data_dir / "pocket_009_aligned.csv.gz", data_dir / "adaptive_001_aligned.csv.gz"]
    for run_file in runs:
        if not run_file.is_file():
            pytest.skip(f"{run_file.name} is not in {data_dir}")
    config = REPO / "config" / "stream.yaml"
    argv = ["csv2bag", *map(str, runs), "--out", str(tmp_path), "--config", str(config), "--quiet"]
    assert cli_main(argv) == 0
    assert "pocket_009" in capsys.readouterr().out
    layout = StreamLayout.from_yaml(config)
    for run_file in runs:
        recorded = load_run(run_file)
        bag = tmp_path / recorded.name
        expected = list(run_samples(recorded, layout))
        got = list(bag_samples(bag, layout))
        assert len(got) == len(expected)
        assert all(
            g[0] == e[0] and g[1] == to_bag_time(e[1]) and np.array_equal(g[2], e[2])
            for g, e in zip(got, expected)
        )
        stamps, lines = bag_reference(bag)
        assert lines == recorded.gcode
        np.testing.assert_array_equal(stamps - RECORDING_EPOCH_NS, recorded.stamps_ns)
        with open_bag(bag) as opened:
            counts = {t.name: t.count for t in opened.info.topics.values()}
        # every layout topic is present, with zero messages for boards the run lacks
        assert set(counts) >= {absolute_topic(s.topic) for s in layout.streams}
    assert cli_main(argv) == 2  # exists already: one clear error, no traceback
    assert "exists already" in capsys.readouterr().err
