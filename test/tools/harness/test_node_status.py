# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Reading the node's statuses: the names the node gives them, counters from strings."""

from __future__ import annotations

from streaming_gcode.outputs.diagnostics import BUFFER_KEYS, INFERENCE_KEYS, MODEL_KEYS
from streaming_gcode.tools.harness.node_status import (
    BUFFER_STATUS, counter, INFERENCE_STATUS, MODEL_STATUS, STREAM_STATUS_PREFIX,
)


def test_status_names_are_the_nodes() -> None:
    assert STREAM_STATUS_PREFIX == "streaming_gcode: stream "
    assert (BUFFER_STATUS, INFERENCE_STATUS, MODEL_STATUS) == (
        "streaming_gcode: buffer", "streaming_gcode: inference", "streaming_gcode: model")
    # the counters the tools read are the documented keys of those statuses
    assert {"aligner_resets", "degraded_frames", "frames_held"} <= set(BUFFER_KEYS)
    assert {"skipped_ticks", "overruns", "predictions", "errors"} <= set(INFERENCE_KEYS)
    assert {"checkpoint", "random_weights"} <= set(MODEL_KEYS)


def test_counters_read_integers_and_fall_back_to_zero() -> None:
    values = {"a": "12", "b": "12.0", "c": "", "d": "x"}
    assert [counter(values, key) for key in "abcde"] == [12, 12, 0, 0, 0]
