# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Inference: the machines' ring buffers through the model, one batched pass per tick.

`InferenceEngine` runs N >= 1 machines (one is a batch of one) in full-window
or incremental mode; `FeedCursor` decides per machine which frames to feed and
when the state resets; the backends (eager torch, onnxruntime,
onnxruntime_int8) sit behind `ModelRunner`. No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "backends": ("ModelRunner", "make_runner"),
    "engine": ("InferenceEngine", "InferenceResult"),
    "feed_cursor": ("FeedCursor", "FeedPlan"),
})
