# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The `~/prediction` record: one JSON object per prediction, a documented contract.

Keys are only ever added (README, "The node"); consumers such as the demo
display and live evaluation read it, so it lives apart from the node's glue.
"""

from __future__ import annotations

from typing import Any

from streaming_gcode.core.stats import NS_PER_MS, NS_PER_S
from streaming_gcode.inference.engine import InferenceResult
from streaming_gcode.model.decoding import DecodedLine, SOURCE_MODEL

PREDICTION_FORMAT = "streaming_gcode.outputs.prediction/1"


def prediction_record(result: InferenceResult, decoded: DecodedLine, latency_ns: int,
                      mode: str, window_frames: int,
                      tick_unix_ns: int | None = None,
                      source: str = SOURCE_MODEL) -> dict[str, Any]:
    """Build the `~/prediction` JSON object for one decoded prediction.

    `tick_unix_ns` is the wall-clock (Unix, ns) start of the tick that made it, so a
    subscriber on the same host can measure tick-to-receipt latency. `source` says
    whether the text is the running program's recorded line or the model's.
    """
    prepared = result.prepared
    reading = result.reading
    stamp = prepared.newest_stamp_ns
    return {
        "format": PREDICTION_FORMAT,
        "stamp_ns": stamp,
        "stamp": {"sec": stamp // NS_PER_S, "nanosec": stamp % NS_PER_S},
        "window_start_ns": prepared.first_stamp_ns,
        "window_frames": window_frames,
        "frame_sequence": prepared.newest_sequence,
        "text": decoded.text,
        "tokens": list(decoded.tokens),
        "heads": {head: {"label": p.label, "index": p.index, "confidence": p.confidence}
                  for head, p in decoded.heads.items()},
        "confidence": decoded.confidence,
        "degraded": prepared.degraded,
        "newest_frame_degraded": prepared.newest_degraded,
        "latency_ms": latency_ns / NS_PER_MS,
        "mode": mode,
        "tick_unix_ns": tick_unix_ns,
        "source": source,
        "program": None if reading is None else reading.program,
        "program_confidence": None if reading is None else reading.confidence,
        "reported_line": None if reading is None else reading.line_number,
        "operation": None if reading is None else reading.operation,
        "operation_confidence": None if reading is None else reading.operation_confidence,
        "tool_condition": None if reading is None else reading.tool_condition,
        "tool_condition_confidence": (None if reading is None
                                      else reading.tool_condition_confidence),
        "job_progress_frames": None if reading is None else reading.progress,
    }
