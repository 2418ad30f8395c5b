# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""One input stream of a layout: what its topic carries and how its samples become values.

`StreamSpec` and its parsing from flat parameters (`streams.<name>.*`) live
here; the whole layout (streams plus alignment settings, YAML reading) is in
core/stream_layout.py, which builds on this module.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import re
from typing import Any, Mapping

from streaming_gcode.core.errors import ConfigError

NS_PER_S = 1_000_000_000

FLOAT32_ARRAY = "std_msgs/msg/Float32MultiArray"
FLOAT64_ARRAY = "std_msgs/msg/Float64MultiArray"
JOINT_STATE = "sensor_msgs/msg/JointState"
IMU = "sensor_msgs/msg/Imu"
SUPPORTED_MESSAGE_TYPES: tuple[str, ...] = (FLOAT32_ARRAY, FLOAT64_ARRAY, JOINT_STATE, IMU)
ARRAY_TYPES: tuple[str, ...] = (FLOAT32_ARRAY, FLOAT64_ARRAY)
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
# What a frame takes from a stream's samples since the previous frame (per channel):
# the newest one (the hot path, no history kept), or a statistic over all of them.
AGGREGATE_NEWEST = "newest"
AGGREGATES: tuple[str, ...] = (AGGREGATE_NEWEST, "mean", "rms", "min", "max", "peak_to_peak")
# Sample rate of a stream's batched (2-D MultiArray) messages; 0: not batched.
NO_SAMPLE_RATE_HZ = 0.0
MAX_STREAM_SAMPLE_RATE_HZ = 1_000_000.0   # 1 us spacing; faster is not a sensor we serve
# What a stream is to the model's feature sets (core/features.py): controller-reported
# state (left out of `physical`) or a physical sensor.
ROLE_CONTROLLER = "controller"
ROLE_SENSOR = "sensor"
ROLES: tuple[str, ...] = (ROLE_CONTROLLER, ROLE_SENSOR)

DEFAULT_DEPTH = 10
DEFAULT_EXTRA_NAMES = EXTRA_NAMES_IGNORE
DEFAULT_STAMP_SOURCE = STAMP_SOURCE_HEADER
DEFAULT_OPTIONAL = False   # an optional stream (a board not fitted) may stay silent: OK
DEFAULT_ROLE = ROLE_SENSOR
DEFAULT_AGGREGATE = AGGREGATE_NEWEST
DEFAULT_STREAM_SAMPLE_RATE_HZ = NO_SAMPLE_RATE_HZ


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
    aggregate: str = DEFAULT_AGGREGATE
    sample_rate_hz: float = DEFAULT_STREAM_SAMPLE_RATE_HZ   # batched arrays' sample spacing
    drifting: tuple[str, ...] = ()      # channels whose level drifts between runs

    @property
    def aggregated(self) -> bool:
        """Tell whether frames take a statistic over samples (not just the newest)."""
        return self.aggregate != AGGREGATE_NEWEST

    @property
    def batched(self) -> bool:
        """Tell whether messages may carry many samples (2-D arrays): aggregated or rated."""
        return self.aggregated or self.sample_rate_hz > 0

    @property
    def sample_period_ns(self) -> int | None:
        """Spacing of a batch's samples, or None without `sample_rate_hz`."""
        if self.sample_rate_hz <= 0:
            return None
        return int(round(NS_PER_S / self.sample_rate_hz))


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


def number_param(value: Any, key: str, where: str) -> float:
    """Return a finite number parameter, or raise one ConfigError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
    return float(value)


def choice_param(params: Mapping[str, Any], key: str, choices: tuple[str, ...], default: str,
                 where: str) -> str:
    """Return `params[key]` (or the default) if it is one of `choices`, else ConfigError."""
    value = params.get(key, default)
    if value not in choices:
        raise ConfigError(f"{where}: {key} must be one of {list(choices)}, got {value!r}")
    return str(value)


def _parse_channels(params: Mapping[str, Any], prefix: str, msg_type: str,
                    where: str) -> tuple[str, ...]:
    channels = params.get(prefix + "channels")
    if not isinstance(channels, (list, tuple)) or not channels or not all(
            isinstance(c, str) and c for c in channels):
        raise ConfigError(f"{where}: {prefix}channels must be a non-empty list of names")
    if len(set(channels)) != len(channels):
        raise ConfigError(f"{where}: {prefix}channels has duplicates")
    if msg_type == IMU:
        unknown = [c for c in channels if c not in IMU_CHANNELS]
        if unknown:
            raise ConfigError(f"{where}: {prefix}channels {unknown} are not Imu channels; "
                              f"expected names from {list(IMU_CHANNELS)}")
    bad = [c for c in channels if FIELD_PATH_PATTERN.fullmatch(c) is None]
    if bad and is_generic_stamped(msg_type):
        raise ConfigError(f"{where}: {prefix}channels {bad} are not field paths of {msg_type}; "
                          "expected dotted field names such as 'wrench.force.x'")
    return tuple(channels)


def _parse_sampling(params: Mapping[str, Any], prefix: str, msg_type: str,
                    categorical: tuple[str, ...], where: str) -> tuple[str, float]:
    """Return `(aggregate, sample_rate_hz)`, checked against the type and the codes."""
    aggregate = choice_param(params, prefix + "aggregate", AGGREGATES, DEFAULT_AGGREGATE, where)
    if aggregate != AGGREGATE_NEWEST and categorical:
        raise ConfigError(f"{where}: {prefix}aggregate {aggregate} cannot apply to the "
                          f"categorical channels {list(categorical)} (codes have no mean); "
                          "use newest or move them to a stream of their own")
    key = prefix + "sample_rate_hz"
    rate = number_param(params.get(key, DEFAULT_STREAM_SAMPLE_RATE_HZ), key, where)
    if rate < 0 or rate > MAX_STREAM_SAMPLE_RATE_HZ:
        raise ConfigError(f"{where}: {key} must be 0 (not batched) or a rate in "
                          f"(0, {MAX_STREAM_SAMPLE_RATE_HZ:g}] Hz, got {rate:g}")
    if rate > 0 and msg_type not in ARRAY_TYPES:
        raise ConfigError(f"{where}: {key} is for batched arrays ({list(ARRAY_TYPES)}); "
                          f"{msg_type} carries one sample per message, so leave it 0")
    return aggregate, rate


def parse_stream(params: Mapping[str, Any], name: str, where: str) -> StreamSpec:
    """Build stream `name` from flat parameters `streams.<name>.*`; one ConfigError if bad."""
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
    channels = _parse_channels(params, prefix, msg_type, where)
    field = params.get(prefix + "field", "position")
    if msg_type == JOINT_STATE and field not in JOINT_STATE_FIELDS:
        raise ConfigError(f"{where}: {prefix}field must be one of {list(JOINT_STATE_FIELDS)}, "
                          f"got {field!r}")
    reliable = params.get(prefix + "reliable", False)
    if not isinstance(reliable, bool):
        raise ConfigError(f"{where}: {prefix}reliable must be true or false")
    depth = params.get(prefix + "depth", DEFAULT_DEPTH)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ConfigError(f"{where}: {prefix}depth must be an integer >= 1, got {depth!r}")
    extra_names = choice_param(params, prefix + "extra_names", EXTRA_NAMES_CHOICES,
                               DEFAULT_EXTRA_NAMES, where)
    stamp_source = choice_param(params, prefix + "stamp_source", STAMP_SOURCES,
                                DEFAULT_STAMP_SOURCE, where)
    optional = params.get(prefix + "optional", DEFAULT_OPTIONAL)
    if not isinstance(optional, bool):
        raise ConfigError(f"{where}: {prefix}optional must be true or false, got {optional!r}")
    role = choice_param(params, prefix + "role", ROLES, DEFAULT_ROLE, where)
    categorical = params.get(prefix + "categorical", ())
    if not isinstance(categorical, (list, tuple)) or any(c not in channels for c in categorical):
        raise ConfigError(f"{where}: {prefix}categorical must list channels of the stream "
                          f"{list(channels)[:6]}..., got {categorical!r}")
    aggregate, rate = _parse_sampling(params, prefix, msg_type, tuple(categorical), where)
    drifting = params.get(prefix + "drifting", ())
    if not isinstance(drifting, (list, tuple)) \
            or any(c not in channels or c in categorical for c in drifting):
        raise ConfigError(f"{where}: {prefix}drifting must list continuous channels of the "
                          f"stream {list(channels)[:6]}..., got {drifting!r}")
    return StreamSpec(name, topic, msg_type, channels, str(field), reliable, depth,
                      extra_names, stamp_source, optional, role, tuple(categorical),
                      aggregate, rate, tuple(drifting))
