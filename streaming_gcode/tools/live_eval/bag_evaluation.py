# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""End-to-end evaluation: bags replayed through the live node, scored like offline runs.

For each bag: the offline frames, labels and model outputs
(`offline.bag_frames`, `offline.evaluation.predict_lines`), then a fresh node
fed by the replayed bag (`capture.py`), then scores, the online-versus-offline
comparison, losses, latency and a timeline (`report.py`). The report has the
offline evaluate JSON keys (`overall`, `runs`, `families`, `info`) plus
`online_equals_offline`, `predictions`, `lost_messages`, `latency_ms` and
`end_to_end_ms`. Needs torch and rclpy, so `session.run_live` imports it only
when an evaluation runs.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
import tempfile
from typing import Any, Sequence

import numpy as np
from tqdm import tqdm

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import (
    load_params_file, NS_PER_S, resolve_layout_path, StreamLayout,
)
from streaming_gcode.model.checkpoint import load_checkpoint, resolve_checkpoint
from streaming_gcode.node.conversions import message_class
from streaming_gcode.offline.bag_frames import prepare_bag
from streaming_gcode.offline.continuous import concatenate_runs
from streaming_gcode.offline.evaluation import (
    EvaluationReport, format_table, predict_lines, RunResult,
)
from streaming_gcode.recordings.bag_reader import find_bags, open_bag
from streaming_gcode.recordings.bag_writer import (
    absolute_topic, bag_path_for, REFERENCE_TOPIC, write_run_bag, write_run_bags,
)
from streaming_gcode.recordings.csv_runs import find_runs, load_run
from streaming_gcode.tools.harness.output_listener import NODE_OUTPUTS
from streaming_gcode.tools.live_eval.capture import play_through_node, quiet_domain
from streaming_gcode.tools.live_eval.playback import LiveCapture, LiveOptions, node_parameters
from streaming_gcode.tools.live_eval.report import (
    compare_online_offline,
    end_to_end_ms,
    expected_prediction_range,
    frame_availability,
    lost_sensor_messages,
    node_counters,
    percentiles_ms,
    plot_timeline,
    score_records,
)

LIVE_MODE = "live"
CLOCK_TOPIC = "/clock"


def layout_parameters(layout_path: Path | None) -> tuple[dict[str, Any], StreamLayout]:
    """Read flat layout parameters from a params file (default: shipped) and the layout."""
    path = resolve_layout_path(layout_path)
    flat = load_params_file(path)
    return flat, StreamLayout.from_parameters(flat, where=str(path))


def _timeline(path: Path, name: str, counts: dict[str, Any], reference: tuple[Any, list[Any]],
              records: list[dict[str, Any]]) -> Path:
    stamps, labels = reference
    keep = [i for i, label in enumerate(labels) if label is not None]
    title = (f"{name}: command accuracy {counts['command_accuracy']:.3f} over "
             f"{counts['frames']} predictions (live node)")
    return plot_timeline(
        path, title, np.asarray(stamps)[keep], [labels[i].command for i in keep],
        np.array([int(r["stamp_ns"]) for r in records], dtype=np.int64),
        [r["heads"]["command"]["label"] for r in records],
    )


def _live_entry(capture: LiveCapture, counters: dict[str, Any], comparison: Any,
                expected: tuple[int, int], bag_s: float) -> dict[str, Any]:
    records = capture.records
    lost_sensor = lost_sensor_messages(capture.published, counters["received"])
    lost_predictions = max(0, counters["predictions"] - len(records))
    return {
        "predictions": len(records),
        "expected_predictions": list(expected),
        "online_equals_offline": comparison.all_equal,
        "compared_with_offline": comparison.compared,
        "offline_mismatches": comparison.mismatches,
        "max_confidence_error": comparison.max_confidence_error,
        "lost_messages": lost_sensor + lost_predictions,
        "lost_sensor_messages": lost_sensor,
        "lost_predictions": lost_predictions,
        "drops": counters["drops"],
        "last_reset_reason": counters.get("last_reset_reason", ""),
        "ticks": counters["ticks"],
        "idle_ticks": counters["idle_ticks"],
        "frames": counters["frames"],
        "latency_ms": percentiles_ms([r["latency_ms"] for r in records]),
        "end_to_end_ms": percentiles_ms(end_to_end_ms(
            records, capture.receipt_ns, capture.frame_arrival_ns, capture.played_until_ns)),
        "predictions_per_s": {"bag": len(records) / bag_s if bag_s else 0.0,
                              "wall": len(records) / capture.wall_s if capture.wall_s else 0.0},
        "playback_s": {"player": capture.wall_s, "clock_tail": capture.tail_s},
        "node_final_stats": capture.final_stats,
    }


def played_topics(layout: StreamLayout, params: dict[str, Any]) -> list[str]:
    """Return the topics the node listens to: its streams, and the reference if monitored."""
    topics = [absolute_topic(spec.topic) for spec in layout.streams]
    if params.get("reference_topic"):
        topics.append(absolute_topic(str(params["reference_topic"])))
    return topics


def _watched_topics(layout: StreamLayout, flat: dict[str, Any]) -> list[str]:
    """Return the topics no other process may use while bags are evaluated."""
    topics = played_topics(layout, {"reference_topic": REFERENCE_TOPIC})
    return topics + [CLOCK_TOPIC, f"{NODE_OUTPUTS}/prediction", f"{NODE_OUTPUTS}/gcode"]


def _frame_topic(layout: StreamLayout) -> tuple[str, type] | None:
    """Return the frame clock's topic and class when its messages carry a header."""
    if layout.clock_index is None:
        return None
    spec = layout.streams[layout.clock_index]
    cls = message_class(spec.msg_type)
    if "header" not in cls.get_fields_and_field_types():
        return None
    return absolute_topic(spec.topic), cls


def _first_samples(bag: Path, layout: StreamLayout) -> list[int | None]:
    """Return the stamp of each stream's first message in the bag (None: never)."""
    firsts: list[int | None] = []
    with open_bag(bag) as opened:
        for spec in layout.streams:
            topic = absolute_topic(spec.topic)
            first = None
            if topic in opened.info.topics:
                first = next(iter(opened.messages([topic])), None)
            firsts.append(None if first is None else first.log_time_ns)
    return firsts


def evaluate_bag(bag: Path, model: Any, checkpoint: Path, flat: dict[str, Any],
                 layout: StreamLayout, options: LiveOptions) -> tuple[Any, dict[str, Any]]:
    """Replay one bag through a fresh node; return its RunResult and the live fields."""
    prepared, ref_stamps, ref_labels = prepare_bag(bag, layout, model.feature_map(layout))
    offline = predict_lines(model, prepared.table, "window")
    with open_bag(bag) as opened:
        info = opened.info
    params = node_parameters(flat, checkpoint, options)
    capture = play_through_node(bag, params, options, played_topics(layout, params),
                                _frame_topic(layout), info.duration_ns / NS_PER_S)
    counters = node_counters(capture.statuses)
    window = counters["window_frames"]
    comparison = compare_online_offline(capture.records, prepared.table.stamps, offline, window,
                                        options.tolerance)
    played_ns = info.duration_ns
    if options.duration_s is not None:
        played_ns = min(played_ns, int(options.duration_s * NS_PER_S))
    played = prepared.table.stamps[prepared.table.stamps <= capture.last_message_ns]
    ready = frame_availability(played, _first_samples(bag, layout),
                               int(round(params["alignment_timeout_s"] * NS_PER_S)))
    expected = expected_prediction_range(ready, window, int(round(counters["period_ms"] * 1e6)),
                                         capture.last_clock_ns)
    result = RunResult(prepared.name, prepared.family,
                       score_records(capture.records, prepared, model.vocabulary))
    entry = _live_entry(capture, counters, comparison, expected, played_ns / NS_PER_S)
    entry["bag"] = str(bag)
    if options.timeline_dir is not None:
        path = Path(options.timeline_dir) / f"{prepared.name}.png"
        entry["timeline"] = str(_timeline(path, prepared.name, result.counts.metrics(),
                                          (ref_stamps, ref_labels), capture.records))
    return result, entry


def evaluate_live(bags: Sequence[Path], checkpoint: Path, layout_path: Path | None,
                  options: LiveOptions, progress: bool = False) -> tuple[dict[str, Any], str]:
    """Evaluate every bag through the live node; return the JSON report and a table."""
    model = load_checkpoint(checkpoint)
    flat, layout = layout_parameters(layout_path)
    if options.domain_id is None:
        options = replace(options, domain_id=quiet_domain(_watched_topics(layout, flat)))
    results, entries = [], []
    for bag in tqdm(list(bags), desc="live", unit="bag", disable=not progress):
        result, entry = evaluate_bag(Path(bag), model, Path(checkpoint), flat, layout, options)
        results.append(result)
        entries.append(entry)
    info = {"mode": LIVE_MODE, "feature_set": model.metadata.feature_set,
            "checkpoint": str(checkpoint), "window": model.metadata.window,
            "rate": options.rate, "clock_hz": options.clock_hz,
            "qos": "reliable" if options.reliable else "best_effort", "depth": options.depth,
            "ros_domain_id": options.domain_id}
    report = EvaluationReport(results, info)
    data = report.to_json()
    for run, entry in zip(data["runs"], entries):
        run.update(entry)
    data.update(_totals(entries))
    return data, format_table(report) + "\n" + _live_table(data)


def _totals(entries: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [e["latency_ms"]["p99"] for e in entries if e["latency_ms"]["p99"] is not None]
    return {
        "online_equals_offline": bool(entries) and all(e["online_equals_offline"]
                                                       for e in entries),
        "predictions": sum(e["predictions"] for e in entries),
        "lost_messages": sum(e["lost_messages"] for e in entries),
        "latency_ms": {"p50": _median([e["latency_ms"]["p50"] for e in entries]),
                       "p99": max(latencies) if latencies else None},
        "end_to_end_ms": {"p50": _median([e["end_to_end_ms"]["p50"] for e in entries]),
                          "p99": _max([e["end_to_end_ms"]["p99"] for e in entries])},
    }


def _median(values: list[float | None]) -> float | None:
    known = sorted(v for v in values if v is not None)
    return known[len(known) // 2] if known else None


def _max(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _live_table(data: dict[str, Any]) -> str:
    header = (f"{'run':<24}{'preds':>7}{'expected':>11}{'online=offline':>16}{'lost':>6}"
              f"{'p50 ms':>8}{'p99 ms':>8}{'e2e p99':>9}")
    lines = [header, "-" * len(header)]
    for run in data["runs"]:
        lo, hi = run["expected_predictions"]
        e2e = run["end_to_end_ms"]["p99"]
        lines.append(
            f"{run['run']:<24}{run['predictions']:>7}{f'{lo}-{hi}':>11}"
            f"{str(run['online_equals_offline']):>16}{run['lost_messages']:>6}"
            f"{run['latency_ms']['p50'] or 0:>8.2f}{run['latency_ms']['p99'] or 0:>8.2f}"
            f"{e2e or 0:>9.1f}")
    lines.append(f"online equals offline: {data['online_equals_offline']}; predictions "
                 f"{data['predictions']}; lost messages {data['lost_messages']}")
    return "\n".join(lines)


def run_bags(checkpoint: str | Path | None, layout: str | Path | None, options: LiveOptions,
             bags: Sequence[str] | None, data: Sequence[str] | None,
             keep_bags: Path | None = None, quiet: bool = False,
             continuous: bool = False) -> tuple[dict[str, Any], str]:
    """Evaluate `bags`, or the runs in `data` written as bags (kept in `keep_bags` if given)."""
    model_path = resolve_checkpoint(checkpoint)
    layout_path = Path(layout) if layout else None
    with tempfile.TemporaryDirectory(prefix="streaming_gcode_bags_") as scratch:
        paths = input_bags(bags, data, layout_path, Path(keep_bags or scratch), quiet,
                           continuous)
        return evaluate_live(paths, model_path, layout_path, options, progress=not quiet)


def input_bags(bags: Sequence[str] | None, data: Sequence[str] | None,
               layout_path: Path | None, out: Path, quiet: bool = False,
               continuous: bool = False) -> list[Path]:
    """Return the bags to evaluate: `bags` found, or the runs in `data` written as bags.

    `continuous`: the runs restamped back to back into one bag (scored as one stream).
    """
    if bags:
        if continuous:
            raise ConfigError("--bags --continuous is not implemented yet: give --data runs")
        return find_bags(bags)
    _, layout = layout_parameters(layout_path)
    if continuous:
        joined = concatenate_runs([load_run(p) for p in find_runs(data)])
        out.mkdir(parents=True, exist_ok=True)
        return [write_run_bag(joined, layout, bag_path_for(out, joined.name),
                              overwrite=True).path]
    summaries = write_run_bags(find_runs(data), layout, out, overwrite=True,
                               show_progress=not quiet)
    return [s.path for s in summaries]
