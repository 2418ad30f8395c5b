# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""StreamNode in-process: parameter declaration, validation and runtime changes, statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")

from rclpy.clock_type import ClockType  # noqa: E402, I100
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import Float32MultiArray  # noqa: E402
import torch  # noqa: E402

from streaming_gcode.core.errors import (  # noqa: E402
    ConfigError, FeatureMappingError, StreamingGcodeError,
)
from streaming_gcode.model.checkpoint import save_checkpoint  # noqa: E402
from streaming_gcode.model.random_weights import random_model  # noqa: E402
from streaming_gcode.node.lifecycle_transitions import TransitionCounts  # noqa: E402
from streaming_gcode.node.stream_node import create_node, StreamNode  # noqa: E402
from streaming_gcode.outputs.diagnostics import LIFECYCLE_KEYS  # noqa: E402

from model_support import continuous_checkpoint  # noqa: E402, I100

pytestmark = pytest.mark.ros
torch.set_num_threads(1)
WINDOW = 6


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    model = random_model("physical", d_model=8, num_layers=1, window=WINDOW, stride=2)
    path = tmp_path_factory.mktemp("node") / "tiny.pt"
    return save_checkpoint(path, model.backbone, model.line_heads, model.config, model.metadata)


@pytest.fixture()
def node(context, checkpoint):
    node = create_node({"checkpoint": str(checkpoint), "model": "physical"}, context=context)
    yield node
    node.destroy_node()


def _set(node: StreamNode, **values):
    return node.set_parameters([Parameter(k, value=v) for k, v in values.items()])


def test_defaults_use_the_shipped_layout_and_the_checkpoint_stride(node) -> None:
    assert node.get_name() == "streaming_gcode"
    assert node.get_parameter("stream_names").value[0] == "controller"
    assert node.get_parameter("streams.controller.type").value == "sensor_msgs/msg/JointState"
    assert node._tick_period_ns() == 2 * 250_000_000  # checkpoint stride 2 at 4 Hz
    descriptor = node.describe_parameter("stride")
    assert descriptor.integer_range[0].to_value == 4096 and not descriptor.read_only
    assert node.describe_parameter("checkpoint").read_only


def test_valid_runtime_change_applies_atomically(node) -> None:
    results = _set(node, stride=3, mode="incremental", latency_warn_ms=5.0)
    assert all(r.successful for r in results)
    assert node._settings.stride == 3 and node._settings.latency_warn_ms == 5.0
    assert node._engine.mode == "incremental"
    assert node._tick_timer.timer_period_ns == 3 * 250_000_000


def test_invalid_runtime_change_is_rejected_with_reason_and_changes_nothing(node) -> None:
    before = node._settings
    result = node.set_parameters_atomically([Parameter("stride", value=4),
                                             Parameter("latency_warn_ms", value=900.0)])
    assert not result.successful
    assert "latency_warn_ms (900.0) must not exceed latency_error_ms (250.0)" in result.reason
    assert node._settings is before and node.get_parameter("stride").value == 0
    (result,) = _set(node, mode="batch")
    assert not result.successful and "mode must be one of" in result.reason
    (result,) = _set(node, num_threads=0)
    assert not result.successful and node._engine.threads == 1
    (result,) = _set(node, checkpoint="/elsewhere.pt")
    assert not result.successful and "read-only" in result.reason


def test_statuses_cover_streams_buffer_inference_and_model(node) -> None:
    names = [s.name for s in node.statuses()]
    assert names[:2] == ["/streaming_gcode: stream controller",
                         "/streaming_gcode: stream motor_currents"]
    assert names[-3:] == ["/streaming_gcode: buffer", "/streaming_gcode: inference",
                          "/streaming_gcode: model"]
    assert "final stats: ticks 0, predictions 0" in node.final_stats()


def test_bad_parameter_values_fail_at_start_with_every_reason(context, checkpoint) -> None:
    with pytest.raises(ConfigError, match=r"num_threads.*out of range.*loss_warn_ratio"):
        create_node({"checkpoint": str(checkpoint), "num_threads": 0, "loss_warn_ratio": 2.0},
                    context=context)


def test_layout_parameters_are_validated(context, checkpoint) -> None:
    with pytest.raises(ConfigError, match=r"streams.s.topic must be a non-empty string"):
        create_node({"checkpoint": str(checkpoint), "stream_names": ["s"],
                     "streams.s.type": "std_msgs/Float32MultiArray",
                     "streams.s.channels": ["a"]}, context=context)


def test_agreement_parameters_are_declared_like_the_node_s_own(context, checkpoint) -> None:
    with pytest.raises(ConfigError, match=r"invalid agreement parameters: agreement_warn_below"
                       r".*out of range.*agreement_criterion must be one of"):
        create_node({"checkpoint": str(checkpoint), "model": "physical",
                     "agreement_warn_below": 1.5, "agreement_criterion": "vibes"},
                    context=context)
    # an integer for a double parameter is accepted, as for the node's own parameters
    node = create_node({"checkpoint": str(checkpoint), "model": "physical",
                        "agreement_window_s": 30}, context=context)
    try:
        assert node.get_parameter("agreement_window_s").value == 30
    finally:
        node.destroy_node()


def test_ticks_follow_sim_time_and_diagnostics_steady_time(context, checkpoint) -> None:
    """Inference ticks follow /clock; diagnostics keep coming when /clock stalls."""
    node = create_node({"checkpoint": str(checkpoint), "use_sim_time": True}, context=context)
    try:
        assert node.get_clock().ros_time_is_active
        assert node._tick_timer.clock is node.get_clock()
        assert node._diagnostics_timer.clock.clock_type == ClockType.STEADY_TIME
        assert node._now_ns() == 0  # no /clock yet
    finally:
        node.destroy_node()


def test_invalid_topic_name_is_a_config_error(context, checkpoint) -> None:
    with pytest.raises(ConfigError, match=r"streams.controller.topic 'bad topic!' is not a "
                       r"valid topic name"):
        create_node({"checkpoint": str(checkpoint), "streams.controller.topic": "bad topic!"},
                    context=context)


def test_missing_features_are_listed_in_one_error(context, checkpoint) -> None:
    with pytest.raises(FeatureMappingError, match=r"no stream provides 143 model feature"):
        create_node({"checkpoint": str(checkpoint), "stream_names": ["s"],
                     "streams.s.topic": "s", "streams.s.type": "std_msgs/Float32MultiArray",
                     "streams.s.channels": ["spindle"], "frame_clock": "s"}, context=context)


def _two_channel_checkpoint(path: Path) -> Path:
    return continuous_checkpoint(path, ["a0", "a1"])


def test_an_overrunning_tick_makes_the_next_one_skip(context, tmp_path) -> None:
    # A 10 us frame period: every real inference overruns its tick.
    node = create_node({
        "checkpoint": str(_two_channel_checkpoint(tmp_path / "two.pt")),
        "stream_names": ["s"], "streams.s.topic": "s", "frame_clock": "s",
        "streams.s.type": "std_msgs/Float32MultiArray", "streams.s.channels": ["a0", "a1"],
        "sample_rate_hz": 100_000.0, "alignment_timeout_s": 0.0,
    }, context=context)
    try:
        def feed(k: int) -> None:
            node._machines[""].ingest.on_message(0, Float32MultiArray(data=[k, -k]),
                                                 node._now_ns() - 1_000_000 + k)

        for k in range(6):
            feed(k)
        node._on_tick()   # predicts, overruns
        node._on_tick()   # skipped, not queued
        feed(6)
        node._on_tick()   # predicts again
        node._on_tick()   # skipped
        node._on_tick()   # nothing new: idle
        ticks = node._ticks
        assert (ticks.ticks, ticks.predictions, ticks.skipped, ticks.idle) == (5, 2, 2, 1)
        assert ticks.overruns == 2 and ticks.errors == 0
        inference = next(s for s in node.statuses() if s.name.endswith("inference"))
        assert inference.value("skipped_recent") == "2"
        assert "2 tick(s) skipped after overruns" in inference.message
    finally:
        node.destroy_node()


def test_one_ingestion_callback_takes_what_every_stream_has_queued(context, tmp_path,
                                                                   monkeypatch) -> None:
    """The drain: a frame arrives as one message per stream, one executor round takes all.

    A tick due meanwhile runs right there (the stream_node process, single-threaded).
    """
    from rclpy.duration import Duration
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from streaming_gcode.node.stream_node import StreamNode

    monkeypatch.setattr(StreamNode, "inline_ticks", True)
    node = create_node({
        "checkpoint": str(_two_channel_checkpoint(tmp_path / "two.pt")),
        "stream_names": ["a", "b"], "frame_clock": "a", "stride": 1,
        "streams.a.topic": "drain_a", "streams.a.type": "std_msgs/Float32MultiArray",
        "streams.a.channels": ["a0"], "streams.a.reliable": True, "streams.a.depth": 50,
        "streams.b.topic": "drain_b", "streams.b.type": "std_msgs/Float32MultiArray",
        "streams.b.channels": ["a1"], "streams.b.reliable": True, "streams.b.depth": 50,
    }, context=context)
    sender = rclpy.create_node("drain_sender", context=context)
    try:
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        publishers = [sender.create_publisher(Float32MultiArray, t, qos)
                      for t in ("drain_a", "drain_b")]
        io = node._machines[""]
        for _ in range(200):  # discovery: both subscriptions matched
            if all(p.get_subscription_count() == 1 for p in publishers):
                break
            rclpy.spin_once(sender, timeout_sec=0.05)
        frames = 5
        for k in range(frames):
            for p in publishers:
                p.publish(Float32MultiArray(data=[float(k)]))
        for p in publishers:  # every message is in the node's reader queues
            assert p.wait_for_all_acked(Duration(seconds=10))

        def accepted() -> list[int]:
            return [r.total.accepted for r in io.ingest.stream_reports(node._now_ns(), 0)]

        first = io.subscriptions[0].handle.take_message(Float32MultiArray, False)
        assert first is not None
        io._on_message(0, *first)
        assert accepted() == [frames, frames]
        # the ticks due meanwhile (stride 1) ran inside the callback, the executor idle:
        # a prediction once the 4-frame window was full, for frames 4 and 5
        assert node._ticks.predictions == 2 and not node._wakeup.is_due("")
        assert all(io._take(i) is None for i in range(2))   # nothing left for the executor
    finally:
        sender.destroy_node()
        node.destroy_node()


def test_diagnostics_period_follows_diagnostic_updater_period_and_its_alias(node) -> None:
    (result,) = _set(node, **{"diagnostic_updater.period": 0.5})
    assert result.successful and node._diagnostics_timer.timer_period_ns == 500_000_000
    (result,) = _set(node, diagnostics_period_s=0.25)   # the deprecated name still works
    assert result.successful and node._diagnostics_timer.timer_period_ns == 250_000_000


def _entities(node: StreamNode) -> tuple[int, int, int, int]:
    return (len(list(node.subscriptions)), len(list(node.publishers)),
            len(list(node.timers)), len(list(node.guards)))


def test_lifecycle_transitions_build_and_release_everything(context, checkpoint) -> None:
    node = create_node({"checkpoint": str(checkpoint), "model": "physical",
                        "autostart": False}, context=context)
    try:
        bare = _entities(node)
        assert node._engine is None and bare[0] == 0 and bare[2] == 0   # unconfigured
        ok = TransitionCallbackReturn.SUCCESS
        assert node.trigger_configure() == ok and node._tick_timer is None
        inactive = _entities(node)
        assert inactive[0] == len(node._layout.streams) and inactive[2] == 1   # diagnostics
        assert node.trigger_activate() == ok and node._tick_timer is not None
        inference = [s for s in node.statuses() if s.name.endswith(": inference")][0]
        assert [k for k, _ in inference.values][-len(LIFECYCLE_KEYS):] == list(LIFECYCLE_KEYS)
        assert inference.value("state") == "active" and inference.value("transitions") == "2"
        for _ in range(3):
            assert node.trigger_deactivate() == ok and _entities(node) == inactive
            assert node.trigger_activate() == ok
        assert node.trigger_deactivate() == ok
        assert node.trigger_cleanup() == ok and _entities(node) == bare
        assert node._engine is None and node._model is None
        assert node.trigger_configure() == ok and _entities(node) == inactive
        report = node.lifecycle_report()
        assert (report.configures, report.activations, report.deactivations,
                report.cleanups, report.transitions) == (2, 4, 4, 1, 11)
        assert node.trigger_shutdown() == ok and _entities(node) == bare
    finally:
        node.destroy_node()


def test_a_failed_configure_releases_and_can_be_retried(context, tmp_path) -> None:
    late = tmp_path / "late.pt"
    node = create_node({"checkpoint": str(late), "model": "physical", "autostart": False},
                       context=context)
    try:
        bare = _entities(node)
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert "no such checkpoint" in str(node.configure_error) and _entities(node) == bare
        model = random_model("physical", d_model=8, num_layers=1, window=WINDOW, stride=2)
        save_checkpoint(late, model.backbone, model.line_heads, model.config, model.metadata)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.transitions.configure_failures == 1 and node.configure_error is None
    finally:
        node.destroy_node()


def test_a_configure_failing_inside_a_machine_releases_what_it_built(context, checkpoint) -> None:
    """The last stream's bad topic fails after the outputs and earlier subscriptions exist."""
    node = create_node({"checkpoint": str(checkpoint), "model": "physical", "autostart": False,
                        "streams.board_xa_motor.topic": "bad topic!"}, context=context)
    try:
        bare = _entities(node)
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert isinstance(node.configure_error, ConfigError)
        assert "streams.board_xa_motor.topic 'bad topic!' is not a valid topic name" in str(
            node.configure_error)
        assert _entities(node) == bare and node._machines == {}
        name = node.get_name()
        for topic in ("/cnc/controller_state", "/cnc/motor_currents"):
            assert not [i for i in node.get_subscriptions_info_by_topic(topic)
                        if i.node_name == name]
        for topic in ("/streaming_gcode/gcode", "/streaming_gcode/prediction"):
            assert not [i for i in node.get_publishers_info_by_topic(topic)
                        if i.node_name == name]
        assert node.transitions.configure_failures == 1
    finally:
        node.destroy_node()


def test_autostart_raises_the_configuration_error(context, tmp_path) -> None:
    with pytest.raises(StreamingGcodeError, match="no such checkpoint"):
        create_node({"checkpoint": str(tmp_path / "absent.pt")}, context=context)


def test_messages_while_inactive_are_counted_per_period() -> None:
    counts = TransitionCounts()
    counts.enter("inactive", 10)
    assert counts.messages_inactive(15) == 5
    counts.enter("active", 20)
    assert counts.messages_inactive(100) == 10
    counts.enter("inactive", 100)
    counts.enter("unconfigured", 103)
    assert counts.messages_inactive(500) == 13


def test_lifecycle_keys_and_autostart_are_documented() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    node_section = readme.split("## The node: parameters, topics, diagnostics", 1)[1]
    for key in LIFECYCLE_KEYS:
        assert f"`{key}`" in node_section, key
    assert "### Lifecycle" in node_section and "| `autostart` | `true` |" in node_section
