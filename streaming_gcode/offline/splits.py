# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The temporal split of recorded runs: trained on the past, scored on the future.

Runs are named `<family>_<NNN>` in recording order. The latest runs of each
family are the temporal validation runs (they drift from the earlier ones as the
later, held-out runs do); the earlier ones are for training and tuning
(`training_roles`: the latest of those tune). Models trained before this rule
used `every_fourth_split` (validation NNN % 4 == 0, tune NNN % 8 == 2), so runs
013-015 of the program families were in their training.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable, Sequence
import zlib

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.model.progress_library import DAMAGED, NORMAL
from streaming_gcode.recordings.csv_runs import find_runs, run_name

TRAIN = "train"
VALIDATION = "validation"
ALL = "all"
SPLITS: tuple[str, ...] = (VALIDATION, TRAIN, ALL)
DEFAULT_SPLIT = VALIDATION
DAMAGE_FAMILY_PREFIX = "damage"   # damageface, damagepocket, damageadaptive: 001-004
PROGRAM_VALIDATION_FROM = 13      # program families (001-016): 013-016 are validation
DAMAGE_VALIDATION_FROM = 4        # damage families (001-004): 004 is validation


def tool_condition_of(family: str) -> str:
    """Return the tool condition a recorded family ran with (`damaged` for the damage runs)."""
    return DAMAGED if family.startswith(DAMAGE_FAMILY_PREFIX) else NORMAL


def run_number(name: str) -> tuple[str, int]:
    """`("face150025", 13)` for `face150025_013`; RecordingError for other names."""
    family, _, tail = name.rpartition("_")
    if not family or not tail.isdigit():
        raise RecordingError(
            f"run {name!r}: expected a name <family>_<NNN> (e.g. face_013) to place it in time"
        )
    return family, int(tail)


def temporal_split(name: str) -> str:
    """Return `"validation"` for the latest runs of the run's family, `"train"` otherwise."""
    family, number = run_number(name)
    first = (DAMAGE_VALIDATION_FROM if family.startswith(DAMAGE_FAMILY_PREFIX)
             else PROGRAM_VALIDATION_FROM)
    return VALIDATION if number >= first else TRAIN


def in_split(name: str, split: str) -> bool:
    """Whether run `name` is in `split` (`validation`, `train` or `all`)."""
    if split not in SPLITS:
        raise RecordingError(f"unknown split {split!r}, expected one of {SPLITS}")
    return split == ALL or temporal_split(name) == split


def split_paths(paths: Iterable[str | Path], split: str = DEFAULT_SPLIT) -> list[Path]:
    """Run files to score: a folder's runs of `split`; a run file given explicitly always."""
    chosen: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            chosen.extend(p for p in find_runs([path]) if in_split(run_name(p), split))
        else:
            chosen.extend(find_runs([path]))
    if not chosen:
        raise RecordingError(f"no {split} runs in {[str(p) for p in paths]}")
    return chosen


def training_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Temporal training runs of the folders of `paths` (a file's folder is its parent)."""
    folders: list[Path] = []
    for raw in paths:
        path = Path(raw)
        folder = path if path.is_dir() else path.parent
        if folder not in folders:
            folders.append(folder)
    found: list[Path] = []
    for folder in folders:
        try:
            runs = find_runs([folder])
        except RecordingError:
            continue
        found.extend(p for p in runs if _is_training(run_name(p)))
    return found


TUNE = "tune"
TUNE_SHARE = 0.125   # of each family's non-validation runs, the latest ones (at least one)


def every_fourth_split(name: str) -> str:
    """Return the split of models trained before the temporal rule (run number modulo 4/8)."""
    tail = name.rsplit("_", 1)[-1]
    number = int(tail) if tail.isdigit() else zlib.crc32(name.encode())
    if number % 4 == 0:
        return VALIDATION
    return TUNE if number % 8 == 2 else TRAIN


def training_roles(names: Sequence[str]) -> dict[str, str]:
    """Return train, tune or validation per run, in time.

    Validation is the temporal validation split; of each family's other runs the
    latest `TUNE_SHARE` tune (early stopping, model selection) and the rest train.
    Runs not named `<family>_<NNN>` cannot be placed in time: they follow
    `every_fourth_split`, which is stable per name.
    """
    roles: dict[str, str] = {}
    earlier: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        try:
            family, number = run_number(name)
            role = temporal_split(name)
        except RecordingError:
            roles[name] = every_fourth_split(name)
            continue
        roles[name] = role
        if role == TRAIN:
            earlier.setdefault(family, []).append((number, name))
    for runs in earlier.values():
        count = math.ceil(TUNE_SHARE * len(runs)) if len(runs) > 1 else 0
        for _, name in sorted(runs)[len(runs) - count:]:
            roles[name] = TUNE
    return roles


def _is_training(name: str) -> bool:
    try:
        return temporal_split(name) == TRAIN
    except RecordingError:
        return False   # a run not named <family>_<NNN> cannot be placed in time


__all__ = [
    "ALL", "DEFAULT_SPLIT", "SPLITS", "TRAIN", "TUNE", "VALIDATION", "every_fourth_split",
    "in_split", "run_number", "split_paths", "temporal_split", "tool_condition_of",
    "training_paths", "training_roles",
]
