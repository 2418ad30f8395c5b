# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The seed notebook's streaming engine, rewritten here as the benchmark's reference.

It keeps the seed's approach on purpose, so speedups are measured against what
the project started from: every sample is a tensor in a `deque` (twice the
window long); a prediction copies the deque into a list, takes the newest
`window` samples, `torch.stack`s them into a fresh [1, T, C] batch and runs the
backbone and every head over the whole window in eager PyTorch under
`torch.no_grad`, every `stride` samples, with torch's default thread settings.
Only the interface differs: it returns the newest frame's logits per head (the
seed took the `command` argmax), so tests can compare it with the node's engine.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch


class SeedBaseline:
    """Deque of per-sample tensors, list copy, stack, full-window recompute each stride."""

    def __init__(self, backbone: torch.nn.Module, line_heads: torch.nn.Module,
                 window_size: int = 64, stride: int = 16) -> None:
        if window_size < 1 or stride < 1:
            raise ValueError(f"window_size and stride must be >= 1, got {window_size}, {stride}")
        self.backbone = backbone.eval()
        self.line_heads = line_heads.eval()
        self.window_size = window_size
        self.stride = stride
        self.continuous_buffer: deque[torch.Tensor] = deque(maxlen=window_size * 2)
        self.categorical_buffer: deque[torch.Tensor] = deque(maxlen=window_size * 2)
        self.samples_since_prediction = 0

    def add_sample(self, continuous: torch.Tensor, categorical: torch.Tensor) -> None:
        """Append one timestep (tensors [C] and [K])."""
        self.continuous_buffer.append(continuous)
        self.categorical_buffer.append(categorical)

    def can_predict(self) -> bool:
        """Tell whether a full window is buffered."""
        return len(self.continuous_buffer) >= self.window_size

    def predict(self) -> dict[str, torch.Tensor] | None:
        """Logits [1, T, V] per head over the newest window, recomputed from scratch."""
        if not self.can_predict():
            return None
        continuous_window = list(self.continuous_buffer)[-self.window_size:]
        categorical_window = list(self.categorical_buffer)[-self.window_size:]
        continuous = torch.stack(continuous_window).unsqueeze(0)
        categorical = torch.stack(categorical_window).unsqueeze(0)
        with torch.no_grad():
            hidden = self.backbone(continuous, categorical)
            return self.line_heads(hidden)

    def process_sample(self, continuous: torch.Tensor,
                       categorical: torch.Tensor) -> dict[str, np.ndarray] | None:
        """Add a sample; every `stride` samples, the newest frame's logits per head ([V])."""
        self.add_sample(continuous, categorical)
        self.samples_since_prediction += 1
        if self.samples_since_prediction < self.stride or not self.can_predict():
            return None
        predictions = self.predict()
        self.samples_since_prediction = 0
        return {head: value[0, -1].numpy() for head, value in predictions.items()}

    def reset(self) -> None:
        """Clear the buffers."""
        self.continuous_buffer.clear()
        self.categorical_buffer.clear()
        self.samples_since_prediction = 0
