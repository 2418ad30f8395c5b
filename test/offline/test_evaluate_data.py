# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""`evaluate --continuous` on real temporal validation runs with the shipped model."""

from __future__ import annotations

import json

import pytest

from streaming_gcode import cli

RUNS = ("damageface_004", "face150025_016", "pocket_013")


@pytest.mark.data
def test_continuous_evaluation_reports_the_baselines(data_dir, repo_root, tmp_path) -> None:
    if not data_dir.is_dir():
        pytest.skip(f"{data_dir} is a single run file; this test needs the data folder")
    out = tmp_path / "eval.json"
    files = [str(data_dir / f"{name}_aligned.csv.gz") for name in RUNS]
    code = cli.main(["evaluate", "--data", *files, "--checkpoint",
                     str(repo_root / "models" / "full.pt"), "--continuous", "--json", str(out),
                     "--quiet"])
    assert code == 0
    data = json.loads(out.read_text())
    overall = data["overall"]
    assert {"command_balanced_accuracy", "per_command_recall", "baselines"} <= set(overall)
    assert [r["run"] for r in data["runs"]] == sorted(RUNS)
    assert data["info"]["continuous"] is True
    lookup = overall["baselines"]["program_line_lookup"]
    assert lookup["frames"] == overall["frames"] > 500
    assert lookup["exact_line_accuracy"] > 0.9   # it reads the controller's line
    assert set(data["info"]["baseline_training_runs"]).isdisjoint(RUNS)
