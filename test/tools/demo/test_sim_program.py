# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The simulated cell's program and kinematic toy model: timing, geometry, cycle, errors."""

import math

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.tools.demo.sim_program import (
    DEFAULT_END_PAUSE_NS, DEFAULT_PROGRAM, facing_program, MM_PER_INCH, NON_MOTION_LINE_NS,
    RAPID_IN_PER_MIN, Toolpath, WORK_OFFSET_MM,
)


def _segment(path: Toolpath, text: str):
    return next(s for s in path.segments if s.text == text)


def _begin_ns(path: Toolpath, number: int) -> int:
    index = number - 1
    return int(path.ends_ns[index]) - path.segments[index].duration_ns


def test_facing_program_has_the_recorded_runs_shape():
    lines = facing_program(passes=4)
    assert lines[:4] == ["G90 G94 G17", "G20", "G55", "M3 S12000"]
    assert lines[-3:] == ["G0 Z0.6", "G53 G0 Z0.", "M30"]
    assert sum(line.startswith(("G2 ", "G3 ")) for line in lines) == 4
    assert [line.split()[0] for line in lines if line.startswith(("G2 ", "G3 "))] == [
        "G2", "G3", "G2", "G3"]
    assert "X3.2750 Y0.3747 R0.083" in lines  # modal continuation, as CAM writes it


def test_feed_moves_take_length_over_feed():
    path = Toolpath(DEFAULT_PROGRAM)
    cut = _segment(path, "X-0.1254")
    length = 3.275 - (-0.1254)
    assert cut.motion == 1 and cut.feed_in_min == 22.0
    assert cut.duration_ns == pytest.approx(length / 22.0 * 60 * NS_PER_S, rel=1e-6)
    rapid = _segment(path, "G0 Z0.2")
    assert rapid.duration_ns == pytest.approx(0.4 / RAPID_IN_PER_MIN * 60 * NS_PER_S, rel=1e-6)
    assert _segment(path, "G20").duration_ns == NON_MOTION_LINE_NS


def test_arcs_stay_on_their_circle_and_turn_the_programmed_way():
    path = Toolpath(DEFAULT_PROGRAM)
    cw = _segment(path, "G2 X-0.2084 Y0.1257 R0.083")
    np.testing.assert_allclose(cw.center, [-0.1254, 0.1257], atol=1e-9)
    assert cw.sweep == pytest.approx(-math.pi / 2)
    for fraction in (0.0, 0.3, 0.5, 1.0):
        point = cw.position(fraction)
        assert np.hypot(*(point[:2] - cw.center)) == pytest.approx(0.083)
    np.testing.assert_allclose(cw.position(1.0), cw.end, atol=1e-9)
    ccw = _segment(path, "G3 X3.3580 Y0.2917 R0.083")
    assert ccw.sweep == pytest.approx(math.pi / 2)
    assert ccw.duration_ns == pytest.approx(0.083 * math.pi / 2 / 22.0 * 60 * NS_PER_S)


def test_state_follows_the_line_being_executed():
    path = Toolpath(DEFAULT_PROGRAM)
    cut = _segment(path, "X-0.1254")
    begin = _begin_ns(path, cut.number)
    state = path.state_at(begin + cut.duration_ns // 2)
    assert state.segment is cut and state.running and state.cutting
    assert state.position[0] == pytest.approx((3.275 - 0.1254) / 2, abs=1e-6)
    np.testing.assert_allclose(state.velocity, [-22.0 / 60, 0, 0], atol=1e-6)
    lifted = path.state_at(_begin_ns(path, _segment(path, "G0 Z0.2").number) + 1)
    assert not lifted.cutting and lifted.spindle_on


def test_machine_coordinate_retract_and_pause_between_cycles():
    path = Toolpath(DEFAULT_PROGRAM)
    retract = _segment(path, "G53 G0 Z0.")
    assert retract.end[2] == pytest.approx(-WORK_OFFSET_MM[2] / MM_PER_INCH)
    program_ns = int(path.ends_ns[-1])
    assert path.cycle_ns == program_ns + DEFAULT_END_PAUSE_NS
    paused = path.state_at(program_ns + DEFAULT_END_PAUSE_NS // 2)
    assert paused.segment is None and not paused.running and not paused.spindle_on
    again = path.state_at(path.cycle_ns + 5 * NS_PER_S)
    np.testing.assert_allclose(again.position, path.state_at(5 * NS_PER_S).position)


@pytest.mark.parametrize(("program", "message"), [
    ([], "program is empty"),
    (["G20", "X1."], "move before any motion command"),
    (["G1 X1."], "feed move before any F word"),
    (["G0 X0 Y0", "G2 X1. Y0 R0.2 F10"], "arc radius 0.2 cannot join points 1.0000 apart"),
    (["G0 X0 Y0", "G2 X1. Y1. F10"], "arc without an R word"),
])
def test_bad_programs_are_refused(program, message):
    with pytest.raises(ConfigError, match=message):
        Toolpath(program)


def test_bad_facing_parameters_are_refused():
    with pytest.raises(ConfigError, match="need passes >= 1"):
        facing_program(passes=0)
