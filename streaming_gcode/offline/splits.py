# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The temporal split of recorded runs: trained on the past, scored on the future.

Runs are named `<family>_<NNN>` in recording order. The latest runs of each
family are the temporal validation runs (they drift from the earlier ones as the
later, held-out runs do); the earlier ones are for training and tuning. The
shipped models predate this rule: they were trained with `training.split_of`
(every 4th run), so runs 013-015 of the program families were in their training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.recordings.csv_runs import find_runs, run_name

TRAIN = "train"
VALIDATION = "validation"
ALL = "all"
SPLITS: tuple[str, ...] = (VALIDATION, TRAIN, ALL)
DEFAULT_SPLIT = VALIDATION
DAMAGE_FAMILY_PREFIX = "damage"   # damageface, damagepocket, damageadaptive: 001-004
PROGRAM_VALIDATION_FROM = 13      # program families (001-016): 013-016 are validation
DAMAGE_VALIDATION_FROM = 4        # damage families (001-004): 004 is validation


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


def _is_training(name: str) -> bool:
    try:
        return temporal_split(name) == TRAIN
    except RecordingError:
        return False   # a run not named <family>_<NNN> cannot be placed in time


__all__ = [
    "ALL", "DEFAULT_SPLIT", "SPLITS", "TRAIN", "VALIDATION", "in_split", "run_number",
    "split_paths", "temporal_split", "training_paths",
]
