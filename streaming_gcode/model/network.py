# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The causal streaming model: an LSTM backbone and one linear classifier per head.

`backbone(continuous [B,T,C] raw float32, categorical [B,T,K] int64) -> hidden [B,T,d]`
normalises the raw inputs itself (buffers filled from the checkpoint's
statistics), so the node and an ONNX export feed sensor values as they come.
`line_heads(hidden) -> {head: logits [B,T,V]}`.

Every operation is per frame except the LSTM, which only looks back, so the
output at frame t depends on frames <= t only (causal).

Full window versus incremental. `backbone(window)` starts from zero state at the
window's first frame; `backbone.step(new_frames, state)` continues from the
state left by earlier calls. The two give the same output at frame t (equal up
to float32 rounding, about 1e-6) exactly when the incremental state was started
(`state=None` or `initial_state`) at the same frame as the window, i.e. while at
most `window` frames have been fed since the last reset. Once more frames have
been fed they differ: the window forgets everything before its first frame,
the state does not. Splitting the frames into steps of any size (stride 1, 4,
the whole window) never changes the incremental result.

`num_heads` has no role in an LSTM: it is accepted (and stored) so configurations
written for attention backbones, such as the seed's 8 heads, still load.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from numbers import Integral
from typing import Any, Mapping

import torch
from torch import nn

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.core.parameters import NODE_PARAMETERS

DEFAULT_D_MODEL = 128
DEFAULT_LAYERS = 2
DEFAULT_HEADS = 4
DEFAULT_DROPOUT = 0.1
DEFAULT_EMBEDDING_DIM = 8
DEFAULT_WINDOW = 64
DEFAULT_CODE_BUCKETS = 2048
DEFAULT_CODE_EMBEDDING_DIM = 32
INPUT_CLIP = 8.0  # normalised inputs are clipped to +-this many standard deviations
ARCHITECTURE = "lstm"

# Bounds on a configuration, checked before anything is allocated, so a checkpoint
# cannot ask for more than a CPU node runs (the shipped models: d_model 128,
# 2 layers, 0.67 M parameters, window 64).
MAX_WINDOW = int(next(p.maximum for p in NODE_PARAMETERS if p.name == "window_frames"))
MAX_D_MODEL = 4096
MAX_NUM_LAYERS = 32
MAX_NUM_HEADS = 1024          # stored only (see the module docstring)
MAX_EMBEDDING_DIM = 1024      # embedding_dim and code_embedding_dim
MAX_CODE_BUCKETS = 1 << 20
MAX_CLASSES = 1 << 20         # one categorical input's size, one head's size
MAX_INPUTS = 65536            # continuous plus categorical inputs
MAX_OUTPUT_HEADS = 256
MAX_PARAMETERS = 50_000_000   # 200 MB of float32 weights
_INTEGER_FIELDS: tuple[str, ...] = (
    "n_continuous", "d_model", "num_layers", "num_heads", "embedding_dim", "window",
    "code_buckets", "code_embedding_dim",
)
_UPPER_BOUNDS: tuple[tuple[str, int], ...] = (
    ("d_model", MAX_D_MODEL), ("num_layers", MAX_NUM_LAYERS), ("num_heads", MAX_NUM_HEADS),
    ("embedding_dim", MAX_EMBEDDING_DIM), ("code_embedding_dim", MAX_EMBEDDING_DIM),
    ("window", MAX_WINDOW), ("code_buckets", MAX_CODE_BUCKETS),
)

State = tuple[torch.Tensor, torch.Tensor]  # (h, c), each [num_layers, B, d_model]


@dataclass
class ModelConfig:
    """Sizes of the model; everything needed to rebuild it before loading weights."""

    n_continuous: int
    categorical_sizes: list[int] = field(default_factory=list)
    head_sizes: dict[str, int] = field(default_factory=dict)
    d_model: int = DEFAULT_D_MODEL
    num_layers: int = DEFAULT_LAYERS
    num_heads: int = DEFAULT_HEADS
    dropout: float = DEFAULT_DROPOUT
    embedding_dim: int = DEFAULT_EMBEDDING_DIM
    window: int = DEFAULT_WINDOW
    architecture: str = ARCHITECTURE
    # Continuous inputs whose raw value is an integer code (the program line number):
    # besides the normalised value, round(raw) mod code_buckets selects a learned embedding.
    code_inputs: list[int] = field(default_factory=list)
    code_buckets: int = DEFAULT_CODE_BUCKETS
    code_embedding_dim: int = DEFAULT_CODE_EMBEDDING_DIM

    def __post_init__(self) -> None:
        _check_sizes(self)
        problems = []
        if self.n_continuous < 0 or self.d_model < 1 or self.num_layers < 1:
            problems.append(
                f"n_continuous {self.n_continuous} >= 0, d_model {self.d_model} >= 1 and "
                f"num_layers {self.num_layers} >= 1 are required"
            )
        if any(size < 2 for size in self.categorical_sizes):
            problems.append(
                f"categorical sizes must be >= 2 (index 0 = unknown): {self.categorical_sizes}"
            )
        if not self.head_sizes or any(size < 1 for size in self.head_sizes.values()):
            problems.append(
                f"head_sizes must name at least one head of size >= 1: {self.head_sizes}"
            )
        if not 0.0 <= self.dropout < 1.0 or self.window < 1:
            problems.append(
                f"dropout {self.dropout} in [0, 1) and window {self.window} >= 1 required"
            )
        if self.architecture != ARCHITECTURE:
            problems.append(
                f"architecture {self.architecture!r} unknown, expected {ARCHITECTURE!r}"
            )
        if any(not 0 <= i < self.n_continuous for i in self.code_inputs) or self.code_buckets < 1:
            problems.append(
                f"code_inputs {self.code_inputs} must index continuous inputs "
                f"(0..{self.n_continuous - 1}) and code_buckets {self.code_buckets} be >= 1"
            )
        if self.n_continuous + len(self.categorical_sizes) == 0:
            problems.append("the model needs at least one input")
        if problems:
            raise ModelConfigError("invalid ModelConfig: " + "; ".join(problems))

    @property
    def parameter_count(self) -> int:
        """Return the trainable parameters this config builds, computed without building it."""
        d = self.d_model
        codes = len(self.code_inputs)
        width = (self.n_continuous + self.embedding_dim * self.n_categorical
                 + self.code_embedding_dim * codes)
        embeddings = (sum(self.categorical_sizes) * self.embedding_dim
                      + codes * self.code_buckets * self.code_embedding_dim)
        lstm = self.num_layers * (8 * d * d + 8 * d)  # 4 gates: W_ih, W_hh, b_ih, b_hh
        heads = sum(size * (d + 1) for size in self.head_sizes.values())
        return embeddings + width * d + d + lstm + 2 * d + heads

    @property
    def n_categorical(self) -> int:
        """Return the number of categorical inputs (K, may be 0)."""
        return len(self.categorical_sizes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (checkpoint-safe: ints, floats, strings, lists, dicts)."""
        data = asdict(self)
        data["categorical_sizes"] = [int(s) for s in self.categorical_sizes]
        data["head_sizes"] = {str(k): int(v) for k, v in self.head_sizes.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`; unknown keys are an error, missing optional ones default."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelConfigError(f"unknown ModelConfig keys {unknown}")
        values = dict(data)
        try:
            values["categorical_sizes"] = [int(s) for s in values.get("categorical_sizes", [])]
            heads = dict(values.get("head_sizes", {}))
            values["head_sizes"] = {str(k): int(v) for k, v in heads.items()}
            values["code_inputs"] = [int(i) for i in values.get("code_inputs", [])]
        except OverflowError as exc:  # int(inf)
            raise ModelConfigError(f"invalid ModelConfig: {exc}") from None
        return cls(**values)


def _check_sizes(config: ModelConfig) -> None:
    """Refuse non-integer sizes and sizes above the named limits, before any arithmetic."""
    values = {name: getattr(config, name) for name in _INTEGER_FIELDS}
    problems = [
        f"{name} {value!r} must be an integer" for name, value in values.items()
        if isinstance(value, bool) or not isinstance(value, Integral)
    ]
    if problems:
        raise ModelConfigError("invalid ModelConfig: " + "; ".join(problems))
    problems = [
        f"{name} {getattr(config, name)} above the limit {limit}"
        for name, limit in _UPPER_BOUNDS if getattr(config, name) > limit
    ]
    inputs = config.n_continuous + len(config.categorical_sizes)
    if inputs > MAX_INPUTS:
        problems.append(f"{inputs} inputs above the limit {MAX_INPUTS}")
    if len(config.head_sizes) > MAX_OUTPUT_HEADS:
        problems.append(f"{len(config.head_sizes)} heads above the limit {MAX_OUTPUT_HEADS}")
    classes = [*config.categorical_sizes, *config.head_sizes.values()]
    large = [size for size in classes if size > MAX_CLASSES]
    if large:
        problems.append(f"class counts {large[:3]} above the limit {MAX_CLASSES}")
    if problems:
        raise ModelConfigError("invalid ModelConfig: " + "; ".join(problems))
    if config.parameter_count > MAX_PARAMETERS:
        raise ModelConfigError(
            f"invalid ModelConfig: {config.parameter_count} parameters above the limit "
            f"{MAX_PARAMETERS} (what a CPU node can run)"
        )


class StreamingBackbone(nn.Module):
    """Raw frames -> normalised inputs -> per-frame projection -> causal LSTM."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.register_buffer("norm_mean", torch.zeros(config.n_continuous))
        self.register_buffer("norm_std", torch.ones(config.n_continuous))
        self.embeddings = nn.ModuleList(
            nn.Embedding(size, config.embedding_dim) for size in config.categorical_sizes
        )
        self.code_embeddings = nn.ModuleList(
            nn.Embedding(config.code_buckets, config.code_embedding_dim)
            for _ in config.code_inputs
        )
        width = (config.n_continuous + config.embedding_dim * config.n_categorical
                 + config.code_embedding_dim * len(config.code_inputs))
        self.input = nn.Sequential(
            nn.Linear(width, config.d_model), nn.GELU(), nn.Dropout(config.dropout)
        )
        self.lstm = nn.LSTM(
            config.d_model,
            config.d_model,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.norm = nn.LayerNorm(config.d_model)

    def set_normalisation(self, mean: Any, std: Any) -> None:
        """Fill the normalisation buffers (std below 1e-6 is treated as 1)."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1)
        if mean_t.numel() != self.config.n_continuous or std_t.numel() != self.config.n_continuous:
            raise ValueError(
                f"normalisation has {mean_t.numel()}/{std_t.numel()} entries, "
                f"expected {self.config.n_continuous}"
            )
        self.norm_mean.copy_(mean_t)
        self.norm_std.copy_(torch.where(std_t < 1e-6, torch.ones_like(std_t), std_t))

    def initial_state(self, batch: int = 1) -> State:
        """Zero recurrent state for `batch` streams."""
        shape = (self.config.num_layers, batch, self.config.d_model)
        device = self.norm_mean.device
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def embed(self, continuous: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """Per-frame input features [B,T,d] (no mixing across time)."""
        x = (continuous.float() - self.norm_mean) / self.norm_std
        x = torch.clamp(torch.nan_to_num(x, nan=0.0), -INPUT_CLIP, INPUT_CLIP)
        parts = [x]
        for k, embedding in enumerate(self.embeddings):
            index = categorical[..., k].long()
            known = (index >= 0) & (index < embedding.num_embeddings)
            parts.append(embedding(torch.where(known, index, torch.zeros_like(index))))
        for column, embedding in zip(self.config.code_inputs, self.code_embeddings):
            raw = torch.nan_to_num(continuous[..., column].float(), nan=0.0)
            code = torch.round(raw).clamp(-1e9, 1e9).long()
            code = torch.remainder(code, embedding.num_embeddings)
            parts.append(embedding(code))
        return self.input(torch.cat(parts, dim=-1))

    def step(
        self, continuous: torch.Tensor, categorical: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Feed new frames [B,T,...] after `state` (None = zero state); return hidden and state."""
        if state is None:
            state = self.initial_state(continuous.shape[0])
        output, new_state = self.lstm(self.embed(continuous, categorical), state)
        return self.norm(output), new_state

    def forward(self, continuous: torch.Tensor, categorical: torch.Tensor) -> torch.Tensor:
        """Full window from zero state: hidden [B,T,d]."""
        return self.step(continuous, categorical, None)[0]


class LineHeads(nn.Module):
    """One linear classifier per head on the backbone's hidden state."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = nn.ModuleDict(
            {name: nn.Linear(config.d_model, size) for name, size in config.head_sizes.items()}
        )

    def forward(self, hidden: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits [B,T,V] per head."""
        return {name: head(hidden) for name, head in self.heads.items()}


def build_model(
    config: ModelConfig, seed: int | None = None
) -> tuple[StreamingBackbone, LineHeads]:
    """Freshly initialised backbone and heads (deterministic when `seed` is given)."""
    if seed is not None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
    try:
        return StreamingBackbone(config), LineHeads(config)
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)


def parameter_count(*modules: nn.Module) -> int:
    """Count the trainable parameters."""
    return sum(p.numel() for m in modules for p in m.parameters())
