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
import math
from types import MappingProxyType
from typing import Any, Mapping

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import (
    DEFAULT_ALIGNMENT_TIMEOUT_S, DEFAULT_DEPTH, DEFAULT_MAX_STALENESS_S, DEFAULT_SAMPLE_RATE_HZ,
    DEFAULT_STALE_POLICY, JOINT_STATE_FIELDS, STALE_POLICIES, SUPPORTED_MESSAGE_TYPES,
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

# String parameters are bounded: every /diagnostics status carries hardware_id, and a
# name is copied into statuses and logs, so an unbounded one multiplies (a 2 MB id made
# each /diagnostics message 28 MB).
MAX_NAME_LENGTH = 256               # characters: names, ids, topics, choices
MAX_PATH_LENGTH = 4096              # characters: file paths (Linux PATH_MAX)
MAX_STRING_ARRAY_ITEMS = 4096       # entries of a string array (machines, streams, channels)
SHOWN_VALUE_CHARS = 80              # a refused value is quoted at most this long in a reason
# Parameters rclpy declares itself that the node fixes at start: the node clock, every
# stamp check and the alignment were set up on one time source.
USE_SIM_TIME = "use_sim_time"
FIXED_AT_START: tuple[str, ...] = (USE_SIM_TIME,)
_NO_VALUES: Mapping[str, Any] = MappingProxyType({})


def _shown(value: Any) -> str:
    """`repr(value)` cut to SHOWN_VALUE_CHARS: a refused 2 MB value must not fill the reason."""
    text = repr(value)
    if len(text) <= SHOWN_VALUE_CHARS:
        return text
    return f"{text[:SHOWN_VALUE_CHARS]}... ({len(text)} characters)"


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: what it is, its default and the values it accepts."""

    name: str
    default: Any
    description: str
    read_only: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    max_length: int = MAX_NAME_LENGTH   # characters of a string (each item of a string array)

    @property
    def kind(self) -> str:
        """ROS parameter type: bool, integer, double, string or string_array."""
        value = self.default
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, int):
            return "integer"
        if isinstance(value, float):
            return "double"
        if isinstance(value, str):
            return "string"
        return "string_array"

    @property
    def constraints(self) -> str:
        """Human-readable constraints for the descriptor and the README."""
        parts = []
        if self.choices:
            parts.append("one of " + ", ".join(self.choices))
        if self.minimum is not None or self.maximum is not None:
            parts.append(f"range [{self.minimum}, {self.maximum}]")
        if self.kind in ("string", "string_array") and not self.choices:  # choices bound it
            parts.append(f"at most {self.max_length} characters"
                         + (f", {MAX_STRING_ARRAY_ITEMS} items" if self.kind == "string_array"
                            else ""))
        if self.read_only:
            parts.append("read-only at runtime (restart to change)")
        return "; ".join(parts)

    def check(self, value: Any) -> str | None:
        """Return why `value` is not acceptable, or None if it is."""
        kind = self.kind
        if kind == "bool" and not isinstance(value, bool):
            return f"{self.name} must be true or false, got {_shown(value)}"
        if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{self.name} must be an integer, got {_shown(value)}"
        if kind == "double":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name} must be a number, got {_shown(value)}"
            if not math.isfinite(value):
                return f"{self.name} must be finite, got {value!r}"
        if kind == "string" and not isinstance(value, str):
            return f"{self.name} must be a string, got {_shown(value)}"
        if kind == "string_array" and (
            not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value)
        ):
            return f"{self.name} must be a list of strings, got {_shown(value)}"
        too_long = self._length_problem(value)
        if too_long:
            return too_long
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {list(self.choices)}, got {_shown(value)}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be >= {self.minimum}, got {value!r}"
        if self.maximum is not None and value > self.maximum:
            return f"{self.name} must be <= {self.maximum}, got {value!r}"
        return None

    def _length_problem(self, value: Any) -> str | None:
        """Why a string (array) is too long, checked before anything quotes or copies it."""
        if self.kind == "string" and len(value) > self.max_length:
            return (f"{self.name} is {len(value)} characters long; at most "
                    f"{self.max_length} are accepted")
        if self.kind != "string_array":
            return None
        if len(value) > MAX_STRING_ARRAY_ITEMS:
            return (f"{self.name} has {len(value)} items; at most {MAX_STRING_ARRAY_ITEMS} "
                    "are accepted")
        for position, item in enumerate(value):
            if len(item) > self.max_length:
                return (f"{self.name}[{position}] is {len(item)} characters long; at most "
                        f"{self.max_length} are accepted")
        return None


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
    ParamSpec("diagnostics_period_s", DEFAULT_DIAGNOSTICS_PERIOD_S, "Period of /diagnostics "
              "publication.", minimum=0.05, maximum=3600.0),
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
        ParamSpec(prefix + "type", "", "Message type.", read_only=True,
                  choices=SUPPORTED_MESSAGE_TYPES + tuple(
                      t.replace("/msg/", "/") for t in SUPPORTED_MESSAGE_TYPES)),
        ParamSpec(prefix + "channels", (), "Channel names in message order (JointState: "
                  "joint names; Imu: e.g. angular_velocity.z).", read_only=True),
        ParamSpec(prefix + "field", "position", "JointState field the values come from.",
                  read_only=True, choices=JOINT_STATE_FIELDS),
        ParamSpec(prefix + "reliable", False, "Subscribe reliable instead of best effort.",
                  read_only=True),
        ParamSpec(prefix + "depth", DEFAULT_DEPTH, "Subscription queue depth (keep last).",
                  read_only=True, minimum=1, maximum=100_000),
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


def _coerced(values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        spec = _NODE_SPECS.get(name)
        if spec is None:
            continue
        if spec.kind == "double":
            value = float(value)
        elif spec.kind == "string_array":
            value = tuple(value)
        out[name] = value
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
        if spec.read_only and value != getattr(current, name):
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
