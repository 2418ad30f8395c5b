# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Diagnostic statuses as plain data, following diagnostic_updater conventions.

Names are `"<node name>: <task>"` (the node passes its fully qualified name,
as diagnostic_updater's `use_fqn` does), each status carries the hardware_id, a level
(OK, WARN, ERROR, STALE), a one-line message and string key/values, so
rqt_runtime_monitor and rqt_robot_monitor (through diagnostic_aggregator) show
them. The checks are pure functions of report records the node fills in; the
keys are constants here because they are a documented contract.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
from typing import Iterable

from streaming_gcode.core.machines import SINGLE_MACHINE
from streaming_gcode.core.parameters import (
    DEFAULT_STAMP_OFFSET_ERROR_S, DEFAULT_STAMP_OFFSET_WARN_S,
)
from streaming_gcode.core.stats import LatencySummary
from streaming_gcode.ingestion.drop_accounting import DropCounters
from streaming_gcode.ingestion.reports import BufferReport, StreamReport


class Level(enum.IntEnum):
    """diagnostic_msgs/DiagnosticStatus levels."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


TASK_BUFFER = "buffer"
TASK_INFERENCE = "inference"
TASK_MODEL = "model"
STREAM_TASK_PREFIX = "stream "
ACTIVE_STATE = "active"   # lifecycle state in which the node publishes predictions

STREAM_KEYS: tuple[str, ...] = (
    "topic", "type", "qos", "rate_hz", "age_s", "messages", "accepted", "lost", "rmw_lost",
    "late", "out_of_order", "malformed", "before_clock", "stale_frames", "incompatible_qos",
    "incompatible_policy", "publishers", "sequence_resets", "untracked", "drop_ratio_recent",
    "lost_counted", "retracted", "refused_publisher", "live_publishers", "publisher_ids",
    "graph_publishers", "multiple_publishers", "stamp_offset_s", "stamp_offset_peak_s",
    "ignored_names", "stamp_source", "optional", "samples_left_out", "samples_overwritten",
)
MAX_PUBLISHER_IDS_SHOWN = 8   # gids listed in `publisher_ids` (then "+N more")
BUFFER_KEYS: tuple[str, ...] = (
    "capacity", "frames_held", "fill", "window_frames", "frames", "frames_recent",
    "degraded_frames", "degraded_recent", "newest_frame_degraded", "skipped_frames",
    "timed_out_frames", "pending_frames", "aligner_resets", "last_reset_reason",
    "newest_frame_stamp_ns", "stale_policy",
)
LATENCY_FIELDS: tuple[str, ...] = ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")
INFERENCE_KEYS: tuple[str, ...] = (
    "mode", "backend", "threads", "period_ms", "stride", "window_frames", "ticks",
    "predictions", "overruns",
    "skipped_ticks", "skipped_recent", "idle_ticks", "state_resets", "errors", "last_error",
    "latency_count",
) + tuple(f"latency_recent_{f}" for f in LATENCY_FIELDS) + tuple(
    f"latency_since_start_{f}" for f in LATENCY_FIELDS
)
# Lifecycle keys, at the end of the inference status (the node's managed state).
LIFECYCLE_KEYS: tuple[str, ...] = (
    "state", "transitions", "configures", "configure_failures", "activations",
    "deactivations", "cleanups", "messages_inactive", "subscriptions", "publishers", "timers",
)
MODEL_KEYS: tuple[str, ...] = (
    "checkpoint", "model", "random_weights", "continuous_features", "categorical_features",
    "window_frames", "heads", "parameters", "unknown_categorical", "program_library",
)


@dataclass(frozen=True)
class Status:
    """One diagnostic status (maps 1:1 onto diagnostic_msgs/DiagnosticStatus)."""

    name: str
    level: Level
    message: str
    hardware_id: str
    values: tuple[tuple[str, str], ...]

    def value(self, key: str) -> str:
        """Return the value stored under `key` (KeyError if absent)."""
        for k, v in self.values:
            if k == key:
                return v
        raise KeyError(f"status {self.name!r} has no key {key!r}")


@dataclass(frozen=True)
class Thresholds:
    """WARN/ERROR thresholds (node parameters of the same names)."""

    latency_warn_ms: float
    latency_error_ms: float
    loss_warn_ratio: float
    loss_error_ratio: float
    staleness_warn_s: float
    staleness_error_s: float
    stamp_offset_warn_s: float = DEFAULT_STAMP_OFFSET_WARN_S
    stamp_offset_error_s: float = DEFAULT_STAMP_OFFSET_ERROR_S

    @classmethod
    def from_settings(cls, settings: object) -> Thresholds:
        """Pick the threshold fields out of `NodeSettings` (or anything with them)."""
        return cls(**{name: float(getattr(settings, name, f.default))
                      for name, f in cls.__dataclass_fields__.items()})


def machine_node(node_name: str, machine: str = SINGLE_MACHINE) -> str:
    """Return the node part of a machine's statuses: `<node>/<machine>`.

    The node's own name for a node without `machines`; several machines of one
    node stay apart by it.
    """
    return node_name if machine == SINGLE_MACHINE else f"{node_name}/{machine}"


def status_name(node_name: str, task: str) -> str:
    """diagnostic_updater's naming: `"<node>: <task>"`."""
    return f"{node_name}: {task}"


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _status(
    node: str, task: str, hardware_id: str, problems: list[tuple[Level, str]], ok_message: str,
    values: Iterable[tuple[str, object]],
) -> Status:
    level = max((lvl for lvl, _ in problems), default=Level.OK)
    message = "; ".join(text for lvl, text in problems if lvl == level) or ok_message
    return Status(
        status_name(node, task), level, message, hardware_id,
        tuple((key, _fmt(value)) for key, value in values),
    )


def _graded(value: float, warn: float, error: float) -> Level:
    if value > error:
        return Level.ERROR
    if value > warn:
        return Level.WARN
    return Level.OK


def drop_ratio(counters: DropCounters) -> float:
    """Share of offered messages that did not become data."""
    return counters.dropped / counters.offered if counters.offered else 0.0


def _gid_text(gid: object) -> str:
    """Return a publisher gid (bytes or a sequence of byte values) as hex."""
    try:
        return bytes(gid).hex()  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return str(gid)


def publisher_ids(r: StreamReport) -> str:
    """Live publishers' gids, the first (the one `first` keeps) first."""
    shown = [_gid_text(g) for g in r.live_publishers[:MAX_PUBLISHER_IDS_SHOWN]]
    more = len(r.live_publishers) - len(shown)
    return ",".join(shown) + (f",+{more} more" if more > 0 else "")


def _publisher_problems(r: StreamReport) -> list[tuple[Level, str]]:
    """Several publishers on one stream (spoofing, a forgotten test publisher)."""
    problems: list[tuple[Level, str]] = []
    live = len(r.live_publishers)
    if r.multiple_publishers == "warn" and live > 1:
        problems.append((Level.WARN, f"{live} live publishers ({publisher_ids(r)}): their "
                                     "messages are mixed (multiple_publishers warn)"))
    if r.recent.refused_publisher:
        problems.append((Level.WARN, f"{r.recent.refused_publisher} message(s) of other "
                                     "publishers refused (multiple_publishers first)"))
    if (r.multiple_publishers != "accept" and r.recent.untracked and live <= 1
            and (r.graph_publishers or 0) > 1):
        problems.append((Level.WARN, f"{r.graph_publishers} publishers on the topic and no "
                                     "publisher ids from the middleware: their messages "
                                     "cannot be told apart and are all taken"))
    return problems


def _offset_problem(r: StreamReport, t: Thresholds) -> list[tuple[Level, str]]:
    """Header stamps far from the node clock (a skewed sensor clock, or forged stamps)."""
    peak = r.stamp_offset_peak_s
    if peak is None:
        return []
    level = _graded(abs(peak), t.stamp_offset_warn_s, t.stamp_offset_error_s)
    if not level:
        return []
    where = "ahead of" if peak > 0 else "behind"
    return [(level, f"header stamps up to {abs(peak):.2f} s {where} the node clock")]


def stream_status(node: str, hardware_id: str, r: StreamReport, t: Thresholds) -> Status:
    """Rate, losses (counted once), drops, staleness, stamp offset and publishers of a stream."""
    problems: list[tuple[Level, str]] = _offset_problem(r, t) + _publisher_problems(r)
    if r.recent.incompatible_qos or (r.total.incompatible_qos and not r.total.received):
        problems.append((Level.ERROR, f"incompatible QoS ({r.incompatible_policy or 'unknown'}"
                                      "): a publisher cannot be heard"))
    not_fitted = r.optional and not r.total.received   # an optional board never heard
    stale_level = Level.OK if not_fitted else _graded(r.age_s, t.staleness_warn_s,
                                                      t.staleness_error_s)
    if stale_level:
        what = "no messages received" if not r.total.received else "no message"
        problems.append((stale_level, f"{what} for {r.age_s:.1f} s"))
    ratio = drop_ratio(r.recent)
    drop_level = _graded(ratio, t.loss_warn_ratio, t.loss_error_ratio)
    if drop_level:
        parts = [f"{k} {v}" for k, v in (
            ("lost", r.recent.missing), ("late", r.recent.late),
            ("out of order", r.recent.out_of_order), ("malformed", r.recent.malformed),
            ("before the clock started", r.recent.before_clock),
            ("retracted (stamped ahead)", r.recent.retracted),
        ) if v]
        problems.append((drop_level, f"dropped {ratio:.1%} ({', '.join(parts)})"))
    rate = "no rate yet" if r.rate_hz is None else f"{r.rate_hz:.1f} Hz"
    ok = ("not fitted (optional stream, no messages; the stale policy fills it)"
          if not_fitted else f"receiving at {rate}")
    values = (
        ("topic", r.topic), ("type", r.msg_type), ("qos", r.qos),
        ("rate_hz", r.rate_hz), ("age_s", r.age_s), ("messages", r.total.received),
        ("accepted", r.total.accepted), ("lost", r.total.lost), ("rmw_lost", r.total.rmw_lost),
        ("late", r.total.late), ("out_of_order", r.total.out_of_order),
        ("malformed", r.total.malformed), ("before_clock", r.total.before_clock),
        ("stale_frames", r.total.stale),
        ("incompatible_qos", r.total.incompatible_qos),
        ("incompatible_policy", r.incompatible_policy), ("publishers", r.total.publishers),
        ("sequence_resets", r.total.sequence_resets), ("untracked", r.total.untracked),
        ("drop_ratio_recent", ratio),
        ("lost_counted", r.total.missing), ("retracted", r.total.retracted),
        ("refused_publisher", r.total.refused_publisher),
        ("live_publishers", len(r.live_publishers)), ("publisher_ids", publisher_ids(r)),
        ("graph_publishers", r.graph_publishers),
        ("multiple_publishers", r.multiple_publishers),
        ("stamp_offset_s", r.stamp_offset_s), ("stamp_offset_peak_s", r.stamp_offset_peak_s),
        ("ignored_names", r.ignored_names), ("stamp_source", r.stamp_source),
        ("optional", r.optional), ("samples_left_out", r.total.samples_left_out),
        ("samples_overwritten", r.total.samples_overwritten),
    )
    return _status(node, STREAM_TASK_PREFIX + r.name, hardware_id, problems, ok, values)


def buffer_status(node: str, hardware_id: str, r: BufferReport) -> Status:
    """Fill level and degraded (stale-filled) frames of the aligned ring buffer."""
    problems: list[tuple[Level, str]] = []
    if r.frames_held < r.window_frames:
        problems.append((Level.WARN, f"filling: {r.frames_held}/{r.window_frames} frames"))
    if r.frames_recent == 0:
        problems.append((Level.WARN, "no new frames since the last report"))
    if r.degraded_recent:
        problems.append((Level.WARN, f"{r.degraded_recent} degraded frame(s) since the last "
                                     f"report (stale streams, {r.stale_policy})"))
    fill = r.frames_held / r.capacity if r.capacity else 0.0
    values = (
        ("capacity", r.capacity), ("frames_held", r.frames_held), ("fill", fill),
        ("window_frames", r.window_frames), ("frames", r.frames),
        ("frames_recent", r.frames_recent), ("degraded_frames", r.degraded_frames),
        ("degraded_recent", r.degraded_recent),
        ("newest_frame_degraded", r.newest_frame_degraded),
        ("skipped_frames", r.skipped_frames), ("timed_out_frames", r.timed_out_frames),
        ("pending_frames", r.pending_frames), ("aligner_resets", r.aligner_resets),
        ("last_reset_reason", r.last_reset_reason),
        ("newest_frame_stamp_ns", r.newest_frame_stamp_ns), ("stale_policy", r.stale_policy),
    )
    return _status(node, TASK_BUFFER, hardware_id, problems,
                   f"{r.frames_recent} new frame(s), window full", values)


@dataclass(frozen=True)
class InferenceReport:
    """Inference timer and latency at report time."""

    mode: str
    backend: str
    threads: int
    period_ms: float
    ticks: int
    predictions: int
    overruns: int
    skipped_ticks: int
    skipped_recent: int
    idle_ticks: int          # ticks with no new frame: nothing published
    state_resets: int        # incremental state dropped (gap, clock jump, mode change)
    errors: int
    last_error: str
    recent: LatencySummary | None
    since_start: LatencySummary | None
    stride: int = 0          # effective: the parameter, or the checkpoint's when it is 0
    window_frames: int = 0   # effective: the parameter, or the checkpoint's when it is 0
    lifecycle: LifecycleReport | None = None   # the node's managed state (LIFECYCLE_KEYS)


@dataclass(frozen=True)
class LifecycleReport:
    """Lifecycle state and transition counts; entities the node holds, to show no leak."""

    state: str
    transitions: int
    configures: int
    configure_failures: int
    activations: int
    deactivations: int
    cleanups: int
    messages_inactive: int   # delivered while inactive: counted and aligned, no output
    subscriptions: int
    publishers: int
    timers: int


def _latency_values(prefix: str, summary: LatencySummary | None) -> list[tuple[str, object]]:
    return [(f"{prefix}{f}", None if summary is None else getattr(summary, f))
            for f in LATENCY_FIELDS]


def inference_status(node: str, hardware_id: str, r: InferenceReport, t: Thresholds) -> Status:
    """Latency percentiles against the budget, overruns and skipped ticks."""
    problems: list[tuple[Level, str]] = []
    if r.errors and r.last_error:
        problems.append((Level.ERROR, f"inference failed {r.errors} time(s): {r.last_error}"))
    if r.recent is not None:
        level = _graded(r.recent.p99_ms, t.latency_warn_ms, t.latency_error_ms)
        if level:
            budget = t.latency_error_ms if level == Level.ERROR else t.latency_warn_ms
            problems.append((level, f"latency p99 {r.recent.p99_ms:.1f} ms over "
                                    f"{budget:.1f} ms"))
    if r.skipped_recent:
        problems.append((Level.WARN, f"{r.skipped_recent} tick(s) skipped after overruns"))
    ok = ("no prediction yet" if r.recent is None
          else f"p50 {r.recent.p50_ms:.1f} ms, p99 {r.recent.p99_ms:.1f} ms")
    values: list[tuple[str, object]] = [
        ("mode", r.mode), ("backend", r.backend), ("threads", r.threads),
        ("period_ms", r.period_ms), ("stride", r.stride), ("window_frames", r.window_frames),
        ("ticks", r.ticks), ("predictions", r.predictions),
        ("overruns", r.overruns), ("skipped_ticks", r.skipped_ticks),
        ("skipped_recent", r.skipped_recent), ("idle_ticks", r.idle_ticks),
        ("state_resets", r.state_resets), ("errors", r.errors), ("last_error", r.last_error),
        ("latency_count", 0 if r.since_start is None else r.since_start.count),
    ]
    values += _latency_values("latency_recent_", r.recent)
    values += _latency_values("latency_since_start_", r.since_start)
    if r.lifecycle is not None:
        values += [(key, getattr(r.lifecycle, key)) for key in LIFECYCLE_KEYS]
        if r.lifecycle.state != ACTIVE_STATE:
            problems.append((Level.WARN, f"{r.lifecycle.state}: no predictions published"))
    return _status(node, TASK_INFERENCE, hardware_id, problems, ok, values)


@dataclass(frozen=True)
class ModelReport:
    """The loaded model, for the operator."""

    checkpoint: str
    model: str
    random_weights: bool
    continuous_features: int
    categorical_features: int
    window_frames: int
    heads: tuple[str, ...]
    parameters: int
    unknown_categorical: int
    unknown_categorical_recent: int = 0
    program_library: str = "none"   # what the model reads programs with (`describe_library`)


def model_status(node: str, hardware_id: str, r: ModelReport) -> Status:
    """Which model runs; WARN when its weights are random or inputs fall outside its vocab."""
    problems: list[tuple[Level, str]] = []
    if r.random_weights:
        problems.append((Level.WARN, "random weights (allow_random_model): predictions are "
                                     "meaningless"))
    if r.unknown_categorical_recent:
        problems.append((Level.WARN, f"{r.unknown_categorical_recent} categorical value(s) "
                                     "outside the model's vocabulary since the last report"))
    values = (
        ("checkpoint", r.checkpoint), ("model", r.model), ("random_weights", r.random_weights),
        ("continuous_features", r.continuous_features),
        ("categorical_features", r.categorical_features), ("window_frames", r.window_frames),
        ("heads", ",".join(r.heads)), ("parameters", r.parameters),
        ("unknown_categorical", r.unknown_categorical), ("program_library", r.program_library),
    )
    return _status(node, TASK_MODEL, hardware_id, problems, f"{r.model} loaded", values)
