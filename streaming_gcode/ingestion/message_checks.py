# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What every adapter shares: the sample it returns and the checks it applies.

Each check raises `MessageError` saying what is wrong, where and what is expected.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from streaming_gcode.core.errors import MessageError
from streaming_gcode.core.stream_spec import NS_PER_S

DEFAULT_MAX_ARRAY_LENGTH = 4096
DEFAULT_MAX_FUTURE_NS = 5 * NS_PER_S
MAX_NANOSEC = NS_PER_S - 1


class AdaptedSample(NamedTuple):
    """One validated sample (or a batch): header stamp (None: stamp it at receipt), values."""

    stamp_ns: int | None
    # float64 [n_channels] in the stream's channel order; a batch (2-D array message on a
    # batched stream): [n_samples, n_channels], the last sample at the stamp
    values: np.ndarray
    ignored_names: int = 0   # JointState names beyond the channels, left out


def stamp_to_ns(stamp: Any) -> int:
    """Convert a `builtin_interfaces/Time`-like object to integer nanoseconds."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


class Limits(NamedTuple):
    """What an adapter accepts: array lengths, and how far ahead of the clock a stamp."""

    max_length: int
    max_future_ns: int


def checked_stamp(stream: str, header: Any, now_ns: int, limits: Limits) -> int:
    """Return a header's stamp in ns: positive, nanosec in range, not far ahead of `now_ns`."""
    stamp = header.stamp
    nanosec = int(stamp.nanosec)
    if not 0 <= nanosec <= MAX_NANOSEC:
        raise MessageError(f"stream {stream!r}: header.stamp.nanosec {nanosec} out of range")
    stamp_ns = stamp_to_ns(stamp)
    if stamp_ns <= 0:
        raise MessageError(
            f"stream {stream!r}: header stamp is {stamp_ns} ns; expected a positive time "
            "(an unset stamp is zero)"
        )
    if stamp_ns > now_ns + limits.max_future_ns:
        ahead = (stamp_ns - now_ns) / NS_PER_S
        raise MessageError(
            f"stream {stream!r}: header stamp is {ahead:.3f} s ahead of the node clock; "
            f"at most {limits.max_future_ns / NS_PER_S:.3f} s is accepted"
        )
    return stamp_ns


def checked_length(stream: str, what: str, length: int, expected: int, limits: Limits,
                   at_least: bool = False) -> None:
    """Refuse a `what` of `length` elements: empty, over the limit, or not `expected`."""
    if length > limits.max_length:
        raise MessageError(
            f"stream {stream!r}: {what} has {length} elements, over the limit of "
            f"{limits.max_length}"
        )
    if length == 0:
        raise MessageError(f"stream {stream!r}: {what} is empty; expected {expected} values")
    if length < expected if at_least else length != expected:
        raise MessageError(
            f"stream {stream!r}: {what} has {length} values; expected "
            f"{'at least ' if at_least else ''}{expected}"
        )


def finite(stream: str, values: np.ndarray, channels: Sequence[str]) -> np.ndarray:
    """Return `values` if all are finite; else refuse, naming the first channels at fault.

    `values` is one sample `[channels]` or a batch `[samples, channels]`.
    """
    ok = np.isfinite(values)
    if not ok.all():
        bad = list(dict.fromkeys(channels[i % len(channels)] for i in np.flatnonzero(~ok)))[:5]
        raise MessageError(f"stream {stream!r}: non-finite value (NaN/Inf) in channels {bad}")
    return values
