# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`make bench`: how fast each configuration predicts, in one process and over DDS.

`driver` runs the configurations (`subjects`, the `seed_baseline` among them)
side by side; `end_to_end` measures the node over DDS against
`publisher_process`; `report` writes results.json, a table and plots.
Submodules are imported on use (torch, onnxruntime, rclpy).
"""

__all__ = ["driver", "end_to_end", "publisher_process", "report", "seed_baseline", "subjects"]
