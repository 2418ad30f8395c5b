# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""No-learning baselines scored beside a model on exactly the frames it is scored on.

Each baseline is a table built from the temporal training runs of the same data
(never from the runs it is scored on) and predicts a line key per frame:

- `majority_line`: always the most frequent line of the training runs;
- `majority_command`: always the most frequent command, without parameters
  (for the physical models this is "always G1");
- `family_majority`: the most frequent line of the run's family (the family is given);
- `family_progress`: (family, frames since the run started) -> most frequent line: the
  best no-learning baseline for a physical model, since the runs of a program are very
  repeatable in time (family and run start given: an oracle on both; one frame per
  controller row, so frame k of a run is its k-th row);
- `line_lookup`: controller `line` -> most frequent line (needs controller state);
- `program_line_lookup`: (family, controller `line`) -> most frequent line; the
  family is given, so it is an oracle on which program runs (needs controller state).

On a key it never saw, `program_line_lookup` falls back to the family's majority
line and `line_lookup` to the overall majority line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, Iterable, Mapping, Sequence

from streaming_gcode.core.errors import RecordingError
from streaming_gcode.model.vocabulary import LineKey, OutputVocabulary
from streaming_gcode.offline.labelled_windows import (
    controller_lines, NO_LINE, PreparedRun, run_labels,
)
from streaming_gcode.recordings.csv_runs import RecordedRun

BASELINE_DESCRIPTIONS: dict[str, str] = {
    "majority_line": "always the most frequent line of the training runs",
    "majority_command": "always the most frequent command of the training runs, no parameters",
    "family_majority": "most frequent line of the run's family (family given)",
    "family_progress": "(family, frames since the run start) -> most frequent line (family "
                       "and run start given: the no-learning oracle for physical models)",
    "line_lookup": "controller line -> most frequent line (reads controller state)",
    "program_line_lookup": "(family, controller line) -> most frequent line (reads controller "
                           "state; family given: an oracle on the program)",
}
CONTROLLER_BASELINES: frozenset[str] = frozenset({"line_lookup", "program_line_lookup"})


@dataclass(frozen=True)
class BaselineTables:
    """What the baselines learnt by counting the training runs' labelled rows."""

    majority_line: LineKey
    majority_command: LineKey
    by_family: Mapping[str, LineKey]
    by_line: Mapping[int, LineKey]                   # empty without controller state
    by_family_line: Mapping[tuple[str, int], LineKey]
    training_runs: tuple[str, ...]
    by_family_progress: Mapping[tuple[str, int], LineKey] = field(default_factory=dict)

    @property
    def has_controller_state(self) -> bool:
        """Whether the training runs reported the controller's `line`."""
        return bool(self.by_line)

    def names(self) -> list[str]:
        """Return the baselines these tables can predict (controller ones only with `line`)."""
        return [n for n in BASELINE_DESCRIPTIONS
                if self.has_controller_state or n not in CONTROLLER_BASELINES]


def _most_frequent(counts: Mapping[Hashable, Counter[LineKey]]) -> dict[Hashable, LineKey]:
    # Ties go to the smallest key, so the tables do not depend on the run order.
    return {k: min(c.items(), key=lambda item: (-item[1], repr(item[0])))[0]
            for k, c in counts.items()}


def build_baselines(runs: Iterable[RecordedRun], vocab: OutputVocabulary) -> BaselineTables:
    """Count the labelled rows of the training `runs` into the baseline tables."""
    lines: Counter[LineKey] = Counter()
    commands: Counter[str] = Counter()
    by_family: dict[str, Counter[LineKey]] = {}
    by_line: dict[int, Counter[LineKey]] = {}
    by_family_line: dict[tuple[str, int], Counter[LineKey]] = {}
    by_family_progress: dict[tuple[str, int], Counter[LineKey]] = {}
    names = []
    for run in runs:
        names.append(run.name)
        numbers = controller_lines(run)
        for row, label in enumerate(run_labels(run)):
            if label is None:
                continue
            key = vocab.key(label)
            lines[key] += 1
            commands[key[0]] += 1
            by_family.setdefault(run.family, Counter())[key] += 1
            by_family_progress.setdefault((run.family, row), Counter())[key] += 1
            number = NO_LINE if numbers is None else int(numbers[row])
            if number != NO_LINE:
                by_line.setdefault(number, Counter())[key] += 1
                by_family_line.setdefault((run.family, number), Counter())[key] += 1
    if not lines:
        raise RecordingError(f"no labelled rows in the baselines' training runs {names}")
    command = min(commands.items(), key=lambda item: (-item[1], item[0]))[0]
    return BaselineTables(
        majority_line=_most_frequent({None: lines})[None],
        majority_command=(command, True, ()),
        by_family=_most_frequent(by_family),
        by_line=_most_frequent(by_line),
        by_family_line=_most_frequent(by_family_line),
        training_runs=tuple(names),
        by_family_progress=_most_frequent(by_family_progress),
    )


def baseline_predictions(
    tables: BaselineTables, prepared: PreparedRun
) -> dict[str, list[LineKey | None]]:
    """Each baseline's predicted line key for every frame of a prepared run."""
    n = len(prepared)
    family = tables.by_family.get(prepared.family, tables.majority_line)
    out: dict[str, list[LineKey | None]] = {
        "majority_line": [tables.majority_line] * n,
        "majority_command": [tables.majority_command] * n,
        "family_majority": [family] * n,
        "family_progress": [tables.by_family_progress.get((prepared.family, t), family)
                            for t in range(n)],
    }
    if not tables.has_controller_state:
        return out
    numbers: Sequence[int] = ([NO_LINE] * n if prepared.controller_lines is None
                              else [int(v) for v in prepared.controller_lines])
    out["line_lookup"] = [tables.by_line.get(v, tables.majority_line) for v in numbers]
    out["program_line_lookup"] = [
        tables.by_family_line.get((prepared.family, v), family) for v in numbers
    ]
    return out


__all__ = [
    "BASELINE_DESCRIPTIONS", "CONTROLLER_BASELINES", "BaselineTables", "baseline_predictions",
    "build_baselines",
]
