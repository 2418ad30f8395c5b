# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The soak, short: bags replayed in a loop against the live node, then the report.

`make soak` runs for 30 minutes; this runs the same command for about a minute
on one recorded run (converted to a bag in tmp_path) and checks the report's
schema, that every message is accounted for, and that resident memory stays
bounded (memory, not time: a generous bound). The pure summary functions are
checked against hand-made samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streaming_gcode.tools.soak import analysis as soak

SOAK_SECONDS = 30.0
RSS_GROWTH_BOUND = 0.25       # generous for a minute; the long run's figure is in the README


def _sample(t: float, rss: int, predictions: int = 0, p99: float | None = None) -> soak.SoakSample:
    return soak.SoakSample(elapsed_s=t, rss_bytes=rss, predictions=predictions,
                           latency_p99_ms=p99, counted_drops=0, skipped_ticks=0,
                           aligner_resets=0, passes=1, published=0)


def test_memory_growth_is_measured_from_the_end_of_warm_up() -> None:
    samples = [_sample(0, 100), _sample(5, 200), _sample(10, 210), _sample(15, 220),
               _sample(20, 205)]
    summary = soak.memory_summary(samples, warmup_s=10)
    assert summary["rss_initial_bytes"] == 100 and summary["rss_baseline_bytes"] == 210
    assert summary["rss_growth_after_warmup"] == pytest.approx(205 / 210 - 1)
    assert summary["rss_peak_growth_after_warmup"] == pytest.approx(220 / 210 - 1)


def test_latency_drift_compares_the_halves_after_warm_up() -> None:
    latencies = [(t / 10, 1.0 if t < 600 else 2.0) for t in range(1000)]
    summary = soak.latency_summary(latencies, warmup_s=20.0, end_s=100.0)
    assert summary["latency_p99_first_half_ms"] == 1.0      # 20..60 s
    assert summary["latency_p99_second_half_ms"] == 2.0     # 60..100 s
    assert summary["latency_p99_drift"] == pytest.approx(1.0)
    assert summary["latency_max_ms"] == 2.0


def test_unexplained_drops_are_what_the_counters_do_not_account_for() -> None:
    tally = {"messages": 90, "accepted": 80, "lost": 5, "rmw_lost": 1, "late": 6,
             "out_of_order": 2, "malformed": 1, "before_clock": 0}
    assert soak.unexplained_drops(96, tally) == 1          # 1 accepted+refused short
    assert soak.unexplained_drops(100, tally) == 4 + 1     # 4 vanished without a trace
    summary = soak.drop_summary({"/a": 100, "/b": 3}, {"/a": tally})
    assert summary["unexplained_drops"] == 5 + 3           # /b never reported
    assert summary["counted_drops"]["lost"] == 5 and summary["published_messages"] == 103


def test_warm_up_is_a_tenth_within_bounds() -> None:
    assert soak.warmup_seconds(60) == soak.MIN_WARMUP_S
    assert soak.warmup_seconds(1800) == 180
    assert soak.warmup_seconds(10**6) == soak.MAX_WARMUP_S


@pytest.mark.ros
@pytest.mark.slow
@pytest.mark.data
def test_short_soak_reports_no_unexplained_drops_and_bounded_memory(data_dir, tmp_path) -> None:
    pytest.importorskip("rclpy", reason="rclpy is not installed")
    pytest.importorskip("psutil", reason="psutil is not installed")
    from streaming_gcode.cli import main

    runs = (sorted(data_dir.glob("face_00*_aligned.csv*"))
            or sorted(data_dir.glob("*_aligned.csv*")))
    report_path = tmp_path / "soak.json"
    code = main(["soak", "--seconds", str(SOAK_SECONDS), "--json", str(report_path),
                 "--out", str(tmp_path), "--data", str(runs[0]), "--runs", "1",
                 "--sample-period", "2"])
    report = json.loads(report_path.read_text())
    assert set(soak.REPORT_KEYS) <= set(report)
    assert report["format"] == soak.SOAK_FORMAT
    assert code == 0, report
    assert report["unexplained_drops"] == 0, report["topics"]
    assert report["node_exit_code"] == 0 and "final stats:" in report["final_stats"]
    assert report["predictions"] > 0 and report["latency_p99_ms"] > 0
    assert report["published_messages"] > 0 and report["passes"] >= 1
    assert abs(report["rss_growth_after_warmup"]) < RSS_GROWTH_BOUND
    assert len(report["samples"]) >= 5
    assert Path(report["plot"]).stat().st_size > 0
