# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The model checkpoint file: weights plus everything the node needs to run them.

One `torch.save` file holding a dict of plain data and tensors only, so it
loads with `torch.load(weights_only=True)` (a file that would need anything
else, such as a pickle that runs code, is refused):

    format_version        int, FORMAT_VERSION
    config                ModelConfig.to_dict()
    backbone_state_dict   weights and the normalisation buffers (norm_mean, norm_std)
    lm_state_dict         one linear classifier per head
    metadata              ModelMetadata.to_dict(): input feature names in order,
                          categorical vocabularies, normalisation statistics,
                          output vocabulary, window, stride, feature set,
                          validation metrics, training command, and the
                          program library (program_library.py) when it has one
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, MISSING
from functools import cached_property
import io
import os
from pathlib import Path
import pickle
import tempfile
from typing import Any, BinaryIO, Mapping

import numpy as np
import torch

from streaming_gcode.core.errors import CheckpointError, ModelConfigError, VocabularyError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.parameters import DEFAULT_MODEL
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.checkpoint_limits import check_archive, check_tensor_bytes
from streaming_gcode.model.libraries import Library, library_from_dict
from streaming_gcode.model.network import (
    build_model,
    LineHeads,
    MAX_WINDOW,
    ModelConfig,
    StreamingBackbone,
)
from streaming_gcode.model.vocabulary import OutputVocabulary

FORMAT_VERSION = 1
CHECKPOINT_KEYS: tuple[str, ...] = (
    "format_version", "config", "backbone_state_dict", "lm_state_dict", "metadata",
)
DEFAULT_STRIDE = 1
CHECKPOINT_MODE = 0o644  # mkstemp creates 0600; checkpoints are shared, installed files


@dataclass
class ModelMetadata:
    """What the node needs to feed the model and read its outputs, without guessing."""

    continuous_features: list[str]
    categorical_features: list[str]
    categorical_vocab: dict[str, list[int]]   # raw codes; code i -> index i + 1, 0 = unknown
    norm_mean: list[float]
    norm_std: list[float]
    vocabulary: dict[str, Any]                # OutputVocabulary.to_dict()
    window: int
    stride: int
    feature_set: str
    format_version: int = FORMAT_VERSION
    validation_metrics: dict[str, Any] = field(default_factory=dict)
    training_command: str = ""
    training: dict[str, Any] = field(default_factory=dict)  # runs, seed, epochs, timings
    program_library: dict[str, Any] | None = None           # ProgramLibrary.to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelMetadata:
        """Inverse of `to_dict`; raises ValueError/TypeError/KeyError on bad content."""
        known = set(cls.__dataclass_fields__)
        required = {
            name for name, f in cls.__dataclass_fields__.items()
            if f.default is MISSING and f.default_factory is MISSING
        }
        missing = sorted(required - set(data))
        if missing:
            raise KeyError(f"metadata lacks {missing}")
        values = {k: v for k, v in data.items() if k in known}
        meta = cls(**values)
        meta.categorical_vocab = {
            str(k): [int(c) for c in v] for k, v in meta.categorical_vocab.items()
        }
        meta.norm_mean = [float(x) for x in meta.norm_mean]
        meta.norm_std = [float(x) for x in meta.norm_std]
        meta.window, meta.stride = int(meta.window), int(meta.stride)
        return meta

    @cached_property
    def output_vocabulary(self) -> OutputVocabulary:
        """Return the output vocabulary as an object."""
        return OutputVocabulary.from_dict(self.vocabulary, "checkpoint metadata")

    @cached_property
    def library(self) -> Library | None:
        """Return the program library, if the model reads programs (ModelConfigError if bad)."""
        if self.program_library is None:
            return None
        return library_from_dict(self.program_library, "checkpoint program_library")

    @property
    def categorical_sizes(self) -> list[int]:
        """Embedding sizes implied by the categorical vocabularies (codes + unknown)."""
        return [len(self.categorical_vocab[name]) + 1 for name in self.categorical_features]


@dataclass
class LoadedModel:
    """A model ready to run: modules in eval mode, config, metadata and its file."""

    backbone: StreamingBackbone
    line_heads: LineHeads
    config: ModelConfig
    metadata: ModelMetadata
    path: Path | None = None

    @property
    def vocabulary(self) -> OutputVocabulary:
        """Output vocabulary for decoding."""
        return self.metadata.output_vocabulary

    def feature_map(self, layout: StreamLayout) -> FeatureMap:
        """Build the FeatureMap of this model's inputs on `layout` (missing streams: the mean)."""
        meta = self.metadata
        return FeatureMap.build(
            layout,
            meta.continuous_features,
            meta.categorical_features,
            meta.categorical_vocab,
            fill_values=np.asarray(meta.norm_mean, dtype=np.float32),
        )


def save_checkpoint(
    path: str | Path,
    backbone: StreamingBackbone,
    line_heads: LineHeads,
    config: ModelConfig,
    metadata: ModelMetadata,
) -> Path:
    """Write a checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    _check_consistent(config, metadata, str(path))
    payload = {
        "format_version": FORMAT_VERSION,
        "config": config.to_dict(),
        "backbone_state_dict": _plain_state(backbone),
        "lm_state_dict": _plain_state(line_heads),
        "metadata": metadata.to_dict(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.chmod(temporary, CHECKPOINT_MODE)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _plain_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


# A tensor (on the meta device while validating) where a number belongs.
_TENSOR_VALUE_ERRORS = (RuntimeError, NotImplementedError, OverflowError)
_TORCH_BOILERPLATE = ("Weights only load failed", "Please file an issue",
                      "Check the documentation of torch.load")


def _unpickling_reason(exc: Exception) -> str:
    """Pick the line of torch's weights_only refusal that says what was refused."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(_TORCH_BOILERPLATE)]
    return (useful or lines or [type(exc).__name__])[0]


def _read(path: Path, handle: BinaryIO, device: str) -> dict[str, Any]:
    """Unpickle the open checkpoint; on the meta device tensors are described, not read."""
    handle.seek(0)
    try:
        payload = torch.load(handle, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused: it holds objects other than tensors and plain data, which "
            f"weights_only loading does not execute (unsafe or foreign pickle: "
            f"{_unpickling_reason(exc)})"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, TypeError,
            IndexError, NotImplementedError, OverflowError) as exc:
        raise CheckpointError(
            f"{path}: unreadable checkpoint (truncated or corrupt file: {type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(payload, dict):
        raise CheckpointError(
            f"{path}: expected a dict of {list(CHECKPOINT_KEYS)}, got {type(payload).__name__}"
        )
    return payload


def load_checkpoint(path: str | Path) -> LoadedModel:
    """Load and validate a checkpoint; every problem is a CheckpointError naming the file.

    Bounded before anything is allocated: the zip's declared sizes first, then the
    config and metadata (tensors on the meta device, not read), then the weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    with path.open("rb") as handle:
        size = check_archive(path, handle)
        if isinstance(size, bytes):  # not a zip: torch refuses it from a bounded prefix
            _read(path, io.BytesIO(size), "meta")
            raise CheckpointError(f"{path}: unreadable checkpoint (not a zip archive)")
        config, metadata = _validated(path, _read(path, handle, "meta"))
        check_tensor_bytes(path, size, config)
        payload = _read(path, handle, "cpu")
    backbone, line_heads = build_model(config)
    parts = (("backbone", backbone, "backbone_state_dict"),
             ("line_heads", line_heads, "lm_state_dict"))
    for name, module, key in parts:
        try:
            module.load_state_dict(payload[key], strict=True)
        except (RuntimeError, TypeError, AttributeError, KeyError) as exc:
            raise CheckpointError(
                f"{path}: {key} does not fit the config's {name}: {_first_lines(exc)}"
            ) from None
    stored_mean = backbone.norm_mean.numpy()
    if not np.allclose(stored_mean, np.asarray(metadata.norm_mean, dtype=np.float32), atol=1e-5):
        raise CheckpointError(f"{path}: metadata norm_mean disagrees with the backbone's buffer")
    backbone.eval()
    line_heads.eval()
    return LoadedModel(backbone, line_heads, config, metadata, path)


def _validated(path: Path, payload: dict[str, Any]) -> tuple[ModelConfig, ModelMetadata]:
    """Check the keys, version, config and metadata of a payload (tensors not needed)."""
    missing = [key for key in CHECKPOINT_KEYS if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: missing keys {missing} (expected {list(CHECKPOINT_KEYS)})")
    version = payload["format_version"]
    if not isinstance(version, int) or version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version!r}, this software reads version {FORMAT_VERSION}"
        )
    try:
        config = ModelConfig.from_dict(payload["config"])
    except (TypeError, ValueError, AttributeError) + _TENSOR_VALUE_ERRORS as exc:
        raise CheckpointError(f"{path}: bad config: {exc}") from None
    try:
        metadata = ModelMetadata.from_dict(payload["metadata"])
        _check_consistent(config, metadata, str(path))
    except (TypeError, ValueError, KeyError, AttributeError) + _TENSOR_VALUE_ERRORS as exc:
        raise CheckpointError(f"{path}: bad metadata: {exc}") from None
    return config, metadata


def _first_lines(exc: Exception, count: int = 3) -> str:
    return " ".join(line.strip() for line in str(exc).splitlines()[:count])


def _check_consistent(config: ModelConfig, metadata: ModelMetadata, where: str) -> None:
    """Metadata and config must describe the same inputs and outputs."""
    problems = []
    n_cont = config.n_continuous
    if len(metadata.continuous_features) != n_cont:
        problems.append(
            f"{len(metadata.continuous_features)} continuous feature names "
            f"for n_continuous {n_cont}"
        )
    if len(metadata.norm_mean) != n_cont or len(metadata.norm_std) != n_cont:
        problems.append(
            f"normalisation has {len(metadata.norm_mean)}/{len(metadata.norm_std)} entries "
            f"for {n_cont} inputs"
        )
    absent = [n for n in metadata.categorical_features if n not in metadata.categorical_vocab]
    if absent:
        problems.append(f"no categorical vocabulary for {absent}")
    elif metadata.categorical_sizes != list(config.categorical_sizes):
        problems.append(
            f"categorical vocabularies imply sizes {metadata.categorical_sizes}, "
            f"config has {list(config.categorical_sizes)}"
        )
    try:
        head_sizes = metadata.output_vocabulary.head_sizes
    except VocabularyError as exc:
        problems.append(str(exc))
    else:
        if head_sizes != dict(config.head_sizes):
            problems.append(
                f"output vocabulary head sizes {head_sizes} "
                f"!= config head_sizes {config.head_sizes}"
            )
    try:
        library = metadata.library
    except ModelConfigError as exc:
        problems.append(str(exc))
    else:
        needed = [] if library is None else list(library.input_channels)
        if any(name not in metadata.continuous_features for name in needed):
            problems.append(f"program library reads {needed}, not all model inputs")
    if not 1 <= metadata.window <= MAX_WINDOW or metadata.stride < 1:
        problems.append(f"window {metadata.window} in 1..{MAX_WINDOW} (the window_frames "
                        f"range) and stride {metadata.stride} >= 1 are required")
    if problems:
        raise CheckpointError(f"{where}: inconsistent checkpoint: " + "; ".join(problems))


def find_checkpoint(path: str | Path | None, model: str = DEFAULT_MODEL) -> Path | None:
    """Return `path`, or the shipped models/<model>.pt when no path is given, or None.

    The one rule every tool follows to pick the model file; the node adds its
    random-weights fallback on top (`allow_random_model`) where this is None.
    """
    if path:
        return Path(path)
    return default_checkpoint(model)


def resolve_checkpoint(path: str | Path | None, model: str = DEFAULT_MODEL) -> Path:
    """Return the checkpoint `find_checkpoint` picks; none is a CheckpointError."""
    chosen = find_checkpoint(path, model)
    if chosen is None:
        raise CheckpointError(f"no --checkpoint given and the shipped models/{model}.pt "
                              "is not installed")
    return chosen
