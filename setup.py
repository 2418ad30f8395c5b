# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Install streaming_gcode the ament_python way, for colcon and for pip alike.

Launch files, configuration and shipped models go under share/streaming_gcode
and the package is registered in the ament index, so `ros2 launch` finds it.
Executables land in lib/streaming_gcode under colcon (setup.cfg) and on PATH
under pip.
"""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE_NAME = "streaming_gcode"
SHARE = f"share/{PACKAGE_NAME}"
VERSION = "0.1.0"  # keep in step with package.xml and streaming_gcode/__init__.py


def _files(*patterns: str) -> list[str]:
    """Sorted files matching any pattern (relative to this file, as setuptools wants)."""
    return sorted({path for pattern in patterns for path in glob(pattern)})


def _folders(pattern: str) -> list[str]:
    """Sorted folders matching `pattern` (a shipped bag is a folder of files)."""
    return sorted(path for path in glob(pattern) if Path(path).is_dir())


setup(
    name=PACKAGE_NAME,
    version=VERSION,
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE_NAME}"]),
        (SHARE, ["package.xml"]),
        (f"{SHARE}/launch", _files("launch/*.py")),
        (f"{SHARE}/config", _files("config/*.yaml")),
        (f"{SHARE}/models", _files("models/*.pt", "models/*.onnx", "models/*.md")),
        (f"{SHARE}/recordings", _files("recordings/*.md")),
        *[(f"{SHARE}/{bag}", _files(f"{bag}/*")) for bag in _folders("recordings/*")],
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="streaming_gcode developers",
    maintainer_email="maintainers@streaming-gcode.example",
    description="Live G-code recognition from CNC sensor streams (ROS 2).",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "stream_node = streaming_gcode.node_entry:main",
            "streaming-gcode = streaming_gcode.cli:main",
        ],
    },
)
