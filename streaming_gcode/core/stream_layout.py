# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The sensor streams of a cell and how they are aligned into frames.

One layout serves the live node (from ROS parameters), training and offline
evaluation (from the same params YAML), so every consumer sees the same streams,
channels and alignment settings.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path
import re
from typing import Any, Mapping

import yaml

from streaming_gcode.core.errors import ConfigError, StreamingGcodeError
from streaming_gcode.core.package import default_stream_config, NODE_NAME

NS_PER_S = 1_000_000_000

FLOAT32_ARRAY = "std_msgs/msg/Float32MultiArray"
FLOAT64_ARRAY = "std_msgs/msg/Float64MultiArray"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
SUPPORTED_MESSAGE_TYPES: tuple[str, ...] = (FLOAT32_ARRAY, FLOAT64_ARRAY, JOINT_STATE, IMU)
# Any other `pkg/msg/Type` with a std_msgs/Header `header` is read by field paths to numbers
# (`wrench.force.x`); the node checks them against the definition (`check_field_paths`).
TYPE_NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]*/msg/[A-Z][A-Za-z0-9]*")
FIELD_PATH_PATTERN = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*")

JOINT_STATE_FIELDS: tuple[str, ...] = ("position", "velocity", "effort")
IMU_CHANNELS: tuple[str, ...] = tuple(
    f"{group}.{axis}"
    for group, axes in (
        ("orientation", "xyzw"),
        ("angular_velocity", "xyz"),
        ("linear_acceleration", "xyz"),
    )
    for axis in axes
)

STALE_POLICIES: tuple[str, ...] = ("skip", "hold_last", "zero_fill")
# What a JointState's names beyond the configured channels do (a ros2_control
# /joint_states carries every joint): `ignore` takes the configured ones out (counted),
# `reject` refuses the message as malformed.
EXTRA_NAMES_IGNORE = "ignore"
EXTRA_NAMES_CHOICES: tuple[str, ...] = (EXTRA_NAMES_IGNORE, "reject")
# Where a stamped message's sample time comes from: its header, or the node clock at
# receipt (drivers that send zero or unsynchronised stamps). Headerless types always
# use the receipt time.
STAMP_SOURCE_HEADER = "header"
STAMP_SOURCE_RECEIPT = "receipt"
STAMP_SOURCES: tuple[str, ...] = (STAMP_SOURCE_HEADER, STAMP_SOURCE_RECEIPT)

DEFAULT_DEPTH = 10
MAX_PARAMS_FILE_BYTES = 1 << 20  # a params file is a few KB; more is not a layout
DEFAULT_SAMPLE_RATE_HZ = 4.0
DEFAULT_MAX_STALENESS_S = 1.0
DEFAULT_STALE_POLICY = "hold_last"
DEFAULT_ALIGNMENT_TIMEOUT_S = 0.5
DEFAULT_EXTRA_NAMES = EXTRA_NAMES_IGNORE
DEFAULT_STAMP_SOURCE = STAMP_SOURCE_HEADER
DEFAULT_OPTIONAL = False   # an optional stream (a board not fitted) may stay silent: OK
# What a stream is to the model's feature sets (core/features.py): controller-reported
# state (left out of `physical`) or a physical sensor.
ROLE_CONTROLLER = "controller"
ROLE_SENSOR = "sensor"
ROLES: tuple[str, ...] = (ROLE_CONTROLLER, ROLE_SENSOR)
DEFAULT_ROLE = ROLE_SENSOR


@dataclass(frozen=True)
class StreamSpec:
    """One input topic: what it carries and how to subscribe to it."""

    name: str
    topic: str
    msg_type: str
    channels: tuple[str, ...]
    field: str = "position"
    reliable: bool = False
    depth: int = DEFAULT_DEPTH
    extra_names: str = DEFAULT_EXTRA_NAMES
    stamp_source: str = DEFAULT_STAMP_SOURCE
    optional: bool = DEFAULT_OPTIONAL
    role: str = DEFAULT_ROLE
    categorical: tuple[str, ...] = ()   # channels that are codes (embedded), not quantities


@dataclass(frozen=True)
class AlignmentSettings:
    """How samples of all streams become frames (see docs/architecture.md)."""

    frame_clock: str | None
    sample_rate_hz: float
    max_staleness_ns: int
    stale_policy: str
    alignment_timeout_ns: int

    @property
    def frame_period_ns(self) -> int:
        """Nominal frame period: the grid step, or the frame clock's nominal period."""
        return int(round(NS_PER_S / self.sample_rate_hz))


@dataclass(frozen=True)
class StreamLayout:
    """All streams of one machine plus the alignment settings."""

    streams: tuple[StreamSpec, ...]
    alignment: AlignmentSettings

    @property
    def frame_period_ns(self) -> int:
        """Nominal frame period in nanoseconds."""
        return self.alignment.frame_period_ns

    @property
    def clock_index(self) -> int | None:
        """Index of the frame-clock stream, or None on a fixed grid."""
        if self.alignment.frame_clock is None:
            return None
        return self.stream_names.index(self.alignment.frame_clock)

    @property
    def stream_names(self) -> tuple[str, ...]:
        """Stream names in layout order."""
        return tuple(s.name for s in self.streams)

    def stream(self, name: str) -> StreamSpec:
        """Return the stream called `name`."""
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise ConfigError(f"no stream named {name!r}; streams are {list(self.stream_names)}")

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any], where: str = "parameters") -> StreamLayout:
        """Build a layout from flat ROS parameters (`streams.<name>.topic`, ...)."""
        return _parse_layout(params, where)

    @classmethod
    def from_yaml(cls, path: str | Path, node_name: str = NODE_NAME) -> StreamLayout:
        """Read the layout from a ROS params file (the node's `ros__parameters`)."""
        return cls.from_parameters(load_params_file(path, node_name), where=str(path))


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, so a few KB cannot expand into gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Refuse `*alias` before the composer would share (and later expand) a node."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} refused (aliases are not accepted)",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def parse_bounded_yaml(
    text: str, failure: str, error: type[StreamingGcodeError] = ConfigError
) -> Any:
    """Parse YAML text without alias expansion; any failure is one `error`: `failure: why`."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{failure}: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise error(f"{failure}: nested too deeply") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (PyYAML's text spans lines and quotes the source)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    what = "; ".join(str(part) for part in (exc.context, exc.problem) if part)
    mark = exc.problem_mark or exc.context_mark
    return f"{what} (line {mark.line + 1}, column {mark.column + 1})" if mark else what


def load_bounded_yaml(
    path: Path, what: str, max_bytes: int, failure: str,
    error: type[StreamingGcodeError] = ConfigError,
) -> Any:
    """Read a user's YAML file of at most `max_bytes`, refusing aliases (see `parse_bounded_yaml`).

    The size is checked before the file is read, so a huge file costs nothing.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{what} {path} is {size} bytes; expected at most {max_bytes}")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc})") from None
    if len(data) > max_bytes:  # grew after the stat
        raise error(f"{what} {path} is over {max_bytes} bytes; expected at most {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text ({exc})") from None
    return parse_bounded_yaml(text, failure, error)


def load_params_file(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """Return the flat parameters for `node_name` from a ROS 2 params YAML file."""
    path = Path(path)
    document = load_bounded_yaml(path, "params file", MAX_PARAMS_FILE_BYTES,
                                 f"params file {path} is not valid YAML")
    if not isinstance(document, dict):
        raise ConfigError(f"params file {path} must be a mapping of node names")
    flat: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}"):
        section = document.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            flat.update(_flatten(section["ros__parameters"]))
    if not flat:
        raise ConfigError(
            f"params file {path} has no 'ros__parameters' for node {node_name!r} or '/**'"
        )
    return flat


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def normalise_message_type(msg_type: str) -> str:
    """Accept `pkg/Type` and `pkg/msg/Type`; return the canonical `pkg/msg/Type`."""
    parts = msg_type.strip().split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    return "/".join(parts)


def is_generic_stamped(msg_type: str) -> bool:
    """Tell whether `msg_type` is read by field paths (a `pkg/msg/Type` not built in)."""
    msg_type = normalise_message_type(msg_type)
    return msg_type not in SUPPORTED_MESSAGE_TYPES and bool(TYPE_NAME_PATTERN.fullmatch(msg_type))


def _seconds_to_ns(value: Any, key: str, where: str, allow_zero: bool) -> int:
    seconds = _number(value, key, where)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        expected = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{where}: {key} must be {expected} seconds, got {value!r}")
    return int(round(seconds * NS_PER_S))


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def _parse_stream(params: Mapping[str, Any], name: str, where: str) -> StreamSpec:
    prefix = f"streams.{name}."
    topic = params.get(prefix + "topic")
    if not isinstance(topic, str) or not topic:
        raise ConfigError(f"{where}: {prefix}topic must be a non-empty string")
    raw_type = params.get(prefix + "type")
    if not isinstance(raw_type, str):
        raise ConfigError(f"{where}: {prefix}type is missing")
    msg_type = normalise_message_type(raw_type)
    if msg_type not in SUPPORTED_MESSAGE_TYPES and not is_generic_stamped(msg_type):
        raise ConfigError(f"{where}: {prefix}type {raw_type!r} is not supported; expected one of "
                          f"{list(SUPPORTED_MESSAGE_TYPES)} or a stamped pkg/msg/Type")
    channels = params.get(prefix + "channels")
    if not isinstance(channels, (list, tuple)) or not channels or not all(
            isinstance(c, str) and c for c in channels):
        raise ConfigError(f"{where}: {prefix}channels must be a non-empty list of names")
    if len(set(channels)) != len(channels):
        raise ConfigError(f"{where}: {prefix}channels has duplicates")
    field = params.get(prefix + "field", "position")
    if msg_type == JOINT_STATE and field not in JOINT_STATE_FIELDS:
        raise ConfigError(f"{where}: {prefix}field must be one of {list(JOINT_STATE_FIELDS)}, "
                          f"got {field!r}")
    if msg_type == IMU:
        unknown = [c for c in channels if c not in IMU_CHANNELS]
        if unknown:
            raise ConfigError(f"{where}: {prefix}channels {unknown} are not Imu channels; "
                              f"expected names from {list(IMU_CHANNELS)}")
    bad = [c for c in channels if FIELD_PATH_PATTERN.fullmatch(c) is None]
    if bad and is_generic_stamped(msg_type):
        raise ConfigError(f"{where}: {prefix}channels {bad} are not field paths of {msg_type}; "
                          "expected dotted field names such as 'wrench.force.x'")
    reliable = params.get(prefix + "reliable", False)
    if not isinstance(reliable, bool):
        raise ConfigError(f"{where}: {prefix}reliable must be true or false")
    depth = params.get(prefix + "depth", DEFAULT_DEPTH)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"{where}: {prefix}depth must be an integer >= 1, got {depth!r}")
    extra_names = _choice(params, prefix + "extra_names", EXTRA_NAMES_CHOICES,
                          DEFAULT_EXTRA_NAMES, where)
    stamp_source = _choice(params, prefix + "stamp_source", STAMP_SOURCES,
                           DEFAULT_STAMP_SOURCE, where)
    optional = params.get(prefix + "optional", DEFAULT_OPTIONAL)
    if not isinstance(optional, bool):
        raise ConfigError(f"{where}: {prefix}optional must be true or false, got {optional!r}")
    role = _choice(params, prefix + "role", ROLES, DEFAULT_ROLE, where)
    categorical = params.get(prefix + "categorical", ())
    if not isinstance(categorical, (list, tuple)) or any(c not in channels for c in categorical):
        raise ConfigError(f"{where}: {prefix}categorical must list channels of the stream "
                          f"{list(channels)[:6]}..., got {categorical!r}")
    return StreamSpec(name, topic, msg_type, tuple(channels), str(field), reliable, depth,
                      extra_names, stamp_source, optional, role, tuple(categorical))


def _choice(params: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str,
            where: str) -> str:
    value = params.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}: {key} must be one of {list(choices)}, got {value!r}")
    return str(value)


def _parse_alignment(params: Mapping[str, Any], names: list[str], where: str) -> AlignmentSettings:
    frame_clock = params.get("frame_clock", "") or None
    if frame_clock is not None and frame_clock not in names:
        raise ConfigError(f"{where}: frame_clock {frame_clock!r} is not a stream; expected one "
                          f"of {names} or '' for a fixed grid")
    rate = _number(params.get("sample_rate_hz", DEFAULT_SAMPLE_RATE_HZ), "sample_rate_hz", where)
    if rate <= 0:
        raise ConfigError(f"{where}: sample_rate_hz must be > 0, got {rate}")
    policy = _choice(params, "stale_policy", STALE_POLICIES, DEFAULT_STALE_POLICY, where)
    return AlignmentSettings(
        frame_clock=frame_clock,
        sample_rate_hz=rate,
        max_staleness_ns=_seconds_to_ns(
            params.get("max_staleness_s", DEFAULT_MAX_STALENESS_S), "max_staleness_s", where,
            allow_zero=False,
        ),
        stale_policy=str(policy),
        alignment_timeout_ns=_seconds_to_ns(
            params.get("alignment_timeout_s", DEFAULT_ALIGNMENT_TIMEOUT_S),
            "alignment_timeout_s", where, allow_zero=True,
        ),
    )


def _parse_layout(params: Mapping[str, Any], where: str) -> StreamLayout:
    names = params.get("stream_names")
    if not isinstance(names, (list, tuple)) or not names or not all(
        isinstance(n, str) and n for n in names
    ):
        raise ConfigError(f"{where}: stream_names must be a non-empty list of stream names")
    names = list(names)
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: stream_names has duplicates: {names}")
    streams = tuple(_parse_stream(params, name, where) for name in names)
    topics = [s.topic for s in streams]
    if len(set(topics)) != len(topics):
        raise ConfigError(f"{where}: two streams share a topic: {topics}")
    seen: dict[str, str] = {}
    for spec in streams:
        for channel in spec.channels:
            if channel in seen:
                raise ConfigError(f"{where}: channel {channel!r} is in both stream "
                                  f"{seen[channel]!r} and {spec.name!r}")
            seen[channel] = spec.name
    alignment = _parse_alignment(params, names, where)
    optional = [s.name for s in streams if s.optional]
    if optional and alignment.stale_policy == "skip":
        raise ConfigError(f"{where}: streams {optional} are optional, but stale_policy skip "
                          "would drop every frame while one is not fitted; use hold_last or "
                          "zero_fill")
    if alignment.frame_clock in optional:
        raise ConfigError(f"{where}: the frame clock {alignment.frame_clock!r} cannot be "
                          "optional: without it there are no frames")
    return StreamLayout(streams, alignment)


def resolve_layout_path(path: str | Path | None) -> Path:
    """Return `path`, or the shipped config/stream.yaml when no path is given."""
    chosen = Path(path) if path else default_stream_config()
    if chosen is None:
        raise ConfigError("no stream layout given and the shipped config/stream.yaml is missing")
    return chosen


def resolve_layout(path: str | Path | None) -> StreamLayout:
    """Read the stream layout from `path` or from the shipped config/stream.yaml."""
    return StreamLayout.from_yaml(resolve_layout_path(path))
