# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Bag replay: schedule, topic plan (QoS, remap, offsets), and live playback over DDS."""

from __future__ import annotations

from pathlib import Path
import time
from typing import Any

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError, RecordingError
from streaming_gcode.core.stream_layout import NS_PER_S, StreamLayout
from streaming_gcode.recordings.bag_reader import open_bag
from streaming_gcode.recordings.bag_writer import write_run_bag
from streaming_gcode.recordings.csv_runs import load_run
from streaming_gcode.tools.harness.bag_player import (
    BEST_EFFORT,
    parse_remap,
    plan_topics,
    RELIABLE,
    ReplayOptions,
    ReplaySchedule,
)

REPO = Path(__file__).resolve().parents[3]
HEADER = "t_console,stat,momo,spindle,gcode_string\n"
RECEIVE_TIMEOUT_S = 30.0


def _layout() -> StreamLayout:
    return StreamLayout.from_parameters({
        "stream_names": ["ctrl", "cur"], "frame_clock": "ctrl",
        "streams.ctrl.topic": "cnc/ctrl", "streams.ctrl.type": "sensor_msgs/JointState",
        "streams.ctrl.channels": ["stat", "momo"], "streams.ctrl.depth": 5,
        "streams.cur.topic": "cnc/cur", "streams.cur.type": "sensor_msgs/JointState",
        "streams.cur.channels": ["spindle"], "streams.cur.reliable": True,
    })


@pytest.fixture
def small_bag(tmp_path: Path) -> Path:
    rows = "".join(
        f"10:00:{i // 4:02d}.{(i % 4) * 250:03d},1,1,{i * 0.5},G1 X{i}\n" for i in range(40)
    )
    run_file = tmp_path / "face_904_aligned.csv"
    run_file.write_text(HEADER + rows)
    return write_run_bag(load_run(run_file), _layout(), tmp_path / "face_904").path


def test_schedule_scales_time_both_ways():
    schedule = ReplaySchedule(bag_start_ns=10 * NS_PER_S, wall_start_ns=500, rate=20.0)
    assert schedule.wall_time(10 * NS_PER_S) == 500
    assert schedule.wall_time(12 * NS_PER_S) == 500 + NS_PER_S // 10
    assert schedule.bag_time(schedule.wall_time(17 * NS_PER_S)) == 17 * NS_PER_S


def test_schedule_plays_a_fast_start_faster_then_the_rate():
    schedule = ReplaySchedule(bag_start_ns=0, wall_start_ns=0, rate=2.0,
                              fast_ns=8 * NS_PER_S, fast_factor=4.0)
    assert schedule.wall_time(8 * NS_PER_S) == NS_PER_S              # 8 s of bag at 8x
    assert schedule.wall_time(10 * NS_PER_S) == 2 * NS_PER_S         # then 2 s at 2x
    for bag_ns in (0, 3 * NS_PER_S, 8 * NS_PER_S, 9 * NS_PER_S, 30 * NS_PER_S):
        assert abs(schedule.bag_time(schedule.wall_time(bag_ns)) - bag_ns) <= 8
    assert schedule.bag_time(-NS_PER_S) == -2 * NS_PER_S             # a delay before the start
    with pytest.raises(ConfigError, match="fast start must be >= 0 s at a factor >= 1"):
        ReplayOptions(fast_start_ns=NS_PER_S, fast_start_factor=0.5).validate()


def test_parse_remap():
    assert parse_remap(["cnc/a:=/m1/cnc/a", "/b:=c"]) == {"/cnc/a": "/m1/cnc/a", "/b": "/c"}
    with pytest.raises(ConfigError, match=r"remap 'cnc/a' must look like FROM:=TO"):
        parse_remap(["cnc/a"])
    with pytest.raises(ConfigError, match=r"remap ':=x' must look like FROM:=TO"):
        parse_remap([":=x"])


def test_plan_uses_recorded_qos_and_overrides(small_bag):
    with open_bag(small_bag) as bag:
        info = bag.info
    plans = plan_topics(info, ReplayOptions())
    assert (plans["/cnc/ctrl"].reliable, plans["/cnc/ctrl"].depth) == (False, 5)
    assert plans["/cnc/cur"].reliable and plans["/cnc/executing_line"].reliable
    plans = plan_topics(info, ReplayOptions(reliability={"*": RELIABLE, "cnc/cur": BEST_EFFORT},
                                            depth=100, remap={"/cnc/ctrl": "/m1/ctrl"}))
    assert plans["/cnc/ctrl"].reliable and plans["/cnc/ctrl"].target == "/m1/ctrl"
    assert not plans["/cnc/cur"].reliable
    assert {p.depth for p in plans.values()} == {100}
    plans = plan_topics(info, ReplayOptions(topics=("cnc/cur",)))
    assert list(plans) == ["/cnc/cur"]


@pytest.mark.parametrize(("options", "message"), [
    (ReplayOptions(rate=0.0), r"rate must be > 0"),
    (ReplayOptions(clock_hz=-1.0), r"clock rate must be > 0 Hz"),
    (ReplayOptions(depth=0), r"QoS depth must be >= 1"),
    (ReplayOptions(reliability={"*": "sometimes"}), r"must be reliable or best_effort"),
    (ReplayOptions(topics=("/nope",)), r"has no topics \['/nope'\]"),
    (ReplayOptions(remap={"/nope": "/x"}), r"has no topics \['/nope'\]"),
    (ReplayOptions(start_offset_ns=60 * NS_PER_S), r"start offset 60.000 s is beyond"),
])
def test_plan_rejects_bad_options(small_bag, options, message):
    with open_bag(small_bag) as bag:
        info = bag.info
    with pytest.raises(ConfigError, match=message):
        plan_topics(info, options)


def test_message_class_of_unknown_type():
    pytest.importorskip("sensor_msgs.msg")
    from streaming_gcode.node.conversions import message_class  # the player's lookup

    assert message_class("sensor_msgs/msg/JointState").__name__ == "JointState"
    with pytest.raises(RecordingError, match=r"'no_such_msgs/msg/Thing' cannot be imported: no "
                                             r"Python class no_such_msgs\.msg\.Thing"):
        message_class("no_such_msgs/msg/Thing")


# ---------------------------------------------------------------- live, over DDS


class _Recorder:
    """Subscribes to the replayed topics and /clock in its own node."""

    def __init__(self, context: Any, topics: dict[str, type]) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from rosgraph_msgs.msg import Clock

        self.node = Node("replay_test_recorder", context=context)
        self.received: dict[str, list[Any]] = {topic: [] for topic in topics}
        self.clock: list[int] = []
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        for topic, cls in topics.items():
            self.node.create_subscription(cls, topic, self.received[topic].append, qos)
        self.node.create_subscription(
            Clock, "/clock",
            lambda m: self.clock.append(m.clock.sec * NS_PER_S + m.clock.nanosec), qos)

    def spin_until(self, executor: Any, done: Any) -> None:
        deadline = time.monotonic() + RECEIVE_TIMEOUT_S
        while time.monotonic() < deadline and not done():
            executor.spin_once(timeout_sec=0.05)


@pytest.fixture
def ros_context():
    """Give an rclpy context in a domain where no other process uses the test's topics."""
    rclpy = pytest.importorskip("rclpy")
    from streaming_gcode.tools.live_eval.capture import quiet_domain

    domain = quiet_domain(["/clock", "/cnc/ctrl", "/cnc/cur", "/cnc/controller_state", "/m1/cur"])
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain)
    yield context
    context.try_shutdown()


def _stamp_ns(message: Any) -> int:
    return message.header.stamp.sec * NS_PER_S + message.header.stamp.nanosec


@pytest.mark.ros
@pytest.mark.data
def test_replays_a_real_run_fast_with_every_message_and_clock(tmp_path, data_dir, ros_context):
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String

    from streaming_gcode.tools.harness.bag_player import BagPlayer

    run_file = data_dir / "pocket_009_aligned.csv.gz"
    if not run_file.is_file():
        pytest.skip(f"{run_file.name} is not in {data_dir}")
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    bag = write_run_bag(load_run(run_file), layout, tmp_path / "pocket_009").path
    with open_bag(bag) as opened:
        info = opened.info
        expected = {name: [m.log_time_ns for m in opened.messages([name])]
                    for name in info.topics}
    topics = {name: (String if t.msg_type.endswith("String") else JointState)
              for name, t in info.topics.items()}
    recorder = _Recorder(ros_context, topics)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(recorder.node)
    options = ReplayOptions(rate=40.0, clock_hz=100.0, reliability={"*": RELIABLE}, depth=1000,
                            wait_for_subscribers_s=10.0)
    total = sum(len(v) for v in expected.values())
    stamps = sorted({s for topic_stamps in expected.values() for s in topic_stamps})

    def everything() -> bool:
        complete = sum(map(len, recorder.received.values())) >= total
        return complete and bool(recorder.clock) and recorder.clock[-1] >= stamps[-1]

    with BagPlayer(bag, options, context=ros_context) as player:
        recorder.spin_until(executor, everything)
        assert player.wait(RECEIVE_TIMEOUT_S)
    executor.shutdown()
    assert player.stats.total == total
    for name, stamps in expected.items():
        got = recorder.received[name]
        assert len(got) == len(stamps), name
        if topics[name] is JointState:
            assert [_stamp_ns(m) for m in got] == stamps, name
    lines = [m.data for m in recorder.received["/cnc/executing_line"]]
    assert lines == load_run(run_file).gcode
    clock = np.array(recorder.clock)
    # a /clock before each new stamp, never going back, ending on the last stamp
    assert len(clock) >= len(stamps)
    assert np.all(np.diff(clock) >= 0) and clock[-1] == stamps[-1]
    assert clock[0] >= info.start_ns and clock[-1] <= info.end_ns


@pytest.mark.ros
def test_remap_start_offset_and_topic_selection_live(small_bag, ros_context):
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import JointState

    from streaming_gcode.tools.harness.bag_player import BagPlayer

    recorder = _Recorder(ros_context, {"/m1/cur": JointState, "/cnc/ctrl": JointState})
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(recorder.node)
    options = ReplayOptions(rate=50.0, topics=("/cnc/cur",), remap={"/cnc/cur": "/m1/cur"},
                            start_offset_ns=5 * NS_PER_S, wait_for_subscribers_s=10.0)
    with BagPlayer(small_bag, options, context=ros_context) as player:
        recorder.spin_until(executor, lambda: len(recorder.received["/m1/cur"]) >= 20)
        assert player.wait(RECEIVE_TIMEOUT_S)
        executor.spin_once(timeout_sec=0.2)
    executor.shutdown()
    got = recorder.received["/m1/cur"]
    assert len(got) == 20                 # rows at 5.0 s .. 9.75 s of a 10 s bag
    assert [m.position[0] for m in got] == [i * 0.5 for i in range(20, 40)]
    assert recorder.received["/cnc/ctrl"] == [] and recorder.clock == []
    assert player.stats.clock_messages == 0
