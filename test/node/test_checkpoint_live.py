# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node refuses bad model files at start-up: exit 2 and one clear line, no traceback.

`test_checkpoint.py` covers the loader; this runs the real `stream_node` process
on a truncated, a corrupt, a wrong-version and a hostile checkpoint (a pickle
that would create a file if it were ever unpickled with code execution), and
one whose config asks for a model far too large to build. The five nodes start
at the same time to keep the test short.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

import torch  # noqa: E402

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)


class _RunsCode:
    """Unpickling this runs a shell command (which weights_only loading must refuse)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad_checkpoints(tmp: Path, marker: Path) -> dict[str, tuple[Path, str]]:
    good = fs.small_checkpoint(tmp / "good.pt")
    raw = good.read_bytes()
    truncated = tmp / "truncated.pt"
    truncated.write_bytes(raw[: len(raw) // 2])
    corrupt = tmp / "corrupt.pt"
    corrupt.write_bytes(bytes(range(256)) * 64)
    payload = torch.load(good, weights_only=True)
    payload["format_version"] = 99
    old = tmp / "version99.pt"
    torch.save(payload, old)
    payload = torch.load(good, weights_only=True)
    payload["metadata"]["training"] = {"x": _RunsCode(marker)}
    hostile = tmp / "hostile.pt"
    torch.save(payload, hostile)
    payload = torch.load(good, weights_only=True)
    payload["config"]["d_model"] = 10_000_000   # 9 GB of RSS before it was bounded
    huge = tmp / "huge.pt"
    torch.save(payload, huge)
    return {
        "truncated": (truncated, "unreadable checkpoint (truncated or corrupt file"),
        "corrupt": (corrupt, "(unsafe or foreign pickle: Unsupported operand"),
        "version": (old, "format version 99, this software reads version 1"),
        "hostile": (hostile, "refused: it holds objects other than tensors and plain data, "
                    "which weights_only loading does not execute (unsafe or foreign pickle: "
                    "Trying to load unsupported GLOBAL posix.system"),
        "huge": (huge, "bad config: invalid ModelConfig: d_model 10000000 above the limit 4096"),
    }


def test_bad_checkpoints_stop_the_node_with_one_clear_error(tmp_path) -> None:
    marker = tmp_path / "code_ran"
    cases = _bad_checkpoints(tmp_path, marker)
    nodes = {name: fs.NodeProcess(tmp_path, fs.node_params(path), name)
             for name, (path, _) in cases.items()}
    try:
        for name, node in nodes.items():
            path, expected = cases[name]
            code = node.process.wait(timeout=fs.STARTUP_TIMEOUT_S)
            text = node.text()
            errors = [line for line in text.splitlines() if "error:" in line]
            assert code == 2, text
            assert len(errors) == 1, text
            assert str(path) in errors[0] and expected in errors[0], errors[0]
            assert "Traceback" not in text
    finally:
        for node in nodes.values():
            node.kill()
    assert not marker.exists()   # the hostile pickle never ran
