# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""ament_flake8 over the whole package, with the settings in setup.cfg [flake8]."""

from __future__ import annotations

from pathlib import Path

import pytest

ament_flake8 = pytest.importorskip(
    "ament_flake8.main",
    reason="ament_flake8 is not installed "
    "(PyPI: ros-ament-flake8; ROS: ros-$ROS_DISTRO-ament-flake8)",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "setup.cfg"


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # ament_flake8 walks the whole working directory (venvs included) to find folders to
    # exclude; setup.cfg's `exclude` already names them, so give it an empty one.
    monkeypatch.chdir(tmp_path)
    rc, errors = ament_flake8.main_with_errors(argv=["--config", str(CONFIG), str(REPO_ROOT)])
    assert rc == 0, f"Found {len(errors)} code style errors / warnings:\n" + "\n".join(errors)
