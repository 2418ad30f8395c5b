# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Reading bags: listing, ordering, and one clear RecordingError for every bad input."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import shutil
import sqlite3
from typing import Any, Callable

import numpy as np
import pytest
import yaml

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.recordings import bag_metadata
from streaming_gcode.recordings.bag_reader import (
    bag_reference,
    bag_samples,
    find_bags,
    lines_at,
    open_bag,
)
from streaming_gcode.recordings.bag_writer import (
    BAG_FORMAT_VERSION,
    JOINT_STATE,
    qos_profile,
    serialize,
    STRING,
    string_message,
    typestore,
    write_run_bag,
)
from streaming_gcode.recordings.csv_runs import load_run

HEADER = "t_console,stat,momo,spindle,x_motor,gcode_string\n"
ROWS = "".join(
    f"10:00:{i // 4:02d}.{(i % 4) * 250:03d},1,1,{i * 0.1:.1f},{i * 0.2:.1f},G1 X{i}\n"
    for i in range(12)
)
LIMIT_S = 20.0  # no bad input may make a read hang


def _layout(current_type: str = "sensor_msgs/JointState", extra: bool = False) -> StreamLayout:
    params: dict[str, Any] = {
        "stream_names": ["ctrl", "cur"], "frame_clock": "ctrl",
        "streams.ctrl.topic": "cnc/ctrl", "streams.ctrl.type": "sensor_msgs/JointState",
        "streams.ctrl.channels": ["stat", "momo"],
        "streams.cur.topic": "cnc/cur", "streams.cur.type": current_type,
        "streams.cur.channels": ["spindle", "x_motor"],
    }
    if extra:
        params["stream_names"] = ["ctrl", "cur", "board"]
        params.update({
            "streams.board.topic": "cnc/board", "streams.board.type": "sensor_msgs/JointState",
            "streams.board.channels": ["b.Ax"],
        })
    return StreamLayout.from_parameters(params)


def _bounded(call: Callable[[], Any]) -> Any:
    """Run `call` and fail the test if it does not return within LIMIT_S."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result(timeout=LIMIT_S)


def _consume(path: Path, layout: StreamLayout) -> int:
    return sum(1 for _ in bag_samples(path, layout))


@pytest.fixture
def bag(tmp_path: Path) -> Path:
    run_file = tmp_path / "face_901_aligned.csv"
    run_file.write_text(HEADER + ROWS)
    return write_run_bag(load_run(run_file), _layout(), tmp_path / "bags" / "face_901").path


def test_lists_topics_and_reads_in_time_order(bag):
    with open_bag(bag) as opened:
        info = opened.info
        messages = list(opened.messages())
        later = list(opened.messages(["cnc/ctrl"], start_ns=info.start_ns + 1_000_000_000))
    assert sorted(info.topics) == ["/cnc/ctrl", "/cnc/cur", "/cnc/executing_line"]
    assert {t.count for t in info.topics.values()} == {12}
    assert info.duration_ns == 11 * 250_000_000
    stamps = [m.log_time_ns for m in messages]
    assert stamps == sorted(stamps) and len(messages) == 36
    # within a row: the sensor samples first, then the executed line
    assert [m.topic for m in messages[:3]] == ["/cnc/ctrl", "/cnc/cur", "/cnc/executing_line"]
    assert len(later) == 8 and later[0].log_time_ns == info.start_ns + 1_000_000_000


def test_samples_and_reference(bag):
    samples = list(bag_samples(bag, _layout()))
    assert len(samples) == 24
    np.testing.assert_allclose(samples[-1][2], [1.1, 2.2])
    stamps, lines = bag_reference(bag)
    assert lines[0] == "G1 X0" and len(stamps) == 12
    assert lines_at(stamps, lines, np.array([stamps[0] - 1, stamps[3], stamps[3] + 1])) == [
        "", "G1 X3", "G1 X3"]


def test_missing_bag(tmp_path):
    with pytest.raises(RecordingError, match=r"bag .*nowhere does not exist"):
        open_bag(tmp_path / "nowhere")
    with pytest.raises(RecordingError, match=r"bag .*nowhere does not exist"):
        find_bags([tmp_path / "nowhere"])


def test_folder_without_metadata_and_other_files(tmp_path, bag):
    with pytest.raises(RecordingError, match=r"is not a rosbag2 bag: no metadata.yaml"):
        open_bag(bag.parent)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(RecordingError, match=r"notes.txt is not a bag: expected a folder"):
        open_bag(text)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecordingError, match=r"no bags in"):
        find_bags([empty])
    assert find_bags([bag.parent]) == [bag]


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.99])
def test_truncated_mcap(bag, keep):
    storage = bag / "face_901.mcap"
    data = storage.read_bytes()
    storage.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(RecordingError, match=r"face_901: .*(corrupt or truncated|empty)"):
        _bounded(lambda: _consume(bag, _layout()))


def test_truncated_lone_mcap_file(tmp_path, bag):
    lone = tmp_path / "lone.mcap"
    data = (bag / "face_901.mcap").read_bytes()
    lone.write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordingError, match=r"lone.mcap: .*corrupt or truncated"):
        _bounded(lambda: open_bag(lone))


def test_garbage_storage_and_corrupt_metadata(tmp_path, bag):
    (bag / "face_901.mcap").write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(RecordingError, match=r"face_901: .*corrupt or truncated"):
        _bounded(lambda: open_bag(bag))
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: [unclosed\n")
    with pytest.raises(RecordingError, match=r"face_901: .*Could not load YAML"):
        _bounded(lambda: open_bag(bag))
    (bag / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: 8}\n")
    with pytest.raises(RecordingError, match=r"face_901: .*metadata key is missing"):
        _bounded(lambda: open_bag(bag))


def test_missing_storage_file(bag):
    (bag / "face_901.mcap").unlink()
    with pytest.raises(RecordingError, match=r"face_901: .*files are missing"):
        open_bag(bag)


def _sqlite_bag(tmp_path: Path, run: str, name: str) -> Path:
    """Write the test rows as run `run` into an sqlite3 bag folder `name`."""
    run_file = tmp_path / f"{run}_aligned.csv"
    run_file.write_text(HEADER + ROWS)
    return write_run_bag(load_run(run_file), _layout(), tmp_path / name, storage="sqlite3").path


def test_truncated_sqlite3(tmp_path):
    path = _sqlite_bag(tmp_path, "face_902", "b")
    storage = path / "b.db3"
    storage.write_bytes(storage.read_bytes()[:3000])
    with pytest.raises(RecordingError, match=r"b: .*(corrupt|malformed|truncated)"):
        _bounded(lambda: _consume(path, _layout()))


def test_missing_topics_are_listed(bag):
    with pytest.raises(RecordingError, match=r"missing topics \['/cnc/board'\]"):
        _consume(bag, _layout(extra=True))
    with pytest.raises(RecordingError, match=r"missing topics \['/cnc/line'\]"):
        bag_reference(bag, "cnc/line")
    with open_bag(bag) as opened, pytest.raises(RecordingError, match=r"no topics \['/x'\]"):
        list(opened.messages(["/x"]))


def test_other_message_types_are_named(bag):
    with pytest.raises(
        RecordingError,
        match=r"wrong message types: /cnc/cur is sensor_msgs/msg/JointState, "
              r"expected std_msgs/msg/Float64MultiArray",
    ):
        _consume(bag, _layout("std_msgs/Float64MultiArray"))
    with pytest.raises(RecordingError, match=r"/cnc/ctrl is sensor_msgs/msg/JointState, "
                                             r"expected std_msgs/msg/String"):
        bag_reference(bag, "cnc/ctrl")


def _handmade_bag(path: Path, payloads: list[bytes]) -> Path:
    """Write a bag whose /cnc/ctrl messages are the given CDR payloads (valid or not)."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    writer = Writer(path, version=BAG_FORMAT_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    store = typestore()
    ctrl = writer.add_connection("/cnc/ctrl", JOINT_STATE, typestore=store,
                                 offered_qos_profiles=[qos_profile(False, 5)])
    cur = writer.add_connection("/cnc/cur", JOINT_STATE, typestore=store)
    line = writer.add_connection("/cnc/executing_line", STRING, typestore=store)
    for i, payload in enumerate(payloads):
        stamp = 1_700_000_000_000_000_000 + i * 250_000_000
        writer.write(ctrl, stamp, payload)
        writer.write(line, stamp, serialize(string_message(f"G1 X{i}"), STRING))
    del cur  # present with no messages, like a board that sent nothing
    writer.close()
    return path


def _joint_state(stamp_ns: int, names: list[str], values: list[float]) -> bytes:
    types = typestore().types
    message = types[JOINT_STATE](
        header=types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](
                sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000),
            frame_id=""),
        name=names, position=np.array(values), velocity=np.zeros(0), effort=np.zeros(0))
    return serialize(message, JOINT_STATE)


def test_undecodable_message_names_topic_and_time(tmp_path):
    good = _joint_state(1_700_000_000_000_000_000, ["stat", "momo"], [1.0, 1.0])
    path = _handmade_bag(tmp_path / "bad", [good, good[:20]])
    with pytest.raises(RecordingError, match=r"cannot decode sensor_msgs/msg/JointState on "
                                             r"/cnc/ctrl at 1700000000250000000 ns"):
        _bounded(lambda: _consume(path, _layout()))


def test_malformed_samples_are_skipped_and_counted_like_the_node(tmp_path):
    stamp = 1_700_000_000_000_000_000
    payloads = [
        _joint_state(stamp, ["stat", "momo"], [1.0, 0.0]),
        _joint_state(stamp + 250_000_000, ["stat", "other"], [1.0, 0.0]),  # unknown name
        _joint_state(stamp + 500_000_000, ["stat", "momo"], [float("nan"), 0.0]),
        _joint_state(0, ["stat", "momo"], [1.0, 1.0]),                     # unset stamp
        _joint_state(stamp + 1_000_000_000, ["momo", "stat"], [3.0, 2.0]),  # other order
    ]
    path = _handmade_bag(tmp_path / "malformed", payloads)
    rejected: dict[str, int] = {}
    samples = list(bag_samples(path, _layout(), rejected))
    assert rejected == {"ctrl": 3}
    assert [s for _, s, _ in samples] == [stamp, stamp + 1_000_000_000]
    np.testing.assert_array_equal(samples[1][2], [2.0, 3.0])


def test_closed_bag(bag):
    opened = open_bag(bag)
    opened.close()
    opened.close()
    with pytest.raises(RecordingError, match=r"face_901 is closed"):
        list(opened.messages())


def test_folder_of_bags(tmp_path, bag):
    shutil.copytree(bag, bag.parent / "face_903")
    assert [p.name for p in find_bags([bag.parent])] == ["face_901", "face_903"]


def _alias_bomb(levels: int = 9) -> str:
    """Build a few KB of YAML whose aliases expand to 9**levels strings (a billion laughs)."""
    lines = ["l0: &l0 [" + ", ".join(["lollollol"] * 9) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_metadata_is_refused_before_rosbags_expands_it(bag):
    metadata = bag / "metadata.yaml"
    metadata.write_text(_alias_bomb() + metadata.read_text())
    assert metadata.stat().st_size < 8192
    with pytest.raises(RecordingError, match=r"face_901: Could not load YAML from .*metadata"
                                             r"\.yaml: alias \*l0 refused .*\(line 2, column"):
        _bounded(lambda: open_bag(bag))


def test_alias_bomb_in_the_offered_qos_string_is_refused(bag):
    metadata = bag / "metadata.yaml"
    document = yaml.safe_load(metadata.read_text())
    topics = document["rosbag2_bagfile_information"]["topics_with_message_count"]
    topics[0]["topic_metadata"]["offered_qos_profiles"] = _alias_bomb()
    metadata.write_text(yaml.safe_dump(document))
    with pytest.raises(RecordingError, match=r"face_901: Could not load YAML of the offered QoS "
                                             r"profiles of topic /cnc/.*alias \*l0 refused"):
        _bounded(lambda: open_bag(bag))


def test_oversized_metadata_is_refused_unread(bag, monkeypatch):
    monkeypatch.setattr(bag_metadata, "MAX_METADATA_BYTES", 100)
    with pytest.raises(RecordingError, match=r"face_901: metadata file .*metadata\.yaml is "
                                             r"\d+ bytes; expected at most 100"):
        open_bag(bag)


@pytest.mark.parametrize(("total", "expected"), [
    (999, r"message_count is 999 but its topics count 36 messages; expected them to agree"),
    (-1, r"message_count is -1; expected an integer >= 0"),
    ("many", r"message_count is 'many'; expected an integer >= 0"),
])
def test_metadata_counts_must_agree(bag, total, expected):
    metadata = bag / "metadata.yaml"
    document = yaml.safe_load(metadata.read_text())
    document["rosbag2_bagfile_information"]["message_count"] = total
    metadata.write_text(yaml.safe_dump(document))
    with pytest.raises(RecordingError, match=rf"face_901: metadata\.yaml {expected}"):
        open_bag(bag)


def test_alias_bomb_in_the_storage_qos_is_refused(tmp_path):
    path = _sqlite_bag(tmp_path, "face_903", "q")
    connection = sqlite3.connect(path / "q.db3")
    with connection:
        connection.execute("UPDATE topics SET offered_qos_profiles = ?", (_alias_bomb(),))
    connection.close()
    metadata = path / "metadata.yaml"
    document = yaml.safe_load(metadata.read_text())
    for entry in document["rosbag2_bagfile_information"]["topics_with_message_count"]:
        entry["topic_metadata"]["offered_qos_profiles"] = ""
    metadata.write_text(yaml.safe_dump(document))
    with pytest.raises(RecordingError, match=r"q: Could not load YAML of the offered QoS "
                                             r"profiles of topic /cnc/.* in q\.db3: alias \*l0"):
        _bounded(lambda: open_bag(path))
