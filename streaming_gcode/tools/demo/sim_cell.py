# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A simulated Bantam mill cell: controller state, motor currents and sensor boards.

When no recording is available the demo still needs sensor streams with the
real shapes and rates. `SimulatedCell` runs a facing program on the kinematic
toy model of `sim_program` and derives every channel of the recordings from it,
once per controller status report (about 4 Hz, jittered like the real
controller, with an occasional late report):

- controller: state, program line, work and machine positions (G55 offsets of
  the recordings), feed, units, coordinate system and motion mode (TinyG codes);
  after M30 the controller stops, reports millimetres and G54 like the real one,
  and the program restarts after a pause;
- motor currents: a constant draw plus a share proportional to each axis'
  speed; the spindle draws more while cutting (the `_A` copies repeat them, as
  in the recordings);
- sensor boards: accelerometers at their gravity vector, gyros at their bias,
  both with noise that grows with vibration (cutting, feeding, rapids);
  vibration RMS; magnetometers that follow the carriages; pressure; a slow
  warm-up of the temperature while the spindle runs; proximity and colour.

Idle levels and couplings are rounded from the recordings, so values have the
right order of magnitude and respond to the command; the physics is a toy.
Deterministic for a given seed and sequence of report stamps. No rclpy here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, NamedTuple, Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import NS_PER_S, StreamLayout
from streaming_gcode.model.gcode import label_lines
from streaming_gcode.tools.demo.sim_program import (
    COORD_G54, COORD_G55, DEFAULT_PROGRAM, MM_PER_INCH, MOMO_CANCELLED, RAPID_IN_PER_MIN,
    STAT_RUNNING, STAT_STOPPED, Toolpath, ToolState, UNIT_INCH, UNIT_MM, WORK_OFFSET_MM,
)
from streaming_gcode.tools.demo.sources import SIMULATED_SOURCE_NAME
from streaming_gcode.tools.harness.source_frames import Executed, SourceFrame

DEFAULT_SEED = 0
DEFAULT_REPORT_PERIOD_NS = 257_000_000   # median controller report interval
REPORT_JITTER = 0.02                     # relative standard deviation of the interval
LATE_REPORT_PROBABILITY = 0.02           # the controller sometimes skips a beat
HEAT_TIME_CONSTANT_S = 300.0
CONTROLLER_CHANNELS: tuple[str, ...] = (
    "stat", "line", "posx", "posy", "posz", "mpox", "mpoy", "mpoz", "vel", "feed",
    "unit", "dist", "plane", "coor", "momo",
)
# The recorded Bantam cell's motor currents and sensor boards (as in config/stream.yaml).
MOTOR_CURRENTS: tuple[str, ...] = (
    "spindle", "x_motor", "y_motor", "z_motor",
    "spindle_A", "x_motor_A", "y_motor_A", "z_motor_A",
)
BOARDS: tuple[str, ...] = (
    "spindle2", "frame_r2", "y_bed__4", "y_bed__3",
    "frame_l2", "frame_b2", "frame_r1", "xa_motor",
)
BOARD_CHANNELS: tuple[str, ...] = (
    "Ax", "Ay", "Az", "Gx", "Gy", "Gz", "Mx", "My", "Mz",
    "Pressure", "Temperature", "Proximity", "ColorR", "ColorG", "ColorB", "ColorA", "RMS",
)


class BoardProfile(NamedTuple):
    """Idle levels of one sensor board and how strongly it feels the machine."""

    gravity: tuple[float, float, float]    # Ax Ay Az (g)
    gyro_bias: tuple[float, float, float]  # Gx Gy Gz (deg/s)
    magnet: tuple[float, float, float]     # Mx My Mz (uT)
    pressure: float                        # kPa
    temperature: float                     # deg C
    proximity: float
    colour: tuple[float, float, float]     # R G B
    coupling: float                        # 0 (isolated) .. 1 (on the spindle)
    warm_up: float                         # deg C gained after a long cut
    rms_idle: float


# Rounded from the Bantam recordings (face_001 means).
BOARD_PROFILES: dict[str, BoardProfile] = {
    "spindle2": BoardProfile((-0.92, 0.26, 0.0), (1.6, 1.4, 1.4), (8.5, -0.7, 7.5),
                             99.70, 36.4, 56.0, (78.0, 62.0, 55.0), 1.0, 0.8, 310.0),
    "frame_r2": BoardProfile((-1.005, -0.077, 0.026), (5.3, 1.75, 2.0), (-3.8, 15.6, -91.7),
                             99.80, 31.1, 68.0, (57.0, 63.0, 40.0), 0.75, 0.3, 310.0),
    "y_bed__4": BoardProfile((-1.007, 0.12, -0.01), (2.8, 1.7, 3.9), (-10.4, 31.4, 36.6),
                             99.70, 31.66, 108.0, (2.5, 2.0, 1.7), 0.7, 0.15, 350.0),
    "y_bed__3": BoardProfile((-0.996, -0.031, 0.014), (-4.95, -8.0, 0.35), (-8.3, 35.0, 62.8),
                             99.80, 31.33, 98.0, (3.1, 2.6, 2.5), 0.8, 0.1, 400.0),
    "frame_l2": BoardProfile((-0.992, 0.039, -0.006), (-1.4, -0.73, 0.86), (-32.0, 34.0, -33.0),
                             99.80, 30.94, 197.0, (95.0, 90.0, 84.0), 0.01, 0.03, 350.0),
    "frame_b2": BoardProfile((-1.007, -0.003, -0.01), (-0.34, 2.47, 5.09), (17.5, 18.1, -50.0),
                             99.70, 30.34, 123.0, (134.0, 97.0, 105.0), 0.75, 0.2, 280.0),
    "frame_r1": BoardProfile((-1.011, -0.081, -0.024), (2.93, 0.46, 2.29), (-20.1, -30.5, -17.5),
                             99.70, 31.6, 72.0, (13.7, 24.1, 14.2), 0.8, 0.15, 390.0),
    "xa_motor": BoardProfile((-1.005, -0.039, -0.023), (8.73, 4.94, 3.05), (86.0, 78.0, -400.0),
                             99.80, 27.31, 0.0, (0.0, 0.0, 0.0), 0.05, 0.05, 3020.0),
}
RMS_CUTTING_GAIN = 2400.0          # RMS above idle at full cutting vibration
ACCEL_NOISE = (0.004, 0.06)        # g: idle, extra at full vibration
GYRO_NOISE = (0.03, 1.2)           # deg/s: idle, extra at full vibration
MAGNET_NOISE = 0.3
# Magnetometer change per mm of machine travel (X, Y, Z): spindle board rides the
# X/Z carriage, the bed boards ride Y, frame boards see the steppers a little.
MAGNET_TRAVEL_GAIN: dict[str, tuple[float, float, float]] = {
    "spindle2": (0.1, 0.0, 0.4), "y_bed__4": (0.0, 0.2, 0.0), "y_bed__3": (0.0, 0.15, 0.0),
}
DEFAULT_MAGNET_TRAVEL_GAIN = (0.01, 0.01, 0.0)
MOTOR_IDLE_A = 0.195
MOTOR_PER_IN_S = 0.04              # axis motor current per inch/s of axis speed
SPINDLE_IDLE_A = 5.0
SPINDLE_RUNNING_A = 5.15
SPINDLE_CUTTING_A = 0.25           # extra draw at full cutting load
MACHINE_CENTRE_MM = np.array([90.0, 55.0, -25.0])


class CellReport(NamedTuple):
    """One controller status report: the executing line and every stream's sample."""

    stamp_ns: int
    line_number: int
    gcode: str
    samples: tuple[tuple[int, int, np.ndarray], ...]   # (stream_index, stamp_ns, values)


@dataclass
class _Heat:
    level: float = 0.0
    stamp_ns: int | None = None


def simulated_channels() -> tuple[str, ...]:
    """Every channel name the simulated cell can produce."""
    boards = tuple(f"{b}.{c}" for b in BOARDS for c in BOARD_CHANNELS)
    return CONTROLLER_CHANNELS + MOTOR_CURRENTS + boards


class SimulatedCell:
    """Produces the configured streams of a Bantam-like mill running a G-code program."""

    def __init__(
        self,
        layout: StreamLayout,
        seed: int = DEFAULT_SEED,
        program: Sequence[str] = DEFAULT_PROGRAM,
        report_period_ns: int = DEFAULT_REPORT_PERIOD_NS,
    ) -> None:
        known = {name: i for i, name in enumerate(simulated_channels())}
        unknown = [f"{c} (stream {s.name!r})"
                   for s in layout.streams for c in s.channels if c not in known]
        if unknown:
            raise ConfigError(
                f"the simulated cell cannot produce channel(s) {', '.join(unknown)}; it "
                "simulates the Bantam mill's controller, motor-current and sensor-board channels"
            )
        if report_period_ns <= 0:
            raise ConfigError(f"report period must be > 0 ns, got {report_period_ns}")
        self.layout = layout
        self.toolpath = Toolpath(program)
        self._labels = label_lines([segment.text for segment in self.toolpath.segments])
        self.report_period_ns = int(report_period_ns)
        self._gathers = [np.array([known[c] for c in s.channels], dtype=np.intp)
                         for s in layout.streams]
        self._rng = np.random.default_rng(seed)
        self._schedule_rng = np.random.default_rng([seed, 1])
        self._start_ns: int | None = None
        self._last_ns: int | None = None
        self._heat = _Heat()

    def next_stamp(self, stamp_ns: int) -> int:
        """Stamp of the report after the one at `stamp_ns` (jittered, sometimes late)."""
        rng = self._schedule_rng
        factor = 1.0 + float(np.clip(rng.normal(0.0, REPORT_JITTER), -0.1, 0.1))
        if rng.random() < LATE_REPORT_PROBABILITY:
            factor += 1.0
        return int(stamp_ns + self.report_period_ns * factor)

    def reports(self, start_ns: int, count: int) -> Iterator[CellReport]:
        """`count` consecutive reports from `start_ns` on the cell's own schedule."""
        stamp = int(start_ns)
        for _ in range(count):
            yield self.report(stamp)
            stamp = self.next_stamp(stamp)

    def report(self, stamp_ns: int) -> CellReport:
        """Build the report at `stamp_ns` (time since the first report drives the program)."""
        if self._last_ns is not None and stamp_ns < self._last_ns:
            raise ConfigError(
                f"simulated cell: report stamp {stamp_ns} is before the previous one "
                f"{self._last_ns}; stamps must not go back"
            )
        if self._start_ns is None:
            self._start_ns = int(stamp_ns)
        self._last_ns = int(stamp_ns)
        state = self.toolpath.state_at(stamp_ns - self._start_ns)
        values = self._channel_values(state, stamp_ns)
        samples = tuple((i, int(stamp_ns), values[g]) for i, g in enumerate(self._gathers))
        segment = state.segment or self.toolpath.segments[-1]
        return CellReport(int(stamp_ns), segment.number, segment.text, samples)

    def _vibration(self, state: ToolState) -> float:
        """0 (stopped) .. about 1 (cutting at the full programmed feed)."""
        if not state.running:
            return 0.0
        speed = state.speed_in_min
        vibration = 0.08 if state.spindle_on else 0.0
        if state.cutting:
            feed = state.segment.feed_in_min if state.segment else 0.0
            vibration += 0.4 + 0.6 * min(speed / max(feed, 1e-9), 1.0)
        elif speed > 0:
            vibration += 0.2 * min(speed / RAPID_IN_PER_MIN, 1.0)
        return vibration

    def _warm(self, state: ToolState, stamp_ns: int) -> float:
        heat = self._heat
        if heat.stamp_ns is not None:
            dt = (stamp_ns - heat.stamp_ns) / NS_PER_S
            target = 1.0 if state.cutting else (0.4 if state.spindle_on else 0.0)
            heat.level += (target - heat.level) * (1.0 - np.exp(-dt / HEAT_TIME_CONSTANT_S))
        heat.stamp_ns = int(stamp_ns)
        return heat.level

    def _channel_values(self, state: ToolState, stamp_ns: int) -> np.ndarray:
        vibration = self._vibration(state)
        machine_mm = state.position * MM_PER_INCH + np.array(WORK_OFFSET_MM)
        controller = self._controller(state, machine_mm)
        currents = self._currents(state, vibration)
        heat = self._warm(state, stamp_ns)
        boards = [self._board(name, state, machine_mm, vibration, heat) for name in BOARDS]
        return np.concatenate([controller, currents, currents, *boards])

    def _controller(self, state: ToolState, machine_mm: np.ndarray) -> np.ndarray:
        segment = state.segment
        if not state.running or segment is None:
            last = self.toolpath.segments[-1]
            return np.array([STAT_STOPPED, last.number, *machine_mm, *machine_mm, 0.0, 0.0,
                             UNIT_MM, 0, 0, COORD_G54, MOMO_CANCELLED], dtype=np.float64)
        momo = segment.motion if segment.motion is not None else 0
        feed_mm = segment.feed_in_min * MM_PER_INCH
        velocity_mm = state.speed_in_min * MM_PER_INCH
        return np.array([STAT_RUNNING, segment.number, *state.position, *machine_mm,
                         velocity_mm, feed_mm, UNIT_INCH, 0, 0, COORD_G55, momo],
                        dtype=np.float64)

    def _currents(self, state: ToolState, vibration: float) -> np.ndarray:
        """spindle, x, y, z motor currents (A)."""
        noise = self._rng.normal(0.0, [0.1, 0.005, 0.005, 0.005])
        if state.spindle_on:
            spindle = SPINDLE_RUNNING_A + (SPINDLE_CUTTING_A * vibration if state.cutting else 0)
        else:
            spindle = SPINDLE_IDLE_A
        axes = MOTOR_IDLE_A + MOTOR_PER_IN_S * np.abs(state.velocity)
        return np.concatenate([[spindle], axes]) + noise

    def _board(self, name: str, state: ToolState, machine_mm: np.ndarray,
               vibration: float, heat: float) -> np.ndarray:
        """Compute the 17 channels of one board, in BOARD_CHANNELS order."""
        profile = BOARD_PROFILES[name]
        rng = self._rng
        shake = vibration * profile.coupling
        accel = np.array(profile.gravity) + rng.normal(
            0.0, ACCEL_NOISE[0] + ACCEL_NOISE[1] * shake, 3)
        gyro = np.array(profile.gyro_bias) + rng.normal(
            0.0, GYRO_NOISE[0] + GYRO_NOISE[1] * shake, 3)
        gain = np.array(MAGNET_TRAVEL_GAIN.get(name, DEFAULT_MAGNET_TRAVEL_GAIN))
        magnet = (np.array(profile.magnet) + gain * (machine_mm - MACHINE_CENTRE_MM)
                  + rng.normal(0.0, MAGNET_NOISE, 3))
        pressure = round(profile.pressure + rng.normal(0.0, 0.002), 2)
        temperature = profile.temperature + profile.warm_up * heat + rng.normal(0.0, 0.01)
        height = float(np.clip(state.position[2], 0.0, 1.0))
        closeness = 1.4 - 0.8 * height if name == "spindle2" else 1.0 + 0.2 * shake
        proximity = max(profile.proximity * closeness + rng.normal(0.0, 2.0), 0.0)
        tint = np.array(profile.colour) * closeness
        colour = np.maximum(tint * (1 + rng.normal(0.0, 0.03, 3)), 0.0)
        rms = profile.rms_idle + RMS_CUTTING_GAIN * shake * (1.0 + rng.normal(0.0, 0.15))
        return np.concatenate([accel, gyro, magnet, [pressure, temperature, proximity],
                               colour, [0.9 * colour.sum(), max(rms, 0.0)]])

    def executed(self, report: CellReport) -> Executed:
        """Return the report's executing line as a reference (modal lines resolved)."""
        label = self._labels[report.line_number - 1]
        return Executed(report.stamp_ns, report.gcode, label.command if label else "",
                        bool(label.modal) if label else False, report.line_number,
                        SIMULATED_SOURCE_NAME)

    def frames(self, start_ns: int, speed: float = 1.0) -> Iterator[SourceFrame]:
        """Yield reports from `start_ns` on, forever; `speed` > 1 runs the machine faster.

        Published stamps are `start_ns` plus the time since the start divided by
        `speed`, so they stay on the publisher's clock.
        """
        if not speed > 0:
            raise ConfigError(f"simulation speed must be > 0, got {speed}")
        cell_stamp = int(start_ns)
        while True:
            report = self.report(cell_stamp)
            due = int(round((cell_stamp - int(start_ns)) / speed))
            stamp = int(start_ns) + due
            samples = tuple((index, stamp, values) for index, _, values in report.samples)
            executed = self.executed(report)._replace(stamp_ns=stamp)
            yield SourceFrame(due, samples, executed)
            cell_stamp = self.next_stamp(cell_stamp)
