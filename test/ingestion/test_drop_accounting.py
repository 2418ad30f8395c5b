# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Drop accounting: sequence gaps per publisher and every other drop counter."""

from __future__ import annotations

import pytest

from streaming_gcode.ingestion.drop_accounting import DropAccounting, DropCounters

GID_A = b"\x01" * 16
GID_B = b"\x02" * 16


def test_consecutive_sequences_lose_nothing() -> None:
    acc = DropAccounting(["imu"])
    for seq in range(1, 101):
        assert acc.on_message("imu", GID_A, seq) == 0
    counters = acc.counters("imu")
    assert counters.received == 100 and counters.lost == 0 and counters.publishers == 1


def test_gaps_count_the_missing_messages() -> None:
    acc = DropAccounting(["imu"])
    delivered = [1, 2, 5, 6, 10, 11]
    gaps = [acc.on_message("imu", GID_A, seq) for seq in delivered]
    assert gaps == [0, 0, 2, 0, 3, 0]
    counters = acc.counters("imu")
    assert counters.lost == 5
    assert counters.offered == 11 and counters.received == 6


def test_first_message_of_a_publisher_is_not_a_gap() -> None:
    acc = DropAccounting(["imu"])
    assert acc.on_message("imu", GID_A, 500) == 0  # joined late: not a loss
    assert acc.counters("imu").lost == 0


def test_publishers_are_tracked_separately() -> None:
    acc = DropAccounting(["imu"])
    for seq in range(1, 6):
        acc.on_message("imu", GID_A, seq)
        acc.on_message("imu", GID_B, 100 + 2 * seq)  # B loses every other message
    counters = acc.counters("imu")
    assert counters.publishers == 2
    assert counters.lost == 4


def test_restarted_publisher_with_new_identity_starts_fresh() -> None:
    acc = DropAccounting(["imu"])
    for seq in range(1, 1001):
        acc.on_message("imu", GID_A, seq)
    for seq in range(1, 11):  # same sensor, new process: new gid, sequence from 1
        acc.on_message("imu", GID_B, seq)
    counters = acc.counters("imu")
    assert counters.lost == 0 and counters.sequence_resets == 0 and counters.publishers == 2


def test_sequence_going_back_on_a_known_publisher_resets_without_loss() -> None:
    acc = DropAccounting(["imu"])
    for seq in (1, 2, 3, 1, 2, 4):
        acc.on_message("imu", GID_A, seq)
    counters = acc.counters("imu")
    assert counters.sequence_resets == 1
    assert counters.lost == 1  # only the 3 missing between 2 and 4 after the reset


def test_missing_sequence_information_is_not_a_gap() -> None:
    acc = DropAccounting(["imu"])
    assert acc.on_message("imu", None, 7) == 0
    assert acc.on_message("imu", GID_A, None) == 0
    assert acc.on_message("imu", GID_A, 0) == 0
    assert acc.counters("imu").received == 3 and acc.counters("imu").lost == 0
    assert acc.counters("imu").untracked == 3  # shown, so nobody reads 0 lost as "none lost"


def test_publisher_memory_is_bounded_and_evicted_publishers_start_fresh() -> None:
    acc = DropAccounting(["imu"], max_publishers=3)
    for i in range(10):
        acc.on_message("imu", bytes([i]) * 16, 1)
    assert acc.tracked_publishers("imu") == 3
    acc.on_message("imu", bytes([0]) * 16, 50)  # evicted long ago: no false gap
    assert acc.counters("imu").lost == 0


def test_other_counters_and_dropped_total() -> None:
    acc = DropAccounting(["a", "b"])
    acc.on_message("a", GID_A, 1)
    acc.on_message("a", GID_A, 3)
    acc.on_accepted("a")
    acc.on_late("a")
    acc.on_out_of_order("a")
    acc.on_malformed("a")
    acc.on_malformed("a")
    acc.on_before_clock("a")
    acc.on_message_lost("a", 4)
    acc.on_message_lost("a", -1)  # nonsense from below is ignored, not subtracted
    acc.on_stale("a", 3)
    acc.on_incompatible_qos("b", 1, "RELIABILITY")
    a = acc.counters("a")
    assert (a.lost, a.rmw_lost, a.late, a.out_of_order, a.malformed, a.stale) == (1, 4, 1, 1, 2, 3)
    assert a.before_clock == 1
    assert a.dropped == max(1, 4) + 1 + 1 + 2 + 1  # loss counted once (issue 13)
    assert acc.counters("b").incompatible_qos == 1
    assert acc.incompatible_policy("b") == "RELIABILITY"
    assert acc.totals().malformed == 2 and acc.totals().incompatible_qos == 1


def test_snapshots_are_immutable_and_subtract() -> None:
    acc = DropAccounting(["a"])
    before = acc.snapshot()["a"]
    acc.on_malformed("a")
    acc.on_message("a", GID_A, 1)
    after = acc.snapshot()["a"]
    assert before == DropCounters()
    delta = after.minus(before)
    assert delta.malformed == 1 and delta.received == 1
    assert delta.as_dict()["malformed"] == 1


def test_unknown_stream_is_a_clear_error() -> None:
    acc = DropAccounting(["a"])
    with pytest.raises(KeyError, match=r"no drop counters for stream 'z'"):
        acc.on_malformed("z")
    with pytest.raises(ValueError, match=r"max_publishers must be >= 1"):
        DropAccounting(["a"], max_publishers=0)
