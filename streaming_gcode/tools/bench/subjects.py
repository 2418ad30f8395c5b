# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What the benchmark measures: model sizes, a synthetic stream, and one subject per configuration.

A subject ingests frames (untimed) and, at each tick, does the work a
prediction costs in that configuration (timed): the seed baseline copies its
deque, stacks and recomputes the window; the node's engine copies the window
(or the new frames) out of the ring buffer and runs its backend, over one
machine (a batch of one) or several. All subjects of a size share the same
weights and the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch

from streaming_gcode.core.machines import SINGLE_MACHINE
from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.parameters import MODE_FULL_WINDOW, MODE_INCREMENTAL
from streaming_gcode.inference.backends import (
    BACKEND_ONNXRUNTIME, BACKEND_ONNXRUNTIME_INT8, BACKEND_TORCH, export_onnx, ModelRunner,
    OnnxRunner, quantize_onnx, set_torch_threads, TorchRunner,
)
from streaming_gcode.inference.engine import InferenceEngine
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer
from streaming_gcode.model.checkpoint import load_checkpoint
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.model.random_weights import random_model
from streaming_gcode.tools.bench.seed_baseline import SeedBaseline

SEED_SIZE = "seed"
DEFAULT_SIZE = "default"
BASELINE = "seed_baseline"
BASELINE_DEFAULT_THREADS = "seed_baseline_default_threads"
MODE_SEED = "seed"
FRAME_PERIOD_NS = 10_000_000          # synthetic frames at 100 Hz (the seed's simulation)
SEED_HEADS = {"line_type": 10, "command": 50, "param_type": 30, "param_value": 100}
# torch's own default, read before anything in this process changes it: what the seed ran with.
TORCH_DEFAULT_THREADS = torch.get_num_threads()


@dataclass
class ModelSize:
    """One model (weights shared by every subject of this size) and where it came from."""

    name: str
    backbone: torch.nn.Module
    line_heads: torch.nn.Module
    config: ModelConfig
    window: int
    source: str
    _onnx: dict[str, bytes] = field(default_factory=dict)

    def onnx_model(self, backend: str) -> bytes:
        """Return the ONNX export of these weights (int8 for that backend), made once."""
        if BACKEND_ONNXRUNTIME not in self._onnx:
            self._onnx[BACKEND_ONNXRUNTIME] = export_onnx(self.backbone, self.line_heads)
        if backend not in self._onnx:
            self._onnx[backend] = quantize_onnx(self._onnx[BACKEND_ONNXRUNTIME])
        return self._onnx[backend]

    def runner(self, backend: str, threads: int) -> ModelRunner:
        """Make a fresh runner of `backend` on these weights."""
        if backend == BACKEND_TORCH:
            return TorchRunner(self.backbone, self.line_heads, threads)
        heads = tuple(self.line_heads.heads.keys())
        return OnnxRunner(self.onnx_model(backend), heads,
                          [self.config.head_sizes[h] for h in heads], self.config.num_layers,
                          self.config.d_model, threads, backend)

    def describe(self) -> dict:
        """Facts for results.json."""
        c = self.config
        return {"name": self.name, "source": self.source, "n_continuous": c.n_continuous,
                "categorical_sizes": list(c.categorical_sizes), "d_model": c.d_model,
                "num_layers": c.num_layers, "heads": dict(c.head_sizes), "window": self.window}


def seed_size() -> ModelSize:
    """Build the seed's model: 155 + 4 inputs ([10, 10, 50, 50]), d 256, 4 layers, window 64."""
    config = ModelConfig(n_continuous=155, categorical_sizes=[10, 10, 50, 50],
                         head_sizes=SEED_HEADS, d_model=256, num_layers=4, num_heads=8,
                         dropout=0.0, window=64)
    backbone, line_heads = build_model(config, seed=0)
    return ModelSize(SEED_SIZE, backbone.eval(), line_heads.eval(), config, 64,
                     "seed notebook sizes, random weights")


def default_size() -> ModelSize:
    """Load the shipped models/full.pt, or else a random model of the ModelConfig defaults."""
    path = default_checkpoint("full")
    loaded = load_checkpoint(path) if path is not None else random_model("full", seed=0)
    source = (str(path) if path is not None
              else "random weights, ModelConfig defaults (no models/full.pt)")
    return ModelSize(DEFAULT_SIZE, loaded.backbone, loaded.line_heads, loaded.config,
                     loaded.metadata.window, source)


def custom_size(name: str, config: ModelConfig, seed: int = 0) -> ModelSize:
    """Build a random model of any configuration (tests, experiments)."""
    backbone, line_heads = build_model(config, seed=seed)
    return ModelSize(name, backbone.eval(), line_heads.eval(), config, config.window,
                     "random weights")


@dataclass(frozen=True)
class Stream:
    """Synthetic frames: stamps, continuous [N,C] float32, categorical [N,K] int64."""

    stamps: np.ndarray
    continuous: np.ndarray
    categorical: np.ndarray
    continuous_tensors: tuple[torch.Tensor, ...]   # the seed keeps one tensor per sample
    categorical_tensors: tuple[torch.Tensor, ...]

    def __len__(self) -> int:  # noqa: D105
        return len(self.stamps)

    def stamp(self, index: int) -> int:
        """Stamp of frame `index`; indices past the end replay the data, time keeps going."""
        return (index + 1) * FRAME_PERIOD_NS

    def row(self, index: int) -> int:
        """Row of the data for frame `index`."""
        return index % len(self.stamps)


def synthetic_stream(config: ModelConfig, frames: int, seed: int = 0) -> Stream:
    """Smooth signals plus noise, and categorical codes changing now and then."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None]
    phase = rng.uniform(0, 2 * np.pi, size=config.n_continuous)
    period = rng.uniform(20, 400, size=config.n_continuous)
    continuous = (np.sin(2 * np.pi * t / period + phase)
                  + 0.1 * rng.standard_normal((frames, config.n_continuous))).astype(np.float32)
    categorical = np.zeros((frames, config.n_categorical), np.int64)
    for k, size in enumerate(config.categorical_sizes):
        changes = rng.integers(0, size, size=frames // 50 + 1)
        categorical[:, k] = np.repeat(changes, 50)[:frames]
    return Stream(
        stamps=np.arange(1, frames + 1, dtype=np.int64) * FRAME_PERIOD_NS,
        continuous=continuous,
        categorical=categorical,
        continuous_tensors=tuple(torch.from_numpy(continuous[i].copy()) for i in range(frames)),
        categorical_tensors=tuple(torch.from_numpy(categorical[i].copy()) for i in range(frames)),
    )


class Subject(Protocol):
    """One configuration under measurement."""

    name: str
    mode: str
    backend: str
    threads: int

    def ingest(self, index: int) -> None:
        """Take frame `index` of the stream (not timed)."""

    def tick(self) -> dict[str, np.ndarray] | None:
        """Predict the newest frame (timed): logits [V] per head, None if nothing to do."""


class SeedSubject:
    """The seed baseline: per-sample tensors in a deque, full recompute every tick."""

    mode, backend = MODE_SEED, BACKEND_TORCH

    def __init__(self, name: str, size: ModelSize, stream: Stream, stride: int,
                 threads: int) -> None:

        self.name = name
        self.threads = threads
        self.stream = stream
        self.baseline = SeedBaseline(size.backbone, size.line_heads, size.window, stride)

    def ingest(self, index: int) -> None:
        """Append the frame's tensors to the deques."""
        row = self.stream.row(index)
        self.baseline.add_sample(self.stream.continuous_tensors[row],
                                 self.stream.categorical_tensors[row])

    def tick(self) -> dict[str, np.ndarray] | None:
        """Predict as the seed does (window recompute); the newest frame's logits."""
        predictions = self.baseline.predict()
        if predictions is None:
            return None
        return {head: value[0, -1].numpy() for head, value in predictions.items()}


def make_engine(size: ModelSize, mode: str, runner: ModelRunner, capacity: int,
                machines: tuple[str, ...] = (SINGLE_MACHINE,)) -> InferenceEngine:
    """Build the node's InferenceEngine on `runner` over `machines` (default: one)."""
    return InferenceEngine(runner, machines, window_frames=size.window, capacity=capacity,
                           n_continuous=size.config.n_continuous,
                           n_categorical=size.config.n_categorical, mode=mode)


class EngineSubject:
    """The node's engine on one machine: ring buffer, window view, staging input, a backend."""

    def __init__(self, name: str, size: ModelSize, stream: Stream, mode: str, backend: str,
                 threads: int) -> None:
        self.name, self.mode, self.backend, self.threads = name, mode, backend, threads
        self.stream = stream
        capacity = 2 * size.window
        self.buffer = AlignedRingBuffer(capacity, size.config.n_continuous,
                                        size.config.n_categorical)
        self.engine = make_engine(size, mode, size.runner(backend, threads), capacity)

    def ingest(self, index: int) -> None:
        """Append the frame to the ring buffer."""
        s, row = self.stream, self.stream.row(index)
        self.buffer.append(s.stamp(index), s.continuous[row], s.categorical[row], False)

    def tick(self) -> dict[str, np.ndarray] | None:
        """Copy the window (or new frames) in and run the backend."""
        plans = self.engine.prepare({SINGLE_MACHINE: self.buffer})
        if plans is None:
            return None
        return self.engine.infer(plans)[SINGLE_MACHINE].logits


class BatchSubject:
    """`machines` machines, each a buffer fed its own part of the stream; one pass per tick."""

    def __init__(self, size: ModelSize, stream: Stream, machines: int, mode: str,
                 runner: ModelRunner, offset: int = 7) -> None:
        self.name = f"batch{machines}"
        self.mode, self.backend, self.threads = mode, runner.name, runner.threads
        self.stream = stream
        self.offset = offset
        capacity = 2 * size.window
        names = tuple(f"cell_{i}" for i in range(machines))
        c = size.config
        self.buffers = {n: AlignedRingBuffer(capacity, c.n_continuous, c.n_categorical)
                        for n in names}
        self.engine = make_engine(size, mode, runner, capacity, names)

    def ingest(self, index: int) -> None:
        """Append each machine's frame (machine i reads the stream shifted by i * offset)."""
        s, stamp = self.stream, self.stream.stamp(index)
        for i, buffer in enumerate(self.buffers.values()):
            row = s.row(index + i * self.offset)
            buffer.append(stamp, s.continuous[row], s.categorical[row], False)

    def tick(self) -> dict[str, np.ndarray] | None:
        """Plan every machine, then one batched pass; the first machine's logits."""
        plans = self.engine.prepare(self.buffers)
        if plans is None:
            return None
        results = self.engine.infer(plans)
        return next(iter(results.values())).logits


def apply_threads(subject: Subject) -> None:
    """Give torch the subject's thread count before its tick (process-wide, not timed)."""
    if subject.backend == BACKEND_TORCH:
        set_torch_threads(subject.threads)


MODES: tuple[str, ...] = (MODE_FULL_WINDOW, MODE_INCREMENTAL)
BACKEND_ORDER: tuple[str, ...] = (BACKEND_TORCH, BACKEND_ONNXRUNTIME, BACKEND_ONNXRUNTIME_INT8)
