# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The sensor streams of a cell and how they are aligned into frames.

One layout serves the live node (from ROS parameters), training and offline
evaluation (from the same params YAML), so every consumer sees the same streams,
channels and alignment settings.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from pathlib import Path
from typing import Any, Mapping

import yaml

from streaming_gcode.core.errors import ConfigError, StreamingGcodeError
from streaming_gcode.core.package import default_stream_config, NODE_NAME
from streaming_gcode.core.stream_spec import (
    choice_param, NS_PER_S, number_param, parse_stream, StreamSpec,
)

MAX_PARAMS_FILE_BYTES = 1 << 20  # a params file is a few KB; more is not a layout
STALE_POLICIES: tuple[str, ...] = ("skip", "hold_last", "zero_fill")
DEFAULT_SAMPLE_RATE_HZ = 4.0
DEFAULT_MAX_STALENESS_S = 1.0
DEFAULT_STALE_POLICY = "hold_last"
DEFAULT_ALIGNMENT_TIMEOUT_S = 0.5
# An aggregated stream keeps every sample from the previous frame until the current one
# is finalised (a frame period plus the alignment timeout) and this much more.
AGGREGATE_HISTORY_MARGIN_S = 1.0
# Samples kept for an aggregated stream without `sample_rate_hz` (one sample a message).
DEFAULT_AGGREGATE_HISTORY = 4096
MAX_AGGREGATE_HISTORY = 1 << 20   # samples per stream: 8 MiB a channel in float64


@dataclass(frozen=True)
class AlignmentSettings:
    """How samples of all streams become frames (see docs/architecture.md)."""

    frame_clock: str | None
    sample_rate_hz: float
    max_staleness_ns: int
    stale_policy: str
    alignment_timeout_ns: int

    @property
    def frame_period_ns(self) -> int:
        """Nominal frame period: the grid step, or the frame clock's nominal period."""
        return int(round(NS_PER_S / self.sample_rate_hz))


@dataclass(frozen=True)
class StreamLayout:
    """All streams of one machine plus the alignment settings."""

    streams: tuple[StreamSpec, ...]
    alignment: AlignmentSettings

    @property
    def frame_period_ns(self) -> int:
        """Nominal frame period in nanoseconds."""
        return self.alignment.frame_period_ns

    @property
    def clock_index(self) -> int | None:
        """Index of the frame-clock stream, or None on a fixed grid."""
        if self.alignment.frame_clock is None:
            return None
        return self.stream_names.index(self.alignment.frame_clock)

    @property
    def stream_names(self) -> tuple[str, ...]:
        """Stream names in layout order."""
        return tuple(s.name for s in self.streams)

    def stream(self, name: str) -> StreamSpec:
        """Return the stream called `name`."""
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise ConfigError(f"no stream named {name!r}; streams are {list(self.stream_names)}")

    @classmethod
    def from_parameters(cls, params: Mapping[str, Any], where: str = "parameters") -> StreamLayout:
        """Build a layout from flat ROS parameters (`streams.<name>.topic`, ...)."""
        return _parse_layout(params, where)

    @classmethod
    def from_yaml(cls, path: str | Path, node_name: str = NODE_NAME) -> StreamLayout:
        """Read the layout from a ROS params file (the node's `ros__parameters`)."""
        return cls.from_parameters(load_params_file(path, node_name), where=str(path))


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases, so a few KB cannot expand into gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        """Refuse `*alias` before the composer would share (and later expand) a node."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, f"alias *{event.anchor} refused (aliases are not accepted)",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def parse_bounded_yaml(
    text: str, failure: str, error: type[StreamingGcodeError] = ConfigError
) -> Any:
    """Parse YAML text without alias expansion; any failure is one `error`: `failure: why`."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{failure}: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise error(f"{failure}: nested too deeply") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what is wrong and where (PyYAML's text spans lines and quotes the source)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    what = "; ".join(str(part) for part in (exc.context, exc.problem) if part)
    mark = exc.problem_mark or exc.context_mark
    return f"{what} (line {mark.line + 1}, column {mark.column + 1})" if mark else what


def load_bounded_yaml(
    path: Path, what: str, max_bytes: int, failure: str,
    error: type[StreamingGcodeError] = ConfigError,
) -> Any:
    """Read a user's YAML file of at most `max_bytes`, refusing aliases (see `parse_bounded_yaml`).

    The size is checked before the file is read, so a huge file costs nothing.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{what} {path} is {size} bytes; expected at most {max_bytes}")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc})") from None
    if len(data) > max_bytes:  # grew after the stat
        raise error(f"{what} {path} is over {max_bytes} bytes; expected at most {max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text ({exc})") from None
    return parse_bounded_yaml(text, failure, error)


def load_params_file(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """Return the flat parameters for `node_name` from a ROS 2 params YAML file."""
    path = Path(path)
    document = load_bounded_yaml(path, "params file", MAX_PARAMS_FILE_BYTES,
                                 f"params file {path} is not valid YAML")
    if not isinstance(document, dict):
        raise ConfigError(f"params file {path} must be a mapping of node names")
    flat: dict[str, Any] = {}
    for key in ("/**", node_name, f"/{node_name}", f"/**/{node_name}"):
        section = document.get(key)
        if isinstance(section, dict) and isinstance(section.get("ros__parameters"), dict):
            flat.update(_flatten(section["ros__parameters"]))
    if not flat:
        raise ConfigError(
            f"params file {path} has no 'ros__parameters' for node {node_name!r} or '/**'"
        )
    return flat


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _seconds_to_ns(value: Any, key: str, where: str, allow_zero: bool) -> int:
    seconds = number_param(value, key, where)
    if seconds < 0 or (seconds == 0 and not allow_zero):
        expected = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{where}: {key} must be {expected} seconds, got {value!r}")
    return int(round(seconds * NS_PER_S))


def _parse_alignment(params: Mapping[str, Any], names: list[str], where: str) -> AlignmentSettings:
    frame_clock = params.get("frame_clock", "") or None
    if frame_clock is not None and frame_clock not in names:
        raise ConfigError(f"{where}: frame_clock {frame_clock!r} is not a stream; expected one "
                          f"of {names} or '' for a fixed grid")
    rate = number_param(params.get("sample_rate_hz", DEFAULT_SAMPLE_RATE_HZ), "sample_rate_hz",
                        where)
    if rate <= 0:
        raise ConfigError(f"{where}: sample_rate_hz must be > 0, got {rate}")
    policy = choice_param(params, "stale_policy", STALE_POLICIES, DEFAULT_STALE_POLICY, where)
    return AlignmentSettings(
        frame_clock=frame_clock,
        sample_rate_hz=rate,
        max_staleness_ns=_seconds_to_ns(
            params.get("max_staleness_s", DEFAULT_MAX_STALENESS_S), "max_staleness_s", where,
            allow_zero=False,
        ),
        stale_policy=str(policy),
        alignment_timeout_ns=_seconds_to_ns(
            params.get("alignment_timeout_s", DEFAULT_ALIGNMENT_TIMEOUT_S),
            "alignment_timeout_s", where, allow_zero=True,
        ),
    )


def _parse_layout(params: Mapping[str, Any], where: str) -> StreamLayout:
    names = params.get("stream_names")
    if not isinstance(names, (list, tuple)) or not names or not all(
        isinstance(n, str) and n for n in names
    ):
        raise ConfigError(f"{where}: stream_names must be a non-empty list of stream names")
    names = list(names)
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: stream_names has duplicates: {names}")
    streams = tuple(parse_stream(params, name, where) for name in names)
    topics = [s.topic for s in streams]
    if len(set(topics)) != len(topics):
        raise ConfigError(f"{where}: two streams share a topic: {topics}")
    seen: dict[str, str] = {}
    for spec in streams:
        for channel in spec.channels:
            if channel in seen:
                raise ConfigError(f"{where}: channel {channel!r} is in both stream "
                                  f"{seen[channel]!r} and {spec.name!r}")
            seen[channel] = spec.name
    alignment = _parse_alignment(params, names, where)
    optional = [s.name for s in streams if s.optional]
    if optional and alignment.stale_policy == "skip":
        raise ConfigError(f"{where}: streams {optional} are optional, but stale_policy skip "
                          "would drop every frame while one is not fitted; use hold_last or "
                          "zero_fill")
    if alignment.frame_clock in optional:
        raise ConfigError(f"{where}: the frame clock {alignment.frame_clock!r} cannot be "
                          "optional: without it there are no frames")
    _check_sampling(streams, alignment, where)
    return StreamLayout(streams, alignment)


def aggregate_history_depth(spec: StreamSpec, alignment: AlignmentSettings) -> int:
    """Return how many samples an aggregated stream keeps: one frame to the next's end.

    Sized from `sample_rate_hz` when given (a frame's reach back, the longer of
    the frame period and `max_staleness`, plus the alignment timeout plus a
    margin); one-sample-a-message streams keep a fixed number.
    """
    if spec.sample_rate_hz <= 0:
        return DEFAULT_AGGREGATE_HISTORY
    reach_ns = max(alignment.frame_period_ns, alignment.max_staleness_ns)
    span_s = (reach_ns + alignment.alignment_timeout_ns) / NS_PER_S
    return int(math.ceil(spec.sample_rate_hz * (span_s + AGGREGATE_HISTORY_MARGIN_S)))


def _check_sampling(streams: tuple[StreamSpec, ...], alignment: AlignmentSettings,
                    where: str) -> None:
    """Refuse aggregation where it cannot work: on the frame clock, or beyond the history."""
    for spec in streams:
        prefix = f"streams.{spec.name}."
        if spec.name == alignment.frame_clock and spec.batched:
            raise ConfigError(f"{where}: the frame clock {spec.name!r} stamps one frame per "
                              f"message, so it cannot set {prefix}aggregate {spec.aggregate} "
                              f"or {prefix}sample_rate_hz {spec.sample_rate_hz:g}; expected "
                              "newest and 0, or another frame clock")
        if spec.aggregated and aggregate_history_depth(spec, alignment) > MAX_AGGREGATE_HISTORY:
            raise ConfigError(f"{where}: {prefix}sample_rate_hz {spec.sample_rate_hz:g} needs "
                              f"{aggregate_history_depth(spec, alignment)} samples of history "
                              f"per frame; at most {MAX_AGGREGATE_HISTORY} (lower the rate or "
                              "alignment_timeout_s)")


def resolve_layout_path(path: str | Path | None) -> Path:
    """Return `path`, or the shipped config/stream.yaml when no path is given."""
    chosen = Path(path) if path else default_stream_config()
    if chosen is None:
        raise ConfigError("no stream layout given and the shipped config/stream.yaml is missing")
    return chosen


def resolve_layout(path: str | Path | None) -> StreamLayout:
    """Read the stream layout from `path` or from the shipped config/stream.yaml."""
    return StreamLayout.from_yaml(resolve_layout_path(path))
