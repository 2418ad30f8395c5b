# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""How the node process runs its callbacks: the executor, the GIL switch interval, the heap.

The executor is rclpy's `SingleThreadedExecutor`: side by side on a 2-core
host (10 reliable streams at 500 messages/s each, 5 s steps, the publishers
and a subscriber beside the node, 2026-12-02), it took 21 of 22 steps at
5,000 messages/s without loss (in the other, 2.6 % overflowed the queues),
the `MultiThreadedExecutor` (a thread ingesting while another runs the model,
both contending for the GIL) none of 6 (its queues overflowed: 3-28 % lost).
A tick runs between two ingestion callbacks; the reliable queues hold what
arrives meanwhile.
`STREAMING_GCODE_EXECUTOR=multi_threaded` selects the other, so the benchmark
can compare them on one build. rclpy's experimental `EventsExecutor` is not
offered: it refuses guard conditions (which wake the tick, tick_wakeup.py) and
subscriptions whose callback takes the message info.
"""

from __future__ import annotations

import gc
import os
import sys

from rclpy.executors import Executor, MultiThreadedExecutor, SingleThreadedExecutor

from streaming_gcode.core.errors import ConfigError

EXECUTOR_ENV = "STREAMING_GCODE_EXECUTOR"
SINGLE_THREADED, MULTI_THREADED = "single_threaded", "multi_threaded"
EXECUTORS = (SINGLE_THREADED, MULTI_THREADED)       # the first is the default
EXECUTOR_THREADS = 3          # multi-threaded: ingestion, inference, diagnostics/parameters
# Python hands the GIL between threads every this many seconds (default 5 ms): with busy
# ingestion callbacks and executor, a tick waits up to one interval each time it gets the
# GIL back after releasing it (model, locks, publishing). Measured with `bench` end to end
# on 2 cores: tick-to-receipt p50/p99 11.5/29.6 ms at 1 ms, 6.6/20.3 ms at 0.2 ms.
GIL_SWITCH_INTERVAL_S = 0.0002


def executor_kind(environ: dict[str, str] | None = None) -> str:
    """Return the executor EXECUTOR_ENV names (default EXECUTORS[0]); ConfigError if unknown."""
    kind = (os.environ if environ is None else environ).get(EXECUTOR_ENV) or EXECUTORS[0]
    if kind not in EXECUTORS:
        raise ConfigError(f"{EXECUTOR_ENV}={kind!r} unknown; expected one of {list(EXECUTORS)}")
    return kind


def make_executor(kind: str) -> Executor:
    """Build the executor `kind` names (one of EXECUTORS)."""
    if kind == MULTI_THREADED:
        return MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
    return SingleThreadedExecutor()


def use_node_switch_interval() -> float:
    """Set the GIL switch interval the node runs with (GIL_SWITCH_INTERVAL_S); return the old one.

    In-process runs of the node (live evaluation, tests) call this too, so they
    time it as `stream_node` runs.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    return previous


def freeze_startup_objects() -> None:
    """Keep what start-up built (torch, the model, rclpy) out of the garbage collector's scans.

    Those objects live as long as the process; without this every full
    collection walks all of them again, a pause that lands in whichever tick
    triggers it and grows with everything the process ever kept.
    """
    gc.collect()
    gc.freeze()
