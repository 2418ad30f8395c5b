# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Play a rosbag2 bag into the ROS graph, like `ros2 bag play`, from Python.

The recorded CDR bytes are published as they are (rclpy publishes serialised
messages), with the recorded timing scaled by the rate. With a clock rate the
player publishes `/clock` at that rate and also just before every message that
advances bag time, so a node with `use_sim_time` never sees data stamped ahead
of its clock and the clock never runs ahead of the data. `BagPlayer` runs in a
thread with `start()`, `stop()` and a `finished` event, for the CLI, the demo,
tests and the bag evaluator. rclpy is imported only when a player is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import threading
import time
from typing import Any, Mapping, Sequence

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.recordings.bag_reader import BagInfo, open_bag, TopicSummary
from streaming_gcode.recordings.bag_writer import absolute_topic

DEFAULT_RATE = 1.0
DEFAULT_CLOCK_HZ = 40.0            # as `ros2 bag play --clock`
DEFAULT_DEPTH = 10                 # history depth when the bag recorded none
DEFAULT_NODE_NAME = "streaming_gcode_replay"
DEFAULT_ACK_TIMEOUT_S = 2.0        # wait for reliable subscribers at the end of a pass
CLOCK_TOPIC = "/clock"
CLOCK_DEPTH = 10
RELIABLE = "reliable"
BEST_EFFORT = "best_effort"
ALL_TOPICS = "*"
REMAP_SEPARATOR = ":="
SUBSCRIBER_POLL_S = 0.05


@dataclass(frozen=True)
class ReplayOptions:
    """How to play a bag (the `replay` command's options)."""

    rate: float = DEFAULT_RATE
    clock_hz: float | None = None                 # None: no /clock
    remap: Mapping[str, str] = field(default_factory=dict)
    reliability: Mapping[str, str] = field(default_factory=dict)  # topic or "*" -> policy
    depth: int | None = None                      # history depth override for every topic
    start_offset_ns: int = 0
    duration_ns: int | None = None                # play only this much bag time per pass
    loop: bool = False
    topics: tuple[str, ...] | None = None         # None: every topic of the bag
    wait_for_subscribers_s: float = 0.0           # wait for a subscriber on every topic
    delay_s: float = 0.0                          # wall time between the first /clock and data
    ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S
    record_publish_times: bool = False            # keep the wall time of each stamp's messages
    fast_start_ns: int = 0                        # bag time at the start of each pass played
    fast_start_factor: float = 1.0                # ... this many times faster (a warm start)

    def validate(self) -> None:
        """Raise ConfigError on any invalid option."""
        if not self.rate > 0:
            raise ConfigError(f"rate must be > 0, got {self.rate}")
        if self.clock_hz is not None and not self.clock_hz > 0:
            raise ConfigError(f"clock rate must be > 0 Hz, got {self.clock_hz}")
        if self.start_offset_ns < 0:
            raise ConfigError(f"start offset must be >= 0 s, got {self.start_offset_ns / 1e9}")
        if self.duration_ns is not None and self.duration_ns <= 0:
            raise ConfigError(f"playback duration must be > 0 s, got {self.duration_ns / 1e9}")
        if self.depth is not None and self.depth < 1:
            raise ConfigError(f"QoS depth must be >= 1, got {self.depth}")
        if self.wait_for_subscribers_s < 0 or self.ack_timeout_s < 0 or self.delay_s < 0:
            raise ConfigError("waiting times must be >= 0 s")
        if self.fast_start_ns < 0 or not self.fast_start_factor >= 1:
            raise ConfigError(f"fast start must be >= 0 s at a factor >= 1, got "
                              f"{self.fast_start_ns / 1e9} s x{self.fast_start_factor}")
        bad = {t: p for t, p in self.reliability.items() if p not in (RELIABLE, BEST_EFFORT)}
        if bad:
            raise ConfigError(f"QoS reliability must be {RELIABLE} or {BEST_EFFORT}: {bad}")


def parse_remap(items: Sequence[str]) -> dict[str, str]:
    """`FROM:=TO` pairs to an absolute-name mapping."""
    mapping: dict[str, str] = {}
    for item in items:
        source, sep, target = item.partition(REMAP_SEPARATOR)
        if not sep or not source or not target:
            raise ConfigError(f"remap {item!r} must look like FROM{REMAP_SEPARATOR}TO")
        mapping[absolute_topic(source)] = absolute_topic(target)
    return mapping


class ReplaySchedule:
    """Maps bag time to wall time (monotonic ns) for a playback rate.

    The first `fast_ns` of bag time may play `fast_factor` times faster still
    (a warm start that fills a model window in seconds); after it, `rate`.
    """

    def __init__(self, bag_start_ns: int, wall_start_ns: int, rate: float,
                 fast_ns: int = 0, fast_factor: float = 1.0) -> None:
        self.bag_start_ns = bag_start_ns
        self.wall_start_ns = wall_start_ns
        self.rate = rate
        self.fast_ns = max(0, fast_ns)
        self.fast_rate = rate * fast_factor
        self._fast_wall_ns = self.fast_ns / self.fast_rate

    def wall_time(self, bag_ns: int) -> int:
        """When a message stamped `bag_ns` is due."""
        elapsed = bag_ns - self.bag_start_ns
        fast = min(max(elapsed, 0), self.fast_ns)
        return self.wall_start_ns + int(fast / self.fast_rate + (elapsed - fast) / self.rate)

    def bag_time(self, wall_ns: int) -> int:
        """Playback time at wall time `wall_ns`."""
        elapsed = wall_ns - self.wall_start_ns
        if 0 < elapsed <= self._fast_wall_ns:
            return self.bag_start_ns + int(elapsed * self.fast_rate)
        if elapsed > self._fast_wall_ns:
            return self.bag_start_ns + self.fast_ns + int((elapsed - self._fast_wall_ns)
                                                          * self.rate)
        return self.bag_start_ns + int(elapsed * self.rate)


@dataclass
class TopicPlan:
    """One bag topic as it will be published."""

    source: str            # name in the bag
    target: str            # name published (after remapping)
    msg_type: str
    reliable: bool
    depth: int
    transient_local: bool


def plan_topics(info: BagInfo, options: ReplayOptions) -> dict[str, TopicPlan]:
    """Resolve topic selection, remapping and QoS (recorded or overridden) per bag topic."""
    options.validate()
    selected = list(info.topics)
    if options.topics is not None:
        wanted = [absolute_topic(t) for t in options.topics]
        unknown = [t for t in wanted if t not in info.topics]
        if unknown:
            raise ConfigError(f"bag {info.path} has no topics {unknown}; it has {selected}")
        selected = wanted
    unknown = [
        t for t in list(options.reliability) + list(options.remap)
        if t != ALL_TOPICS and absolute_topic(t) not in info.topics
    ]
    if unknown:
        raise ConfigError(f"bag {info.path} has no topics {unknown}; it has {list(info.topics)}")
    if options.start_offset_ns > info.duration_ns:
        raise ConfigError(
            f"start offset {options.start_offset_ns / 1e9:.3f} s is beyond the bag's "
            f"duration of {info.duration_ns / 1e9:.3f} s"
        )
    overrides = {absolute_topic(t) if t != ALL_TOPICS else t: p
                 for t, p in options.reliability.items()}
    plans: dict[str, TopicPlan] = {}
    for name in selected:
        topic: TopicSummary = info.topics[name]
        policy = overrides.get(name, overrides.get(ALL_TOPICS))
        reliable = policy == RELIABLE if policy else bool(topic.reliable)
        depth = options.depth or topic.depth or DEFAULT_DEPTH
        plans[name] = TopicPlan(
            name, options.remap.get(name, name), topic.msg_type, reliable, depth,
            topic.transient_local,
        )
    return plans


@dataclass
class ReplayStats:
    """What a player has done so far (read from other threads)."""

    published: dict[str, int] = field(default_factory=dict)
    clock_messages: int = 0
    passes: int = 0
    max_lag_ns: int = 0               # worst lateness of a message against its schedule
    last_bag_time_ns: int | None = None
    publish_wall_ns: dict[int, int] = field(default_factory=dict)  # bag stamp -> monotonic ns

    @property
    def total(self) -> int:
        """Messages published so far (all topics)."""
        return sum(self.published.values())


class BagPlayer:
    """Plays one bag in a background thread; `finished` is set at the end or on error."""

    def __init__(
        self,
        bag: str | Path,
        options: ReplayOptions | None = None,
        context: Any = None,
        node_name: str = DEFAULT_NODE_NAME,
    ) -> None:
        self.path = Path(bag)
        self.options = options or ReplayOptions()
        with open_bag(self.path) as opened:
            self.info = opened.info
        self.plans = plan_topics(self.info, self.options)
        # node.conversions imports rclpy, and the CLI imports this module to build its parser
        from streaming_gcode.node.conversions import message_class

        self._classes = {name: message_class(p.msg_type) for name, p in self.plans.items()}
        self._context = context
        self._node_name = node_name
        self._node: Any = None
        self._publishers: dict[str, Any] = {}
        self._clock_publisher: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.finished = threading.Event()
        self.error: BaseException | None = None
        self.stats = ReplayStats(published={p.target: 0 for p in self.plans.values()})

    @property
    def message_count(self) -> int:
        """Count the messages of the selected topics (an upper bound with a start offset)."""
        return sum(self.info.topics[name].count for name in self.plans)

    def start(self) -> None:
        """Create the node and publishers here (errors raise now), then play in a thread."""
        import rclpy
        from rclpy.node import Node

        if self._thread is not None:
            raise ConfigError("player already started")
        if not rclpy.ok(context=self._context):
            raise ConfigError("rclpy is not initialised; call rclpy.init() first")
        self._node = Node(self._node_name, context=self._context)
        for name, plan in self.plans.items():
            self._publishers[name] = self._node.create_publisher(
                self._classes[name], plan.target, _qos(plan)
            )
        if self.options.clock_hz is not None:
            from rosgraph_msgs.msg import Clock

            self._clock_publisher = self._node.create_publisher(Clock, CLOCK_TOPIC, _clock_qos())
        self._thread = threading.Thread(target=self._run, name="bag-player", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop playing and wait for the thread; publishers stay until `close()`."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def close(self) -> None:
        """Stop and destroy the node."""
        self.stop()
        if self._node is not None:
            self._node.destroy_node()
            self._node = None

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the end of playback; re-raise a playback error."""
        done = self.finished.wait(timeout)
        if self.error is not None:
            raise self.error
        return done

    def __enter__(self) -> BagPlayer:
        """Start on entering the context."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on leaving the context."""
        self.close()

    def _run(self) -> None:
        try:
            if self._wait_for_subscribers():
                while not self._stop.is_set():
                    self._play_pass()
                    self.stats.passes += 1
                    if not self.options.loop:
                        break
        except BaseException as exc:  # noqa: BLE001 - reported through wait()
            self.error = exc
        finally:
            self.finished.set()

    def _wait_for_subscribers(self) -> bool:
        deadline = time.monotonic() + self.options.wait_for_subscribers_s
        publishers = list(self._publishers.values())
        if self._clock_publisher is not None:
            publishers.append(self._clock_publisher)
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in publishers):
                return True
            if self._stop.wait(SUBSCRIBER_POLL_S):
                return False
        return not self._stop.is_set()

    def _publish_clock(self, bag_ns: int) -> None:
        from rosgraph_msgs.msg import Clock

        if self._clock_publisher is None:
            return
        message = Clock()
        message.clock.sec, message.clock.nanosec = divmod(bag_ns, NS_PER_S)
        self._clock_publisher.publish(message)
        self.stats.clock_messages += 1
        self.stats.last_bag_time_ns = bag_ns

    def _sleep_until(self, due_wall_ns: int, schedule: ReplaySchedule) -> bool:
        """Wait for a message's time, publishing /clock meanwhile; False if stopped."""
        period_ns = None
        if self.options.clock_hz is not None:
            period_ns = int(NS_PER_S / self.options.clock_hz)
        while True:
            now = time.monotonic_ns()
            if now >= due_wall_ns:
                return not self._stop.is_set()
            wake = due_wall_ns if period_ns is None else min(due_wall_ns, now + period_ns)
            if self._stop.wait((wake - now) / NS_PER_S):
                return False
            now = time.monotonic_ns()
            if period_ns is not None and now < due_wall_ns:
                # never ahead of the next message, never behind the start (during a delay)
                self._publish_clock(max(schedule.bag_time(now), schedule.bag_start_ns))

    def _play_pass(self) -> None:
        start = self.info.start_ns + self.options.start_offset_ns
        stop = None if self.options.duration_ns is None else start + self.options.duration_ns
        schedule: ReplaySchedule | None = None
        clock_ns = -1
        with open_bag(self.path) as bag:
            for message in bag.messages(list(self.plans), start_ns=start, stop_ns=stop):
                if schedule is None:
                    self._publish_clock(start)
                    clock_ns = start
                    delay_ns = int(self.options.delay_s * NS_PER_S)
                    schedule = ReplaySchedule(start, time.monotonic_ns() + delay_ns,
                                              self.options.rate, self.options.fast_start_ns,
                                              self.options.fast_start_factor)
                due = schedule.wall_time(message.log_time_ns)
                if not self._sleep_until(due, schedule):
                    return
                if message.log_time_ns > clock_ns:
                    self._publish_clock(message.log_time_ns)
                    clock_ns = message.log_time_ns
                plan = self.plans[message.topic]
                self._publishers[message.topic].publish(message.data)
                self.stats.published[plan.target] += 1
                now = time.monotonic_ns()
                self.stats.max_lag_ns = max(self.stats.max_lag_ns, now - due)
                if self.options.record_publish_times:
                    self.stats.publish_wall_ns[message.log_time_ns] = now
        self._wait_for_acks()

    def _wait_for_acks(self) -> None:
        from rclpy.duration import Duration

        timeout = Duration(nanoseconds=int(self.options.ack_timeout_s * NS_PER_S))
        for name, publisher in self._publishers.items():
            if self.plans[name].reliable and not self._stop.is_set():
                publisher.wait_for_all_acked(timeout)


def _clock_qos() -> Any:
    """Keep-last reliable: matches rclpy's best-effort time source and reliable listeners."""
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    return QoSProfile(depth=CLOCK_DEPTH, reliability=ReliabilityPolicy.RELIABLE)


def _qos(plan: TopicPlan) -> Any:
    from rclpy.qos import (
        DurabilityPolicy,
        HistoryPolicy,
        QoSProfile,
        ReliabilityPolicy,
    )

    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=plan.depth,
        reliability=ReliabilityPolicy.RELIABLE if plan.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL if plan.transient_local else DurabilityPolicy.VOLATILE
        ),
    )
