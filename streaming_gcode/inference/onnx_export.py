# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The model as one ONNX graph: frames and recurrent state in, last-frame logits and state out.

`export_onnx` traces a *compact* graph that computes what `backbone.step`
plus `line_heads` on the last frame compute, with fewer nodes: the categorical
embeddings are one Gather from their concatenated tables (one bounds check for
all inputs instead of one per input), NaN becomes 0 with one Where (the clip
to +-`INPUT_CLIP` already maps infinities to the bound, as `nan_to_num` then
clamp does), the LayerNorm and the heads run on the last frame only (the
last layer's final hidden state), and the heads are one Gemm split per head.
After onnxruntime's optimisations that is 34 nodes instead of 71 at the seed
size, about 40 us less per incremental call and 40-100 us less per 64-frame
window (a few percent: the four LSTM nodes are the rest). Since the compact
graph restates the model's per-frame arithmetic, the export first compares it
with the modules themselves on a probe batch (NaN, infinities, out-of-range
codes) and falls back to tracing `backbone.step` if they differ by more than
`PROBE_ATOL` (logging a warning), so a later change to the model's
arithmetic costs those few percent instead of yielding a graph that disagrees
with it (as far as the probe reaches; test_backends compares the backends
on their own inputs too).
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
import warnings

import torch
from torch.nn import functional

from streaming_gcode.model.network import INPUT_CLIP

ONNX_OPSET = 17
INPUT_NAMES: tuple[str, ...] = ("continuous", "categorical", "h0", "c0")
STATE_OUTPUTS: tuple[str, ...] = ("h1", "c1")
PROBE_ATOL = 1e-5     # compact graph vs the modules, in torch, before exporting it
_EXPORT_FRAMES = 2    # example sequence length for tracing (the axis stays dynamic)
_PROBE_FRAMES = 5

_log = logging.getLogger(__name__)


class StepGraph(torch.nn.Module):
    """Backbone plus heads on the last frame, with the state as explicit inputs and outputs."""

    def __init__(self, backbone: torch.nn.Module, line_heads: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.line_heads = line_heads
        self.heads = tuple(line_heads.heads.keys())

    def forward(self, continuous: torch.Tensor, categorical: torch.Tensor,
                h0: torch.Tensor, c0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        hidden, (h1, c1) = self.backbone.step(continuous, categorical, (h0, c0))
        logits = self.line_heads(hidden[:, -1])
        return tuple(logits[head] for head in self.heads) + (h1, c1)


class CompactGraph(torch.nn.Module):
    """The same function as `StepGraph`, written with fewer ONNX nodes (module docstring)."""

    def __init__(self, backbone: torch.nn.Module, line_heads: torch.nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = tuple(line_heads.heads.keys())
        config = backbone.config
        self.head_sizes = [config.head_sizes[head] for head in self.heads]
        layers = [line_heads.heads[head] for head in self.heads]
        with torch.no_grad():
            self.register_buffer("head_weight", torch.cat([h.weight for h in layers]).clone())
            self.register_buffer("head_bias", torch.cat([h.bias for h in layers]).clone())
            self.categorical = config.n_categorical > 0
            if self.categorical:
                sizes = torch.tensor(config.categorical_sizes, dtype=torch.int64)
                self.register_buffer("table", torch.cat(
                    [e.weight for e in backbone.embeddings]).clone())
                self.register_buffer("sizes", sizes)
                self.register_buffer("offsets", torch.cumsum(sizes, 0) - sizes)

    def forward(self, continuous: torch.Tensor, categorical: torch.Tensor,
                h0: torch.Tensor, c0: torch.Tensor) -> tuple[torch.Tensor, ...]:
        backbone = self.backbone
        x = (continuous - backbone.norm_mean) / backbone.norm_std
        parts = [torch.clamp(torch.where(torch.isnan(x), 0.0, x), -INPUT_CLIP, INPUT_CLIP)]
        if self.categorical:
            known = (categorical >= 0) & (categorical < self.sizes)
            rows = torch.where(known, categorical, 0) + self.offsets
            embedded = functional.embedding(rows, self.table)
            parts.append(embedded.flatten(2))
        for column, embedding in zip(backbone.config.code_inputs, backbone.code_embeddings):
            raw = torch.nan_to_num(continuous[..., column], nan=0.0)
            code = torch.remainder(torch.round(raw).clamp(-1e9, 1e9).long(),
                                   embedding.num_embeddings)
            parts.append(embedding(code))
        _, (h1, c1) = backbone.lstm(backbone.input(torch.cat(parts, dim=-1)), (h0, c0))
        # The last layer's final hidden state is the last frame's LSTM output.
        logits = functional.linear(backbone.norm(h1[-1]), self.head_weight, self.head_bias)
        return tuple(torch.split(logits, self.head_sizes, dim=-1)) + (h1, c1)


def _probe(config) -> tuple[torch.Tensor, ...]:
    """Return a small batch with NaN, infinities and out-of-range codes, and a non-zero state."""
    generator = torch.Generator().manual_seed(0)
    continuous = 3 * torch.randn(2, _PROBE_FRAMES, config.n_continuous, generator=generator)
    flat = continuous.view(-1)
    for index, value in zip((0, 1, 2), (float("nan"), float("inf"), -float("inf"))):
        if index < flat.numel():
            flat[index] = value
    for column in config.code_inputs:
        continuous[..., column] = torch.arange(2 * _PROBE_FRAMES).view(2, -1) * 7.3 - 20.0
    high = max(config.categorical_sizes, default=1) + 2
    categorical = torch.randint(-2, high, (2, _PROBE_FRAMES, config.n_categorical),
                                generator=generator)
    state = torch.randn(2, config.num_layers, 2, config.d_model, generator=generator)
    return continuous, categorical, state[0], state[1]


def _matches(compact: torch.nn.Module, reference: torch.nn.Module, config) -> bool:
    """Tell whether the compact graph computes the modules' outputs on the probe batch."""
    probe = _probe(config)
    got, expected = compact(*probe), reference(*probe)
    return all(a.shape == b.shape and bool(torch.allclose(a, b, atol=PROBE_ATOL, rtol=0))
               for a, b in zip(got, expected))


def export_graph(backbone: torch.nn.Module, line_heads: torch.nn.Module) -> torch.nn.Module:
    """Return the module to trace: the compact graph if it agrees with the modules, else theirs."""
    reference = StepGraph(backbone, line_heads).eval()
    with torch.inference_mode(False), torch.no_grad():
        compact = CompactGraph(backbone, line_heads).eval()
        if _matches(compact, reference, backbone.config):
            return compact
    _log.warning("compact ONNX graph disagrees with the model; exporting backbone.step instead")
    return reference


def export_onnx(backbone: torch.nn.Module, line_heads: torch.nn.Module,
                target: str | Path | io.BytesIO | None = None) -> bytes:
    """Export backbone and heads to ONNX (dynamic batch and time); write `target` if given.

    Graph inputs `continuous [B,T,C]`, `categorical [B,T,K]`, `h0`, `c0 [L,B,d]`;
    outputs one logits tensor [B,V] per head (in the heads' order) then `h1`, `c1`.
    An input the model does not use (K = 0) is left out of the graph. The modules
    are put in eval mode (dropout off), as inference needs.
    """
    backbone.eval()
    line_heads.eval()
    graph = export_graph(backbone, line_heads)
    config = backbone.config
    shape = (config.num_layers, 1, config.d_model)
    example = (
        torch.zeros(1, _EXPORT_FRAMES, config.n_continuous),
        torch.zeros(1, _EXPORT_FRAMES, config.n_categorical, dtype=torch.int64),
        torch.zeros(shape),
        torch.zeros(shape),
    )
    time_axes = {0: "batch", 1: "frames"}
    dynamic_axes = {"continuous": time_axes, "categorical": time_axes,
                    "h0": {1: "batch"}, "c0": {1: "batch"}}
    for name in graph.heads:
        dynamic_axes[name] = {0: "batch"}
    for name in STATE_OUTPUTS:
        dynamic_axes[name] = {1: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo (which needs
        # onnxscript); it handles this model exactly, and h0/c0 are graph inputs,
        # which is what its LSTM batch-size warning asks for.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*LSTM.*", category=UserWarning)
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        torch.onnx.export(
            graph, example, buffer, dynamo=False, opset_version=ONNX_OPSET,
            input_names=list(INPUT_NAMES), output_names=[*graph.heads, *STATE_OUTPUTS],
            dynamic_axes=dynamic_axes,
        )
    data = buffer.getvalue()
    if isinstance(target, io.BytesIO):
        target.write(data)
    elif target is not None:
        Path(target).write_bytes(data)
    return data
