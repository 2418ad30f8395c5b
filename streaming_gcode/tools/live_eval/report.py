# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Scoring the live node's predictions on a replayed bag, and checking them against offline.

Pure logic (no rclpy): the records the node published on `~/prediction` are
paired with the bag's frames by their window end stamp, scored against the
reference line executing at that stamp with the offline metrics, and compared
with the offline model's output on the same window (same frames, same outputs
up to a tolerance). Also: the number of predictions the tick schedule allows,
latency percentiles and a PNG timeline of predicted versus executed commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from streaming_gcode.core.stats import summarise_latencies
from streaming_gcode.model.decoding import decode_frame, DecodedLine
from streaming_gcode.model.vocabulary import LineKey, OutputVocabulary
from streaming_gcode.offline.figures import pyplot, save_figure
from streaming_gcode.offline.labelled_windows import PreparedRun
from streaming_gcode.offline.metrics import score, ScoreCounts
from streaming_gcode.outputs.diagnostics import TASK_BUFFER, TASK_INFERENCE, TASK_MODEL
from streaming_gcode.tools.harness.node_status import (
    counter, is_stream_task, status_task, STREAM_DROP_KEYS,
)

DEFAULT_TOLERANCE = 1e-4   # confidences: float32 model, float64 softmax, JSON round trip
TICK_PHASES = 32           # tick-grid phases tried when bounding the prediction count
MAX_REPORTED_MISMATCHES = 5


def record_key(record: Mapping[str, Any], vocab: OutputVocabulary) -> LineKey:
    """Rebuild the line key of a `~/prediction` record from its per-head indices.

    The record names the class the node chose on every head; decoding exactly
    those classes again (one-hot logits) gives the node's line, so the key is
    built by the decoder, the one place that knows how.
    """
    chosen = {}
    for head, size in vocab.head_sizes.items():
        chosen[head] = np.zeros(size)
        chosen[head][int(record["heads"][head]["index"])] = 1.0
    return decode_frame(chosen, vocab).key


@dataclass
class Comparison:
    """Online versus offline predictions on the same windows."""

    compared: int = 0
    equal: int = 0
    unknown_frames: int = 0          # a record whose stamp is not a frame of the bag
    max_confidence_error: float = 0.0
    mismatches: list[str] = field(default_factory=list)

    @property
    def all_equal(self) -> bool:
        """Every record was matched to an offline frame and agreed with it."""
        return self.compared > 0 and self.equal == self.compared and not self.unknown_frames


def _difference(record: Mapping[str, Any], offline: DecodedLine, first_stamp: int,
                tolerance: float) -> tuple[str | None, float]:
    worst = 0.0
    if int(record["window_start_ns"]) != first_stamp:
        return (f"window starts at {record['window_start_ns']} online, {first_stamp} "
                "offline"), worst
    if record["text"] != offline.text:
        return f"text {record['text']!r} online, {offline.text!r} offline", worst
    for head, online in record["heads"].items():
        expected = offline.heads[head]
        if int(online["index"]) != expected.index:
            return f"head {head}: class {online['index']} online, {expected.index} offline", worst
        worst = max(worst, abs(float(online["confidence"]) - expected.confidence))
    if worst > tolerance:
        return f"confidence differs by {worst:.2e} (tolerance {tolerance:g})", worst
    return None, worst


def compare_online_offline(
    records: Sequence[Mapping[str, Any]],
    frame_stamps: np.ndarray,
    offline: Sequence[DecodedLine],
    window: int,
    tolerance: float = DEFAULT_TOLERANCE,
) -> Comparison:
    """Compare each record with the offline decoding of the window ending at its stamp."""
    result = Comparison()
    position = {int(s): i for i, s in enumerate(frame_stamps)}
    for record in records:
        stamp = int(record["stamp_ns"])
        i = position.get(stamp)
        if i is None:
            result.unknown_frames += 1
            _note(result, f"prediction at {stamp}: no frame with this stamp offline")
            continue
        result.compared += 1
        first = int(frame_stamps[max(0, i - window + 1)])
        problem, worst = _difference(record, offline[i], first, tolerance)
        result.max_confidence_error = max(result.max_confidence_error, worst)
        if problem is None:
            result.equal += 1
        else:
            _note(result, f"frame {i} ({stamp}): {problem}")
    return result


def _note(result: Comparison, text: str) -> None:
    if len(result.mismatches) < MAX_REPORTED_MISMATCHES:
        result.mismatches.append(text)


def frame_availability(
    frame_stamps: np.ndarray, first_sample_ns: Sequence[int | None], timeout_ns: int
) -> np.ndarray:
    """When each frame can be finalised, by the alignment rules, if data arrives on time.

    A frame is ready at its stamp, except while the aligner is starting (one
    timeout after the first sample) and a stream has not been seen yet: then it
    waits for that stream's first sample, or for the end of the start-up period
    if the stream never comes. Frames are finalised in order.
    """
    stamps = np.asarray(frame_stamps, dtype=np.int64)
    known = [f for f in first_sample_ns if f is not None]
    if not len(stamps) or not known:
        return stamps.copy()
    start_end = min(known) + timeout_ns
    ready = stamps.copy()
    for i, stamp in enumerate(stamps):
        if stamp >= start_end:
            break
        unseen = [f for f in first_sample_ns if f is None or f > stamp]
        if unseen:
            arrivals = [start_end if f is None or f >= start_end else f for f in unseen]
            ready[i] = max(stamp, min(start_end, max(arrivals)))
    return np.maximum.accumulate(ready)


def expected_prediction_range(
    ready_ns: np.ndarray, window: int, tick_period_ns: int, last_clock_ns: int
) -> tuple[int, int]:
    """Fewest and most predictions a tick timer of this period can make on these frames.

    A tick publishes one prediction when at least one frame became ready since
    the previous tick and the window is full; ticks happen only while the clock
    runs (up to `last_clock_ns`). The timer's phase is unknown, so the count is
    bounded over phases. `ready_ns`: when each frame can be finalised
    (`frame_availability`).
    """
    usable = np.asarray(ready_ns, dtype=np.int64)[max(window - 1, 0):]
    if len(usable) == 0:
        return 0, 0
    counts = []
    for phase in np.linspace(0, tick_period_ns, TICK_PHASES, endpoint=False).astype(np.int64):
        # the first tick at or after each frame is ready; only ticks the clock reaches count
        ticks = -((phase - usable) // tick_period_ns)
        ticks = ticks[ticks * tick_period_ns + phase <= last_clock_ns]
        counts.append(len(np.unique(ticks)))
    return min(counts), max(counts)


def score_records(
    records: Sequence[Mapping[str, Any]], prepared: PreparedRun, vocab: OutputVocabulary
) -> ScoreCounts:
    """Score records against the label of the frame each one predicts (by stamp)."""
    position = {int(s): i for i, s in enumerate(prepared.table.stamps)}
    predicted: list[LineKey | None] = []
    true: list[LineKey | None] = []
    for record in records:
        i = position.get(int(record["stamp_ns"]))
        label = None if i is None else prepared.labels[i]
        predicted.append(record_key(record, vocab))
        true.append(None if label is None else vocab.key(label))
    return score(predicted, true)


def percentiles_ms(values_ms: Sequence[float]) -> dict[str, float | None]:
    """p50 and p99 of latencies in ms (None when empty): the report's latency fields."""
    summary = summarise_latencies(values_ms, per_ms=1.0)
    if summary is None:
        return {"p50": None, "p99": None}
    return {"p50": summary.p50_ms, "p99": summary.p99_ms}


def plot_timeline(
    path: str | Path,
    title: str,
    reference_stamps: np.ndarray,
    reference_commands: Sequence[str],
    prediction_stamps: np.ndarray,
    predicted_commands: Sequence[str],
) -> Path:
    """Plot executed and predicted command over bag time, one row per command, as a PNG."""
    plt = pyplot()
    commands = sorted(set(reference_commands) | set(predicted_commands))
    row = {c: i for i, c in enumerate(commands)}
    start = int(reference_stamps[0]) if len(reference_stamps) else 0
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.45 * max(len(commands), 2)))
    ax.step((np.asarray(reference_stamps) - start) / 1e9, [row[c] for c in reference_commands],
            where="post", color="0.3", linewidth=2.5, alpha=0.6, label="executed (reference)")
    ax.scatter((np.asarray(prediction_stamps) - start) / 1e9,
               [row[c] for c in predicted_commands], s=6, color="tab:red", zorder=3,
               label="predicted (live node)")
    ax.set_yticks(range(len(commands)), commands)
    ax.set_ylim(-0.7, len(commands) - 0.3)
    ax.set_xlabel("bag time (s)")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


INFERENCE_DROP_KEYS: tuple[str, ...] = ("skipped_ticks", "overruns", "errors")
BUFFER_DROP_KEYS: tuple[str, ...] = ("degraded_frames", "timed_out_frames", "skipped_frames",
                                     "aligner_resets")


def node_counters(statuses: Sequence[Any]) -> dict[str, Any]:
    """Received messages per topic and every drop counter from the node's final statuses."""
    received: dict[str, int] = {}
    drops = dict.fromkeys(STREAM_DROP_KEYS + INFERENCE_DROP_KEYS + BUFFER_DROP_KEYS, 0)
    extra: dict[str, Any] = {}
    for status in statuses:
        values = dict(status.values)
        task = status_task(status.name)
        if is_stream_task(task):
            topic = values["topic"]
            received["/" + topic.lstrip("/")] = counter(values, "messages")
            for key in STREAM_DROP_KEYS:
                drops[key] += counter(values, key)
        elif task == TASK_INFERENCE:
            for key in INFERENCE_DROP_KEYS + ("ticks", "predictions", "idle_ticks"):
                (drops if key in drops else extra)[key] = counter(values, key)
            extra["period_ms"] = float(values["period_ms"])
        elif task == TASK_BUFFER:
            for key in BUFFER_DROP_KEYS + ("frames",):
                (drops if key in drops else extra)[key] = counter(values, key)
            extra["last_reset_reason"] = values.get("last_reset_reason", "")
        elif task == TASK_MODEL:
            extra["window_frames"] = counter(values, "window_frames")
    return {"received": received, "drops": drops, **extra}


def lost_sensor_messages(published: Mapping[str, int], received: Mapping[str, int]) -> int:
    """Messages the player published on the node's input topics that the node never got."""
    return sum(max(0, count - received[topic])
               for topic, count in published.items() if topic in received)


def end_to_end_ms(records: Sequence[Mapping[str, Any]], receipt_ns: Sequence[int],
                  frame_arrival_ns: Mapping[int, int], until_ns: int | None = None) -> list[float]:
    """Wall time from a frame-clock message's arrival to its prediction's arrival (ms).

    Only predictions received while the bag was playing (before `until_ns`):
    after the end the clock waits for the player to exit, which is not latency.
    """
    out = []
    for record, received in zip(records, receipt_ns):
        arrived = frame_arrival_ns.get(int(record["stamp_ns"]))
        if arrived is not None and (until_ns is None or received <= until_ns):
            out.append((received - arrived) / 1e6)
    return out
