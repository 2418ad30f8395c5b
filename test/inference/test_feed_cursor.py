# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""FeedCursor: what the model is fed each tick, and every reset reason, with explicit stamps."""

from __future__ import annotations

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.inference.feed_cursor import (
    FeedCursor, RESET_CLOCK, RESET_DEGRADED, RESET_ERROR, RESET_GAP, RESET_LOST, RESET_MODE,
)
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer

WINDOW = 8
PERIOD = 10_000_000
T0 = 5_000_000_000


class Feed:
    """A buffer fed frame by frame on a regular grid (frame value = its number)."""

    def __init__(self, capacity: int = 16) -> None:
        self.buffer = AlignedRingBuffer(capacity, 1, 0)
        self.count = 0
        self.stamp = T0

    def frames(self, n: int, degraded: bool = False, step: int = PERIOD) -> None:
        for _ in range(n):
            self.count += 1
            self.stamp += step
            self.buffer.append(self.stamp, np.array([self.count], np.float32),
                               np.zeros(0, np.int64), degraded)
            step = PERIOD


def _tick(cursor: FeedCursor, feed: Feed):
    plan = cursor.plan(feed.buffer)
    if plan is not None:
        cursor.commit(plan)
    return plan


def _values(plan) -> list[int]:
    return [int(v) for v in plan.frames.continuous[:, 0]]


def test_full_window_mode_feeds_the_whole_window_from_zero_each_tick():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=False)
    feed.frames(WINDOW - 1)
    assert cursor.plan(feed.buffer) is None               # still filling
    feed.frames(1)
    plan = _tick(cursor, feed)
    assert plan.from_zero_state and _values(plan) == list(range(1, 9))
    assert cursor.plan(feed.buffer) is None               # nothing new
    feed.frames(3)
    plan = _tick(cursor, feed)
    assert plan.from_zero_state and _values(plan) == list(range(4, 12))
    assert plan.newest_sequence == 11 and plan.newest_stamp_ns == T0 + 11 * PERIOD
    assert plan.first_stamp_ns == T0 + 4 * PERIOD and not cursor.has_state


def test_incremental_feeds_only_new_frames_after_a_full_warm_up():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=True)
    feed.frames(WINDOW)
    plan = _tick(cursor, feed)
    assert plan.from_zero_state and len(plan.frames) == WINDOW and plan.reset_reason is None
    for stride in (4, 1, 7):
        feed.frames(stride)
        plan = _tick(cursor, feed)
        assert not plan.from_zero_state
        assert _values(plan) == list(range(feed.count - stride + 1, feed.count + 1))
    assert not cursor.resets


def test_frames_missed_by_uncommitted_plans_are_fed_later():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=True)
    feed.frames(WINDOW)
    _tick(cursor, feed)
    feed.frames(2)
    assert cursor.plan(feed.buffer) is not None            # planned, never run (committed)
    feed.frames(3)
    assert _values(_tick(cursor, feed)) == [9, 10, 11, 12, 13]


def test_overwritten_frames_reset_with_lost_frames():
    feed, cursor = Feed(capacity=12), FeedCursor(WINDOW, incremental=True)
    feed.frames(WINDOW)
    _tick(cursor, feed)
    feed.frames(13)                                        # more than the capacity
    plan = _tick(cursor, feed)
    assert plan.from_zero_state and plan.reset_reason == RESET_LOST
    assert _values(plan) == list(range(14, 22)) and cursor.resets == {RESET_LOST: 1}


def test_clock_jump_back_resets():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=True)
    feed.frames(WINDOW)
    _tick(cursor, feed)
    feed.buffer.clear()
    feed.stamp = T0 - 100 * PERIOD                         # sim time restarted
    feed.frames(WINDOW)
    plan = _tick(cursor, feed)
    assert plan.reset_reason == RESET_CLOCK and plan.from_zero_state
    assert cursor.resets == {RESET_CLOCK: 1}


def test_time_gap_resets_only_beyond_max_gap():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=True, max_gap_ns=3 * PERIOD)
    feed.frames(WINDOW)
    _tick(cursor, feed)
    feed.frames(2, step=3 * PERIOD)
    assert not _tick(cursor, feed).from_zero_state
    feed.frames(2, step=3 * PERIOD + 1)
    plan = _tick(cursor, feed)
    assert plan.from_zero_state and plan.reset_reason == RESET_GAP


def test_degraded_frames_reset_the_state_once_they_leave_the_window():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=True)
    feed.frames(WINDOW)
    _tick(cursor, feed)
    feed.frames(2, degraded=True)                          # frames 9, 10 stale-filled
    plan = _tick(cursor, feed)
    assert plan.newest_degraded and plan.degraded and plan.last_degraded_fed == 10
    feed.frames(WINDOW - 1)                                # window 10..17 still holds frame 10
    assert not _tick(cursor, feed).from_zero_state
    feed.frames(1)                                         # window 11..18 is clean
    plan = _tick(cursor, feed)
    assert plan.reset_reason == RESET_DEGRADED and _values(plan) == list(range(11, 19))
    assert not plan.degraded
    feed.frames(4)
    assert not _tick(cursor, feed).from_zero_state          # clean state: no further reset
    assert cursor.resets == {RESET_DEGRADED: 1}


def test_mode_switch_and_failure_reset_the_state():
    feed, cursor = Feed(), FeedCursor(WINDOW, incremental=True)
    feed.frames(WINDOW)
    _tick(cursor, feed)
    cursor.incremental = False
    assert not cursor.has_state and cursor.resets == {RESET_MODE: 1}
    cursor.incremental = True
    feed.frames(1)
    assert _tick(cursor, feed).from_zero_state
    feed.frames(1)
    cursor.plan(feed.buffer)
    cursor.fail()
    assert cursor.resets == {RESET_MODE: 1, RESET_ERROR: 1}
    feed.frames(1)
    assert _tick(cursor, feed).from_zero_state


def test_invalid_arguments_are_rejected():
    with pytest.raises(ConfigError, match=r"window_frames must be >= 1, got 0"):
        FeedCursor(0, incremental=True)
    with pytest.raises(ConfigError, match=r"max_gap_ns must be > 0 or None, got 0"):
        FeedCursor(4, incremental=True, max_gap_ns=0)
    with pytest.raises(ValueError, match=r"reset reason 'bored' unknown"):
        FeedCursor(4, incremental=True).reset("bored")
