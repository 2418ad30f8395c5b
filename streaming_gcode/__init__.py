# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""streaming_gcode: live G-code recognition from CNC sensor streams (ROS 2).

Folders in the order the data flows: `core` (errors, layout, features, stats,
parameters), `ingestion` (adapters, drop accounting, alignment, ring buffer),
`model` (network, checkpoint, vocabulary, G-code text, decoding), `inference`
(the engine, feed cursor, backends), `outputs` (prediction record, diagnostics,
agreement), `node` (the ROS node), `recordings` (CSV runs, bags), `offline`
(training, evaluation, model card) and `tools` (demo, bench, soak, live
evaluation). `cli.py` and `commands/` are the `streaming-gcode` command line;
`node_entry.py` is the `stream_node` executable.
"""

from __future__ import annotations

import importlib
from typing import Callable, Mapping, Sequence

__version__ = "0.1.0"


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]],
) -> tuple[list[str], Callable[[str], object]]:
    """Return a folder's `__all__` and a module `__getattr__` that imports each name on use.

    `exports` maps a module of the folder to its public names. A folder shows
    its public face without its cost: importing one light module (the G-code
    parser, the package names the entry point needs before it handles signals)
    must not load its neighbours' torch or rclpy.
    """
    where = {name: f"{package}.{module}" for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        return getattr(importlib.import_module(module), name)

    return sorted(where), __getattr__
