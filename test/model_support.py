# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Tiny real checkpoints for tests that need a node to load a model, not a good one."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from streaming_gcode.model.checkpoint import ModelMetadata, save_checkpoint
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.model.random_weights import default_vocabulary


def continuous_checkpoint(path: Path, features: Sequence[str], window: int = 4,
                          stride: int = 1, seed: int = 2) -> Path:
    """Save a d_model-8 random model over continuous `features` (identity normalisation)."""
    vocab = default_vocabulary()
    n = len(features)
    config = ModelConfig(n_continuous=n, head_sizes=vocab.head_sizes, d_model=8, num_layers=1,
                         dropout=0.0, window=window)
    backbone, line_heads = build_model(config, seed=seed)
    meta = ModelMetadata(list(features), [], {}, [0.0] * n, [1.0] * n, vocab.to_dict(),
                         window=window, stride=stride, feature_set="test")
    return save_checkpoint(path, backbone, line_heads, config, meta)
