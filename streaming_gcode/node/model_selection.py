# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Which model the node runs: the `checkpoint` parameter, the shipped model, or random.

An explicit `checkpoint` must exist. Without one, the shipped
`models/<model>.pt` is used (`checkpoint.find_checkpoint`, the rule every
tool follows); only when that is absent too, and `allow_random_model` is true,
does the node run a randomly initialised model (its diagnostics say so).
Checkpoints are loaded with `weights_only=True` by `checkpoint.load_checkpoint`.
"""

from __future__ import annotations

from dataclasses import dataclass

from streaming_gcode.core.errors import CheckpointError
from streaming_gcode.core.package import share_candidates
from streaming_gcode.core.parameters import NodeSettings
from streaming_gcode.model.checkpoint import find_checkpoint, load_checkpoint, LoadedModel
from streaming_gcode.model.network import parameter_count
from streaming_gcode.model.progress_library import ProgressLibrary
from streaming_gcode.model.random_weights import random_model
from streaming_gcode.outputs.diagnostics import ModelReport

RANDOM_SEED = 0


@dataclass
class NodeModel:
    """The loaded model plus where it came from."""

    loaded: LoadedModel
    name: str          # the `model` parameter (full | physical)
    source: str        # checkpoint path, or "random"

    @property
    def random_weights(self) -> bool:
        """Return True when no trained weights were loaded."""
        return self.loaded.path is None

    @property
    def window(self) -> int:
        """Frames per window the model was trained on."""
        return self.loaded.metadata.window

    @property
    def stride(self) -> int:
        """Frames between predictions the model was trained for."""
        return self.loaded.metadata.stride

    @property
    def description(self) -> str:
        """One line for the start-up log."""
        meta = self.loaded.metadata
        what = "random weights (allow_random_model)" if self.random_weights else self.source
        return (f"model {self.name!r} from {what}: {len(meta.continuous_features)} continuous + "
                f"{len(meta.categorical_features)} categorical features, "
                f"{len(self.loaded.config.head_sizes)} heads, {self.library}")

    @property
    def library(self) -> str:
        """Return what the model reads programs with, in a few words."""
        library = self.loaded.metadata.library
        if library is None:
            return "no program library"
        if isinstance(library, ProgressLibrary):
            return f"physics witness of {len(library.operations)} operations"
        return f"program library of {len(library.programs)} programs"

    def report(self, window_frames: int, unknown: int, unknown_recent: int) -> ModelReport:
        """Model facts for diagnostics."""
        meta = self.loaded.metadata
        return ModelReport(
            checkpoint=self.source,
            model=self.name,
            random_weights=self.random_weights,
            continuous_features=len(meta.continuous_features),
            categorical_features=len(meta.categorical_features),
            window_frames=window_frames,
            heads=tuple(self.loaded.config.head_sizes),
            parameters=parameter_count(self.loaded.backbone, self.loaded.line_heads),
            unknown_categorical=unknown,
            unknown_categorical_recent=unknown_recent,
            program_library=self.library,
        )


def load_node_model(settings: NodeSettings) -> NodeModel:
    """Load the model the settings ask for, or raise one clear CheckpointError."""
    path = find_checkpoint(settings.checkpoint, settings.model)
    if path is not None:
        loaded = load_checkpoint(path)
        return NodeModel(loaded, settings.model, str(loaded.path))
    if settings.allow_random_model:
        loaded = random_model(settings.model, seed=RANDOM_SEED,
                              window=settings.window_frames or None)
        return NodeModel(loaded, settings.model, "random")
    searched = ", ".join(str(p) for p in share_candidates(f"models/{settings.model}.pt"))
    raise CheckpointError(
        f"no checkpoint for model {settings.model!r}: set the checkpoint parameter, ship "
        f"models/{settings.model}.pt (searched {searched}), or set allow_random_model:=true "
        "to run untrained weights"
    )
