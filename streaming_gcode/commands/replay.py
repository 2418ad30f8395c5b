# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode replay`: play a rosbag2 bag into the ROS graph, like `ros2 bag play`."""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Sequence

from streaming_gcode.commands import run_command
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.tools.harness.bag_player import (
    ALL_TOPICS,
    BagPlayer,
    BEST_EFFORT,
    DEFAULT_CLOCK_HZ,
    DEFAULT_RATE,
    parse_remap,
    RELIABLE,
    ReplayOptions,
)

HELP = "play a rosbag2 bag (folder or .mcap/.db3) into ROS 2, like `ros2 bag play`"
PROGRESS_PERIOD_S = 0.2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments (put BAG first: the QoS options take topic lists)."""
    parser.add_argument("bag", type=Path, metavar="BAG", help="bag folder or .mcap/.db3 file")
    parser.add_argument("--rate", "-r", type=float, default=DEFAULT_RATE,
                        help="playback speed factor (default 1.0)")
    parser.add_argument("--clock", nargs="?", type=float, const=DEFAULT_CLOCK_HZ, default=None,
                        metavar="HZ", help="publish /clock at HZ (default "
                        f"{DEFAULT_CLOCK_HZ:g}) and before each message; for use_sim_time")
    parser.add_argument("--remap", "-m", nargs="+", default=[], metavar="FROM:=TO",
                        help="rename topics, e.g. /cnc/controller_state:=/m1/controller_state")
    parser.add_argument("--qos-reliable", nargs="*", default=None, metavar="TOPIC",
                        help="publish these topics (all when none given) reliable")
    parser.add_argument("--qos-best-effort", nargs="*", default=None, metavar="TOPIC",
                        help="publish these topics (all when none given) best effort")
    parser.add_argument("--qos-depth", type=int, default=None, metavar="N",
                        help="history depth of every publisher (default: as recorded)")
    parser.add_argument("--start-offset", type=float, default=0.0, metavar="S",
                        help="skip the first S seconds of the bag")
    parser.add_argument("--playback-duration", type=float, default=None, metavar="S",
                        help="play only S seconds of bag time (per pass)")
    parser.add_argument("--loop", "-l", action="store_true", help="play the bag repeatedly")
    parser.add_argument("--topics", nargs="+", default=None, metavar="TOPIC",
                        help="play only these topics")
    parser.add_argument("--wait-for-subscribers", type=float, default=0.0, metavar="S",
                        help="wait up to S seconds for a subscriber on every topic first")
    parser.add_argument("--delay", type=float, default=0.0, metavar="S",
                        help="wait S seconds after the first /clock before playing messages")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    """Build the player options from parsed arguments."""
    reliability: dict[str, str] = {}
    for policy, topics in ((BEST_EFFORT, args.qos_best_effort), (RELIABLE, args.qos_reliable)):
        if topics is not None:
            for topic in topics or [ALL_TOPICS]:
                reliability[topic] = policy
    return ReplayOptions(
        rate=args.rate,
        clock_hz=args.clock,
        remap=parse_remap(args.remap),
        reliability=reliability,
        depth=args.qos_depth,
        start_offset_ns=int(round(args.start_offset * NS_PER_S)),
        duration_ns=(None if args.playback_duration is None
                     else int(round(args.playback_duration * NS_PER_S))),
        loop=args.loop,
        topics=tuple(args.topics) if args.topics else None,
        wait_for_subscribers_s=args.wait_for_subscribers,
        delay_s=args.delay,
    )


def run(args: argparse.Namespace) -> int:
    """Play until the end (or Ctrl-C), showing progress."""
    import rclpy
    from tqdm import tqdm

    options = options_from_args(args)
    rclpy.init()
    try:
        player = BagPlayer(args.bag, options)
        for plan in player.plans.values():
            qos = "reliable" if plan.reliable else "best effort"
            print(f"{plan.source} -> {plan.target} [{plan.msg_type}, {qos}, depth {plan.depth}]")
        total = None if options.loop else player.message_count
        interrupted = False
        with player, tqdm(total=total, unit="msg", disable=args.quiet) as bar:
            try:
                while not player.finished.wait(PROGRESS_PERIOD_S):
                    bar.update(player.stats.total - bar.n)
            except KeyboardInterrupt:
                interrupted = True
                player.stop()
            bar.update(player.stats.total - bar.n)
        if not interrupted:
            player.wait(0)  # re-raise a playback error
        lag_ms = player.stats.max_lag_ns / 1e6
        print(f"published {player.stats.total} messages in {player.stats.passes} pass(es), "
              f"{player.stats.clock_messages} /clock, worst lag {lag_ms:.1f} ms")
    finally:
        if rclpy.ok():
            rclpy.shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run `replay` alone, without the other subcommands' imports.

    `python -m streaming_gcode.commands.replay BAG ...` is what the bag evaluator
    starts beside the node.
    """
    parser = argparse.ArgumentParser(prog="streaming-gcode replay", description=HELP)
    add_arguments(parser)
    return run_command("replay", run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
