# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The simulated cell's G-code program and the kinematic toy model that runs it.

`facing_program` writes a facing program in the style of the recorded Bantam
runs (inches, G55, zig-zag passes joined by R arcs, modal continuation lines).
`Toolpath` plans it into timed segments: straight moves and arcs at the
programmed feed (rapids at a fixed rate), constant speed, no acceleration.
`Toolpath.state_at` says what the controller would report at any time in the
cycle (program, then a pause with the controller stopped). It is a toy model of
a mill, not a physical simulation, but line, positions and speeds change with
the command exactly as the program says.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import NS_PER_S
from streaming_gcode.model.gcode import MOTION_COMMANDS, parse_line

MM_PER_INCH = 25.4
RAPID_IN_PER_MIN = 80.0
NON_MOTION_LINE_NS = 40_000_000        # a line that does not move still takes a little time
SPINDLE_START_NS = 1_500_000_000       # M3: spin-up dwell
DEFAULT_END_PAUSE_NS = 4 * NS_PER_S    # controller stopped between two cycles
# Machine position of the G55 work origin (mm), as in the recordings.
WORK_OFFSET_MM: tuple[float, float, float] = (47.56, 16.885, -25.9925)
# Controller codes (TinyG status report).
STAT_RUNNING = 5
STAT_STOPPED = 3
MOMO_CANCELLED = 4
UNIT_INCH = 0
UNIT_MM = 1
COORD_G54 = 1
COORD_G55 = 2


@dataclass(frozen=True)
class Segment:
    """One program line planned as a timed move (zero length for non-motion lines)."""

    number: int                       # program line number (controller `line`)
    text: str                         # the line as written (the label)
    motion: int | None                # 0..3 for G0..G3, None for a non-motion line
    start: np.ndarray                 # work coordinates (inch) at the start
    end: np.ndarray                   # work coordinates (inch) at the end
    center: np.ndarray | None         # arc centre (x, y) for G2/G3
    sweep: float                      # signed arc angle (rad), 0 for straight moves
    feed_in_min: float                # programmed feed (inch/min); 0 before any F word
    duration_ns: int
    spindle_on: bool

    def position(self, fraction: float) -> np.ndarray:
        """Tool position after `fraction` (0..1) of the segment."""
        if self.center is None:
            return self.start + (self.end - self.start) * fraction
        radius_vec = self.start[:2] - self.center
        angle = math.atan2(radius_vec[1], radius_vec[0]) + self.sweep * fraction
        radius = float(np.hypot(*radius_vec))
        z = self.start[2] + (self.end[2] - self.start[2]) * fraction
        return np.array([self.center[0] + radius * math.cos(angle),
                         self.center[1] + radius * math.sin(angle), z])


@dataclass(frozen=True)
class ToolState:
    """What the controller reports at one instant, plus what the sensors feel."""

    segment: Segment | None           # None while stopped between cycles
    position: np.ndarray              # work coordinates (inch)
    velocity: np.ndarray              # inch/s
    running: bool
    spindle_on: bool
    cutting: bool                     # feeding with the tool in the stock

    @property
    def speed_in_min(self) -> float:
        """Tool speed in inch/min."""
        return float(np.linalg.norm(self.velocity)) * 60.0


def facing_program(
    x_range: tuple[float, float] = (3.275, -0.1254),
    y_start: float = 0.0427,
    passes: int = 10,
    stepover: float = 0.166,
    feed: float = 22.0,
    plunge_feed: float = 7.3,
) -> list[str]:
    """Write a facing program like the recorded `face` runs: zig-zag passes and arcs."""
    if passes < 1 or stepover <= 0 or feed <= 0 or plunge_feed <= 0:
        raise ConfigError(
            f"facing program: need passes >= 1 and positive stepover/feeds, got passes={passes}, "
            f"stepover={stepover}, feed={feed}, plunge_feed={plunge_feed}"
        )
    right, left = x_range
    radius = stepover / 2.0
    lines = ["G90 G94 G17", "G20", "G55", "M3 S12000",
             f"G0 X{right:.4f} Y{y_start:.4f}", "Z0.6", "G0 Z0.2",
             f"G1 Z0.025 F{plunge_feed:g}", f"Z0. F{feed:g}", f"X{left:.4f}"]
    y = y_start
    for index in range(passes):
        at_left = index % 2 == 0
        edge = left - radius if at_left else right + radius
        x_end = left if at_left else right
        arc = "G2" if at_left else "G3"
        lines.append(f"{arc} X{edge:.4f} Y{y + radius:.4f} R{radius:.3f}")
        lines.append(f"X{x_end:.4f} Y{y + stepover:.4f} R{radius:.3f}")
        y += stepover
        lines.append(f"G1 X{right if at_left else left:.4f}")
    lines += ["G0 Z0.6", "G53 G0 Z0.", "M30"]
    return lines


DEFAULT_PROGRAM: tuple[str, ...] = tuple(facing_program())


def _arc_center(start: np.ndarray, end: np.ndarray, radius: float, clockwise: bool,
                where: str) -> np.ndarray:
    """Centre of an R-format arc in the XY plane (R < 0 selects the long arc)."""
    chord = end[:2] - start[:2]
    length = float(np.hypot(*chord))
    if length == 0 or abs(radius) * 2 < length - 1e-9:
        raise ConfigError(f"{where}: arc radius {radius} cannot join points {length:.4f} apart")
    height = math.sqrt(max(radius * radius - (length / 2) ** 2, 0.0))
    right = np.array([chord[1], -chord[0]]) / length
    side = 1.0 if clockwise else -1.0
    if radius < 0:
        side = -side
    return (start[:2] + end[:2]) / 2 + right * height * side


def _sweep(start: np.ndarray, end: np.ndarray, center: np.ndarray, clockwise: bool) -> float:
    a0 = math.atan2(start[1] - center[1], start[0] - center[0])
    a1 = math.atan2(end[1] - center[1], end[0] - center[0])
    sweep = a1 - a0
    if clockwise:
        return sweep - 2 * math.pi if sweep >= 0 else sweep
    return sweep + 2 * math.pi if sweep <= 0 else sweep


class _Planner:
    """Modal state of the controller while planning the program line by line."""

    def __init__(self) -> None:
        self.position = np.array([0.0, 0.0, 1.0])
        self.motion: int | None = None
        self.feed = 0.0
        self.spindle_on = False

    def plan(self, number: int, text: str) -> Segment:
        parsed = parse_line(text)
        where = f"program line {number} {text!r}"
        words = {letter: float(value) for letter, value in parsed.params}
        if any(c in ("M3", "M4") for c in parsed.commands):
            self.spindle_on = True
        if any(c in ("M5", "M30", "M2") for c in parsed.commands):
            self.spindle_on = False
        if "F" in words:
            self.feed = words["F"]
        if parsed.motion is not None:
            self.motion = MOTION_COMMANDS.index(parsed.motion)
        moves = any(letter in words for letter in "XYZ")
        if not moves:
            dwell = SPINDLE_START_NS if "M3" in parsed.commands else NON_MOTION_LINE_NS
            return self._segment(number, text, None, self.position, None, 0.0, dwell)
        if "G53" in parsed.commands:  # machine coordinates: Z0 is the top of travel
            target = self.position.copy()
            target[2] = words.get("Z", 0.0) - WORK_OFFSET_MM[2] / MM_PER_INCH
        else:
            target = np.array([words.get(a, p) for a, p in zip("XYZ", self.position)])
        if self.motion is None:
            raise ConfigError(f"{where}: move before any motion command (G0..G3)")
        center, sweep, length = None, 0.0, float(np.linalg.norm(target - self.position))
        if self.motion in (2, 3):
            if "R" not in words:
                raise ConfigError(f"{where}: arc without an R word")
            clockwise = self.motion == 2
            center = _arc_center(self.position, target, words["R"], clockwise, where)
            sweep = _sweep(self.position, target, center, clockwise)
            length = math.hypot(abs(sweep) * abs(words["R"]), target[2] - self.position[2])
        rate = RAPID_IN_PER_MIN if self.motion == 0 else self.feed
        if rate <= 0:
            raise ConfigError(f"{where}: feed move before any F word")
        duration = max(int(length / rate * 60 * NS_PER_S), NON_MOTION_LINE_NS)
        return self._segment(number, text, self.motion, target, center, sweep, duration)

    def _segment(self, number: int, text: str, motion: int | None, target: np.ndarray,
                 center: np.ndarray | None, sweep: float, duration_ns: int) -> Segment:
        segment = Segment(number, text, motion, self.position.copy(), target.copy(), center,
                          sweep, self.feed, duration_ns, self.spindle_on)
        self.position = target.copy()
        return segment


class Toolpath:
    """A program planned into timed segments, repeated with a pause between cycles."""

    def __init__(self, program: Sequence[str] = DEFAULT_PROGRAM,
                 end_pause_ns: int = DEFAULT_END_PAUSE_NS) -> None:
        if not program:
            raise ConfigError("simulated program is empty; expected G-code lines")
        planner = _Planner()
        self.segments = tuple(planner.plan(i + 1, text) for i, text in enumerate(program))
        self.ends_ns = np.cumsum([s.duration_ns for s in self.segments], dtype=np.int64)
        self.end_pause_ns = int(end_pause_ns)
        self.cycle_ns = int(self.ends_ns[-1]) + self.end_pause_ns

    def state_at(self, elapsed_ns: int) -> ToolState:
        """Return controller and tool state `elapsed_ns` after the first cycle started."""
        t = int(elapsed_ns) % self.cycle_ns
        index = int(np.searchsorted(self.ends_ns, t, side="right"))
        if index >= len(self.segments):
            last = self.segments[-1]
            return ToolState(None, last.end.copy(), np.zeros(3), False, False, False)
        segment = self.segments[index]
        begin = int(self.ends_ns[index]) - segment.duration_ns
        fraction = (t - begin) / segment.duration_ns
        position = segment.position(fraction)
        if segment.motion is None or np.allclose(segment.start, segment.end):
            velocity = np.zeros(3)
        else:
            step = 1e-3
            ahead = segment.position(min(fraction + step, 1.0))
            behind = segment.position(max(fraction - step, 0.0))
            span = (min(fraction + step, 1.0) - max(fraction - step, 0.0)) * segment.duration_ns
            velocity = (ahead - behind) / (span / NS_PER_S)
        cutting = segment.motion in (1, 2, 3) and position[2] <= 0.03 and segment.spindle_on
        return ToolState(segment, position, velocity, True, segment.spindle_on, bool(cutting))
