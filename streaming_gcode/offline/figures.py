# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""PNG figures of every report (confusion, bench, soak, live timelines), drawn the same way.

matplotlib is an optional, slow import, so it is imported only when a figure
is drawn, always with the non-interactive Agg backend (no display needed, the
same pixels everywhere). `save_figure` writes a figure where it was asked for,
creating the folder, and closes it so long runs do not accumulate figures.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

BACKEND = "Agg"


def pyplot() -> ModuleType:
    """Return `matplotlib.pyplot` on the Agg backend (imported on first use)."""
    import matplotlib

    matplotlib.use(BACKEND)
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure: Any, path: str | Path, dpi: int) -> Path:
    """Write `figure` to `path` (its folder created) at `dpi`, close it, return the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=dpi)
    finally:
        pyplot().close(figure)
    return path


__all__ = ["BACKEND", "pyplot", "save_figure"]
