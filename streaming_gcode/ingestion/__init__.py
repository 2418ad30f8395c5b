# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Ingestion: sensor messages to aligned frames in a ring buffer, every drop counted.

The live path's first half, the same online and offline: adapters turn a
message into `(stamp_ns, values)`, drop accounting counts what was lost, the
frame aligner builds frames by timestamp, the ring buffer holds them for the
model, and `StreamIngest` is what the node's callbacks call. No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "adapters": ("MessageAdapter", "make_adapter"),
    "alignment": ("FrameAligner", "FrameTable", "SampleVerdict", "align_samples"),
    "drop_accounting": ("DropAccounting", "DropCounters"),
    "reports": ("BufferReport", "RecentDelta", "StreamReport"),
    "ring_buffer": ("AlignedRingBuffer", "Window"),
    "stream_ingest": ("IngestResult", "Outcome", "StreamIngest"),
})
