# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What the package is called and where its shipped files are, installed or in a clone.

One place for the package and node names and for the lookup of shipped files
(config/stream.yaml, models/<model>.pt): the node, the tools and the commands
all find the same files the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
import sys

PACKAGE_NAME = "streaming_gcode"
NODE_NAME = "streaming_gcode"       # the node's default name (ros2 run / launch)


def repository_root() -> Path:
    """Return the source tree this package runs from (a clone or an editable install)."""
    return Path(__file__).resolve().parents[2]


def share_candidates(relative: str) -> list[Path]:
    """Where a shipped file (config/..., models/...) may be, most specific first.

    The ament index share directory when the package is installed in a ROS
    workspace, the interpreter prefix's share directory for pip installs, then
    the source tree (running from a clone).
    """
    candidates: list[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE_NAME)) / relative)
    except Exception:  # noqa: BLE001 - not installed in an ament prefix (or no ament_index)
        pass
    for prefix in (sys.prefix, os.environ.get("VIRTUAL_ENV", "")):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE_NAME / relative)
    candidates.append(repository_root() / relative)
    return candidates


def find_shared_file(relative: str) -> Path | None:
    """Return the first existing shipped file at `relative` ('models/full.pt'), or None."""
    for path in share_candidates(relative):
        if path.is_file():
            return path
    return None


def default_checkpoint(model: str) -> Path | None:
    """Return the shipped checkpoint for `model` ('full' or 'physical'), if present."""
    return find_shared_file(f"models/{model}.pt")


def default_stream_config() -> Path | None:
    """Return the shipped stream layout (config/stream.yaml), if present."""
    return find_shared_file("config/stream.yaml")
