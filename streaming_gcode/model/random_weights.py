# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Randomly initialised models: tests, benchmarks, and the node's `allow_random_model`.

They have the real model's shape and a small fixed output vocabulary, so every
path (node, backends, bags) runs without a trained checkpoint.
"""

from __future__ import annotations

from typing import Any

from streaming_gcode.core.features import feature_set
from streaming_gcode.core.stream_layout import resolve_layout, StreamLayout
from streaming_gcode.model.checkpoint import DEFAULT_STRIDE, LoadedModel, ModelMetadata
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.model.vocabulary import OutputVocabulary

# Raw controller codes seen on TinyG-class controllers (random models only).
DEFAULT_CATEGORICAL_CODES: dict[str, list[int]] = {
    "stat": list(range(10)), "unit": [0, 1], "dist": [0, 1],
    "coor": list(range(7)), "momo": list(range(5)),
}


def default_vocabulary() -> OutputVocabulary:
    """Return a small fixed output vocabulary for random models (tests, benchmarks)."""
    steps = {"X": "0.001", "Y": "0.001", "Z": "0.001", "R": "0.0001", "F": "1"}
    return OutputVocabulary.from_dict({
        "format": "streaming_gcode.output_vocabulary", "version": 1,
        "commands": ["G0", "G1", "G2", "G3", "G53 G0", "M30"],
        "letters": ["X", "Y", "Z", "R", "F"],
        "precision": steps,
        "values": {
            "X": list(range(-200, 3700, 100)), "Y": list(range(-300, 3500, 100)),
            "Z": list(range(-125, 650, 25)), "R": [128, 250, 750, 830, 1500, 3000],
            "F": [7, 13, 22, 40],
        },
    })


def random_model(
    feature_set_name: str = "full",
    layout: StreamLayout | None = None,
    seed: int = 0,
    window: int | None = None,
    stride: int = DEFAULT_STRIDE,
    vocabulary: OutputVocabulary | None = None,
    **sizes: Any,
) -> LoadedModel:
    """Build a randomly initialised model for a feature set (tests, benchmarks, the node).

    With a `layout`, inputs are restricted to the feature set's features that the
    layout provides, so a random model runs on any cell. `sizes` are ModelConfig
    fields (d_model, num_layers, num_heads, dropout, embedding_dim).
    """
    chosen = feature_set(feature_set_name, layout or resolve_layout(None))
    continuous, categorical = list(chosen.continuous), list(chosen.categorical)
    codes = {n: DEFAULT_CATEGORICAL_CODES.get(n, list(range(10))) for n in categorical}
    vocab = vocabulary or default_vocabulary()
    config = ModelConfig(
        n_continuous=len(continuous),
        categorical_sizes=[len(codes[n]) + 1 for n in categorical],
        head_sizes=vocab.head_sizes,
        window=window or ModelConfig.__dataclass_fields__["window"].default,
        **sizes,
    )
    backbone, line_heads = build_model(config, seed=seed)
    metadata = ModelMetadata(
        continuous_features=continuous,
        categorical_features=categorical,
        categorical_vocab=codes,
        norm_mean=[0.0] * len(continuous),
        norm_std=[1.0] * len(continuous),
        vocabulary=vocab.to_dict(),
        window=config.window,
        stride=stride,
        feature_set=feature_set_name,
        training_command="random initialisation (not trained)",
    )
    backbone.eval()
    line_heads.eval()
    return LoadedModel(backbone, line_heads, config, metadata, None)


__all__ = ["DEFAULT_CATEGORICAL_CODES", "default_vocabulary", "random_model"]
