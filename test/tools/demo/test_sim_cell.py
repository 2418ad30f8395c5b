# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The simulated cell: configured channels, real rate, plausible values, determinism."""

from pathlib import Path

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import NS_PER_S, StreamLayout
from streaming_gcode.tools.demo.sim_cell import (
    DEFAULT_REPORT_PERIOD_NS, simulated_channels, SimulatedCell,
)
from streaming_gcode.tools.demo.sim_program import MM_PER_INCH, WORK_OFFSET_MM

REPO = Path(__file__).resolve().parents[3]
T0 = 1_750_000_000 * NS_PER_S


@pytest.fixture(scope="module")
def layout() -> StreamLayout:
    return StreamLayout.from_yaml(REPO / "config" / "stream.yaml")


@pytest.fixture(scope="module")
def cycle(layout):
    """One full program cycle plus a little, with seed 7."""
    cell = SimulatedCell(layout, seed=7)
    count = int(cell.toolpath.cycle_ns / DEFAULT_REPORT_PERIOD_NS) + 20
    return cell, list(cell.reports(T0, count))


def _channel(layout: StreamLayout, report, name: str) -> float:
    for spec, (index, _, values) in zip(layout.streams, report.samples):
        if name in spec.channels:
            return float(values[spec.channels.index(name)])
    raise KeyError(name)


def test_every_configured_channel_is_produced_finite_in_layout_order(layout, cycle):
    _, reports = cycle
    for report in reports:
        assert [index for index, _, _ in report.samples] == list(range(len(layout.streams)))
        for (index, stamp, values), spec in zip(report.samples, layout.streams):
            assert stamp == report.stamp_ns
            assert values.shape == (len(spec.channels),)
            assert np.isfinite(values).all(), (spec.name, report.gcode)


def test_reports_come_at_the_controller_rate(cycle):
    _, reports = cycle
    intervals = np.diff([r.stamp_ns for r in reports])
    assert (intervals > 0).all()
    assert np.median(intervals) == pytest.approx(DEFAULT_REPORT_PERIOD_NS, rel=0.02)
    assert intervals.max() < 2.3 * DEFAULT_REPORT_PERIOD_NS   # an occasional late report
    rate = len(intervals) / ((reports[-1].stamp_ns - reports[0].stamp_ns) / NS_PER_S)
    assert 3.6 < rate < 4.1


def test_same_seed_same_streams_other_seed_differs(layout):
    first = list(SimulatedCell(layout, seed=11).reports(T0, 60))
    again = list(SimulatedCell(layout, seed=11).reports(T0, 60))
    other = list(SimulatedCell(layout, seed=12).reports(T0, 60))
    for a, b in zip(first, again):
        assert a.stamp_ns == b.stamp_ns and a.gcode == b.gcode
        for (_, _, va), (_, _, vb) in zip(a.samples, b.samples):
            np.testing.assert_array_equal(va, vb)
    assert any(not np.array_equal(a.samples[2][2], c.samples[2][2])
               for a, c in zip(first, other))


def test_controller_channels_follow_the_program(layout, cycle):
    cell, reports = cycle
    cutting = [r for r in reports
               if r.gcode == "X-0.1254" and r.stamp_ns - T0 < cell.toolpath.cycle_ns]
    assert len(cutting) > 20   # 9.3 s of feed at ~4 Hz
    posx = [_channel(layout, r, "posx") for r in cutting]
    assert all(b < a for a, b in zip(posx, posx[1:]))
    for report in reports:
        line = _channel(layout, report, "line")
        assert line == report.line_number
        x, mpox = _channel(layout, report, "posx"), _channel(layout, report, "mpox")
        if _channel(layout, report, "stat") == 5:
            assert mpox == pytest.approx(x * MM_PER_INCH + WORK_OFFSET_MM[0])
    for report in cutting:
        assert _channel(layout, report, "momo") == 1
        assert _channel(layout, report, "feed") == pytest.approx(22 * MM_PER_INCH)
        assert _channel(layout, report, "posz") == 0.0
    arcs = [r for r in reports if r.gcode.startswith("G2 ")]
    assert arcs and all(_channel(layout, r, "momo") == 2 for r in arcs)
    stopped = [r for r in reports if _channel(layout, r, "stat") == 3]
    assert stopped and all(r.gcode == "M30" for r in stopped)
    assert all(_channel(layout, r, "momo") == 4 and _channel(layout, r, "unit") == 1
               for r in stopped)


def test_vibration_and_currents_respond_to_the_command(layout, cycle):
    _, reports = cycle
    cutting = [r for r in reports if r.gcode == "X-0.1254"]
    stopped = [r for r in reports if _channel(layout, r, "stat") == 3]

    def mean(rows, name):
        return np.mean([_channel(layout, r, name) for r in rows])

    assert mean(cutting, "spindle2.RMS") > 1500 > 500 > mean(stopped, "spindle2.RMS")
    assert mean(cutting, "frame_l2.RMS") < 400       # the isolated board stays quiet
    assert mean(cutting, "x_motor") > mean(stopped, "x_motor") + 0.01
    assert mean(cutting, "spindle") > mean(stopped, "spindle") + 0.2
    gravity = [_channel(layout, r, "frame_r2.Ax") for r in reports]
    assert np.mean(gravity) == pytest.approx(-1.0, abs=0.02)
    temperatures = [_channel(layout, r, "spindle2.Temperature") for r in reports]
    assert temperatures[-30] > temperatures[10]      # warms up while the spindle runs


def test_executed_reference_resolves_modal_lines(layout, cycle):
    cell, reports = cycle
    continuation = next(r for r in reports if r.gcode.startswith("X-0.1254 Y"))
    executed = cell.executed(continuation)
    assert (executed.command, executed.modal, executed.source) == ("G2", True, "simulated")
    explicit = next(r for r in reports if r.gcode.startswith("G3 "))
    assert cell.executed(explicit)[2:4] == ("G3", False)


def test_frames_at_speed_run_the_machine_faster(layout):
    reference = list(SimulatedCell(layout, seed=5).reports(T0, 30))
    frames = SimulatedCell(layout, seed=5).frames(T0, speed=4.0)
    for report, frame in zip(reference, [next(frames) for _ in range(30)]):
        due = round((report.stamp_ns - T0) / 4.0)
        assert frame.due_ns == due
        assert all(stamp == T0 + due for _, stamp, _ in frame.samples)
        assert frame.executed.stamp_ns == T0 + due and frame.executed.gcode == report.gcode
        np.testing.assert_array_equal(frame.samples[1][2], report.samples[1][2])


def test_channels_the_cell_cannot_produce_are_refused():
    layout = StreamLayout.from_parameters({
        "stream_names": ["imu"], "streams.imu.topic": "imu",
        "streams.imu.type": "sensor_msgs/Imu", "streams.imu.channels": ["angular_velocity.z"],
    })
    with pytest.raises(ConfigError, match=r"cannot produce channel\(s\) "
                                          r"angular_velocity.z \(stream 'imu'\);"):
        SimulatedCell(layout)
    assert "spindle2.RMS" in simulated_channels()


def test_stamps_must_not_go_back(layout):
    cell = SimulatedCell(layout)
    cell.report(T0)
    with pytest.raises(ConfigError, match="before the previous one"):
        cell.report(T0 - 1)
    with pytest.raises(ConfigError, match="speed must be > 0"):
        next(cell.frames(T0, speed=0.0))
