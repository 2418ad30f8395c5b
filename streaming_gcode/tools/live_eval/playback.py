# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""How the live evaluation plays a bag through the node, and what comes back.

Pure Python (no rclpy): the options of a live run, the record of one bag's
capture, the evaluated node's parameters, the `streaming-gcode replay`
command line and the player process that plays a bag beside the node, what
one pass plays, and the header stamp read straight from a serialised message.
`capture.py` does the ROS side.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import os
from pathlib import Path
import struct
import subprocess
import sys
import time
from typing import Any, Mapping, Sequence

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.core.stream_layout import DEFAULT_ALIGNMENT_TIMEOUT_S, NS_PER_S
from streaming_gcode.recordings.bag_reader import open_bag
from streaming_gcode.tools.harness.node_process import DOMAIN_ENV
from streaming_gcode.tools.live_eval.report import DEFAULT_TOLERANCE

DEFAULT_LIVE_RATE = 20.0
DEFAULT_LIVE_CLOCK_HZ = 40.0      # as `ros2 bag play --clock`; the player also ticks per stamp
LIVE_QOS_DEPTH = 1000          # reliable keep-last deep enough that nothing is overwritten
DISCOVERY_TIMEOUT_S = 20.0
LIVE_ALIGNMENT_TIMEOUT_WALL_S = 2.0
CLOCK_LEAD_S = 0.5             # wall time between the first /clock and the first message
CDR_HEADER_BYTES = 4           # encapsulation kind and options before the message
REPLAY_MODULE = "streaming_gcode.commands.replay"   # run as a process, never imported


@dataclass(frozen=True)
class LiveOptions:
    """How bags are played through the node."""

    rate: float = DEFAULT_LIVE_RATE
    clock_hz: float = DEFAULT_LIVE_CLOCK_HZ
    reliable: bool = True
    depth: int = LIVE_QOS_DEPTH
    duration_s: float | None = None            # play only the start of each bag
    tolerance: float = DEFAULT_TOLERANCE
    node_parameters: Mapping[str, Any] = field(default_factory=dict)
    timeline_dir: Path | None = None
    domain_id: int | None = None               # None: ROS_DOMAIN_ID of the environment


@dataclass
class LiveCapture:
    """What came back from one bag's playback."""

    records: list[dict[str, Any]]
    receipt_ns: list[int]                  # monotonic wall time of each record's arrival
    gcode: list[str]
    published: dict[str, int]              # messages played, by topic
    frame_arrival_ns: dict[int, int]       # frame-clock stamp -> monotonic arrival here
    statuses: list[Any]                    # the node's final diagnostic statuses
    final_stats: str
    wall_s: float                          # playback wall time (player process)
    played_until_ns: int                   # monotonic time the player process ended
    last_message_ns: int                   # stamp of the last message played
    last_clock_ns: int                     # last /clock sent (after the clock tail)
    tail_s: float                          # wall time the clock ran on after the bag
    agreement: list[float] = field(default_factory=list)


def node_parameters(
    layout_params: Mapping[str, Any], checkpoint: Path, options: LiveOptions
) -> dict[str, Any]:
    """Build the evaluated node's parameters: layout, model, sim time, deep reliable QoS.

    The alignment timeout is at least LIVE_ALIGNMENT_TIMEOUT_WALL_S of wall time,
    scaled to bag time by the rate: a frame whose streams all deliver is
    finalised at once whatever the timeout, so a generous one only keeps a node
    that falls behind a fast replay from finalising frames before their
    samples are ingested (which would drop them as late). Frames stay the ones
    offline alignment builds.
    """
    params = dict(layout_params)
    for name in params.get("stream_names", []):
        params[f"streams.{name}.reliable"] = options.reliable
        params[f"streams.{name}.depth"] = options.depth
    timeout = float(params.get("alignment_timeout_s", DEFAULT_ALIGNMENT_TIMEOUT_S))
    params.update({
        "use_sim_time": True,
        "checkpoint": str(checkpoint),
        # a delay of d wall seconds is rate * d seconds of bag time
        "alignment_timeout_s": max(timeout, LIVE_ALIGNMENT_TIMEOUT_WALL_S) * options.rate,
    })
    params.update(options.node_parameters)
    return params


def header_stamp_ns(cdr: bytes) -> int:
    """Read `header.stamp` from a serialised message whose first field is a std_msgs/Header."""
    order = "<" if cdr[1] == 1 else ">"  # encapsulation: CDR_LE (0x0001) or CDR_BE (0x0000)
    sec, nanosec = struct.unpack_from(order + "iI", cdr, CDR_HEADER_BYTES)
    return sec * NS_PER_S + nanosec


def player_command(bag: Path, options: LiveOptions, topics: Sequence[str] = ()) -> list[str]:
    """Build the `streaming-gcode replay` command line that plays a bag for the evaluation.

    `topics`: play only these (the ones the node listens to), so the player's
    wait for subscribers does not wait for topics nobody subscribes to.
    """
    command = [
        sys.executable, "-m", REPLAY_MODULE, str(bag),
        "--rate", f"{options.rate:g}", "--clock", f"{options.clock_hz:g}",
        "--qos-depth", str(options.depth), "--wait-for-subscribers", f"{DISCOVERY_TIMEOUT_S:g}",
        "--delay", f"{CLOCK_LEAD_S:g}", "--quiet",
    ]
    command += ["--qos-reliable"] if options.reliable else ["--qos-best-effort"]
    if options.duration_s is not None:
        command += ["--playback-duration", f"{options.duration_s:g}"]
    if topics:
        command += ["--topics", *topics]
    return command


def played_summary(bag: Path, duration_s: float | None) -> tuple[dict[str, int], int]:
    """Messages per topic that one pass plays, and the stamp of the last one."""
    with open_bag(bag) as opened:
        info = opened.info
        if duration_s is None:
            return {name: topic.count for name, topic in info.topics.items()}, info.end_ns
        stop = info.start_ns + int(duration_s * NS_PER_S)
        counts, last = dict.fromkeys(info.topics, 0), info.start_ns
        for message in opened.messages(stop_ns=stop):
            counts[message.topic] += 1
            last = message.log_time_ns
        return counts, last


def run_player(bag: Path, options: LiveOptions, topics: Sequence[str],
               timeout_s: float) -> float:
    """Play `topics` of a bag from a `streaming-gcode replay` process; its wall time in s."""
    started = time.monotonic()
    env = dict(os.environ)
    if options.domain_id is not None:
        env[DOMAIN_ENV] = str(options.domain_id)
    result = subprocess.run(player_command(bag, options, topics), capture_output=True,
                            text=True, timeout=timeout_s, check=False, env=env)
    if result.returncode != 0:
        raise RecordingError(f"replaying {bag} failed (exit {result.returncode}): "
                             f"{result.stderr.strip()[-2000:]}")
    return time.monotonic() - started


__all__ = [
    "DEFAULT_LIVE_CLOCK_HZ", "DEFAULT_LIVE_RATE", "LIVE_QOS_DEPTH", "LiveCapture", "LiveOptions",
    "header_stamp_ns", "node_parameters", "played_summary", "player_command", "run_player",
]
