# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What decides a training run, as plain data (recorded in the checkpoint).

Apart from the training loop so that building the `train` command's options
(its defaults are these) loads neither torch nor the data code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Continuous inputs that are codes rather than quantities: the program line number.
DEFAULT_CODE_FEATURES: tuple[str, ...] = ("line",)
# The program library's inputs: the controller's reported line and where the machine is
# (TinyG/g2core status-report keys). A feature set without them has no library.
DEFAULT_PROGRAM_LINE_CHANNEL = "line"
DEFAULT_PROGRAM_EVIDENCE: tuple[str, ...] = ("posx", "posy", "posz", "feed")
# Which runs the saved checkpoint's library holds. `past`: the train and tune runs (what
# validation scores). `all`: validation is scored with that past-only library first, then
# the library is rebuilt from every run, validation runs included (refit on all: the
# drift is temporal and the runs the product meets are later still).
LIBRARY_PAST = "past"
LIBRARY_ALL = "all"
LIBRARY_RUNS: tuple[str, ...] = (LIBRARY_PAST, LIBRARY_ALL)


@dataclass
class TrainingConfig:
    """Everything that decides a training run (recorded in the checkpoint)."""

    data: list[str]
    bags: list[str] = field(default_factory=list)   # rosbag2 bags, one run each
    label_topic: str | None = None   # their executing-line topic (None: the bag's reference)
    feature_set: str = "full"
    layout: str | None = None        # stream layout YAML; None = the shipped config/stream.yaml
    d_model: int = 128
    num_layers: int = 2
    num_heads: int = 4
    dropout: float = 0.1
    embedding_dim: int = 8
    window: int = 64
    window_stride: int = 32
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    max_epochs: int = 10
    patience: int = 4
    seed: int = 0
    threads: int = 2
    max_minutes: float = 14.0        # wall-clock budget of the whole run, final evaluation too
    eval_mode: str = "window"
    tune_every: int = 8              # score every n-th tune frame after each epoch (speed)
    code_features: list[str] = field(default_factory=lambda: list(DEFAULT_CODE_FEATURES))
    program_line_channel: str = DEFAULT_PROGRAM_LINE_CHANNEL   # "" = no program library
    program_evidence: list[str] = field(default_factory=lambda: list(DEFAULT_PROGRAM_EVIDENCE))
    progress_library: bool = True   # without the controller's line: the physics witness
    library_runs: str = LIBRARY_PAST   # the saved library's runs: past (train+tune) or all
