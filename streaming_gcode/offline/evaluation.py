# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation: run a model over recorded runs and report the metrics.

The work is split so that other prediction sources (replayed bags, the live
node) reuse the reporting: `predict_run` turns frames into predicted line keys,
`score_run` compares any predictions with labels, and `EvaluationReport`
aggregates, prints (`format_table`), writes JSON (`write_json`) and plots the
command confusion (`plot_confusion`).

Modes (how each frame's prediction is computed, as the node can run):
- `window`: frame t sees the `window` frames ending at t, from zero state (the
  node's full-window mode; the first frames of a run see the frames so far);
- `stateful`: the recurrent state runs from the first frame of the run (the
  node's incremental mode from its last reset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from tqdm import tqdm

from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.inference.program_reader import read_frames
from streaming_gcode.ingestion.alignment import FrameTable
from streaming_gcode.model.checkpoint import LoadedModel
from streaming_gcode.model.decoding import choose_line, decode_frames, DecodedLine
from streaming_gcode.model.network import LineHeads, StreamingBackbone
from streaming_gcode.model.program_library import ProgramReading
from streaming_gcode.model.vocabulary import LineKey, OutputVocabulary
from streaming_gcode.offline.baselines import (
    BASELINE_DESCRIPTIONS, baseline_predictions, BaselineTables,
)
from streaming_gcode.offline.figures import save_figure
from streaming_gcode.offline.labelled_windows import prepare_run, PreparedRun
from streaming_gcode.offline.metrics import (
    confusion_matrix,
    extended_metrics,
    METRIC_KEYS,
    score,
    ScoreCounts,
    total,
)
from streaming_gcode.offline.operation_scores import OPERATION_KEYS, operation_scores
from streaming_gcode.recordings.csv_runs import find_runs, load_run

MODES: tuple[str, ...] = ("window", "stateful")
DEFAULT_MODE = "window"
EVAL_BATCH = 256


@torch.no_grad()
def frame_logits(
    backbone: StreamingBackbone,
    line_heads: LineHeads,
    table: FrameTable,
    mode: str = DEFAULT_MODE,
    window: int = 64,
    frames: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Logits [F, V] per head for the chosen `frames` of a run (default: all), as in `mode`."""
    if mode not in MODES:
        raise ValueError(f"unknown evaluation mode {mode!r}, expected one of {MODES}")
    n = len(table)
    wanted = np.arange(n) if frames is None else np.asarray(frames, dtype=np.int64)
    cont = torch.from_numpy(np.ascontiguousarray(table.continuous))
    cat = torch.from_numpy(np.ascontiguousarray(table.categorical))
    if len(wanted) == 0:
        return {h: np.zeros((0, lin.out_features), np.float32)
                for h, lin in line_heads.heads.items()}
    if mode == "stateful":
        logits = line_heads(backbone(cont[None], cat[None]))
        return {h: v[0].numpy()[wanted] for h, v in logits.items()}
    early = wanted[wanted < window - 1]   # their window is the run so far
    late = wanted[wanted >= window - 1]   # a full window ends at each of them
    parts: dict[str, list[np.ndarray]] = {h: [] for h in line_heads.heads}
    if len(early):
        stop = int(early.max()) + 1
        for h, v in line_heads(backbone(cont[None, :stop], cat[None, :stop])).items():
            parts[h].append(v[0].numpy()[early])
    index = torch.from_numpy(late[:, None] - np.arange(window - 1, -1, -1)[None, :])
    for start in range(0, len(index), EVAL_BATCH):
        rows = index[start:start + EVAL_BATCH]
        hidden = backbone(cont[rows], cat[rows])[:, -1]
        for h, v in line_heads(hidden).items():
            parts[h].append(v.numpy())
    return {h: np.concatenate(p) for h, p in parts.items()}


def frame_readings(model: LoadedModel, table: FrameTable) -> list[ProgramReading] | None:
    """Return the program library's reading of every frame (None without a library)."""
    library = model.metadata.library
    return None if library is None else read_frames(
        library, model.metadata.continuous_features, table.stamps, table.continuous,
        np.asarray(model.metadata.norm_mean, np.float32))


def predict_lines(
    model: LoadedModel, table: FrameTable, mode: str = DEFAULT_MODE, every: int = 1,
    readings: Sequence[ProgramReading] | None = None,
) -> list[DecodedLine | None]:
    """Predicted line of every frame of a table (every n-th only: None elsewhere).

    With a program library the frames are read in order from a fresh tracker, as
    the node's engine reads the frames it runs; the library's line wins where it
    knows the reported line (`decoding.choose_line`), as in the node.
    """
    frames = np.arange(0, len(table), max(1, every))
    logits = frame_logits(model.backbone, model.line_heads, table, mode,
                          model.metadata.window, frames)
    if readings is None:
        readings = frame_readings(model, table)
    lines: list[DecodedLine | None] = [None] * len(table)
    vocab = model.vocabulary
    decoded = decode_frames(logits, vocab) if readings is None else None
    for row, t in enumerate(frames):
        if decoded is not None:
            lines[int(t)] = decoded[row]
        else:
            frame = {head: value[row] for head, value in logits.items()}
            lines[int(t)] = choose_line(frame, readings[int(t)], vocab)[0]
    return lines


def predict_run(
    model: LoadedModel, prepared: PreparedRun, mode: str = DEFAULT_MODE, every: int = 1,
    readings: Sequence[ProgramReading] | None = None,
) -> list[LineKey | None]:
    """Predicted line key of every frame of a prepared run (every n-th only: None elsewhere)."""
    return [None if line is None else line.key
            for line in predict_lines(model, prepared.table, mode, every, readings)]


@dataclass
class RunResult:
    """Scores of one run."""

    run: str
    family: str
    counts: ScoreCounts

    def to_json(self) -> dict[str, Any]:
        """`{"run": name, "family": ..., <metrics>}`."""
        return {"run": self.run, "family": self.family, **self.counts.metrics()}


def score_run(
    name: str,
    family: str,
    predicted: Sequence[LineKey | None],
    labels: Sequence[Any],
    vocab: OutputVocabulary,
) -> RunResult:
    """Score predictions against a run's labels (LineLabel or None per frame)."""
    true = [None if label is None else vocab.key(label) for label in labels]
    return RunResult(name, family, score(predicted, true))


@dataclass
class EvaluationReport:
    """Per-run results and their aggregates, plus what was evaluated.

    With `baselines` (name -> per-run results on the model's frames), the JSON's
    `overall` also has `command_balanced_accuracy`, `per_command_recall` and
    `baselines`, and each family and run its `baselines`.
    """

    runs: list[RunResult]
    info: dict[str, Any] = field(default_factory=dict)   # checkpoint, mode, feature set...
    baselines: dict[str, list[RunResult]] | None = None
    operations: dict[str, Any] = field(default_factory=dict)   # operation_scores, if any

    def overall(self) -> ScoreCounts:
        """Sum the counts over every run (metrics weight runs by their frames)."""
        return total(r.counts for r in self.runs)

    def families(self) -> dict[str, ScoreCounts]:
        """Sum the counts per run family."""
        out: dict[str, ScoreCounts] = {}
        for result in self.runs:
            out.setdefault(result.family, ScoreCounts())
            out[result.family] += result.counts
        return dict(sorted(out.items()))

    def baseline_report(self, name: str) -> EvaluationReport:
        """Return the report of baseline `name` alone (its per-run results)."""
        return EvaluationReport((self.baselines or {})[name], {"baseline": name})

    def to_json(self) -> dict[str, Any]:
        """Build the evaluate JSON contract: overall, runs (plus families and info)."""
        data = {
            "overall": self.overall().metrics(),
            "runs": [r.to_json() for r in self.runs],
            "families": {name: c.metrics() for name, c in self.families().items()},
            "info": self.info,
        }
        data["overall"].update(self.operations)
        if self.baselines is None:
            return data
        data["overall"] = {**extended_metrics(self.overall()), **self.operations}
        data["overall"]["baselines"] = {
            name: extended_metrics(total(r.counts for r in results))
            for name, results in self.baselines.items()
        }
        for name, metrics in data["families"].items():
            metrics["baselines"] = {b: self.baseline_report(b).families()[name].metrics()
                                    for b in self.baselines}
        for i, run in enumerate(data["runs"]):
            run["baselines"] = {b: results[i].counts.metrics()
                                for b, results in self.baselines.items()}
        return data


def evaluate_prepared(
    model: LoadedModel,
    runs: Iterable[PreparedRun],
    mode: str = DEFAULT_MODE,
    progress: bool = False,
    every: int = 1,
    baselines: BaselineTables | None = None,
) -> EvaluationReport:
    """Predict and score already prepared runs (`every` > 1 scores every n-th frame only)."""
    runs = list(runs)
    step = max(1, every)
    readings = [frame_readings(model, prepared.table) for prepared in runs]
    predicted = [predict_run(model, prepared, mode, step, answers)
                 for prepared, answers in tqdm(list(zip(runs, readings)), desc="evaluate",
                                               unit="run", disable=not progress)]
    report = score_predictions(model, runs, predicted, mode, step, baselines)
    if all(answers is not None for answers in readings):
        report.operations = operation_scores(runs, readings)
    return report


def score_predictions(
    model: LoadedModel,
    runs: Sequence[PreparedRun],
    predicted: Sequence[Sequence[LineKey | None]],
    mode: str = DEFAULT_MODE,
    every: int = 1,
    baselines: BaselineTables | None = None,
) -> EvaluationReport:
    """Score the model's per-run predictions, and the baselines on the same frames."""
    step = max(1, every)
    results: list[RunResult] = []
    scored: dict[str, list[RunResult]] | None = None if baselines is None else {}
    for prepared, keys in zip(runs, predicted):
        labels = [label if t % step == 0 else None for t, label in enumerate(prepared.labels)]
        results.append(score_run(prepared.name, prepared.family, keys, labels, model.vocabulary))
        if baselines is None or scored is None:
            continue
        for name, guesses in baseline_predictions(baselines, prepared).items():
            scored.setdefault(name, []).append(
                score_run(prepared.name, prepared.family, guesses, labels, model.vocabulary))
    info: dict[str, Any] = {
        "mode": mode, "feature_set": model.metadata.feature_set,
        "checkpoint": str(model.path) if model.path else None, "window": model.metadata.window}
    if baselines is not None:
        info["baselines"] = {name: BASELINE_DESCRIPTIONS[name] for name in baselines.names()}
        info["baseline_training_runs"] = list(baselines.training_runs)
    return EvaluationReport(results, info, scored)


def prepare_paths(
    model: LoadedModel, paths: Sequence[str | Path], layout: StreamLayout, progress: bool = False
) -> list[PreparedRun]:
    """Load and align every run file under `paths` for this model's inputs."""
    feature_map = model.feature_map(layout)
    files = find_runs(paths)
    return [
        prepare_run(load_run(path), layout, feature_map)
        for path in tqdm(files, desc="align", unit="run", disable=not progress)
    ]


def format_table(report: EvaluationReport) -> str:
    """Readable table: one row per run, per family, and overall."""
    header = f"{'run':<24}{'frames':>8}{'command':>9}{'letterF1':>9}{'value':>8}{'exact':>8}"
    lines = [header, "-" * len(header)]

    def row(name: str, metrics: dict[str, float | int]) -> str:
        return (f"{name:<24}{metrics['frames']:>8}{metrics['command_accuracy']:>9.3f}"
                f"{metrics['param_letter_f1']:>9.3f}{metrics['value_accuracy']:>8.3f}"
                f"{metrics['exact_line_accuracy']:>8.3f}")

    lines.extend(row(r.run, r.counts.metrics()) for r in report.runs)
    lines.append("-" * len(header))
    lines.extend(row(f"[{name}]", c.metrics()) for name, c in report.families().items())
    lines.append(row("OVERALL", report.overall().metrics()))
    if report.baselines is not None:
        lines.extend(_baseline_rows(report, len(header)))
    if report.operations:
        lines += ["", "operation and tool condition (physics witness): " + ", ".join(
            f"{k} {report.operations[k]:.3f}" for k in OPERATION_KEYS
            if report.operations.get(k) is not None)]
    return "\n".join(lines)


def _baseline_rows(report: EvaluationReport, width: int) -> list[str]:
    """Model and baselines on the same frames: overall metrics, then exact line per family."""
    names = list(report.baselines or {})
    header = (f"{'on the same frames':<24}{'command':>9}{'balanced':>9}{'letterF1':>9}"
              f"{'value':>8}{'exact':>8}")
    lines = ["", header, "-" * max(width, len(header))]
    for name, counts in [("model", report.overall())] + [
            (n, report.baseline_report(n).overall()) for n in names]:
        m = extended_metrics(counts)
        lines.append(f"{name:<24}{m['command_accuracy']:>9.3f}"
                     f"{m['command_balanced_accuracy']:>9.3f}{m['param_letter_f1']:>9.3f}"
                     f"{m['value_accuracy']:>8.3f}{m['exact_line_accuracy']:>8.3f}")
    lines += ["", "exact line per family: " + ", ".join(
        f"{chr(ord('A') + i)} = {n}" for i, n in enumerate(names))]
    lines.append(f"{'family':<24}{'model':>8}" + "".join(
        f"{chr(ord('A') + i):>8}" for i in range(len(names))))
    per_baseline = [report.baseline_report(n).families() for n in names]
    for family, counts in report.families().items():
        lines.append(f"{family:<24}{counts.metrics()['exact_line_accuracy']:>8.3f}" + "".join(
            f"{f[family].metrics()['exact_line_accuracy']:>8.3f}" for f in per_baseline))
    described = report.info.get("baselines", {})
    lines += [""] + [f"{n}: {described[n]}" for n in names if n in described]
    return lines


def write_json(report: EvaluationReport, path: str | Path) -> Path:
    """Write the report's JSON (see `EvaluationReport.to_json`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return path


def plot_confusion(report: EvaluationReport, path: str | Path, title: str = "") -> Path:
    """Command confusion (rows true, columns predicted, row-normalised colour) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, matrix = confusion_matrix(report.overall().confusion)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted command")
    ax.set_ylabel("labelled command")
    for i in range(len(labels)):
        for j in range(len(labels)):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if shares[i, j] > 0.5 else "black")
    ax.set_title(title or f"command confusion ({report.overall().frames} frames)")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of row")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


__all__ = [
    "METRIC_KEYS", "MODES", "EvaluationReport", "RunResult", "evaluate_prepared", "format_table",
    "frame_logits", "plot_confusion", "predict_run", "prepare_paths", "score_predictions",
    "score_run", "write_json",
]
