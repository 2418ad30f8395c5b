# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Sensor messages to `(stamp_ns or None, float64 values)`, validated before use.

Adapters are duck-typed on the ROS message objects (no rclpy import), so the
pure core and its tests stay free of ROS while the node hands in real messages.
Every rejection raises `MessageError` saying what was wrong and what was
expected; the node counts it and logs it throttled, never letting it escape a
callback.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError, MessageError
from streaming_gcode.core.stream_spec import (
    ARRAY_TYPES,
    EXTRA_NAMES_IGNORE,
    FLOAT32_ARRAY,
    FLOAT64_ARRAY,
    IMU,
    IMU_CHANNELS,
    is_generic_stamped,
    JOINT_STATE,
    JOINT_STATE_FIELDS,
    normalise_message_type,
    STAMP_SOURCE_HEADER,
    StreamSpec,
)
from streaming_gcode.ingestion.batch_adapter import BATCH_DIMS, BatchArrayAdapter
from streaming_gcode.ingestion.message_checks import (
    AdaptedSample,
    checked_length,
    checked_stamp,
    DEFAULT_MAX_ARRAY_LENGTH,
    DEFAULT_MAX_FUTURE_NS,
    finite,
    Limits,
)

# Serialised (CDR) size bound of a stream's messages, checked before deserialising: what
# the adapter can accept plus room for what it does not read (CDR encapsulation, header
# frame_id, MultiArray layout, alignment padding).
SERIALIZED_OVERHEAD_BYTES = 16384
CDR_STRING_OVERHEAD_BYTES = 8        # length prefix, terminating NUL, padding to 4
IMU_PAYLOAD_BYTES = 8 * (4 + 9 + 3 + 9 + 3 + 9)   # orientation, velocities, covariances
JOINT_STATE_ARRAYS = 3               # position, velocity, effort (float64 each)
# Joints a driver sends beyond the configured ones (extra_names ignore) are bounded by
# this many bytes of name each in the size check (ros2_control names are short).
MAX_EXTRA_NAME_BYTES = 256
_ELEMENT_BYTES = {FLOAT32_ARRAY: 4, FLOAT64_ARRAY: 8}


class MessageAdapter(Protocol):
    """Turns one message of a stream into an `AdaptedSample` or raises `MessageError`."""

    stream: str
    stamped: bool

    def adapt(self, msg: Any, now_ns: int) -> AdaptedSample:
        """Validate `msg` (received at `now_ns` on the node clock) and extract its values."""


class ArrayAdapter:
    """`std_msgs/Float32MultiArray` and `Float64MultiArray`: values in channel order."""

    stamped = False

    def __init__(self, stream: str, channels: Sequence[str], limits: Limits) -> None:
        self.stream = stream
        self.channels = tuple(channels)
        self._limits = limits

    def adapt(self, msg: Any, now_ns: int) -> AdaptedSample:
        """Check length before converting, then reject non-finite values."""
        data = msg.data
        try:
            checked_length(self.stream, "data", len(data), len(self.channels), self._limits)
        except MessageError as exc:   # only a refusal pays for reading the layout
            raise MessageError(str(exc) + _batch_hint(self.stream, msg)) from None
        values = np.array(data, dtype=np.float64)
        return AdaptedSample(None, finite(self.stream, values, self.channels))


def _batch_hint(stream: str, msg: Any) -> str:
    """Why a 2-D array was refused on a stream that does not take batches."""
    dims = getattr(getattr(msg, "layout", None), "dim", ())
    if len(dims) != BATCH_DIMS:
        return ""
    return (f" (a {dims[0].size} x {dims[1].size} batch: set streams.{stream}.sample_rate_hz "
            "to take batches)")


class JointStateAdapter:
    """`sensor_msgs/JointState`: values picked by joint name from one field."""

    stamped = True

    def __init__(
        self, stream: str, channels: Sequence[str], field: str, limits: Limits,
        extra_names: str = EXTRA_NAMES_IGNORE, use_header: bool = True,
    ) -> None:
        if field not in JOINT_STATE_FIELDS:
            raise ConfigError(
                f"stream {stream!r}: JointState field {field!r} is not one of "
                f"{list(JOINT_STATE_FIELDS)}"
            )
        self.stream = stream
        self.channels = tuple(channels)
        self.field = field
        self._limits = limits
        self._ignore_extra = extra_names == EXTRA_NAMES_IGNORE
        self._use_header = self.stamped = use_header
        self._names: tuple[str, ...] | None = None
        self._order = np.zeros(0, dtype=np.intp)
        self._ignored = 0

    def _gather_order(self, names: Sequence[str]) -> np.ndarray:
        key = tuple(names)
        if key == self._names:
            return self._order
        if len(set(key)) != len(key):
            raise MessageError(f"stream {self.stream!r}: JointState has duplicate names {key}")
        unknown = [n for n in key if n not in self.channels]
        missing = [c for c in self.channels if c not in key]
        if missing or (unknown and not self._ignore_extra):
            raise MessageError(
                f"stream {self.stream!r}: JointState names do not match the configured "
                f"channels: unknown {unknown[:8]}, missing {missing[:8]}"
                + ("" if self._ignore_extra else " (extra_names reject)")
            )
        index = {name: i for i, name in enumerate(key)}
        self._order = np.array([index[c] for c in self.channels], dtype=np.intp)
        self._names = key
        self._ignored = len(unknown)
        return self._order

    def adapt(self, msg: Any, now_ns: int) -> AdaptedSample:
        """Check stamp, names and the field's length, then gather by name."""
        stamp_ns = (checked_stamp(self.stream, msg.header, now_ns, self._limits)
                    if self._use_header else None)
        names = msg.name
        checked_length(self.stream, "name", len(names), len(self.channels), self._limits,
                       at_least=self._ignore_extra)
        data = getattr(msg, self.field)
        checked_length(self.stream, self.field, len(data), len(names), self._limits)
        order = self._gather_order(names)
        values = np.array(data, dtype=np.float64)[order]
        return AdaptedSample(stamp_ns, finite(self.stream, values, self.channels),
                             self._ignored)


class ImuAdapter:
    """`sensor_msgs/Imu`: channels named `<vector>.<axis>`, e.g. `angular_velocity.z`."""

    stamped = True

    def __init__(self, stream: str, channels: Sequence[str], limits: Limits,
                 use_header: bool = True) -> None:
        unknown = [c for c in channels if c not in IMU_CHANNELS]
        if unknown:
            raise ConfigError(
                f"stream {stream!r}: {unknown} are not Imu channels; expected names from "
                f"{list(IMU_CHANNELS)}"
            )
        self.stream = stream
        self.channels = tuple(channels)
        self._paths = tuple(tuple(c.split(".")) for c in self.channels)
        self._limits = limits
        self._use_header = self.stamped = use_header

    def adapt(self, msg: Any, now_ns: int) -> AdaptedSample:
        """Check the stamp and read each configured vector component."""
        stamp_ns = (checked_stamp(self.stream, msg.header, now_ns, self._limits)
                    if self._use_header else None)
        values = np.array(
            [getattr(getattr(msg, group), axis) for group, axis in self._paths],
            dtype=np.float64,
        )
        return AdaptedSample(stamp_ns, finite(self.stream, values, self.channels))


class FieldPathAdapter:
    """Any message with a std_msgs/Header `header`: channels are field paths (`vector.z`).

    The paths are checked against the message definition when the node starts
    (node/conversions.py); here they are plain attribute reads, so a message
    that lacks one (a bag of another type) is malformed, not a crash.
    """

    stamped = True

    def __init__(self, stream: str, channels: Sequence[str], limits: Limits,
                 use_header: bool = True) -> None:
        self.stream = stream
        self.channels = tuple(channels)
        self._paths = tuple(tuple(c.split(".")) for c in self.channels)
        self._limits = limits
        self._use_header = self.stamped = use_header

    def _read(self, msg: Any, path: tuple[str, ...]) -> float:
        value = msg
        try:
            for name in path:
                value = getattr(value, name)
            return float(value)
        except (AttributeError, TypeError, ValueError):
            raise MessageError(
                f"stream {self.stream!r}: no numeric field {'.'.join(path)!r} in "
                f"{type(msg).__name__}"
            ) from None

    def adapt(self, msg: Any, now_ns: int) -> AdaptedSample:
        """Check the stamp and read each configured field path."""
        stamp_ns = (checked_stamp(self.stream, msg.header, now_ns, self._limits)
                    if self._use_header else None)
        values = np.array([self._read(msg, path) for path in self._paths], dtype=np.float64)
        return AdaptedSample(stamp_ns, finite(self.stream, values, self.channels))


def serialized_size_bound(spec: StreamSpec,
                          max_array_length: int = DEFAULT_MAX_ARRAY_LENGTH) -> int:
    """Largest serialised message of `spec` its adapter could accept, plus the overhead.

    An accepted array has one value per configured channel (JointState: one name
    per channel, no name longer than the longest channel, each array at most
    that long) and never more than `max_array_length`, so anything larger is
    refused from its size alone, before deserialising costs its memory. A
    generic stamped type may carry fields it does not read (covariances, ids):
    up to `max_array_length` float64 of them. A batched array stream accepts up
    to `max_array_length` values in all (samples x channels).
    """
    count = min(len(spec.channels), max(int(max_array_length), 1))
    msg_type = normalise_message_type(spec.msg_type)
    if msg_type in _ELEMENT_BYTES:
        if spec.batched:
            count = max(int(max_array_length), count)
        return SERIALIZED_OVERHEAD_BYTES + _ELEMENT_BYTES[msg_type] * count
    if msg_type == JOINT_STATE:
        longest = max((len(c.encode()) for c in spec.channels), default=0)
        if spec.extra_names == EXTRA_NAMES_IGNORE:   # any joints, up to max_array_length
            count = max(int(max_array_length), 1)
            longest = max(longest, MAX_EXTRA_NAME_BYTES)
        return (SERIALIZED_OVERHEAD_BYTES + count * (CDR_STRING_OVERHEAD_BYTES + longest)
                + JOINT_STATE_ARRAYS * 8 * count)
    if msg_type == IMU:
        return SERIALIZED_OVERHEAD_BYTES + IMU_PAYLOAD_BYTES
    return SERIALIZED_OVERHEAD_BYTES + 8 * max(int(max_array_length), count)


class RefusedMessage:
    """A message refused before deserialising (too large): every adapter refuses it.

    Reading any field raises `MessageError` with the reason, so it takes the
    one path of a malformed message (counted per stream and publisher, logged
    throttled) without a message object ever being built.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):   # copy, pickle and friends look up dunders
            raise AttributeError(name)
        raise MessageError(self.reason)


def make_adapter(
    spec: StreamSpec,
    max_array_length: int = DEFAULT_MAX_ARRAY_LENGTH,
    max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
) -> MessageAdapter:
    """Build the adapter for a stream's message type (ConfigError if unsupported)."""
    if max_array_length < 1:
        raise ConfigError(f"max_array_length must be >= 1, got {max_array_length}")
    if max_future_ns < 0:
        raise ConfigError(f"max_future_ns must be >= 0, got {max_future_ns}")
    limits = Limits(int(max_array_length), int(max_future_ns))
    msg_type = normalise_message_type(spec.msg_type)
    use_header = spec.stamp_source == STAMP_SOURCE_HEADER   # receipt: stamped at arrival
    if msg_type in ARRAY_TYPES:
        if spec.batched:   # the plain adapter stays the hot path of `newest` streams
            return BatchArrayAdapter(spec.name, spec.channels, limits, spec.sample_rate_hz)
        return ArrayAdapter(spec.name, spec.channels, limits)
    if msg_type == JOINT_STATE:
        return JointStateAdapter(spec.name, spec.channels, spec.field, limits,
                                 spec.extra_names, use_header)
    if msg_type == IMU:
        return ImuAdapter(spec.name, spec.channels, limits, use_header)
    if is_generic_stamped(msg_type):
        return FieldPathAdapter(spec.name, spec.channels, limits, use_header)
    raise ConfigError(
        f"stream {spec.name!r}: message type {spec.msg_type!r} is not supported; expected "
        f"one of {[FLOAT32_ARRAY, FLOAT64_ARRAY, JOINT_STATE, IMU]} or a stamped "
        "pkg/msg/Type read by field paths"
    )
