# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The physics witness: which recorded operation runs, and how far into it, from sensors alone.

Without the controller, a 64-frame window cannot know where in a program the
machine is. But the runs of a program are very repeatable in time (a family's
runs last the same number of frames to within a few), so the library keeps,
per recorded operation (family) and per frame since the job started, the
median of the physical evidence channels over the recorded runs (a template)
and the line most often executing then. The tracker (model/progress_tracker.py)
counts frames since the job start and accumulates per operation the distance
between the observed channels and the template near that progress
(`shifted_evidence`: within `PROGRESS_SLACK` frames, per constant shift of the
template; the median over the channels, so a few drifting or offset channels,
such as a magnetometer whose level moved since the recordings, cannot outvote
the rest); the operation with the least evidence against it is the one
running, and its line at that progress is the prediction. Operations differ in
the tool's condition too (the damaged-tool runs are operations of their own),
so the same evidence tells `normal` from `damaged`.

Evidence channels are chosen from the recordings (`select_channels`): those whose
template explains a good share of their variance in most operations (the bed
boards' magnetometers follow the moving bed, the vibration RMS follows the cut);
slow, drifting channels explain little and are left out. A board missing from
a run gives its channels the aligner's fill value (the training mean), in the
recorded runs and at run time alike: a few constant channels, which the median
over channels keeps from deciding (NaN, where given, is skipped). Channels the layout
marks `drifting` (magnetometers: their level moves between runs, their course
within a job repeats) are compared by their change since the job start: the
running mean since the job start is subtracted from the observation and from
the template alike, causally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence
import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from streaming_gcode.core.errors import ModelConfigError
from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.program_library import (
    label_from_json, label_to_json, MAX_PROGRAMS, ProgramLine,
)

PROGRESS_FORMAT = "streaming_gcode.progress_library/2"   # /2: `levelled` drifting channels
PROGRESS_FORMATS: tuple[str, ...] = ("streaming_gcode.progress_library/1", PROGRESS_FORMAT)
NS_PER_S = 1_000_000_000
JOB_GAP_NS = 2 * NS_PER_S     # no frame for this long: the next frame starts a job
PROGRESS_SLACK = 2            # frames of timing slack when matching a template
PROGRESS_CAP = 3.0            # a frame adds at most this much evidence against an operation
# Share of variance a template must explain (median over operations); chosen on the tune
# runs with a library built from the train runs.
MIN_EXPLAINED = 0.10
STORED_STEPS_PER_SCALE = 16   # templates are stored quantised to scale / this (compact)
LENGTH_TOLERANCE = 0.1        # runs this much longer than the median hold two jobs: left out
MAX_TEMPLATE_FRAMES = 100_000
MAX_CHANNELS = 1024
NORMAL = "normal"
DAMAGED = "damaged"
TOOL_CONDITIONS: tuple[str, ...] = (NORMAL, DAMAGED)


@dataclass
class ProgressLibrary:
    """Per operation: a template of the evidence channels and the line at each progress."""

    channels: tuple[str, ...]
    scale: np.ndarray                          # float64 [E]
    operations: tuple[str, ...]
    conditions: tuple[str, ...]                # tool condition of each operation
    templates: tuple[np.ndarray, ...]          # float64 [L_o, E]
    lines: tuple[tuple[ProgramLine | None, ...], ...]   # [L_o]
    levelled: tuple[str, ...] = ()             # drifting channels: compared as change since start

    def __post_init__(self) -> None:
        if not 1 <= len(self.operations) <= MAX_PROGRAMS or len(self.channels) > MAX_CHANNELS:
            raise ModelConfigError(
                f"progress library: {len(self.operations)} operations (1..{MAX_PROGRAMS}) and "
                f"{len(self.channels)} channels (at most {MAX_CHANNELS}) expected")
        for name, condition, template, text in zip(self.operations, self.conditions,
                                                   self.templates, self.lines):
            if condition not in TOOL_CONDITIONS or template.shape[1:] != (len(self.channels),) \
                    or not 1 <= len(template) <= MAX_TEMPLATE_FRAMES or len(text) != len(template):
                raise ModelConfigError(
                    f"progress library: operation {name!r} has inconsistent tables (condition "
                    f"{condition!r}, template {template.shape}, {len(text)} lines)")
        unknown = [c for c in self.levelled if c not in self.channels]
        if unknown:
            raise ModelConfigError(f"progress library: levelled channels {unknown} are not "
                                   f"among its channels")

    @property
    def levelled_mask(self) -> np.ndarray:
        """Return bool [E]: which channels are compared as change since the job start."""
        return _levelled_mask(self.channels, self.levelled)

    @property
    def input_channels(self) -> tuple[str, ...]:
        """Return the model inputs the tracker reads, in the order it reads them."""
        return self.channels

    def shifted_evidence(self, progress: int, values: np.ndarray,
                         max_shift: int = 0) -> np.ndarray:
        """Evidence [O, 2 * max_shift + 1] against each operation, per shift of its template.

        Shift `s` compares the frame at `progress` with the template near
        `progress + s` (within `PROGRESS_SLACK`): a job whose recording, or whose
        node, started `s` frames later than the recorded runs'. Before the
        template's start the template's first frames stand in; past its end the
        operation would be over (`PROGRESS_CAP`).
        """
        width = 2 * max_shift + 1
        out = np.full((len(self.operations), width), PROGRESS_CAP)
        rows = np.arange(progress - max_shift - PROGRESS_SLACK,
                         progress + max_shift + PROGRESS_SLACK + 1)
        targets = progress + np.arange(-max_shift, max_shift + 1)
        for o, template in enumerate(self.templates):
            length = len(template)
            if targets[0] >= length:
                continue                     # the operation would be over at every shift
            with warnings.catch_warnings():  # a frame with none of the channels: no evidence
                warnings.simplefilter("ignore", RuntimeWarning)
                distance = np.nanmedian(
                    np.abs(template[np.clip(rows, 0, length - 1)] - values) / self.scale, axis=1)
            distance = np.where(np.isfinite(distance), distance, 0.0)
            distance[rows >= length] = np.inf
            nearest = sliding_window_view(distance, 2 * PROGRESS_SLACK + 1).min(axis=1)
            out[o] = np.where(targets < length, np.minimum(nearest, PROGRESS_CAP), PROGRESS_CAP)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-safe content for a checkpoint's metadata."""
        step = self.scale / STORED_STEPS_PER_SCALE
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            offset = np.nan_to_num(np.nanmedian(np.concatenate(self.templates), axis=0))
        return {
            "format": PROGRESS_FORMAT,
            "channels": list(self.channels),
            "levelled": list(self.levelled),
            "scale": [float(v) for v in self.scale],
            "offset": [float(v) for v in offset],
            "operations": [
                {"name": name, "condition": condition,
                 "template": [[None if not np.isfinite(v) else int(round(v))
                               for v in row] for row in (template - offset) / step],
                 "labels": [None if t is None else label_to_json(t.label) for t in text],
                 "shares": [None if t is None else round(float(t.share), 4) for t in text]}
                for name, condition, template, text in zip(
                    self.operations, self.conditions, self.templates, self.lines)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any],
                  where: str = "progress library") -> ProgressLibrary:
        """Inverse of `to_dict`, with one clear error for bad content."""
        if not isinstance(data, Mapping) or data.get("format") not in PROGRESS_FORMATS:
            raise ModelConfigError(f"{where}: expected a mapping with a format of "
                                   f"{list(PROGRESS_FORMATS)}")
        levelled = data.get("levelled", [])
        if not isinstance(levelled, list):
            raise ModelConfigError(f"{where}: levelled must be a list of channel names, got "
                                   f"{type(levelled).__name__}")
        try:
            operations = list(data["operations"])[:MAX_PROGRAMS + 1]
            channels = tuple(str(c) for c in data["channels"])
            width = len(channels)
            scale = np.asarray(data["scale"], np.float64).reshape(width)
            offset = np.asarray(data["offset"], np.float64).reshape(width)
            step = scale / STORED_STEPS_PER_SCALE
            return cls(
                channels=channels,
                scale=scale,
                operations=tuple(str(o["name"]) for o in operations),
                conditions=tuple(str(o["condition"]) for o in operations),
                templates=tuple(
                    np.asarray(o["template"], np.float64).reshape(-1, width) * step + offset
                    for o in operations),
                lines=tuple(tuple(None if lab is None else
                                  ProgramLine(label_from_json(lab, where), float(share))
                                  for lab, share in zip(o["labels"], o["shares"], strict=True))
                            for o in operations),
                levelled=tuple(str(c) for c in levelled),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelConfigError(f"{where}: {type(exc).__name__}: {exc}") from None


def select_channels(runs: Sequence[tuple[str, np.ndarray]], names: Sequence[str],
                    min_explained: float = MIN_EXPLAINED) -> list[str]:
    """Channels whose per-operation template explains `min_explained` of their variance.

    `runs` are `(operation, values [N, C])` from job start; the median over
    operations of the explained share must reach the threshold, so a channel that
    drifts (temperature, pressure) or only tracks one operation is left out.
    """
    shares = []
    for operation in sorted({o for o, _ in runs}):
        stack = _stack([v for o, v in runs if o == operation])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            template = np.nanmedian(stack, axis=0)
            residual = np.nanvar(stack - template[None], axis=(0, 1))
            total = np.nanvar(stack, axis=(0, 1))
        shares.append(np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1), np.nan))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        explained = np.nanmedian(np.array(shares), axis=0)
    return [n for n, share in zip(names, explained)
            if np.isfinite(share) and share >= min_explained]


def _stack(values: list[np.ndarray]) -> np.ndarray:
    """Stack the runs of one operation as [R, L, C] (L the median length; longer runs left out)."""
    length = int(np.median([len(v) for v in values]))
    kept = [v for v in values if len(v) <= (1 + LENGTH_TOLERANCE) * length] or values
    out = np.full((len(kept), length, values[0].shape[1]), np.nan)
    for i, v in enumerate(kept):
        n = min(length, len(v))
        out[i, :n] = v[:n]
    return out


def _levelled_mask(channels: Sequence[str], levelled: Sequence[str]) -> np.ndarray:
    """Return bool [E]: which of `channels` are among `levelled`."""
    wanted = set(levelled)
    return np.array([c in wanted for c in channels], dtype=bool)


def running_mean(values: np.ndarray) -> np.ndarray:
    """Mean of each channel over the frames so far (NaN skipped; NaN before any value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts = np.cumsum(np.isfinite(values), axis=0)
        return np.nancumsum(values, axis=0) / np.where(counts > 0, counts, np.nan)


def build_progress_library(
    runs: Iterable[tuple[str, str, np.ndarray, Sequence[LineLabel | None]]],
    channels: Sequence[str],
    levelled: Sequence[str] = (),
) -> ProgressLibrary:
    """Build templates and line tables from `(operation, condition, values [N,E], labels)`.

    `levelled` channels (the layout's drifting ones) get templates of their change
    since the job start; the scale stays that of their level's residual.
    """
    grouped: dict[str, list[tuple[np.ndarray, list[LineLabel | None]]]] = {}
    condition: dict[str, str] = {}
    for operation, tool, values, labels in runs:
        grouped.setdefault(operation, []).append((np.asarray(values, np.float64), list(labels)))
        condition[operation] = tool
    if not grouped:
        raise ModelConfigError("progress library: no recorded runs to build it from")
    templates, lines, residuals = [], [], []
    for operation in sorted(grouped):
        parts = grouped[operation]
        stack = _stack([v for v, _ in parts])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            template = np.nanmedian(stack, axis=0)
        residuals.append(np.abs(stack - template[None]).reshape(-1, stack.shape[2]))
        templates.append(template)
        lines.append(_progress_lines([labels for _, labels in parts], len(template)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmedian(np.concatenate(residuals), axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0)
    names = tuple(sorted(grouped))
    mask = _levelled_mask(channels, levelled)
    templates = [np.where(mask, t - running_mean(t), t) for t in templates]
    return ProgressLibrary(tuple(channels), scale, names, tuple(condition[n] for n in names),
                           tuple(templates), tuple(lines),
                           tuple(c for c in channels if c in set(levelled)))


def _progress_lines(labels: list[list[LineLabel | None]], length: int):
    out: list[ProgramLine | None] = []
    for k in range(length):
        counts: dict[LineLabel, int] = {}
        for run in labels:
            if k < len(run) and run[k] is not None:
                counts[run[k]] = counts.get(run[k], 0) + 1
        if not counts:
            out.append(None)
            continue
        label, count = min(counts.items(), key=lambda item: (-item[1], repr(item[0])))
        out.append(ProgramLine(label, count / sum(counts.values())))
    return tuple(out)


__all__ = [
    "DAMAGED", "JOB_GAP_NS", "NORMAL", "PROGRESS_CAP", "PROGRESS_FORMAT", "PROGRESS_FORMATS",
    "PROGRESS_SLACK", "ProgressLibrary", "TOOL_CONDITIONS", "build_progress_library",
    "running_mean", "select_channels",
]
