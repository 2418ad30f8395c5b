# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The benchmark's outputs: results.json (a contract, see README), a markdown table, PNG plots.

results.json, schema_version 1 (milliseconds unless named otherwise):

    quick, duration_s, machine{cpus, cpu_model, platform, python, torch, onnxruntime,
                               torch_default_threads, gpu,
                               load_average_1min [at start, at end]}
    sizes[]      {name, source, n_continuous, categorical_sizes, d_model, num_layers, heads,
                  window}
    baseline     "seed_baseline"
    configs[]    {name, group, size, mode (seed|full_window|incremental), backend, threads,
                  window, stride, ticks, p50_ms, p95_ms, p99_ms, max_ms, mean_ms,
                  cpu_ms_per_prediction, setup_memory_mb, peak_memory_growth_mb,
                  baseline (name of the entry compared with), speedup_vs_baseline_p99,
                  lockstep (false: measured alone, not side by side; only
                  seed_baseline_default_threads, the seed with torch's default threads),
                  speedup_vs_baseline_p50, speedup_vs_baseline_cpu (CPU time per
                  prediction), top1_agreement_vs_torch and
                  max_abs_logit_diff_vs_torch (against eager torch in the same mode, same
                  ticks; the baseline against full-window torch), latencies_ms (every
                  measured tick, in order)}
    batching[]   {size, mode, backend, stride, machines, ticks, p50_ms ... mean_ms,
                  cpu_ms_per_tick, per_machine_ms, predictions_per_s, frames_per_s,
                  latency_vs_1_p99, latency_vs_1_p50}
    end_to_end   null, {skipped: reason}, or the DDS measurement (see end_to_end.py):
                 node, latency_phase, tick_to_receipt, data_age, ingestion (the 50 Hz
                 stride 4 session), rates[] {frame_rate_hz, stride, predictions,
                 tick_to_receipt, data_age (each p50_ms ... max_ms, count), data_age_ms
                 (every measured prediction), seconds, messages_sent, ...}, executors
                 {<executor>: ingestion or {skipped}}
    memory_method "heap_in_use" (glibc mallinfo2) or "rss"
    command      the invocation
    targets[]    {id, name, target, value, met (true|false|null when not measured)}, ids
                 incremental_speedup_exact, incremental_speedup_int8,
                 full_window_speedup_exact, full_window_speedup_int8, end_to_end_p99,
                 ingestion_rate, rates_data_age_p99, rates_tick_to_receipt_p99,
                 batching_16; the
                 speedup targets are evaluated for the exact backends (torch,
                 onnxruntime) and, separately, for onnxruntime_int8

Config names: `seed_baseline`, `<mode>_<backend>` in the primary group (seed size,
stride 8); `<name>@<size>_s<stride>` in the others.
"""

from __future__ import annotations

import json
from pathlib import Path

from streaming_gcode.inference.backends import BACKEND_ONNXRUNTIME_INT8, EXACT_BACKENDS
from streaming_gcode.offline.figures import pyplot, save_figure

TARGET_INCREMENTAL = 10.0        # p99 speedup of incremental mode, fastest backend
TARGET_FULL_WINDOW = 2.5         # p99 speedup of full-window mode, fastest backend
TARGET_E2E_P99_MS = 5.0          # tick-to-receipt p99 at the default model size
TARGET_DATA_AGE_P99_MS = 10.0    # data age p99 at every measured frame rate
TARGET_INGEST_RATE = 5000.0      # sensor messages/s with zero loss on reliable QoS
TARGET_BATCH_RATIO = 4.0         # latency of 16 machines over 1
TARGET_BATCH_MACHINES = 16


def _best(configs: list[dict], mode: str, backends: tuple[str, ...]) -> dict | None:
    primary = [c for c in configs
               if c["mode"] == mode and "@" not in c["name"] and c["backend"] in backends]
    return max(primary, key=lambda c: c["speedup_vs_baseline_p99"], default=None)


def _target(key: str, name: str, target: str, value, met) -> dict:
    return {"id": key, "name": name, "target": target, "value": value, "met": met}


def evaluate_targets(results: dict) -> list[dict]:
    """Compare this run's numbers with the targets (met is None when not measured)."""
    targets = []
    for mode, goal in (("incremental", TARGET_INCREMENTAL), ("full_window", TARGET_FULL_WINDOW)):
        for kind, backends in (("exact", EXACT_BACKENDS), ("int8", (BACKEND_ONNXRUNTIME_INT8,))):
            best = _best(results["configs"], mode, backends)
            value = None if best is None else round(best["speedup_vs_baseline_p99"], 2)
            targets.append(_target(
                f"{mode}_speedup_{kind}",
                f"{mode} p99 speedup over seed_baseline (seed size, stride 8, fastest {kind} "
                f"backend"
                f"{'' if best is None else ': ' + best['backend']})",
                f">= {goal}x", value, None if value is None else value >= goal))
    e2e = results.get("end_to_end") or {}
    p99 = (e2e.get("tick_to_receipt") or {}).get("p99_ms")
    targets.append(_target("end_to_end_p99",
                           "end-to-end tick-to-receipt p99 over DDS (default size)",
                           f"< {TARGET_E2E_P99_MS} ms", p99,
                           None if p99 is None else p99 < TARGET_E2E_P99_MS))
    ingestion = e2e.get("ingestion") or {}
    rate = ingestion.get("max_zero_loss_rate_hz")   # None: not run, or no step was loss-free
    targets.append(_target("ingestion_rate",
                           "sensor messages/s ingested with zero loss (reliable QoS)",
                           f">= {TARGET_INGEST_RATE:g}/s", rate,
                           None if not ingestion.get("steps")
                           else rate is not None and rate >= TARGET_INGEST_RATE))
    rates = e2e.get("rates") or []
    for key, name, limit, within in (
            ("data_age", "data age", TARGET_DATA_AGE_P99_MS, float.__le__),
            ("tick_to_receipt", "tick-to-receipt", TARGET_E2E_P99_MS, float.__lt__)):
        worst = max((r[key].get("p99_ms") for r in rates if r[key].get("p99_ms") is not None),
                    default=None)
        targets.append(_target(f"rates_{key}_p99", f"{name} p99 over DDS at every frame rate "
                               "(worst)", f"{'<=' if within is float.__le__ else '<'} {limit} ms",
                               None if worst is None else round(worst, 2),
                               None if worst is None else within(float(worst), limit)))
    rows = {(r["mode"], r["machines"]): r for r in results.get("batching", [])}
    row = rows.get(("incremental", TARGET_BATCH_MACHINES))
    ratio = None if row is None else round(row["latency_vs_1_p99"], 2)
    targets.append(_target("batching_16",
                           f"latency of {TARGET_BATCH_MACHINES} machines batched over 1 "
                           "(incremental, p99)", f"<= {TARGET_BATCH_RATIO}x", ratio,
                           None if ratio is None else ratio <= TARGET_BATCH_RATIO))
    return targets


def _fmt(value, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def markdown(results: dict) -> str:
    """Tables of configurations, batching, end to end and targets."""
    lines = ["| configuration | threads | p50 ms | p95 ms | p99 ms | max ms | CPU ms/pred | "
             "setup MB | growth MB | top-1 vs torch | speedup p99 | speedup p50 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in results["configs"]:
        lines.append(
            f"| {c['name']} | {c['threads']} | {_fmt(c['p50_ms'])} | "
            f"{_fmt(c['p95_ms'])} | {_fmt(c['p99_ms'])} | {_fmt(c['max_ms'])} | "
            f"{_fmt(c['cpu_ms_per_prediction'])} | {_fmt(c.get('setup_memory_mb'), 1)} | "
            f"{_fmt(c.get('peak_memory_growth_mb'), 2)} | "
            f"{_fmt(c.get('top1_agreement_vs_torch'), 3)} | "
            f"{c['speedup_vs_baseline_p99']:.1f}x | {c['speedup_vs_baseline_p50']:.1f}x |")
    if results.get("batching"):
        lines += ["", "| machines | mode | backend | p50 ms | p99 ms | per machine ms | "
                  "predictions/s | "
                  "latency vs 1 (p99) |", "|---|---|---|---|---|---|---|---|"]
        for r in results["batching"]:
            lines.append(f"| {r['machines']} | {r['mode']} | {r['backend']} | "
                         f"{_fmt(r['p50_ms'])} | "
                         f"{_fmt(r['p99_ms'])} | {_fmt(r['per_machine_ms'], 3)} | "
                         f"{r['predictions_per_s']:.0f} | {r['latency_vs_1_p99']:.2f}x |")
    e2e = results.get("end_to_end")
    if e2e and not e2e.get("skipped"):
        lines += ["", "| end to end (DDS) | p50 ms | p95 ms | p99 ms | max ms | count |",
                  "|---|---|---|---|---|---|"]
        for key in ("tick_to_receipt", "data_age"):
            s = e2e.get(key) or {}
            lines.append(f"| {key} | {_fmt(s.get('p50_ms'))} | {_fmt(s.get('p95_ms'))} | "
                         f"{_fmt(s.get('p99_ms'))} | {_fmt(s.get('max_ms'))} | "
                         f"{s.get('count', '-')} |")
        lines += ["", "| frame rate | stride | predictions | tick-to-receipt p50/p99 ms | "
                  "data age p50/p99 ms |", "|---|---|---|---|---|"]
        for r in e2e.get("rates") or []:
            t, a = r["tick_to_receipt"], r["data_age"]
            lines.append(f"| {r['frame_rate_hz']:g} Hz | {r['stride']} | {r['predictions']} | "
                         f"{_fmt(t.get('p50_ms'))} / {_fmt(t.get('p99_ms'))} | "
                         f"{_fmt(a.get('p50_ms'))} / {_fmt(a.get('p99_ms'))} |")
        for name, ingestion in (e2e.get("executors") or {}).items():
            rate = ingestion.get("max_zero_loss_rate_hz")
            lines += ["", f"Ingestion with the {name} executor: max zero-loss rate "
                      f"{'-' if rate is None else f'{rate:.0f}'} messages/s"
                      + (f" (skipped: {ingestion['skipped']})" if "skipped" in ingestion
                         else "")]
    elif e2e:
        lines += ["", f"End to end over DDS: skipped ({e2e['skipped']})."]
    lines += ["", "| target | goal | this run | met |", "|---|---|---|---|"]
    for t in results.get("targets", []):
        met = {True: "yes", False: "no", None: "not measured"}[t["met"]]
        value = "-" if t["value"] is None else t["value"]
        lines.append(f"| {t['name']} | {t['target']} | {value} | {met} |")
    return "\n".join(lines) + "\n"


def plot(results: dict, out_dir: Path) -> list[Path]:
    """Draw latency_cdf.png (a panel per group), batching.png and data_age.png (DDS, per rate)."""
    plt = pyplot()
    written = []
    groups = sorted({c["group"] for c in results["configs"]})
    fig, axes = plt.subplots(1, max(len(groups), 1), figsize=(6 * max(len(groups), 1), 4.5),
                             squeeze=False)
    for ax, group in zip(axes[0], groups):
        for c in (c for c in results["configs"] if c["group"] == group):
            values = sorted(c.get("latencies_ms", []))
            if values:
                ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post",
                        label=c["name"].split("@")[0])
        ax.set_xscale("log")
        ax.set_xlabel("tick latency (ms, log)")
        ax.set_ylabel("fraction of ticks")
        ax.set_title(f"latency CDF, {group}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(save_figure(fig, out_dir / "latency_cdf.png", dpi=120))
    rows = results.get("batching") or []
    if rows:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        twin = ax.twinx()
        for mode, marker in (("incremental", "o"), ("full_window", "s")):
            sel = [r for r in rows if r["mode"] == mode]
            if sel:
                machines = [r["machines"] for r in sel]
                ax.plot(machines, [r["predictions_per_s"] for r in sel], "b-" + marker,
                        label=f"throughput ({mode})")
                twin.plot(machines, [r["p99_ms"] for r in sel], "r--" + marker,
                          label=f"p99 latency ({mode})")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("machines per batched pass")
        ax.set_ylabel("predictions/s", color="blue")
        twin.set_ylabel("tick latency p99 (ms)", color="red")
        ax.set_title("batch size trade-off")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], fontsize=8, loc="upper left")
        fig.tight_layout()
        written.append(save_figure(fig, out_dir / "batching.png", dpi=120))
    rates = [r for r in ((results.get("end_to_end") or {}).get("rates") or [])
             if r.get("data_age_ms")]
    if rates:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for r in rates:
            values = sorted(r["data_age_ms"])
            ax.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post",
                    label=f"{r['frame_rate_hz']:g} Hz, stride {r['stride']} ({len(values)})")
        ax.axvline(TARGET_DATA_AGE_P99_MS, color="grey", linestyle=":", label="p99 target")
        ax.set_xlabel("data age: newest frame's stamp to prediction received (ms)")
        ax.set_ylabel("fraction of predictions")
        ax.set_title("data age CDF over DDS, per frame rate")
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(save_figure(fig, out_dir / "data_age.png", dpi=120))
    return written


def write_outputs(results: dict, json_path: Path, out_dir: Path) -> list[Path]:
    """Add the targets, then write results.json, results.md and the plots."""
    results["targets"] = evaluate_targets(results)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    table = out_dir / "results.md"
    table.write_text(markdown(results))
    return [json_path, table, *plot(results, out_dir)]
