# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Serialised stream messages to message objects, oversized ones refused by size first.

The node subscribes with `raw=True`: rclpy hands over the CDR bytes, and a
message larger than its stream could ever need (`serialized_size_bound`) is
refused before `deserialize_message` builds Python objects for it. Deserialised,
a message of 1e6 elements cost tens of MiB that stayed in the process. A generic
stamped stream's field paths are checked against its message class here, at
start-up.
"""

from __future__ import annotations

from typing import Any

from rclpy.serialization import deserialize_message

from streaming_gcode.core.stream_spec import StreamSpec
from streaming_gcode.ingestion.adapters import RefusedMessage, serialized_size_bound
from streaming_gcode.node.conversions import check_field_paths, message_class


class RawMessageDecoder:
    """One stream's bytes -> its message, or a `RefusedMessage` saying why not."""

    def __init__(self, spec: StreamSpec, max_array_length: int) -> None:
        self.stream = spec.name
        self.msg_class = message_class(spec.msg_type)
        check_field_paths(spec, self.msg_class)   # a bad path fails at start-up, not per message
        self.bound = serialized_size_bound(spec, max_array_length)
        self._channels = len(spec.channels)

    def decode(self, data: Any) -> Any:
        """Deserialise `data` if within the bound; a message object passes through."""
        if not isinstance(data, bytes):
            return data     # already deserialised (a subscription without raw=True)
        size = len(data)
        if size > self.bound:
            return RefusedMessage(
                f"stream {self.stream!r}: serialised message is {size} bytes, over the bound "
                f"of {self.bound} bytes for {self._channels} channel(s) (refused before "
                "deserialising)")
        try:
            return deserialize_message(data, self.msg_class)
        except Exception as exc:  # noqa: BLE001 - corrupt bytes are a malformed message
            return RefusedMessage(f"stream {self.stream!r}: message cannot be deserialised "
                                  f"({type(exc).__name__})")
