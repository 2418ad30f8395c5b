# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node's documentation names every parameter, diagnostics key and prediction key."""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np

from streaming_gcode.core.parameters import (
    LAYOUT_PARAMETERS,
    NODE_PARAMETERS,
    stream_parameter_specs,
)
from streaming_gcode.inference.engine import InferenceResult
from streaming_gcode.inference.feed_cursor import FeedPlan
from streaming_gcode.ingestion.ring_buffer import Window
from streaming_gcode.model.decoding import decode_frame
from streaming_gcode.model.random_weights import default_vocabulary
from streaming_gcode.outputs.diagnostics import (
    BUFFER_KEYS,
    INFERENCE_KEYS,
    LATENCY_FIELDS,
    MODEL_KEYS,
    STREAM_KEYS,
)
from streaming_gcode.outputs.operation_status import OPERATION_STATUS_KEYS
from streaming_gcode.outputs.prediction import prediction_record

REPO = Path(__file__).resolve().parents[2]
SECTION = "## The node: parameters, topics, diagnostics"


def _node_docs() -> str:
    """Return the README's node section."""
    text = (REPO / "README.md").read_text()
    assert SECTION in text, f"README.md lacks the section {SECTION!r}"
    return re.split(r"\n## ", text.split(SECTION, 1)[1], maxsplit=1)[0]


def test_every_parameter_is_documented_with_its_default() -> None:
    text = _node_docs()
    for spec in NODE_PARAMETERS + LAYOUT_PARAMETERS + stream_parameter_specs("<name>"):
        assert f"| `{spec.name}` |" in text, spec.name
    for spec in NODE_PARAMETERS:
        default = str(spec.default).lower() if isinstance(spec.default, bool) else spec.default
        default = f'"{default}"' if isinstance(spec.default, str) else default
        assert f"| `{spec.name}` | `{default}` |" in text, spec.name


def test_every_diagnostics_key_and_status_is_documented() -> None:
    text = _node_docs()
    for name in ("stream <name>", "buffer", "inference", "model", "operation"):
        assert f"`/streaming_gcode: {name}`" in text
    keys = STREAM_KEYS + BUFFER_KEYS + MODEL_KEYS + OPERATION_STATUS_KEYS + tuple(
        k for k in INFERENCE_KEYS if not k.startswith("latency_"))
    for key in keys:
        assert f"`{key}`" in text, key
    for field in LATENCY_FIELDS:
        assert field.replace("_ms", "") in text


def test_every_prediction_key_is_documented() -> None:
    vocab = default_vocabulary()
    logits = {head: np.linspace(0.0, 1.0, size) for head, size in vocab.head_sizes.items()}
    frames = Window(np.zeros(8, np.int64), np.zeros((8, 1), np.float32),
                    np.zeros((8, 0), np.int64), np.zeros(8, bool), first_sequence=35)
    prepared = FeedPlan(frames, from_zero_state=True, newest_sequence=42,
                        newest_stamp_ns=3_000_000_123, first_stamp_ns=1_000_000_000,
                        degraded=False, newest_degraded=False, last_degraded_fed=0,
                        reset_reason=None)
    record = prediction_record(InferenceResult(logits, prepared),
                               decode_frame(logits, vocab), 2_500_000, "full_window", 8)
    assert record["stamp"] == {"sec": 3, "nanosec": 123} and record["latency_ms"] == 2.5
    assert record["frame_sequence"] == 42 and record["tokens"] == record["text"].split()
    text = _node_docs()
    for key in record:
        assert f"| `{key}` |" in text, key
