# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The benchmark runs end to end at tiny sizes and writes results in the documented schema.

Only structure and internal consistency are checked: a benchmark is not a test,
so no assertion here depends on how fast anything ran.
"""

from __future__ import annotations

import json

import pytest
import torch

from streaming_gcode.cli import build_parser
from streaming_gcode.model.network import ModelConfig
from streaming_gcode.tools.bench.driver import BenchOptions, run_benchmark
from streaming_gcode.tools.bench.report import evaluate_targets, write_outputs
from streaming_gcode.tools.bench.subjects import BASELINE, custom_size

torch.set_num_threads(1)
CONFIG_KEYS = {"name", "mode", "backend", "p50_ms", "p95_ms", "p99_ms", "max_ms",
               "speedup_vs_baseline_p99", "cpu_ms_per_prediction", "setup_memory_mb",
               "peak_memory_growth_mb", "threads", "window", "stride", "ticks", "group"}
BATCH_KEYS = {"machines", "mode", "backend", "p50_ms", "p99_ms", "per_machine_ms",
              "predictions_per_s", "frames_per_s", "latency_vs_1_p99"}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tiny = ModelConfig(n_continuous=6, categorical_sizes=[3, 4],
                       head_sizes={"command": 5, "form": 2},
                       d_model=16, num_layers=2, dropout=0.0, window=12)
    other = ModelConfig(n_continuous=4, head_sizes={"command": 3}, d_model=8, num_layers=1,
                        window=8)
    options = BenchOptions(quick=True, ticks=4, machines=(1, 3), dds=False,
                           sizes=[custom_size("tiny", tiny), custom_size("other", other)])
    out = tmp_path_factory.mktemp("bench")
    document = run_benchmark(options, log=lambda line: None)
    written = write_outputs(document, out / "results.json", out)
    return json.loads((out / "results.json").read_text()), written


def test_results_json_has_every_configuration_with_the_documented_keys(results):
    document, _ = results
    configs = document["configs"]
    names = [c["name"] for c in configs]
    assert len(names) == len(set(names)) == 14   # 2 groups x (baseline + 2 modes x 3 backends)
    assert BASELINE in names and document["baseline"] == BASELINE
    for config in configs:
        assert CONFIG_KEYS <= set(config), config["name"]
        assert config["p50_ms"] <= config["p95_ms"] <= config["p99_ms"] <= config["max_ms"]
        assert config["ticks"] == len(config["latencies_ms"]) == 4
        base = next(c for c in configs if c["name"] == config["baseline"])
        speedup = base["p99_ms"] / config["p99_ms"]
        assert config["speedup_vs_baseline_p99"] == pytest.approx(speedup)
    assert {c["mode"] for c in configs} == {"seed", "full_window", "incremental"}
    assert {c["backend"] for c in configs} == {"torch", "onnxruntime", "onnxruntime_int8"}
    assert [c["group"] for c in configs if "@" not in c["name"]] == ["tiny/stride8"] * 7
    exact = [c for c in configs if c["backend"] == "onnxruntime" or c["mode"] == "seed"]
    assert all(c["top1_agreement_vs_torch"] == 1.0 for c in exact)


def test_batching_rows_and_targets(results):
    document, _ = results
    rows = document["batching"]
    assert [r["machines"] for r in rows] == [1, 3]
    for row in rows:
        assert BATCH_KEYS <= set(row)
        assert row["predictions_per_s"] == pytest.approx(row["machines"] * 1000 / row["mean_ms"])
    assert rows[0]["latency_vs_1_p99"] == 1.0
    targets = {t["id"]: t for t in document["targets"]}
    for key, goal in (("incremental_speedup_exact", 10.0), ("incremental_speedup_int8", 10.0),
                      ("full_window_speedup_exact", 2.5), ("full_window_speedup_int8", 2.5)):
        assert targets[key]["met"] == (targets[key]["value"] >= goal)
    assert targets["end_to_end_p99"]["met"] is None       # DDS not run here
    assert document["end_to_end"] is None


def test_outputs_are_written(results):
    _, written = results
    names = sorted(p.name for p in written)
    assert names == ["batching.png", "latency_cdf.png", "results.json", "results.md"]
    for path in written:
        assert path.stat().st_size > 0
    assert "| seed_baseline |" in written[1].read_text()


def test_target_evaluation_reads_end_to_end_and_batching():
    batch = {"mode": "incremental", "machines": 16, "latency_vs_1_p99": 4.5}
    document = {"configs": [], "batching": [batch],
                "end_to_end": {"tick_to_receipt": {"p99_ms": 3.2},
                               "ingestion": {"steps": [{"zero_loss": True}],
                                             "max_zero_loss_rate_hz": 4000.0}}}
    met = {t["id"]: t["met"] for t in evaluate_targets(document)}
    document["end_to_end"]["ingestion"] = {"steps": [{"zero_loss": False}],
                                           "max_zero_loss_rate_hz": None}
    lossy = {t["id"]: t["met"] for t in evaluate_targets(document)}
    assert lossy["ingestion_rate"] is False
    assert met == {"incremental_speedup_exact": None, "incremental_speedup_int8": None,
                   "full_window_speedup_exact": None, "full_window_speedup_int8": None,
                   "end_to_end_p99": True, "ingestion_rate": False, "rates_data_age_p99": None,
                   "rates_tick_to_receipt_p99": None, "batching_16": False}


def test_cli_arguments():
    args = build_parser().parse_args(["bench", "--quick", "--json", "x.json", "--out", "d",
                                      "--machines", "1,8", "--no-dds"])
    assert args.quick and args.no_dds and args.machines == (1, 8)
    assert str(args.json) == "x.json" and str(args.out) == "d"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--machines", "0,2"])


def _rates_document() -> dict:
    """Build an `end_to_end` as run_end_to_end does, from made-up latencies (no DDS here)."""
    pytest.importorskip("rclpy", reason="rclpy is not installed")
    from streaming_gcode.tools.bench.end_to_end import (  # imports rclpy: only these tests
        _document, EXECUTORS, MIN_PREDICTIONS, PRIMARY_RATE, QUICK_RATES, rate_entry,
    )

    rates = []
    for rate_hz, stride in QUICK_RATES:
        ages = [(k % 7 + 1) * 1_000_000 for k in range(MIN_PREDICTIONS)]
        rates.append(rate_entry(rate_hz, stride, [a // 2 for a in ages], ages, seconds=12.0,
                                messages_sent=500, received_predictions=MIN_PREDICTIONS + 3,
                                mismatched_pairs=0))
    ingestion = {"steps": [{"zero_loss": True}], "max_zero_loss_rate_hz": 1000.0}
    primary = next(r for r in rates if (r["frame_rate_hz"], r["stride"]) == PRIMARY_RATE)
    default, other = EXECUTORS   # the node's executor first
    return _document(rates, primary, {default: ingestion, other: {"skipped": "why"}}, False)


def test_end_to_end_rates_have_the_documented_shape_and_a_data_age_plot(tmp_path):
    end_to_end = _rates_document()
    document = {"configs": [], "batching": [], "end_to_end": end_to_end}
    written = write_outputs(document, tmp_path / "results.json", tmp_path)
    loaded = json.loads((tmp_path / "results.json").read_text())["end_to_end"]
    assert [(r["frame_rate_hz"], r["stride"]) for r in loaded["rates"]] == [(4.0, 1), (50.0, 4)]
    for entry in loaded["rates"]:
        assert entry["predictions"] >= 40
        for key in ("tick_to_receipt", "data_age"):
            assert {"p50_ms", "p95_ms", "p99_ms", "max_ms", "count"} <= set(entry[key])
            assert entry[key]["count"] == entry["predictions"]
        assert len(entry["data_age_ms"]) == entry["predictions"]
    primary = loaded["rates"][1]       # the 50 Hz entry is also at the top level
    assert loaded["tick_to_receipt"] == primary["tick_to_receipt"]
    assert loaded["data_age"] == primary["data_age"]
    assert loaded["node"]["frame_rate_hz"] == 50.0 and loaded["node"]["stride"] == 4
    assert loaded["ingestion"] == loaded["executors"][loaded["node"]["executor"]]
    assert loaded["ingestion"]["max_zero_loss_rate_hz"] == 1000.0
    assert "data_age.png" in {p.name for p in written}
    targets = {t["id"]: t for t in evaluate_targets(document)}
    assert targets["rates_data_age_p99"]["value"] == max(r["data_age"]["p99_ms"]
                                                         for r in loaded["rates"])
    assert targets["rates_tick_to_receipt_p99"]["met"] is not None
    table = (tmp_path / "results.md").read_text()
    assert "| 4 Hz | 1 | 40 |" in table and "(skipped: why)" in table
