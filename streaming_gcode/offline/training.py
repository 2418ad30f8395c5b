# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Training on recorded runs: run-level split, windows from the node's alignment, early stopping.

Split by whole run and in time, as the product is used: trained on the past,
scored on the future (`splits.training_role`): validation is the evaluation's
temporal validation split (the latest runs of each family), tune the latest runs
before it (early stopping and model selection), train everything earlier.

With the program library's channels among the inputs (`program_line_channel`,
`program_evidence`), the checkpoint also gets a program library built from the
train and tune runs (model/program_library.py). With `library_runs` `all`, the
validation runs are scored with that past-only library, then the saved library
is rebuilt from every run (validation included); the metadata says which.

Everything the model needs at run time comes from the training runs only:
normalisation statistics (mean/std of each continuous channel over the rows
that have it), categorical code lists, the output vocabulary.
"""

from __future__ import annotations

from collections import Counter
import copy
from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

from streaming_gcode.core.errors import ConfigError, RecordingError
from streaming_gcode.core.features import feature_set, FeatureMap
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.checkpoint import LoadedModel, ModelMetadata, save_checkpoint
from streaming_gcode.model.libraries import Library
from streaming_gcode.model.network import build_model, ModelConfig
from streaming_gcode.model.vocabulary import OutputVocabulary
from streaming_gcode.offline.baselines import build_baselines
from streaming_gcode.offline.continuous import evaluate_continuous, prepare_continuous
from streaming_gcode.offline.evaluation import evaluate_prepared, EvaluationReport
from streaming_gcode.offline.labelled_windows import (
    gather_windows,
    IGNORE_INDEX,
    prepare_run,
    PreparedRun,
    targets,
    window_starts,
)
from streaming_gcode.offline.library_build import build_model_library
from streaming_gcode.offline.splits import training_roles
from streaming_gcode.offline.training_config import LIBRARY_ALL, LIBRARY_RUNS, TrainingConfig
from streaming_gcode.recordings.bag_reader import find_bags
from streaming_gcode.recordings.bag_runs import load_bag_run
from streaming_gcode.recordings.csv_runs import find_runs, load_run, RecordedRun

SPLITS: tuple[str, ...] = ("train", "tune", "validation")
INFERENCE_STRIDE = 1  # the node may predict on every frame (4 Hz)


@dataclass
class TrainingResult:
    """The trained model, the split it used, its history and its validation report."""

    model: LoadedModel
    split: dict[str, list[str]]
    history: list[dict[str, float]] = field(default_factory=list)
    validation: EvaluationReport | None = None
    tune: EvaluationReport | None = None


def input_statistics(
    runs: Sequence[RecordedRun], continuous: Sequence[str], categorical: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """Mean and std of each continuous channel, and the codes of each categorical one."""
    mean = np.zeros(len(continuous))
    std = np.ones(len(continuous))
    for i, name in enumerate(continuous):
        values = np.concatenate([r.columns[name] for r in runs if name in r.columns] or [[]])
        values = values[np.isfinite(values)]
        if len(values):
            mean[i], std[i] = values.mean(), values.std()
    codes: dict[str, list[int]] = {}
    for name in categorical:
        values = np.concatenate([r.columns[name] for r in runs if name in r.columns] or [[]])
        codes[name] = sorted({int(v) for v in values[np.isfinite(values)]})
    return mean, np.where(std < 1e-6, 1.0, std), codes


def _batch_loss(model, batch, device_heads) -> torch.Tensor:
    backbone, line_heads = model
    hidden = backbone(torch.from_numpy(batch.continuous), torch.from_numpy(batch.categorical))
    logits = line_heads(hidden)
    losses = []
    for head in device_heads:
        target = torch.from_numpy(batch.targets[head])
        if (target != IGNORE_INDEX).any():
            losses.append(torch.nn.functional.cross_entropy(
                logits[head].reshape(-1, logits[head].shape[-1]), target.reshape(-1),
                ignore_index=IGNORE_INDEX))
    return torch.stack(losses).sum()


def _majority_command(report: EvaluationReport) -> dict[str, Any]:
    """Return the most frequent labelled command and its share (the accuracy baseline)."""
    per_command: Counter[str] = Counter()
    for (true, _), count in report.overall().confusion.items():
        per_command[true] += count
    if not per_command:
        return {}
    command, count = per_command.most_common(1)[0]
    return {"command": command, "share": count / sum(per_command.values())}


def _selection_score(report: EvaluationReport) -> float:
    """Mean of the four accuracies on the tune runs (higher is better)."""
    m = report.overall().metrics()
    return (m["command_accuracy"] + m["param_letter_f1"] + m["value_accuracy"]
            + m["exact_line_accuracy"]) / 4


class _Trainer:
    """One training run's state: data, model, optimiser, best weights."""

    def __init__(self, config: TrainingConfig, layout: StreamLayout, progress: bool) -> None:
        self.config, self.layout, self.progress = config, layout, progress
        self.features = feature_set(config.feature_set, layout)

    def prepare(self) -> None:
        c = self.config
        files = find_runs(c.data) if c.data else []
        bags = find_bags(c.bags) if c.bags else []
        runs = [load_run(p) for p in tqdm(files, desc="load", unit="run",
                                          disable=not self.progress)]
        runs += [load_bag_run(p, self.layout, c.label_topic)
                 for p in tqdm(bags, desc="bags", unit="bag", disable=not self.progress)]
        if len({r.name for r in runs}) != len(runs):
            raise RecordingError(f"run names repeat among {[r.name for r in runs]}: each "
                                 "recording must be a run of its own")
        self.runs = {r.name: r for r in runs}
        roles = training_roles([r.name for r in runs])
        self.split = {s: [r.name for r in runs if roles[r.name] == s] for s in SPLITS}
        train_runs = [r for r in runs if roles[r.name] == "train"]
        if not train_runs:
            raise RecordingError(f"no training runs among {len(runs)} runs (split: the latest "
                                 "runs of each family validate and tune, earlier ones train)")
        mean, std, codes = input_statistics(train_runs, self.features.continuous,
                                            self.features.categorical)
        self.mean, self.std, self.codes = mean, std, codes
        fmap = FeatureMap.build(self.layout, self.features.continuous, self.features.categorical,
                                codes, fill_values=mean.astype(np.float32))
        self.prepared = {
            r.name: prepare_run(r, self.layout, fmap)
            for r in tqdm(runs, desc="align", unit="run", disable=not self.progress)
        }
        train = [self.prepared[n] for n in self.split["train"]]
        self.vocab = OutputVocabulary.build(label for p in train for label in p.labels)
        self.library_runs = self.split["train"] + self.split["tune"]
        self.library = self._library([self.prepared[n] for n in self.library_runs])

    def refit_library(self) -> list[str]:
        """Rebuild the library from every run, validation included; return the runs it holds.

        Called after validation, which scored the past-only library (`library_runs` all).
        """
        names = [n for s in SPLITS for n in self.split[s]]
        if self.library is not None:
            self.library = self._library([self.prepared[n] for n in names])
            self.library_runs = names
        return self.library_runs

    def _library(self, past: list[PreparedRun]) -> Library | None:
        """Build the library from the past runs (offline/library_build.py)."""
        return build_model_library(self.config, self.layout, self.features.continuous, past)

    def build(self) -> None:
        c = self.config
        self.model_config = ModelConfig(
            n_continuous=len(self.features.continuous),
            categorical_sizes=[len(self.codes[n]) + 1 for n in self.features.categorical],
            head_sizes=self.vocab.head_sizes, d_model=c.d_model, num_layers=c.num_layers,
            num_heads=c.num_heads, dropout=c.dropout, embedding_dim=c.embedding_dim,
            window=c.window,
            code_inputs=[i for i, name in enumerate(self.features.continuous)
                         if name in c.code_features],
        )
        self.backbone, self.line_heads = build_model(self.model_config, seed=c.seed)
        self.backbone.set_normalisation(self.mean, self.std)

    def loaded(self, with_library: bool = True) -> LoadedModel:
        """Return the model as trained so far (tuning scores it without the library)."""
        c = self.config
        metadata = ModelMetadata(
            continuous_features=list(self.features.continuous),
            categorical_features=list(self.features.categorical),
            categorical_vocab=self.codes,
            norm_mean=[float(x) for x in self.mean], norm_std=[float(x) for x in self.std],
            vocabulary=self.vocab.to_dict(), window=c.window, stride=INFERENCE_STRIDE,
            feature_set=c.feature_set,
            training={"config": {k: v for k, v in vars(c).items() if k != "data"},
                      "split": self.split},
            program_library=(self.library.to_dict()
                             if self.library is not None and with_library else None),
        )
        self.backbone.eval()
        self.line_heads.eval()
        return LoadedModel(self.backbone, self.line_heads, self.model_config, metadata)

    def validate(self, model: LoadedModel) -> EvaluationReport | None:
        """Score the validation runs back to back (`evaluate --continuous`) beside the baselines.

        The baselines are counted from the train and tune runs, like the library.
        """
        names = self.split["validation"]
        if not names:
            return None
        past = [self.runs[n] for n in self.split["train"] + self.split["tune"]]
        tables = build_baselines(past, model.vocabulary)
        stream = prepare_continuous([self.runs[n] for n in names], self.layout,
                                    model.feature_map(self.layout))
        return evaluate_continuous(model, stream, self.config.eval_mode, baselines=tables)

    def fit(self, deadline: float) -> list[dict[str, float]]:
        """Train until early stopping or until another epoch would miss `deadline`."""
        c = self.config
        train = [self.prepared[n] for n in self.split["train"]]
        tune = [self.prepared[n] for n in self.split["tune"]]
        data = ([p.table for p in train], [targets(p, self.vocab) for p in train])
        picks = [(r, int(s)) for r, p in enumerate(train)
                 for s in window_starts(len(p), c.window, c.window_stride) if len(p)]
        params = list(self.backbone.parameters()) + list(self.line_heads.parameters())
        optimiser = torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=c.max_epochs)
        rng = np.random.default_rng(c.seed)
        # Scoring all validation frames at the end costs about this many tune evaluations.
        final_share = c.tune_every * sum(len(self.prepared[n]) for n in self.split["validation"]) \
            / max(1, sum(len(p) for p in tune))
        history: list[dict[str, float]] = []
        best_score, best_state, stale = -np.inf, None, 0
        for epoch in range(c.max_epochs):
            began = time.monotonic()
            loss = self._train_epoch(epoch, data, picks, rng, optimiser, params)
            scheduler.step()
            entry: dict[str, float] = {"epoch": epoch + 1, "loss": loss}
            evaluated = time.monotonic()
            if tune:
                # the learned model alone: the library learnt the tune runs' lines
                report = evaluate_prepared(self.loaded(with_library=False), tune, c.eval_mode,
                                           every=c.tune_every)
                entry.update({f"tune_{k}": v for k, v in report.overall().metrics().items()})
                score = _selection_score(report)
            else:
                score = -loss
            now = time.monotonic()
            entry["seconds"] = now - began
            history.append(entry)
            if self.progress:
                tqdm.write(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                                    for k, v in entry.items()))
            if score > best_score:
                best_score, stale = score, 0
                best_state = (copy.deepcopy(self.backbone.state_dict()),
                              copy.deepcopy(self.line_heads.state_dict()))
            else:
                stale += 1
            final_eval = (now - evaluated) * final_share
            if stale >= c.patience or now + (now - began) + final_eval > deadline:
                break
        if best_state is not None:
            self.backbone.load_state_dict(best_state[0])
            self.line_heads.load_state_dict(best_state[1])
        return history

    def _train_epoch(self, epoch, data, picks, rng, optimiser, params) -> float:
        """One pass over the training windows in a seeded random order; mean batch loss."""
        c = self.config
        self.backbone.train()
        self.line_heads.train()
        order = rng.permutation(len(picks))
        heads = list(self.vocab.head_sizes)
        losses: list[float] = []
        bar = tqdm(range(0, len(order), c.batch_size), desc=f"epoch {epoch + 1}", unit="batch",
                   disable=not self.progress, leave=False)
        for start in bar:
            chosen = (picks[i] for i in order[start:start + c.batch_size])
            batch = gather_windows(data[0], data[1], chosen, c.window)
            loss = _batch_loss((self.backbone, self.line_heads), batch, heads)
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        return float(np.mean(losses))


def train(
    config: TrainingConfig,
    layout: StreamLayout,
    out: str | Path | None = None,
    command: str = "",
    progress: bool = True,
) -> TrainingResult:
    """Train a model on `config.data`, evaluate it on the validation runs, optionally save it."""
    if config.library_runs not in LIBRARY_RUNS:
        raise ConfigError(f"library_runs {config.library_runs!r}: expected one of "
                          f"{list(LIBRARY_RUNS)}")
    started, cpu_started = time.monotonic(), time.process_time()
    torch.manual_seed(config.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        trainer = _Trainer(config, layout, progress)
        trainer.prepare()
        trainer.build()
        history = trainer.fit(deadline=started + 60 * config.max_minutes)
        model = trainer.loaded()
        mode = config.eval_mode
        validation = trainer.validate(model)
        tune_runs = [trainer.prepared[n] for n in trainer.split["tune"]]
        tune = (evaluate_prepared(model, tune_runs, mode, every=config.tune_every)
                if tune_runs else None)
        validated_with = list(trainer.library_runs) if trainer.library is not None else []
        if config.library_runs == LIBRARY_ALL and trainer.split["validation"]:
            trainer.refit_library()   # after scoring: the figures stay the past-only library's
            model = trainer.loaded()
    finally:
        torch.set_num_threads(previous_threads)
    meta = model.metadata
    meta.training_command = command
    meta.training.update({"epochs": len(history), "history": history,
                          "minutes": (time.monotonic() - started) / 60,
                          "cpu_minutes": (time.process_time() - cpu_started) / 60,
                          "library": {"library_runs": config.library_runs,
                                      "runs": list(trainer.library_runs)
                                      if trainer.library is not None else [],
                                      "validated_with_runs": validated_with}})
    if validation is not None:
        data = validation.to_json()
        meta.validation_metrics = {"mode": config.eval_mode, "overall": data["overall"],
                                   "families": data["families"], "runs": data["runs"],
                                   "majority_command": _majority_command(validation),
                                   "continuous": True,
                                   # the library these figures were scored with
                                   "library_runs": validated_with}
    if out is not None:
        model.path = save_checkpoint(out, model.backbone, model.line_heads, model.config, meta)
    return TrainingResult(model, trainer.split, history, validation, tune)
