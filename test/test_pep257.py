# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""ament_pep257 over the whole package, with the settings in setup.cfg [pydocstyle].

ament_pep257's own "ament" convention also demands D213 (multi-line summary on
the second line) and the numpy-style section checks; the project writes the
summary on the first line, as PEP 257 does, so the convention and the extra
exemptions come from setup.cfg, where a plain `pydocstyle` run reads them too.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

ament_pep257 = pytest.importorskip(
    "ament_pep257.main",
    reason="ament_pep257 is not installed "
    "(PyPI: ros-ament-pep257; ROS: ros-$ROS_DISTRO-ament-pep257)",
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG = REPO_ROOT / "setup.cfg"
# Build products of an in-tree colcon build are not the package's code.
EXCLUDED_DIRS = ("build", "install", "log")


def pydocstyle_arguments(config_path: Path) -> list[str]:
    """Turn setup.cfg [pydocstyle] convention and add-ignore into ament_pep257 arguments."""
    config = configparser.ConfigParser()
    config.read(config_path)
    section = config["pydocstyle"]
    codes = [code.strip() for code in section.get("add-ignore", "").split(",") if code.strip()]
    arguments = ["--convention", section.get("convention", "pep257")]
    return arguments + (["--add-ignore", *codes] if codes else [])


@pytest.mark.pep257
@pytest.mark.linter
def test_pep257() -> None:
    excludes = [str(REPO_ROOT / name) for name in EXCLUDED_DIRS]
    # Paths first: ament_pep257's --add-ignore takes every following word.
    argv = [str(REPO_ROOT), *pydocstyle_arguments(CONFIG), "--exclude", *excludes]
    rc = ament_pep257.main(argv=argv)
    assert rc == 0, "Found docstring style errors (see the captured output above)"
