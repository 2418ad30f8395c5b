# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""CPU execution backends for the model behind one small protocol, `ModelRunner`.

A runner takes a batch of frames and an optional recurrent state and returns the
heads' logits for the *last* frame of each batch row plus the new state:

    run(continuous [B,T,C] float32, categorical [B,T,K] int64, state | None)
        -> ({head: logits [B,V] float32}, (h, c) each [L,B,d] float32)

The same call serves a full window (`state=None`, zero state) and an
incremental step (the state returned by the previous call). States are numpy
arrays for every backend, so callers can gather and scatter them per machine.

- `torch`: eager PyTorch under `torch.inference_mode`; inputs and states are
  shared with numpy (`torch.from_numpy`, no copy). Calls of at most
  `TORCH_NATIVE_LSTM_FRAMES` frames (incremental steps) run PyTorch's native
  LSTM instead of its oneDNN one, whose per-call cost (weight reorders, about
  2.5 ms at the seed size whatever the length) dominates short steps: an
  8-frame step takes about 25 % less time at the seed size, a 1-frame step
  a fifth of it. From about 32 frames oneDNN is faster again, so a 64-frame
  window keeps it.
- `onnxruntime`: the backbone and heads exported to ONNX in memory when the
  runner is built (`onnx_export`: TorchScript exporter, `dynamo=False`, so no
  onnxscript dependency; a compact graph of the same function; a 4-layer
  256-wide model exports in about a second). Exporting at start-up from the
  loaded weights means the graph can never be stale and the read-only install
  tree is never written. Inputs are bound in place and outputs go to
  preallocated buffers (IOBinding, bindings and output views cached per set
  of buffers): no allocation per call. Session options are onnxruntime's
  defaults but for one sequential thread that does not spin; graph
  optimisation levels, spinning, arena, memory patterns and denormals made no
  measurable difference (within 2 %), disabling weight prepacking made it
  10-20 % slower.
  Agreement with eager PyTorch: `ONNX_ATOL` on logits and state (test_backends).
- `onnxruntime_int8`: the same export with the LSTM weights quantised to int8
  (onnxruntime dynamic quantisation, LSTM nodes only: activations stay float).
  The LSTM reads a quarter of the weight bytes, which is what bounds a batch-1
  step on CPU; the price is accuracy: logits within `INT8_ATOL` of PyTorch,
  and the benchmark reports top-1 agreement per head. Activations are quantised
  per call with the batch's range, so a machine's result also depends on the
  other machines batched with it. Opt-in, never the default.

Threads are chosen deliberately: both backends default to one intra-op thread,
which is the fastest for batch-1 LSTM steps and leaves the other core to the
executor threads that ingest sensor messages. onnxruntime's idle worker threads
do not spin, so extra threads never burn CPU between ticks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameters import (
    BACKEND_CHOICES, BACKEND_ONNXRUNTIME, BACKEND_ONNXRUNTIME_INT8, BACKEND_TORCH,
)
from streaming_gcode.inference.onnx_export import (  # noqa: F401 (export_onnx: re-exported)
    export_onnx, INPUT_NAMES, ONNX_OPSET, STATE_OUTPUTS,
)

BACKENDS: tuple[str, ...] = BACKEND_CHOICES   # the node's `backend` parameter values
EXACT_BACKENDS: tuple[str, ...] = (BACKEND_TORCH, BACKEND_ONNXRUNTIME)
DEFAULT_THREADS = 1
ONNX_ATOL = 1e-4      # max |onnxruntime - torch| on logits and state (float32)
INT8_ATOL = 0.35      # max |onnxruntime_int8 - torch| on logits (int8 LSTM weights)
TORCH_NATIVE_LSTM_FRAMES = 16   # torch runs at most this many frames without oneDNN
_MAX_BINDINGS = 64    # cached IOBindings (one per distinct set of buffers and shapes)

ArrayState = tuple[np.ndarray, np.ndarray]   # (h, c), each float32 [num_layers, B, d_model]


class ModelRunner(Protocol):
    """Runs the model on a batch of frames after an optional recurrent state."""

    name: str
    heads: tuple[str, ...]
    state_dims: tuple[int, int]    # (num_layers, d_model)
    threads: int

    def run(
        self, continuous: np.ndarray, categorical: np.ndarray, state: ArrayState | None
    ) -> tuple[dict[str, np.ndarray], ArrayState]:
        """Logits [B,V] of each row's last frame per head, and the state after it."""

    def set_threads(self, threads: int) -> None:
        """Intra-op threads for the next runs."""


def _check_threads(threads: int) -> None:
    if not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"backend threads must be an integer >= 1, got {threads!r}")


def set_torch_threads(threads: int) -> None:
    """Set torch's intra-op threads (process-wide) and one inter-op thread when still possible."""
    _check_threads(threads)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != 1:
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass  # only settable before the first inter-op task; harmless otherwise


class TorchRunner:
    """Eager PyTorch on CPU; numpy in and out without copies."""

    name = BACKEND_TORCH

    def __init__(self, backbone: torch.nn.Module, line_heads: torch.nn.Module,
                 threads: int = DEFAULT_THREADS) -> None:
        self.backbone = backbone.eval()
        self.line_heads = line_heads.eval()
        self.heads = tuple(line_heads.heads.keys())
        self.state_dims = (backbone.config.num_layers, backbone.config.d_model)
        self.threads = threads
        set_torch_threads(threads)

    def set_threads(self, threads: int) -> None:
        """Set torch's intra-op thread count (process-wide)."""
        set_torch_threads(threads)
        self.threads = threads

    def run(
        self, continuous: np.ndarray, categorical: np.ndarray, state: ArrayState | None
    ) -> tuple[dict[str, np.ndarray], ArrayState]:
        """Backbone over all frames, heads on the last frame only."""
        native = (continuous.shape[1] <= TORCH_NATIVE_LSTM_FRAMES
                  and torch.backends.mkldnn.enabled)
        try:
            if native:   # process-wide flag, restored below (same results either way)
                torch.backends.mkldnn.enabled = False
            with torch.inference_mode():
                start = None
                if state is not None:
                    start = (torch.from_numpy(state[0]), torch.from_numpy(state[1]))
                hidden, (h, c) = self.backbone.step(
                    torch.from_numpy(continuous), torch.from_numpy(categorical), start
                )
                logits = self.line_heads(hidden[:, -1])
        finally:
            if native:
                torch.backends.mkldnn.enabled = True
        return {head: value.numpy() for head, value in logits.items()}, (h.numpy(), c.numpy())


class OnnxRunner:
    """onnxruntime CPU session over an exported model, with preallocated outputs."""

    name = BACKEND_ONNXRUNTIME

    def __init__(self, model: bytes, heads: Sequence[str], head_sizes: Sequence[int],
                 num_layers: int, d_model: int, threads: int = DEFAULT_THREADS,
                 name: str = BACKEND_ONNXRUNTIME) -> None:
        import onnxruntime  # deferred: only this backend needs it

        self.name = name
        self._ort = onnxruntime
        self._model = model
        self.heads = tuple(heads)
        self._head_sizes = tuple(int(v) for v in head_sizes)
        self.state_dims = (int(num_layers), int(d_model))
        self._capacity = 0
        self._flip = 0
        self.threads = threads
        self._session = self._open(threads)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self._outputs = {o.name for o in self._session.get_outputs()}
        self._bindings: dict[tuple, object] = {}
        self._ensure_batch(1)

    @classmethod
    def from_modules(cls, backbone: torch.nn.Module, line_heads: torch.nn.Module,
                     threads: int = DEFAULT_THREADS, int8: bool = False) -> OnnxRunner:
        """Export the modules (int8 LSTM weights if asked) and open a session on the result."""
        config = backbone.config
        heads = tuple(line_heads.heads.keys())
        model = export_onnx(backbone, line_heads)
        return cls(quantize_onnx(model) if int8 else model, heads,
                   [config.head_sizes[h] for h in heads], config.num_layers, config.d_model,
                   threads, BACKEND_ONNXRUNTIME_INT8 if int8 else BACKEND_ONNXRUNTIME)

    def _open(self, threads: int):
        _check_threads(threads)
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        return ort.InferenceSession(self._model, options, providers=["CPUExecutionProvider"])

    def set_threads(self, threads: int) -> None:
        """Reopen the session with `threads` intra-op threads (fixed per session)."""
        if threads != self.threads:
            self._session = self._open(threads)
            self._bindings.clear()
            self.threads = threads

    def _ensure_batch(self, batch: int) -> None:
        """Grow the output and zero-state buffers to `batch` rows (allocates on growth only)."""
        if batch <= self._capacity:
            return
        layers, width = self.state_dims
        self._capacity = max(batch, 2 * self._capacity)
        self._logits = [np.empty(self._capacity * size, np.float32) for size in self._head_sizes]
        state_size = layers * self._capacity * width
        # Two sets of state outputs, alternated so a call never writes the state it reads.
        self._states = [[np.empty(state_size, np.float32) for _ in STATE_OUTPUTS]
                        for _ in range(2)]
        self._zeros = np.zeros(state_size, np.float32)
        self._bindings.clear()

    def _binding(self, inputs: tuple[np.ndarray, ...], write: int, batch: int):
        """Return an IOBinding over these exact buffers and its output views (cached)."""
        key = (write, batch) + tuple((a.__array_interface__["data"][0], a.shape) for a in inputs)
        cached = self._bindings.get(key)
        if cached is None:
            if len(self._bindings) >= _MAX_BINDINGS:
                self._bindings.clear()
            binding = self._session.io_binding()
            for name, array in zip(INPUT_NAMES, inputs):
                if name in self._inputs:
                    binding.bind_input(name, "cpu", 0, array.dtype, array.shape,
                                       array.__array_interface__["data"][0])
            views = self._output_views(write, batch)
            for name, array in views.items():
                binding.bind_output(name, "cpu", 0, array.dtype, array.shape,
                                    array.__array_interface__["data"][0])
            logits = {name: views[name] for name in self.heads}
            cached = binding, logits, (views[STATE_OUTPUTS[0]], views[STATE_OUTPUTS[1]])
            self._bindings[key] = cached
        return cached

    def _output_views(self, write: int, batch: int) -> dict[str, np.ndarray]:
        """Return views [B,V] per head and [L,B,d] per state output of the output buffers."""
        layers, width = self.state_dims
        views = {name: flat[: batch * size].reshape(batch, size)
                 for name, size, flat in zip(self.heads, self._head_sizes, self._logits)}
        for name, flat in zip(STATE_OUTPUTS, self._states[write]):
            views[name] = flat[: layers * batch * width].reshape(layers, batch, width)
        return views

    def run(
        self, continuous: np.ndarray, categorical: np.ndarray, state: ArrayState | None
    ) -> tuple[dict[str, np.ndarray], ArrayState]:
        """Run the session; results are views of internal buffers, valid until the next run."""
        batch = continuous.shape[0]
        self._ensure_batch(batch)
        layers, width = self.state_dims
        shape = (layers, batch, width)
        if state is None:
            zero = self._zeros[: layers * batch * width].reshape(shape)
            state = (zero, zero)
        write = self._flip
        if any(np.may_share_memory(s, o) for s, o in zip(state, self._states[write])):
            write ^= 1
        self._flip = write ^ 1
        inputs = (
            np.ascontiguousarray(continuous, dtype=np.float32),
            np.ascontiguousarray(categorical, dtype=np.int64),
            np.ascontiguousarray(state[0], dtype=np.float32),
            np.ascontiguousarray(state[1], dtype=np.float32),
        )
        binding, logits, new_state = self._binding(inputs, write, batch)
        self._session.run_with_iobinding(binding)
        return dict(logits), new_state


def quantize_onnx(model: bytes) -> bytes:
    """Quantise the LSTM weights of an exported model to int8 (dynamic quantisation)."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="streaming_gcode_int8_") as folder:
        target = Path(folder) / "model_int8.onnx"
        logging.disable(logging.WARNING)   # its advice to pre-process applies to conv nets
        try:
            quantize_dynamic(onnx.load_from_string(model), target, op_types_to_quantize=["LSTM"],
                             weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        return target.read_bytes()


def make_runner(backend: str, backbone: torch.nn.Module, line_heads: torch.nn.Module,
                threads: int = DEFAULT_THREADS) -> ModelRunner:
    """Build the runner called `backend` for these modules (ConfigError if unknown)."""
    _check_threads(threads)
    if backend == BACKEND_TORCH:
        return TorchRunner(backbone, line_heads, threads)
    if backend in (BACKEND_ONNXRUNTIME, BACKEND_ONNXRUNTIME_INT8):
        return OnnxRunner.from_modules(backbone, line_heads, threads,
                                       int8=backend == BACKEND_ONNXRUNTIME_INT8)
    raise ConfigError(f"backend {backend!r} unknown; expected one of {list(BACKENDS)}")
