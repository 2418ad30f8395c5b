# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Ingestion reports: counts since the previous report."""

from __future__ import annotations

from streaming_gcode.ingestion.drop_accounting import DropAccounting
from streaming_gcode.ingestion.reports import RecentDelta


def test_recent_delta_reports_counts_since_the_previous_report() -> None:
    acc = DropAccounting(["imu"])
    recent: RecentDelta[str] = RecentDelta()
    acc.on_malformed("imu")
    assert recent.delta("imu", acc.counters("imu")).malformed == 1
    assert recent.delta("imu", acc.counters("imu")).malformed == 0
    acc.on_malformed("imu")
    acc.on_malformed("imu")
    assert recent.delta("imu", acc.counters("imu")).malformed == 2
