# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Model input features: feature sets derived from the stream layout, and the map to streams.

A `FeatureMap` tells the aligner, for each stream, which of its channels feed which
model input, how categorical codes become embedding indices, and what value stands
in for a stream that is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from streaming_gcode.core.errors import FeatureMappingError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.core.stream_spec import ROLE_CONTROLLER

UNKNOWN_CATEGORY_INDEX = 0
FULL = "full"
PHYSICAL = "physical"
FEATURE_SET_DESCRIPTIONS: dict[str, str] = {
    FULL: "every channel of the layout, including controller-reported state (the "
          "executing line's number, the motion mode) that gives the command away",
    PHYSICAL: "the channels of the streams not marked `role: controller` (sensor boards, "
              "motor currents): what the machine physically does",
}


@dataclass(frozen=True)
class FeatureSet:
    """Named choice of model inputs, derived from a stream layout."""

    name: str
    continuous: tuple[str, ...]
    categorical: tuple[str, ...]
    description: str = ""


def feature_set(name: str, layout: StreamLayout) -> FeatureSet:
    """Return the inputs of feature set `name` on `layout`, in layout order.

    `full` takes every channel; `physical` those of streams whose `role` is not
    `controller`. A stream's `categorical` channels are categorical inputs, the
    others continuous. Nothing here knows a machine's channel names.
    """
    if name not in FEATURE_SET_DESCRIPTIONS:
        raise FeatureMappingError(
            f"unknown feature set {name!r}; expected one of {sorted(FEATURE_SET_DESCRIPTIONS)}")
    streams = [s for s in layout.streams if name == FULL or s.role != ROLE_CONTROLLER]
    continuous = tuple(c for s in streams for c in s.channels if c not in s.categorical)
    categorical = tuple(c for s in streams for c in s.channels if c in s.categorical)
    if not continuous:
        raise FeatureMappingError(
            f"feature set {name!r} has no continuous input on this layout (streams "
            f"{[s.name for s in layout.streams]}, roles {[s.role for s in layout.streams]})")
    return FeatureSet(name, continuous, categorical, FEATURE_SET_DESCRIPTIONS[name])


@dataclass(frozen=True)
class StreamGather:
    """Which channels of one stream go where in the frame vectors."""

    continuous_src: np.ndarray  # channel indices in the stream's values
    continuous_dst: np.ndarray  # indices in the frame's continuous vector
    categorical_src: np.ndarray
    categorical_dst: np.ndarray


@dataclass
class FeatureMap:
    """Model features resolved against a stream layout."""

    continuous_names: tuple[str, ...]
    categorical_names: tuple[str, ...]
    gathers: tuple[StreamGather, ...]
    categorical_lookup: tuple[dict[int, int], ...]
    continuous_fill: np.ndarray
    unused_channels: tuple[str, ...] = ()
    unknown_categorical: int = field(default=0)

    @property
    def n_continuous(self) -> int:
        """Return the number of continuous model inputs."""
        return len(self.continuous_names)

    @property
    def n_categorical(self) -> int:
        """Return the number of categorical model inputs."""
        return len(self.categorical_names)

    @classmethod
    def build(
        cls,
        layout: StreamLayout,
        continuous_names: Sequence[str],
        categorical_names: Sequence[str] = (),
        categorical_vocab: Mapping[str, Sequence[int]] | None = None,
        fill_values: np.ndarray | None = None,
    ) -> FeatureMap:
        """Resolve every model feature to a stream channel; list all problems at once."""
        where = _channel_index(layout)
        wanted = list(continuous_names) + list(categorical_names)
        missing = [name for name in wanted if name not in where]
        problems = []
        if missing:
            problems.append(f"no stream provides {len(missing)} model feature(s): {missing}")
        vocab = dict(categorical_vocab or {})
        no_vocab = [name for name in categorical_names if name not in vocab]
        if no_vocab:
            problems.append(f"no categorical vocabulary for {no_vocab}")
        if fill_values is not None and len(fill_values) != len(continuous_names):
            problems.append(
                f"fill_values has {len(fill_values)} entries, expected {len(continuous_names)}"
            )
        if problems:
            raise FeatureMappingError("; ".join(problems))
        gathers = _gathers(layout, where, continuous_names, categorical_names)
        lookup = tuple(
            {int(code): index + 1 for index, code in enumerate(vocab[name])}
            for name in categorical_names
        )
        fill = (
            np.zeros(len(continuous_names), dtype=np.float32)
            if fill_values is None
            else np.asarray(fill_values, dtype=np.float32).copy()
        )
        used = set(wanted)
        unused = tuple(c for spec in layout.streams for c in spec.channels if c not in used)
        return cls(
            tuple(continuous_names), tuple(categorical_names), gathers, lookup, fill, unused
        )

    def category_index(self, feature: int, raw_value: float) -> int:
        """Embedding index of a raw categorical code (0 = unknown, counted)."""
        index = self.categorical_lookup[feature].get(int(raw_value), UNKNOWN_CATEGORY_INDEX)
        if index == UNKNOWN_CATEGORY_INDEX:
            self.unknown_categorical += 1
        return index


def _channel_index(layout: StreamLayout) -> dict[str, tuple[int, int]]:
    return {
        channel: (s, c)
        for s, spec in enumerate(layout.streams)
        for c, channel in enumerate(spec.channels)
    }


def _gathers(
    layout: StreamLayout,
    where: dict[str, tuple[int, int]],
    continuous_names: Sequence[str],
    categorical_names: Sequence[str],
) -> tuple[StreamGather, ...]:
    per_stream: list[tuple[list[int], list[int], list[int], list[int]]] = [
        ([], [], [], []) for _ in layout.streams
    ]
    for dst, name in enumerate(continuous_names):
        s, c = where[name]
        per_stream[s][0].append(c)
        per_stream[s][1].append(dst)
    for dst, name in enumerate(categorical_names):
        s, c = where[name]
        per_stream[s][2].append(c)
        per_stream[s][3].append(dst)
    return tuple(
        StreamGather(*(np.asarray(ix, dtype=np.intp) for ix in lists)) for lists in per_stream
    )
