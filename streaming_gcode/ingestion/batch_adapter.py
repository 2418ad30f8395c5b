# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Batched `Float32MultiArray` / `Float64MultiArray`: many samples of a stream per message.

A high-rate sensor (a 1 kHz accelerometer) sends a 2-D array: `layout.dim[0]`
samples by `layout.dim[1]` channels, row-major, the samples `1/sample_rate_hz`
apart and the last one at the receipt stamp (MultiArrays have no header). A
1-D array (no dims, or one) is one sample, as for an unbatched stream. Any
other layout is refused as malformed, saying what, where and what was expected.
Only streams that aggregate or set `sample_rate_hz` use this adapter; the
others keep the plain `ArrayAdapter`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from streaming_gcode.core.errors import MessageError
from streaming_gcode.ingestion.message_checks import (
    AdaptedSample, checked_length, finite, Limits,
)

BATCH_DIMS = 2          # samples x channels
SAMPLE_DIMS = (0, 1)    # dim counts that are one sample: no layout, or one dimension
EXPECTED_DATA_OFFSET = 0


class BatchArrayAdapter:
    """A batched stream's arrays: `[samples, channels]` float64, or one sample `[channels]`."""

    stamped = False

    def __init__(self, stream: str, channels: Sequence[str], limits: Limits,
                 sample_rate_hz: float) -> None:
        self.stream = stream
        self.channels = tuple(channels)
        self._limits = limits
        self._rated = sample_rate_hz > 0

    def _refuse(self, what: str, expected: str) -> MessageError:
        return MessageError(f"stream {self.stream!r}: {what}; expected {expected}")

    def _batch_shape(self, layout: Any, length: int) -> tuple[int, int]:
        """Check a 2-D layout against the data and the stream; return (samples, channels)."""
        rows, cols = layout.dim[0], layout.dim[1]
        samples, channels = int(rows.size), int(cols.size)
        shape = f"layout {samples} x {channels}"
        if channels != len(self.channels):
            raise self._refuse(f"{shape} has {channels} channels (dim[1])",
                               f"{len(self.channels)}, the configured channels")
        if samples < 1 or samples * channels != length:
            raise self._refuse(f"{shape} does not match data of {length} values",
                               "dim[0].size x dim[1].size == len(data)")
        if int(rows.stride) != samples * channels or int(cols.stride) != channels:
            raise self._refuse(f"{shape} has strides {int(rows.stride)}, {int(cols.stride)}",
                               f"{samples * channels}, {channels} (dense row-major)")
        if int(layout.data_offset) != EXPECTED_DATA_OFFSET:
            raise self._refuse(f"layout.data_offset is {int(layout.data_offset)}",
                               f"{EXPECTED_DATA_OFFSET}")
        if samples > 1 and not self._rated:
            raise self._refuse(f"{shape} is a batch but the stream has no sample rate",
                               f"streams.{self.stream}.sample_rate_hz > 0 to stamp its samples")
        return samples, channels

    def adapt(self, msg: Any, now_ns: int) -> AdaptedSample:
        """Check the layout and length before converting, then reject non-finite values."""
        data = msg.data
        layout = msg.layout
        dims = len(layout.dim)
        if dims in SAMPLE_DIMS:
            checked_length(self.stream, "data", len(data), len(self.channels), self._limits)
            if dims == 1 and int(layout.dim[0].size) != len(data):
                raise self._refuse(f"layout dim[0].size {int(layout.dim[0].size)} does not "
                                   f"match data of {len(data)} values", "them to be equal")
            values = np.array(data, dtype=np.float64)
            return AdaptedSample(None, finite(self.stream, values, self.channels))
        if dims != BATCH_DIMS:
            raise self._refuse(f"layout has {dims} dims",
                               "2 (samples x channels), or 0 or 1 for one sample")
        checked_length(self.stream, "data", len(data), len(self.channels), self._limits,
                       at_least=True)
        samples, channels = self._batch_shape(layout, len(data))
        values = np.array(data, dtype=np.float64).reshape(samples, channels)
        if samples == 1:
            values = values[0]
        return AdaptedSample(None, finite(self.stream, values, self.channels))
