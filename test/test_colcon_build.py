# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Build the package with colcon in a throwaway workspace and check what it installs.

This is what a ROS user does (`colcon build` in a workspace), with Debian's
colcon and colcon-ros (`make test` installs them when root). The sources are
copied, so the build never writes into the repository.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
import shutil
import subprocess

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "streaming_gcode"
# What setup.py reads: the package metadata, the Python package and the data files.
SOURCES = ("package.xml", "setup.py", "setup.cfg", "resource", PACKAGE, "launch", "config",
           "models", "recordings")
BUILD_TIMEOUT_S = 300
# Variables of a venv or a sourced ROS environment that would leak into the build.
LEAKY_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "AMENT_PREFIX_PATH",
             "COLCON_PREFIX_PATH", "CMAKE_PREFIX_PATH")


def _colcon() -> str:
    colcon = shutil.which("colcon")
    if colcon is None:
        pytest.skip("colcon is not installed (`make test` installs Debian's colcon and "
                    "python3-colcon-ros when run as root; or apt-get install them)")
    return colcon


@pytest.fixture(scope="module")
def install_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build a workspace holding a copy of the package; return its install space."""
    colcon = _colcon()
    workspace = tmp_path_factory.mktemp("colcon_ws")
    package_dir = workspace / "src" / PACKAGE
    package_dir.mkdir(parents=True)
    for name in SOURCES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, package_dir / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.exists():
            shutil.copy2(source, package_dir / name)
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_ENV}
    result = subprocess.run(
        [colcon, "build", "--base-paths", "src", "--event-handlers", "console_direct+"],
        cwd=workspace, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=BUILD_TIMEOUT_S, check=False)
    assert result.returncode == 0, f"colcon build failed:\n{result.stdout}\n{result.stderr}"
    return workspace / "install" / PACKAGE


def test_share_directory_has_package_launch_config_and_models(install_dir: Path) -> None:
    share = install_dir / "share" / PACKAGE
    assert (share / "package.xml").read_bytes() == (REPO_ROOT / "package.xml").read_bytes()
    assert (share / "launch" / "stream.launch.py").is_file()
    assert (share / "config" / "stream.yaml").is_file()
    assert (share / "config" / "diagnostic_aggregator.yaml").is_file()
    shipped = sorted(path.name for path in (REPO_ROOT / "models").glob("*.pt"))
    assert shipped, "no trained model (models/*.pt) in the repository"
    installed = sorted(path.name for path in (share / "models").glob("*.pt"))
    assert installed == shipped
    recording = REPO_ROOT / "recordings" / "face150025_016"
    for path in recording.iterdir():   # the demo's shipped bag, for `ros2 bag play` too
        assert (share / "recordings" / recording.name / path.name).read_bytes() == \
            path.read_bytes()
    assert (share / "recordings" / "README.md").is_file()


def test_package_is_registered_in_the_ament_index(install_dir: Path) -> None:
    marker = install_dir / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE
    assert marker.is_file()


def test_executables_are_where_ros2_run_looks(install_dir: Path) -> None:
    for executable in ("stream_node", "streaming-gcode"):
        path = install_dir / "lib" / PACKAGE / executable
        assert path.is_file() and os.access(path, os.X_OK), f"{path} missing or not executable"
    assert not (install_dir / "bin" / "stream_node").exists()


def _defines(module_file: Path, name: str) -> bool:
    """Say whether the module file defines a top-level function `name` (read, not imported)."""
    tree = ast.parse(module_file.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in tree.body)


def test_executables_resolve_to_functions_of_the_installed_package(install_dir: Path) -> None:
    site_packages = next(install_dir.glob("lib/python3*/site-packages"))
    # The generated scripts load their target through the installed distribution's entry
    # points: read them with the interpreter colcon built for (it need not have rclpy).
    interpreter = (install_dir / "lib" / PACKAGE / "stream_node").read_text().splitlines()[0][2:]
    probe = ("from importlib.metadata import distribution; "
             "eps = distribution('streaming-gcode').entry_points; "
             "print({ep.name: ep.value for ep in eps if ep.group == 'console_scripts'})")
    result = subprocess.run(
        [interpreter.strip(), "-c", probe], env={"PYTHONPATH": str(site_packages)},
        capture_output=True, text=True, timeout=60, check=True)
    scripts = ast.literal_eval(result.stdout.strip())
    assert set(scripts) == {"stream_node", "streaming-gcode"}
    for script, target in scripts.items():
        module, _, function = target.partition(":")
        module_file = site_packages.joinpath(*module.split(".")).with_suffix(".py")
        assert module.startswith(f"{PACKAGE}.") and module_file.is_file(), (script, target)
        assert _defines(module_file, function), f"{script}: {module_file} has no {function}()"
