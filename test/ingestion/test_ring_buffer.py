# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Ring buffer: wrap-around, ordering, zero-copy windows, bounded memory."""

import numpy as np
import pytest

from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer


def _fill(buffer: AlignedRingBuffer, count: int) -> None:
    for i in range(count):
        buffer.append(
            1000 * i,
            np.full(buffer.n_continuous, i, np.float32),
            np.full(buffer.n_categorical, i % 7),
            i % 3 == 0,
        )


def test_window_is_none_until_enough_frames():
    buffer = AlignedRingBuffer(8, 3, 2)
    _fill(buffer, 4)
    assert buffer.window(5) is None
    assert len(buffer.window(4)) == 4


@pytest.mark.parametrize("count", [5, 8, 9, 13, 100, 101])
def test_window_is_ordered_oldest_first_across_wrap(count):
    buffer = AlignedRingBuffer(8, 3, 2)
    _fill(buffer, count)
    window = buffer.window(min(count, 8))
    expected = np.arange(count - len(window), count)
    np.testing.assert_array_equal(window.stamps, expected * 1000)
    np.testing.assert_array_equal(window.continuous[:, 0], expected.astype(np.float32))
    np.testing.assert_array_equal(window.categorical[:, 1], expected % 7)
    np.testing.assert_array_equal(window.degraded, expected % 3 == 0)
    assert window.first_sequence == expected[0] + 1
    assert buffer.newest_stamp == (count - 1) * 1000


def test_window_is_a_view_not_a_copy():
    buffer = AlignedRingBuffer(8, 3, 2)
    _fill(buffer, 11)
    window = buffer.window(8)
    assert np.shares_memory(window.continuous, buffer._continuous)
    assert window.continuous.flags["C_CONTIGUOUS"]


def test_memory_is_fixed_by_capacity():
    buffer = AlignedRingBuffer(16, 4, 1)
    before = buffer._continuous.nbytes
    _fill(buffer, 1000)
    assert buffer._continuous.nbytes == before == 2 * 16 * 4 * 4
    assert len(buffer) == 16


def test_since_returns_only_new_frames_and_reveals_overwrites():
    buffer = AlignedRingBuffer(8, 3, 2)
    _fill(buffer, 10)
    new = buffer.since(7)
    np.testing.assert_array_equal(new.stamps, [7000, 8000, 9000])
    assert new.first_sequence == 8
    assert buffer.since(10) is None
    lost = buffer.since(0)
    assert len(lost) == 8 and lost.first_sequence == 3  # frames 1-2 were overwritten


def test_clear_empties_but_keeps_sequence():
    buffer = AlignedRingBuffer(4, 1, 0)
    _fill(buffer, 6)
    buffer.clear()
    assert len(buffer) == 0 and buffer.window(1) is None and buffer.newest_stamp is None
    assert buffer.total_appended == 6


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        AlignedRingBuffer(0, 1, 1)
