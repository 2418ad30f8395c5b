# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The model: the causal network, its checkpoint, the output vocabulary, G-code text.

What a frame window becomes: `network` (backbone and one head per question),
`checkpoint` (the file format, loading safely, which file to load),
`random_weights` (untrained models of the same shape), `vocabulary` (a G-code
line as head labels), `gcode` (parsing and rendering lines), `program_library`
(the cell's programs, and which one runs) and `decoding` (head logits or a
program's line back to a line). No rclpy.
"""

from streaming_gcode import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "network": ("LineHeads", "ModelConfig", "StreamingBackbone", "build_model"),
    "checkpoint": (
        "LoadedModel", "ModelMetadata", "load_checkpoint", "resolve_checkpoint", "save_checkpoint",
    ),
    "random_weights": ("default_vocabulary", "random_model"),
    "program_library": ("ProgramLibrary", "ProgramTracker", "build_library"),
    "vocabulary": ("OutputVocabulary",),
    "gcode": ("parse_line", "render_line"),
    "decoding": ("DecodedLine", "decode_frame", "decode_frames"),
})
