# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""One node serving several machines (cells): names, per-machine topics, one engine.

With the `machines` parameter empty the node serves one machine on the
layout's topics (`~/gcode`, `~/prediction`). With `machines: [cell_a, cell_b]`
every machine gets the same stream layout under its own namespace (the
relative topic `cnc/controller_state` becomes `cell_a/cnc/controller_state`),
its own aligner, ring buffer, drop counters and outputs (`~/cell_a/gcode`,
`~/cell_a/prediction`), and one tick runs every machine's window through the
model in one batched pass (`BatchedInference`). Pure Python: the ROS side is
in node_machines.py.

A plant with more machines than one host can serve runs one node per host on
the same DDS graph, each with its own `machines` list (and node name).
"""

from __future__ import annotations

from dataclasses import replace
import re
from typing import Mapping, Sequence

import torch

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameters import BACKEND_CHOICES, MODE_CHOICES, MODE_INCREMENTAL
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.inference.backends import make_runner
from streaming_gcode.inference.batching import BatchedInference, BatchTick
from streaming_gcode.inference.engine import InferenceEngine, InferenceResult, PreparedInput
from streaming_gcode.ingestion.stream_ingest import StreamIngest

SINGLE_MACHINE = ""                    # the one machine of a node without `machines`
MACHINE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
MAX_MACHINES = 256


def check_machine_names(names: Sequence[str]) -> tuple[str, ...]:
    """Return the machine names, validated: ROS name tokens, distinct, at most MAX_MACHINES."""
    names = tuple(names)
    bad = [n for n in names if not MACHINE_NAME.match(n)]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if bad:
        problems.append(f"{bad} are not valid names (a letter, then letters, digits, _)")
    if duplicates:
        problems.append(f"{duplicates} appear more than once")
    if len(names) > MAX_MACHINES:
        problems.append(f"{len(names)} machines, at most {MAX_MACHINES}")
    if problems:
        raise ConfigError("invalid machines parameter: " + "; ".join(problems))
    return names or (SINGLE_MACHINE,)


def machine_layout(layout: StreamLayout, machine: str) -> StreamLayout:
    """Return the layout with every topic in the machine's namespace (SINGLE_MACHINE: as is)."""
    if machine == SINGLE_MACHINE:
        return layout
    absolute = [s.name for s in layout.streams if s.topic.startswith(("/", "~"))]
    if absolute:
        raise ConfigError(
            f"with machines, stream topics must be relative so each machine gets its own: "
            f"streams {absolute} have absolute or private topics"
        )
    streams = tuple(replace(s, topic=f"{machine}/{s.topic}") for s in layout.streams)
    return replace(layout, streams=streams)


def output_prefix(machine: str) -> str:
    """Return the prefix of a machine's output topics: `~/` or `~/<machine>/`."""
    return "~/" if machine == SINGLE_MACHINE else f"~/{machine}/"


class MachineEngine:
    """The node's model runs over its machines: one engine, or one batched pass for many."""

    def __init__(self, backbone: torch.nn.Module, line_heads: torch.nn.Module, machines: Sequence[str],
                 window_frames: int, capacity: int, n_continuous: int, n_categorical: int,
                 mode: str, backend: str, threads: int, max_gap_ns: int | None) -> None:
        if backend not in BACKEND_CHOICES:
            raise ValueError(f"backend {backend!r} unknown; expected one of {BACKEND_CHOICES}")
        if mode not in MODE_CHOICES:
            raise ValueError(f"mode {mode!r} unknown; expected one of {MODE_CHOICES}")
        self.machines = tuple(machines)
        self.runner = make_runner(backend, backbone, line_heads, threads)
        self.window_frames = window_frames
        self.mode = mode
        self._single: InferenceEngine | None = None
        self._batch: BatchedInference | None = None
        if len(self.machines) == 1:
            self._single = InferenceEngine(backbone, line_heads, window_frames, capacity, n_continuous,
                                           n_categorical, mode, self.runner, threads, max_gap_ns)
        else:
            self._batch = BatchedInference(self.runner, self.machines, window_frames, capacity,
                                           n_continuous, n_categorical,
                                           mode == MODE_INCREMENTAL, max_gap_ns)

    @property
    def backend_name(self) -> str:
        """Return the backend's name."""
        return self.runner.name

    @property
    def threads(self) -> int:
        """Intra-op threads of the backend."""
        return self.runner.threads

    @property
    def state_resets(self) -> int:
        """Incremental state resets, all machines and reasons."""
        if self._single is not None:
            return self._single.state_resets
        return sum(sum(c.resets.values()) for c in self._batch.cursors)

    def set_mode(self, mode: str) -> None:
        """Switch every machine's mode (states restart from a full window)."""
        if mode not in MODE_CHOICES:
            raise ValueError(f"mode {mode!r} unknown; expected one of {MODE_CHOICES}")
        self.mode = mode
        if self._single is not None:
            self._single.set_mode(mode)
        else:
            self._batch.set_incremental(mode == MODE_INCREMENTAL)

    def set_threads(self, threads: int) -> None:
        """Intra-op threads of the backend, from the next tick."""
        self.runner.set_threads(threads)

    def prepare(self, ingests: Mapping[str, StreamIngest]) -> PreparedInput | BatchTick | None:
        """Copy each machine's new data under its own lock; None when no machine has any."""
        if self._single is not None:
            ingest = ingests[self.machines[0]]
            with ingest.lock:
                return self._single.prepare(ingest.buffer)
        tick = self._batch.prepare({m: i.buffer for m, i in ingests.items()},
                                   {m: i.lock for m, i in ingests.items()})
        return tick if len(tick) else None

    def infer(self, prepared: PreparedInput | BatchTick) -> dict[str, InferenceResult]:
        """Run the model (one pass per group of equal frame counts); results by machine."""
        if self._single is not None:
            return {self.machines[0]: self._single.infer(prepared)}
        return self._batch.infer(prepared)
