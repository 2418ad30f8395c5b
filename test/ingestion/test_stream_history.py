# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""StreamHistory: a stream's newest samples in a ring, single and batched writes."""

from __future__ import annotations

import numpy as np

from streaming_gcode.ingestion.stream_history import StreamHistory


def _filled(depth: int, stamps: list[int]) -> StreamHistory:
    history = StreamHistory(2, depth)
    for stamp in stamps:
        history.push(stamp, np.array([stamp, -stamp], dtype=np.float64))
    return history


def test_a_batch_wraps_the_ring_like_single_pushes() -> None:
    single = _filled(8, list(range(1, 14)))
    batched = StreamHistory(2, 8)
    batched.push(1, np.array([1.0, -1.0]))
    stamps = np.arange(2, 14)
    batched.push_many(stamps, np.stack([stamps, -stamps], axis=1).astype(np.float64))
    assert (batched.count, batched.retained, batched.newest_stamp) == (13, 8, 13)
    np.testing.assert_array_equal(np.sort(batched.stamps), np.sort(single.stamps))
    np.testing.assert_array_equal(batched.between(0, 100)[0], single.between(0, 100)[0])


def test_a_batch_larger_than_the_ring_keeps_its_newest_samples() -> None:
    history = StreamHistory(2, 4)
    stamps = np.arange(10, 20)
    history.push_many(stamps, np.stack([stamps, stamps], axis=1).astype(np.float64))
    values, slot = history.between(0, 100)
    np.testing.assert_array_equal(values[:, 0], [16, 17, 18, 19])
    assert history.stamps[slot] == 19 and history.count == 10


def test_between_is_after_exclusive_until_inclusive_and_gives_the_newest_slot() -> None:
    history = _filled(16, [10, 20, 20, 30, 40])
    values, slot = history.between(10, 30)
    np.testing.assert_array_equal(values[:, 0], [20, 20, 30])
    assert history.stamps[slot] == 30 and slot == history.newest_at_or_before(35)
    empty, slot = history.between(40, 45)
    assert len(empty) == 0 and history.stamps[slot] == 40
    assert history.between(0, 5)[1] is None


def test_overwrites_after_counts_what_a_push_would_lose_after_a_stamp() -> None:
    history = StreamHistory(1, 4)
    history.push_many(np.array([1, 2, 3]), np.zeros((3, 1)))
    assert history.overwrites_after(np.array([4]), None) == 0        # a free slot
    assert history.overwrites_after(np.array([4, 5, 6]), None) == 2  # samples 1 and 2
    assert history.overwrites_after(np.array([4, 5, 6]), 1) == 1     # 1 was taken already
    # a batch beyond the depth loses its own oldest too
    assert history.overwrites_after(np.arange(4, 10), 0) == 3 + 2
