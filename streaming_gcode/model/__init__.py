# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The model: the causal network, its checkpoint, the output vocabulary, G-code text.

What a frame window becomes: `network` (backbone and one head per question),
`checkpoint` (the file format, loading safely, which file to load),
`vocabulary` (a G-code line as head labels), `gcode` (parsing and rendering
lines) and `decoding` (head logits back to a line). No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "network": ("LineHeads", "ModelConfig", "StreamingBackbone", "build_model"),
    "checkpoint": (
        "LoadedModel", "ModelMetadata", "load_checkpoint", "random_model", "resolve_checkpoint",
        "save_checkpoint",
    ),
    "vocabulary": ("OutputVocabulary",),
    "gcode": ("parse_line", "render_line"),
    "decoding": ("DecodedLine", "decode_frame", "decode_frames"),
})
