# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""ament_flake8 over the whole package, with the settings in setup.cfg [flake8].

It runs in a fresh interpreter: flake8 forks worker processes, and forking the
test process after live rclpy tests (DDS threads, contexts) can crash the
workers during garbage collection and hang the pool.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

import pytest

ament_flake8 = pytest.importorskip(
    "ament_flake8.main",
    reason="ament_flake8 is not installed "
    "(PyPI: ros-ament-flake8; ROS: ros-$ROS_DISTRO-ament-flake8)",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "setup.cfg"
FLAKE8_TIMEOUT_S = 600
_RUN = ("import sys; from ament_flake8.main import main_with_errors; "
        "rc, errors = main_with_errors(argv=sys.argv[1:]); "
        "print(*errors, sep='\\n'); sys.exit(rc)")


@pytest.mark.flake8
@pytest.mark.linter
def test_flake8(tmp_path: Path) -> None:
    # ament_flake8 walks the whole working directory (venvs included) to find folders to
    # exclude; setup.cfg's `exclude` already names them, so give it an empty one.
    result = subprocess.run(
        [sys.executable, "-c", _RUN, "--config", str(CONFIG), str(REPO_ROOT)],
        cwd=tmp_path, capture_output=True, text=True, timeout=FLAKE8_TIMEOUT_S)
    assert result.returncode == 0, (
        f"ament_flake8 exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
