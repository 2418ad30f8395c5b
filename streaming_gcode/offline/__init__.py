# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Offline: labelled windows, training, metrics, evaluation and the model card.

Recorded runs become labelled frames through the node's own alignment
(`labelled_windows`, `bag_frames`), `training` fits and selects a model,
`metrics` and `evaluation` score predictions against executed lines,
`model_card` writes the card, `figures` saves plots. No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "labelled_windows": ("PreparedRun", "prepare_run"),
    "bag_frames": ("prepare_bag",),
    "training": ("TrainingConfig", "TrainingResult", "train"),
    "metrics": ("ScoreCounts", "score"),
    "evaluation": ("EvaluationReport", "evaluate_prepared", "format_table", "write_json"),
    "model_card": ("write_card",),
    "figures": ("save_figure",),
})
