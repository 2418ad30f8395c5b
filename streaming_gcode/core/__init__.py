# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The core every folder stands on: errors, the cell's stream layout, features, stats.

Pure Python (numpy, PyYAML): domain exceptions, the stream layout and machine
names of a cell, the model's feature sets and their mapping onto streams,
bounded latency/rate statistics, every node parameter with its checks, and
where the package's shipped files are. No rclpy, no torch.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "errors": (
        "CheckpointError", "ConfigError", "FeatureMappingError", "MessageError",
        "MessageTypeError", "ModelConfigError", "RecordingError", "StreamingGcodeError",
        "VocabularyError",
    ),
    "stream_layout": (
        "AlignmentSettings", "StreamLayout", "StreamSpec", "resolve_layout",
        "resolve_layout_path",
    ),
    "machines": ("SINGLE_MACHINE", "check_machine_names", "machine_layout", "output_prefix"),
    "features": ("FEATURE_SET_DESCRIPTIONS", "FeatureMap", "FeatureSet", "feature_set"),
    "stats": (
        "LatencyStats", "LatencySummary", "NS_PER_MS", "NS_PER_S", "RateMeter",
        "summarise_latencies",
    ),
    "parameters": ("NODE_PARAMETERS", "NodeSettings", "ParamSpec", "validate_changes"),
    "package": ("NODE_NAME", "PACKAGE_NAME", "default_checkpoint", "default_stream_config"),
})
