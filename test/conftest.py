# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Session-wide test setup: keep DDS on this machine, register markers, shared fixtures.

The DDS environment is set at import time, before any test module can import
rclpy, so every participant of this run (including launched subprocesses,
which inherit the environment) discovers only peers on this host and in this
run's own domain. Tests in a module that imports rclpy, launch_ros or a message
package are marked `ros` automatically, so `-m ros` selects everything that
touches ROS 2 (CI runs that selection on the second distribution).
"""

from __future__ import annotations

import os
from pathlib import Path
import random
import re

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "STREAMING_GCODE_DATA"
DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "bantam_cnc"
DOMAIN_ID_RANGE = (100, 199)  # inclusive; a run picks one so parallel runs do not meet
DISCOVERY_RANGE = "LOCALHOST"

# A test module importing any of these touches ROS 2 (see the module docstring).
ROS_IMPORT_RE = re.compile(
    r"^\s*(?:from|import)\s+(?:rclpy|launch_ros|launch_pytest|[a-z_]+_msgs)\b"
    r"|importorskip\(\s*[\"']rclpy[\"']",
    re.MULTILINE,
)

MARKERS: dict[str, str] = {
    "ros": "touches ROS 2: live DDS (this run's own ROS_DOMAIN_ID), rclpy or message "
           "packages; added automatically to modules that import them",
    "data": "needs the recorded Bantam CNC runs (../shared/data/bantam_cnc or $" + DATA_ENV + ")",
    "slow": "takes more than a few seconds",
    # Registered by the ament linters' pytest plugins when they are installed; declared
    # here too so the lint tests collect cleanly where a linter is missing.
    "linter": "ament linter test",
    "flake8": "ament_flake8 test",
    "pep257": "ament_pep257 test",
    "copyright": "ament_copyright test",
}


def _isolate_dds() -> None:
    """Confine DDS discovery to this host and to one domain for this run."""
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = DISCOVERY_RANGE
    os.environ.pop("ROS_LOCALHOST_ONLY", None)  # deprecated; conflicts with the above
    if not os.environ.get("ROS_DOMAIN_ID", "").strip():
        os.environ["ROS_DOMAIN_ID"] = str(random.SystemRandom().randint(*DOMAIN_ID_RANGE))


_isolate_dds()
# One intra-op thread per library unless the caller chose otherwise: the machine has
# two cores shared by the whole run (tests may still call torch.set_num_threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")


LIVE_TEST_RERUNS = 2


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    touches_ros: dict[Path, bool] = {}
    for item in items:
        path = item.path
        if path not in touches_ros:
            touches_ros[path] = bool(ROS_IMPORT_RE.search(path.read_text(encoding="utf-8")))
        if touches_ros[path]:
            item.add_marker(pytest.mark.ros)
            if config.pluginmanager.hasplugin("rerunfailures"):
                # Live DDS tests share two cores with everything else: a timing
                # failure is retried; a real failure fails every attempt.
                item.add_marker(pytest.mark.flaky(reruns=LIVE_TEST_RERUNS, reruns_delay=2))


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']} "
        f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE']}"
    )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """Return the repository (package source) root."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Return the recorded Bantam CNC runs; skip the test when they are not here."""
    override = os.environ.get(DATA_ENV, "").strip()
    path = Path(override).expanduser() if override else DEFAULT_DATA_DIR
    if not path.exists():
        source = f"${DATA_ENV}" if override else "the default location"
        pytest.skip(f"recorded runs not found at {path} ({source}); "
                    f"set {DATA_ENV} to the bantam_cnc data folder or run file")
    return path


@pytest.fixture()
def context():
    """Return an initialised rclpy context of its own, shut down after the test."""
    rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed")
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    yield ctx
    rclpy.try_shutdown(context=ctx)
