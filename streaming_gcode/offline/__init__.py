# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Offline: labelled windows, training, metrics, evaluation and the model card.

Recorded runs become labelled frames through the node's own alignment
(`labelled_windows`, `bag_frames`), `training` fits and selects a model,
`metrics` and `evaluation` score predictions against executed lines,
`splits` names the temporal split, `baselines` the no-learning baselines scored
beside a model, `continuous` plays runs back to back, `evaluate_runs` is what
`evaluate --data` does, `model_card` writes the card, `figures` saves plots. No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "labelled_windows": ("PreparedRun", "prepare_run"),
    "bag_frames": ("prepare_bag",),
    "training_config": ("TrainingConfig",),
    "training": ("TrainingResult", "train"),
    "metrics": ("ScoreCounts", "score"),
    "evaluation": ("EvaluationReport", "evaluate_prepared", "format_table", "write_json"),
    "splits": ("split_paths", "temporal_split"),
    "baselines": ("BaselineTables", "baseline_predictions", "build_baselines"),
    "continuous": ("evaluate_continuous", "prepare_continuous", "restamp_runs"),
    "evaluate_runs": ("evaluate_runs",),
    "model_card": ("write_card",),
    "figures": ("save_figure",),
})
