# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""A short markdown model card, rendered from a checkpoint's own metadata.

Written next to a checkpoint by `streaming-gcode train --card`, so every model
a cell trains ships with what it was trained on, how big it is, how well it
did on runs it never saw, and the command that reproduces it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streaming_gcode.core.features import FEATURE_SET_DESCRIPTIONS
from streaming_gcode.model.checkpoint import LoadedModel
from streaming_gcode.model.libraries import Library
from streaming_gcode.model.network import parameter_count
from streaming_gcode.model.progress_library import ProgressLibrary
from streaming_gcode.model.progress_tracker import OPERATION_SHIFT
from streaming_gcode.offline.operation_scores import OPERATION_KEYS

_COLUMNS = ("command_accuracy", "param_letter_f1", "value_accuracy", "exact_line_accuracy")


def _row(name: str, metrics: dict[str, Any]) -> str:
    return (f"| {name} | {metrics['frames']} | "
            + " | ".join(f"{100 * metrics[k]:.1f} %" for k in _COLUMNS) + " |")


def _validation(meta_metrics: dict[str, Any]) -> list[str]:
    if not meta_metrics:
        return ["No validation runs were given."]
    runs = meta_metrics.get("runs", [])
    lines = ["| runs | frames | command | letter F1 | value | exact line |",
             "|---|---:|---:|---:|---:|---:|"]
    for family, metrics in meta_metrics.get("families", {}).items():
        count = sum(r.get("family") == family for r in runs)
        lines.append(_row(f"{family} ({count})", metrics))
    lines.append(_row(f"**all ({len(runs)})**", meta_metrics["overall"]))
    baselines = meta_metrics["overall"].get("baselines", {})
    if baselines:
        lines += ["", "Beside it, on the same frames, the no-learning baselines (counted from the"
                  " train and tune runs; `evaluate --help` says what each one is):", "",
                  "| baseline | frames | command | letter F1 | value | exact line |",
                  "|---|---:|---:|---:|---:|---:|"]
        lines += [_row(f"`{name}`", metrics) for name, metrics in baselines.items()]
    operations = {k: meta_metrics["overall"].get(k) for k in OPERATION_KEYS}
    if any(v is not None for v in operations.values()):
        lines += ["", "Operation and tool condition on the same runs: " + ", ".join(
            f"{k.replace('_', ' ')} {100 * v:.1f} %" for k, v in operations.items()
            if v is not None) + "."]
    baseline = meta_metrics.get("majority_command")
    if baseline:
        lines += ["", f"Majority baseline: always `{baseline['command']}` scores"
                  f" {100 * baseline['share']:.1f} % command accuracy on these frames."]
    return lines


def _library_source(training: dict[str, Any]) -> tuple[str, str]:
    """Which runs the library holds, and what that means for the validation figures."""
    info = training.get("library") or {}
    runs, validated = info.get("runs", []), info.get("validated_with_runs", [])
    if info.get("library_runs") != "all" or set(runs) == set(validated):
        return "the train and tune runs", ""
    return (f"all {len(runs)} runs (train, tune and validation: rebuilt after validation,"
            f" `--library-runs all`)",
            f" The validation figures below were scored with the past-only library (the"
            f" {len(validated)} train and tune runs); the saved library also holds the"
            f" validation runs, so scoring this checkpoint on them is not a validation.")


def _library(library: Library | None, training: dict[str, Any]) -> list[str]:
    if library is None:
        return ["- No program library."]
    source, note = _library_source(training)
    if isinstance(library, ProgressLibrary):
        sizes = ", ".join(f"{name} {len(t)} frames ({condition} tool)" for name, condition, t in
                          zip(library.operations, library.conditions, library.templates))
        return [f"- Physics witness (progress library) from {source}: per"
                f" operation, a template of {len(library.channels)} channels the recordings"
                f" select ({', '.join(library.channels[:6])}, ...) and the line at each frame"
                f" since the job start: {sizes}. The operation is judged at its template's"
                f" best shift of up to {OPERATION_SHIFT} frames either way (a job seen from"
                " another frame than the recordings' start), the line at the frames since the"
                " start; an input at its fill value (a board not reporting) is left out. It"
                " answers the line where it knows the progress, and the operation"
                " and tool condition; elsewhere the model's line." + note]
    sizes = ", ".join(f"{name} {len(numbers)} lines" + (
        f" (with {', '.join(m for m in members if m != name)})" if len(members) > 1 else "")
        for name, members, numbers in zip(library.programs, library.members,
                                          library.line_numbers))
    return [f"- Program library from {source}: {sizes}; evidence"
            f" {', '.join(library.evidence_channels)} against the reported"
            f" `{library.line_channel}`. Where it knows the reported line of the program it"
            " judges running, its line is the prediction; elsewhere the model's." + note]


def render_card(model: LoadedModel, checkpoint: Path) -> str:
    """Render the markdown model card of a trained model saved at `checkpoint`."""
    meta, config = model.metadata, model.config
    description = FEATURE_SET_DESCRIPTIONS.get(meta.feature_set, "")
    training = meta.training
    split = training.get("split", {})
    history = training.get("history", [])
    size_mb = checkpoint.stat().st_size / 1e6 if checkpoint.exists() else float("nan")
    heads = ", ".join(f"{h} {n}" for h, n in config.head_sizes.items())
    lines = [
        f"# `{checkpoint.name}`: the `{meta.feature_set}` feature set",
        "",
        (description[:1].upper() + description[1:] + ".") if description else "",
        "",
        "## Inputs and size",
        "",
        f"- {len(meta.continuous_features)} continuous inputs and"
        f" {len(meta.categorical_features)} categorical"
        f" ({', '.join(meta.categorical_features) or 'none'}); window {meta.window} frames,"
        f" prediction stride {meta.stride}.",
        f"- LSTM backbone: d_model {config.d_model}, {config.num_layers} layers,"
        f" {parameter_count(model.backbone, model.line_heads):,} parameters, {size_mb:.1f} MB.",
        f"- Heads (classes): {heads}.",
        "",
        "## Data and split",
        "",
        f"- {sum(len(v) for v in split.values())} recorded runs"
        f" ({', '.join(f'{k} {len(v)}' for k, v in split.items())}), split by whole run"
        " in time: validation the latest runs of each family (013-016, damage 004), tune the"
        " latest before them (011-012, damage 003), train the earlier ones.",
        "- Normalisation statistics, categorical codes and the output vocabulary come from"
        " the train runs; early stopping and model selection used the tune runs only"
        " (scored without the program library).",
        *_library(meta.library, training),
        f"- {training.get('epochs', len(history))} epochs in"
        f" {training.get('minutes', float('nan')):.1f} minutes wall-clock"
        f" ({training.get('cpu_minutes', float('nan')):.1f} CPU minutes,"
        f" {training.get('config', {}).get('threads')} threads), seed"
        f" {training.get('config', {}).get('seed')}.",
        "",
        f"## Validation ({meta.validation_metrics.get('mode', 'window')} mode"
        f"{', runs back to back' if meta.validation_metrics.get('continuous') else ''};"
        " runs never used for any choice"
        f"{'; with the past-only library' if _library_source(training)[1] else ''})",
        "",
        *_validation(meta.validation_metrics),
        "",
        "## Reproduce",
        "",
        "```",
        meta.training_command,
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card(model: LoadedModel, checkpoint: Path, path: Path) -> Path:
    """Write the model card as markdown."""
    path.write_text(render_card(model, checkpoint), encoding="utf-8")
    return path
