# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`streaming-gcode demo` end to end: real node process, real DDS, terminal output, exit.

Each test runs the demo as a user would (a subprocess of the CLI, real-time
source), in this test session's own ROS domain. The demo's warm start sends the
first model window 8x faster, so predictions start within the 8 s of a run.
"""

import os
from pathlib import Path
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("rclpy", reason="the demo needs rclpy (ROS 2)")

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
DEMO = [sys.executable, "-m", "streaming_gcode.cli", "demo"]
RUN_TIMEOUT_S = 300.0
PREDICTION_LINE = re.compile(r"^\s*\d+\.\ds  \S")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.update(extra)
    return env


def _predictions(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if PREDICTION_LINE.match(line)]


def _check_clean_finish(result: subprocess.CompletedProcess, reason: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output, output
    assert "demo finished after" in result.stdout and f"({reason})" in result.stdout, output
    assert "stream_node exited with code 0" in result.stdout, output


def test_simulated_cell_demo_shows_predictions_and_stats(tmp_path):
    result = subprocess.run(
        DEMO + ["--duration", "8", "--source", "sim"], cwd=REPO, capture_output=True,
        text=True, timeout=RUN_TIMEOUT_S, env=_env(STREAMING_GCODE_DATA=str(tmp_path / "no_data")),
    )
    _check_clean_finish(result, "--duration 8 s reached")
    expected = "source : simulated cell: asked for (--source sim)"
    assert expected in result.stdout
    predictions = _predictions(result.stdout)
    assert len(predictions) >= 3, result.stdout
    assert any(line.startswith("[stats ") and "latency p50/p99 inference" in line
               for line in result.stdout.splitlines()), result.stdout
    # the demo hears its own node's diagnostics (`/demo_<pid>/streaming_gcode: ...`)
    assert any(line.startswith("[stats ") and "| drops: waiting" not in line
               for line in result.stdout.splitlines()), result.stdout


def test_recording_demo_shows_predicted_next_to_executed_lines(data_dir):
    run = data_dir if data_dir.is_file() else data_dir / "face_001_aligned.csv.gz"
    if not run.is_file():
        pytest.skip(f"{run} not found")
    result = subprocess.run(
        DEMO + ["--duration", "8", "--data", str(run)], cwd=REPO,
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=_env(),
    )
    _check_clean_finish(result, "--duration 8 s reached")
    assert "source : replaying recording face_001 from" in result.stdout
    predictions = _predictions(result.stdout)
    assert len(predictions) >= 3, result.stdout
    # Every prediction is scored against the executed line at its stamp.
    assert all(re.search(r"  (line|command|-)( \(degraded\))?\s+\d\.\d\d$", line)
               for line in predictions), result.stdout
    assert re.search(r"accuracy line \d+\.\d% command \d+\.\d% \(of \d+\)", result.stdout)


def test_ctrl_c_mid_run_exits_cleanly_with_a_summary(tmp_path):
    process = subprocess.Popen(
        DEMO, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(STREAMING_GCODE_DATA=str(tmp_path / "no_data")),
    )
    seen: list[str] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            if PREDICTION_LINE.match(line):
                break
        assert any(PREDICTION_LINE.match(line) for line in seen), "".join(seen)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    result = subprocess.CompletedProcess(process.args, process.returncode,
                                         "".join(seen) + stdout, stderr)
    _check_clean_finish(result, "Ctrl-C received")
    assert "predictions : " in result.stdout


def _clean_clone(tmp_path: Path) -> Path:
    """Copy what a clone of this repository holds (tracked files, as in the working tree)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "-z"], cwd=REPO, capture_output=True, check=True).stdout
    clone = tmp_path / "clone" / "streaming_gcode"
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return clone


def test_fresh_clone_without_the_dataset_replays_the_shipped_recording(tmp_path):
    """`make demo` on a clone with no ../shared: the shipped validation run, scored."""
    clone = _clean_clone(tmp_path)
    assert not (clone.parent / "shared").exists()
    env = _env(PYTHONPATH=str(clone))
    env.pop("STREAMING_GCODE_DATA", None)
    result = subprocess.run(
        DEMO + ["--duration", "25", "--speed", "4"], cwd=clone, capture_output=True,
        text=True, timeout=RUN_TIMEOUT_S, env=env,
    )
    _check_clean_finish(result, "--duration 25 s reached")
    source = next((line.strip() for line in result.stdout.splitlines()
                   if line.strip().startswith("source : ")), result.stdout)
    assert source.startswith("source : replaying the shipped recording "
                             "recordings/face150025_016 (run face150025_016"), result.stdout
    assert "node on /clock" in source
    predictions = _predictions(result.stdout)
    assert len(predictions) >= 3, result.stdout
    assert re.search(r"accuracy line \d+\.\d% command \d+\.\d% \(of \d+\)", result.stdout)
