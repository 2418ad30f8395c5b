# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Every parameter of the node in one place: name, default, description, range, checks.

Pure Python (no rclpy): the node turns `ParamSpec`s into ROS parameter
descriptors, validates start-up values with `NodeSettings.from_values` and
runtime changes with `validate_changes`, which either returns complete new
settings or a reason, so nothing is ever half-applied. The stream layout
parameters (`stream_names`, `streams.<name>.*`, alignment) are parsed by
`StreamLayout.from_parameters`; their declarations live here too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from types import MappingProxyType
from typing import Any, Mapping

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameter_spec import (  # noqa: F401 - re-exported, public here
    MAX_NAME_LENGTH, MAX_PATH_LENGTH, MAX_STRING_ARRAY_ITEMS, ParamSpec, SHOWN_VALUE_CHARS,
)
from streaming_gcode.core.stream_layout import (
    DEFAULT_ALIGNMENT_TIMEOUT_S, DEFAULT_MAX_STALENESS_S, DEFAULT_SAMPLE_RATE_HZ,
    DEFAULT_STALE_POLICY, STALE_POLICIES,
)
from streaming_gcode.core.stream_spec import (
    AGGREGATES, DEFAULT_AGGREGATE, DEFAULT_DEPTH, DEFAULT_EXTRA_NAMES, DEFAULT_OPTIONAL,
    DEFAULT_ROLE, DEFAULT_STAMP_SOURCE, DEFAULT_STREAM_SAMPLE_RATE_HZ, EXTRA_NAMES_CHOICES,
    JOINT_STATE_FIELDS, MAX_STREAM_SAMPLE_RATE_HZ, ROLES, STAMP_SOURCES,
    SUPPORTED_MESSAGE_TYPES,
)

MODEL_CHOICES: tuple[str, ...] = ("full", "physical")
MODE_FULL_WINDOW = "full_window"
MODE_INCREMENTAL = "incremental"
MODE_CHOICES: tuple[str, ...] = (MODE_FULL_WINDOW, MODE_INCREMENTAL)
BACKEND_TORCH = "torch"
BACKEND_ONNXRUNTIME = "onnxruntime"
BACKEND_ONNXRUNTIME_INT8 = "onnxruntime_int8"
BACKEND_CHOICES: tuple[str, ...] = (BACKEND_TORCH, BACKEND_ONNXRUNTIME, BACKEND_ONNXRUNTIME_INT8)

DEFAULT_MODEL = "full"
DEFAULT_CHECKPOINT = ""             # "" = the shipped models/<model>.pt
DEFAULT_ALLOW_RANDOM_MODEL = False
DEFAULT_WINDOW_FRAMES = 0           # 0 = the checkpoint's training window
DEFAULT_STRIDE = 0                  # 0 = the checkpoint's stride
DEFAULT_MODE = MODE_FULL_WINDOW
DEFAULT_BACKEND = BACKEND_TORCH
DEFAULT_NUM_THREADS = 1
DEFAULT_MACHINES: tuple[str, ...] = ()
DEFAULT_MAX_ARRAY_LENGTH = 4096
DEFAULT_MAX_FUTURE_STAMP_S = 5.0
DEFAULT_LOG_THROTTLE_S = 5.0
DEFAULT_DIAGNOSTICS_PERIOD_S = 1.0
DEFAULT_HARDWARE_ID = "cnc"
DEFAULT_LATENCY_WARN_MS = 100.0
DEFAULT_LATENCY_ERROR_MS = 250.0
DEFAULT_LOSS_WARN_RATIO = 0.01
DEFAULT_LOSS_ERROR_RATIO = 0.10
DEFAULT_STALENESS_WARN_S = 1.0
DEFAULT_STALENESS_ERROR_S = 5.0
# A stream's header stamps this far ahead of (or behind) the node clock: WARN / ERROR.
DEFAULT_STAMP_OFFSET_WARN_S = 1.0
DEFAULT_STAMP_OFFSET_ERROR_S = 3.0
MULTIPLE_PUBLISHERS_CHOICES: tuple[str, ...] = ("warn", "accept", "first")
DEFAULT_MULTIPLE_PUBLISHERS = "warn"
DEFAULT_AUTOSTART = True            # configure and activate at start: `ros2 run` as before

# Parameters rclpy declares itself that the node fixes at start: the node clock, every
# stamp check and the alignment were set up on one time source.
USE_SIM_TIME = "use_sim_time"
FIXED_AT_START: tuple[str, ...] = (USE_SIM_TIME,)
_NO_VALUES: Mapping[str, Any] = MappingProxyType({})
# diagnostic_updater's name for the publication period (seconds), and the name this node
# documented first, kept as a deprecated alias: a parameter that names no setting field
# maps onto one here; the standard name wins when both are set.
DIAGNOSTICS_PERIOD = "diagnostic_updater.period"
DEPRECATED_ALIASES: Mapping[str, str] = MappingProxyType(
    {"diagnostics_period_s": DIAGNOSTICS_PERIOD})
SETTING_FIELDS: Mapping[str, str] = MappingProxyType(
    {DIAGNOSTICS_PERIOD: "diagnostics_period_s"})


def _warn_and_error(measure: str, unit: str, warn: float, error: float, above: str,
                    maximum: float) -> tuple[ParamSpec, ParamSpec]:
    """Return the WARN and ERROR thresholds of a measure: `<measure>_warn_<unit>`, `_error_`.

    Every graded measure has this pair, with one range and one wording.
    """
    return (
        ParamSpec(f"{measure}_warn_{unit}", warn, f"{above} this is WARN.",
                  minimum=0.0, maximum=maximum),
        ParamSpec(f"{measure}_error_{unit}", error, f"{above} this is ERROR.",
                  minimum=0.0, maximum=maximum),
    )


NODE_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("model", DEFAULT_MODEL, "Shipped model to load when `checkpoint` is empty "
              "(models/<model>.pt).", read_only=True, choices=MODEL_CHOICES),
    ParamSpec("checkpoint", DEFAULT_CHECKPOINT, "Checkpoint file to load (weights_only); "
              "empty = the shipped model selected by `model`.", read_only=True,
              max_length=MAX_PATH_LENGTH),
    ParamSpec("allow_random_model", DEFAULT_ALLOW_RANDOM_MODEL, "Run a randomly initialised "
              "model when no checkpoint exists (testing only).", read_only=True),
    ParamSpec("window_frames", DEFAULT_WINDOW_FRAMES, "Frames per model window; 0 = the "
              "checkpoint's training window.", read_only=True, minimum=0, maximum=65536),
    ParamSpec("stride", DEFAULT_STRIDE, "Frames between inferences: timer period = stride x "
              "frame period; 0 = the checkpoint's stride.", minimum=0, maximum=4096),
    ParamSpec("mode", DEFAULT_MODE, "full_window: run the whole window each tick; "
              "incremental: carry recurrent state and feed only new frames.",
              choices=MODE_CHOICES),
    ParamSpec("backend", DEFAULT_BACKEND, "Inference backend: torch (eager PyTorch), "
              "onnxruntime (exported at start-up; same outputs within 1e-4, 2-4x faster), "
              "onnxruntime_int8 (int8 LSTM weights: fastest, approximate).",
              read_only=True, choices=BACKEND_CHOICES),
    ParamSpec("num_threads", DEFAULT_NUM_THREADS, "Intra-op threads of the inference backend.",
              minimum=1, maximum=256),
    ParamSpec("machines", DEFAULT_MACHINES, "Machines (cells) this node serves, each with the "
              "stream layout under its own namespace (<machine>/<topic>) and its own outputs "
              "(~/<machine>/gcode, ~/<machine>/prediction); one batched model pass per tick. "
              "Empty = one machine on the layout's topics.", read_only=True),
    ParamSpec("max_array_length", DEFAULT_MAX_ARRAY_LENGTH, "Largest array accepted in a "
              "sensor message (checked before any conversion).", read_only=True,
              minimum=1, maximum=10_000_000),
    ParamSpec("max_future_stamp_s", DEFAULT_MAX_FUTURE_STAMP_S, "Header stamps further than "
              "this ahead of the node clock are rejected.", read_only=True, minimum=0.0,
              maximum=3600.0),
    ParamSpec("log_throttle_s", DEFAULT_LOG_THROTTLE_S, "At most one warning per stream and "
              "problem kind in this interval.", minimum=0.0, maximum=3600.0),
    ParamSpec(DIAGNOSTICS_PERIOD, DEFAULT_DIAGNOSTICS_PERIOD_S, "Period of /diagnostics "
              "publication, seconds (diagnostic_updater's name).", minimum=0.05,
              maximum=3600.0),
    ParamSpec("diagnostics_period_s", DEFAULT_DIAGNOSTICS_PERIOD_S, "Deprecated alias of "
              f"{DIAGNOSTICS_PERIOD} (used when that one keeps its default).", minimum=0.05,
              maximum=3600.0),
    ParamSpec("hardware_id", DEFAULT_HARDWARE_ID, "hardware_id of every diagnostic status."),
    *_warn_and_error("latency", "ms", DEFAULT_LATENCY_WARN_MS, DEFAULT_LATENCY_ERROR_MS,
                     "Recent p99 inference latency above", 1e6),
    *_warn_and_error("loss", "ratio", DEFAULT_LOSS_WARN_RATIO, DEFAULT_LOSS_ERROR_RATIO,
                     "Per-stream share of dropped messages since the last report above", 1.0),
    *_warn_and_error("staleness", "s", DEFAULT_STALENESS_WARN_S, DEFAULT_STALENESS_ERROR_S,
                     "A stream silent for longer than", 1e6),
    *_warn_and_error("stamp_offset", "s", DEFAULT_STAMP_OFFSET_WARN_S,
                     DEFAULT_STAMP_OFFSET_ERROR_S, "A stream whose header stamps (since the "
                     "last report) are further ahead of or behind the node clock than", 3600.0),
    ParamSpec("multiple_publishers", DEFAULT_MULTIPLE_PUBLISHERS, "More than one live "
              "publisher on a stream: warn (take all, status WARN), accept (take all), first "
              "(take only the first live publisher's messages, refuse and count the others'). "
              "Needs publisher gids in MessageInfo; without them (Jazzy) every message is "
              "taken and the status WARNs on the topic's publisher count.", read_only=True,
              choices=MULTIPLE_PUBLISHERS_CHOICES),
    ParamSpec("autostart", DEFAULT_AUTOSTART, "Configure and activate the lifecycle node at "
              "start (false: wait for the lifecycle services).", read_only=True),
)

LAYOUT_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("stream_names", (), "Names of the input streams; each has `streams.<name>.*` "
              "parameters. Empty = the shipped config/stream.yaml.", read_only=True),
    ParamSpec("frame_clock", "", "Stream whose messages stamp the frames; empty = a fixed "
              "grid at sample_rate_hz.", read_only=True),
    ParamSpec("sample_rate_hz", DEFAULT_SAMPLE_RATE_HZ, "Nominal frame rate (grid rate, "
              "or the frame clock's nominal rate).", read_only=True, minimum=1e-3, maximum=1e6),
    ParamSpec("max_staleness_s", DEFAULT_MAX_STALENESS_S, "A stream's newest sample older "
              "than this at a frame is stale.", read_only=True, minimum=1e-9, maximum=3600.0),
    ParamSpec("stale_policy", DEFAULT_STALE_POLICY, "What a stale stream contributes: "
              "skip the frame, hold its last value, or the fill value (degraded frames "
              "are flagged).", read_only=True, choices=STALE_POLICIES),
    ParamSpec("alignment_timeout_s", DEFAULT_ALIGNMENT_TIMEOUT_S, "A frame is finalised "
              "this long after its stamp at the latest.", read_only=True, minimum=0.0,
              maximum=3600.0),
)


def stream_parameter_specs(name: str) -> tuple[ParamSpec, ...]:
    """Parameters of one input stream, `streams.<name>.*`."""
    prefix = f"streams.{name}."
    return (
        ParamSpec(prefix + "topic", "", "Topic to subscribe to (relative names follow the "
                  "node's namespace).", read_only=True),
        ParamSpec(prefix + "type", "", "Message type: one of "
                  + ", ".join(SUPPORTED_MESSAGE_TYPES) + ", or any pkg/msg/Type with a "
                  "std_msgs/Header header read by field paths.", read_only=True),
        ParamSpec(prefix + "channels", (), "Channel names in message order (JointState: "
                  "joint names; Imu: e.g. angular_velocity.z).", read_only=True),
        ParamSpec(prefix + "field", "position", "JointState field the values come from.",
                  read_only=True, choices=JOINT_STATE_FIELDS),
        ParamSpec(prefix + "reliable", False, "Subscribe reliable instead of best effort.",
                  read_only=True),
        ParamSpec(prefix + "depth", DEFAULT_DEPTH, "Subscription queue depth (keep last).",
                  read_only=True, minimum=1, maximum=100_000),
        ParamSpec(prefix + "extra_names", DEFAULT_EXTRA_NAMES, "JointState names beyond the "
                  "channels: ignore (take the channels out, counted) or reject the message.",
                  read_only=True, choices=EXTRA_NAMES_CHOICES),
        ParamSpec(prefix + "stamp_source", DEFAULT_STAMP_SOURCE, "Sample time of a stamped "
                  "message: its header stamp, or the node clock at receipt (drivers that "
                  "send zero stamps).", read_only=True, choices=STAMP_SOURCES),
        ParamSpec(prefix + "optional", DEFAULT_OPTIONAL, "The stream may be absent (a board "
                  "not fitted): OK while it never sent; the stale policy fills it.",
                  read_only=True),
        ParamSpec(prefix + "role", DEFAULT_ROLE, "controller (reported state, left out of the "
                  "physical feature set) or sensor.", read_only=True, choices=ROLES),
        ParamSpec(prefix + "categorical", (), "Channels that are codes, not quantities "
                  "(embedded by the model).", read_only=True),
        ParamSpec(prefix + "drifting", (), "Channels whose level drifts between runs "
                  "(magnetometers): training's physics witness compares their change since "
                  "the job start, not their level.", read_only=True),
        ParamSpec(prefix + "aggregate", DEFAULT_AGGREGATE, "What a frame takes from the "
                  "stream's samples since the previous frame, per channel: the newest, or "
                  "their mean, rms, min, max or peak_to_peak.", read_only=True,
                  choices=AGGREGATES),
        ParamSpec(prefix + "sample_rate_hz", DEFAULT_STREAM_SAMPLE_RATE_HZ, "Sample rate of "
                  "a MultiArray stream's batches (2-D layout: samples x channels, the last "
                  "sample at receipt); 0: one sample per message.", read_only=True,
                  minimum=0.0, maximum=MAX_STREAM_SAMPLE_RATE_HZ),
    )


_NODE_SPECS: dict[str, ParamSpec] = {spec.name: spec for spec in NODE_PARAMETERS}


@dataclass(frozen=True)
class NodeSettings:
    """Validated values of the node's own parameters (not the stream layout)."""

    model: str = DEFAULT_MODEL
    checkpoint: str = DEFAULT_CHECKPOINT
    allow_random_model: bool = DEFAULT_ALLOW_RANDOM_MODEL
    window_frames: int = DEFAULT_WINDOW_FRAMES
    stride: int = DEFAULT_STRIDE
    mode: str = DEFAULT_MODE
    backend: str = DEFAULT_BACKEND
    num_threads: int = DEFAULT_NUM_THREADS
    machines: tuple[str, ...] = DEFAULT_MACHINES
    max_array_length: int = DEFAULT_MAX_ARRAY_LENGTH
    max_future_stamp_s: float = DEFAULT_MAX_FUTURE_STAMP_S
    log_throttle_s: float = DEFAULT_LOG_THROTTLE_S
    diagnostics_period_s: float = DEFAULT_DIAGNOSTICS_PERIOD_S
    hardware_id: str = DEFAULT_HARDWARE_ID
    latency_warn_ms: float = DEFAULT_LATENCY_WARN_MS
    latency_error_ms: float = DEFAULT_LATENCY_ERROR_MS
    loss_warn_ratio: float = DEFAULT_LOSS_WARN_RATIO
    loss_error_ratio: float = DEFAULT_LOSS_ERROR_RATIO
    staleness_warn_s: float = DEFAULT_STALENESS_WARN_S
    staleness_error_s: float = DEFAULT_STALENESS_ERROR_S
    stamp_offset_warn_s: float = DEFAULT_STAMP_OFFSET_WARN_S
    stamp_offset_error_s: float = DEFAULT_STAMP_OFFSET_ERROR_S
    multiple_publishers: str = DEFAULT_MULTIPLE_PUBLISHERS
    autostart: bool = DEFAULT_AUTOSTART

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeSettings:
        """Build settings from parameter values (missing names keep their defaults)."""
        problems = [p for p in (_NODE_SPECS[n].check(v) for n, v in values.items()
                                if n in _NODE_SPECS) if p]
        if problems:
            raise ConfigError("invalid parameters: " + "; ".join(problems))
        settings = replace(cls(), **_coerced(values))
        problem = settings.inconsistency()
        if problem:
            raise ConfigError(f"invalid parameters: {problem}")
        return settings

    def inconsistency(self) -> str | None:
        """Why these settings contradict each other (warn above error...), or None."""
        for warn, error in (
            ("latency_warn_ms", "latency_error_ms"),
            ("loss_warn_ratio", "loss_error_ratio"),
            ("staleness_warn_s", "staleness_error_s"),
            ("stamp_offset_warn_s", "stamp_offset_error_s"),
        ):
            if getattr(self, warn) > getattr(self, error):
                return (f"{warn} ({getattr(self, warn)}) must not exceed {error} "
                        f"({getattr(self, error)})")
        return None

    def as_dict(self) -> dict[str, Any]:
        """Field values by parameter name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def setting_field(name: str) -> str:
    """Return the `NodeSettings` field a parameter sets (its own name, or per SETTING_FIELDS)."""
    return SETTING_FIELDS.get(DEPRECATED_ALIASES.get(name, name), name)


def _yields(name: str, values: Mapping[str, Any]) -> bool:
    """Tell whether `name`'s value gives way to the standard name or to its deprecated alias.

    Whichever of the two is set to a non-default value wins; the standard name
    wins when both are.
    """
    def changed(other: str) -> bool:
        return other in values and values[other] != _NODE_SPECS[other].default

    standard = DEPRECATED_ALIASES.get(name)
    if standard is not None:
        return changed(standard)
    return not changed(name) and any(changed(alias) for alias, target
                                     in DEPRECATED_ALIASES.items() if target == name)


def _coerced(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = _NODE_SPECS.get(name)
        if spec is None or _yields(name, values):
            continue
        if spec.kind == "double":
            value = float(value)
        elif spec.kind == "string_array":
            value = tuple(value)
        out[setting_field(name)] = value
    return out


def validate_changes(
    current: NodeSettings, changes: Mapping[str, Any],
    fixed: Mapping[str, Any] = _NO_VALUES,
) -> tuple[NodeSettings | None, str]:
    """Return new settings if every change is valid at runtime, else (None, reason).

    `fixed` holds the start-up values of parameters rclpy declares but the node
    fixes at start (FIXED_AT_START, i.e. `use_sim_time`): changing one is
    refused, setting it to its current value is not. Other names that are not
    node settings (layout) are ignored here; the node rejects layout changes
    through their read-only descriptors.
    """
    problems = []
    for name, value in changes.items():
        if name in fixed and value != fixed[name]:
            problems.append(f"{name} is read-only at runtime: the node clock, stamp checks and "
                            "alignment were set up on one time source at start; restart the "
                            "node to change it")
            continue
        spec = _NODE_SPECS.get(name)
        if spec is None:
            continue
        if spec.read_only and value != getattr(current, setting_field(name)):
            problems.append(f"{name} is read-only at runtime; restart the node to change it")
            continue
        problem = spec.check(value)
        if problem:
            problems.append(problem)
    if problems:
        return None, "; ".join(problems)
    updated = replace(current, **_coerced(changes))
    problem = updated.inconsistency()
    if problem:
        return None, problem
    return updated, ""
