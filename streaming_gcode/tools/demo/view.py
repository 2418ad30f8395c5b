# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's terminal display: predictions next to executed lines, and live stats.

Plain text, one line per prediction as it arrives and a stats line every
second, so it works in any terminal and in a log file. A prediction is scored
against the line the machine was executing at the prediction's window end
stamp (the source's reference), at the model vocabulary's precision: `line`
when command, form and every parameter agree, `command` when the command
(modal continuation resolved) agrees. Latency comes from the node (inference
time in `~/prediction`) and from the stamps (end to end: sample stamp to
prediction received). Drops come from the node's `/diagnostics`.
Pure Python and not thread-safe: the ROS glue serialises calls.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
import json
from typing import Any, Callable, Mapping, NamedTuple, Sequence, TextIO

from streaming_gcode.core.errors import VocabularyError
from streaming_gcode.core.stats import LatencyStats, LatencySummary, NS_PER_MS, NS_PER_S
from streaming_gcode.model.gcode import canonical_params, LineLabel, ModalResolver, parse_line
from streaming_gcode.model.vocabulary import DEFAULT_PRECISION, OutputVocabulary
from streaming_gcode.outputs.diagnostics import TASK_BUFFER, TASK_INFERENCE
from streaming_gcode.tools.harness.node_status import (
    counter, is_stream_task, status_task, STREAM_DROP_KEYS,
)
from streaming_gcode.tools.harness.source_frames import Executed

REFERENCE_MEMORY = 4096          # executed lines kept for matching by stamp
TEXT_WIDTH = 30
PREDICTED_WIDTH = 36
MAX_PLAUSIBLE_E2E_NS = 60 * NS_PER_S


class Prediction(NamedTuple):
    """The fields of one `~/prediction` message the display uses."""

    stamp_ns: int
    text: str
    command: str
    modal: bool
    confidence: float
    latency_ms: float | None
    degraded: bool


def parse_prediction(payload: str | Mapping[str, Any]) -> Prediction:
    """Read a `~/prediction` JSON document (see the node's README section)."""
    data = json.loads(payload) if isinstance(payload, str) else payload
    if not isinstance(data, Mapping):
        raise ValueError(f"prediction is not a JSON object: {str(payload)[:80]!r}")
    heads = data.get("heads") or {}
    command = heads.get("command", {}).get("label", "") if isinstance(heads, Mapping) else ""
    form = heads.get("form", {}).get("label", "") if isinstance(heads, Mapping) else ""
    text = str(data.get("gcode", data.get("text", " ".join(data.get("tokens", [])))))
    latency = data.get("latency_ms", data.get("inference_latency_ms"))
    return Prediction(
        stamp_ns=int(data.get("stamp_ns", data.get("window_end_ns", 0))),
        text=text,
        command=str(command),
        modal=form == "modal",
        confidence=float(data.get("confidence", 0.0) or 0.0),
        latency_ms=None if latency is None else float(latency),
        degraded=bool(data.get("degraded", False)),
    )


class LineScorer:
    """Compares predicted and executed lines at a vocabulary's precision."""

    def __init__(self, vocabulary: OutputVocabulary | None = None) -> None:
        self.vocabulary = vocabulary or OutputVocabulary((), (), dict(DEFAULT_PRECISION), {})

    def executed_key(self, executed: Executed) -> tuple | None:
        """Key of the executed line (None when it cannot be parsed)."""
        try:
            params = canonical_params(parse_line(executed.gcode).params)
        except VocabularyError:
            return None
        return self.vocabulary.key(LineLabel(executed.command, executed.modal, params))

    def predicted_key(self, prediction: Prediction) -> tuple | None:
        """Key of the predicted line; the command comes from the command head."""
        try:
            parsed = parse_line(prediction.text)
        except VocabularyError:
            return None
        command = prediction.command or (" ".join(parsed.commands) if parsed.commands else "")
        modal = prediction.modal or (not parsed.commands and bool(parsed.params))
        label = LineLabel(command, modal, canonical_params(parsed.params))
        return self.vocabulary.key(label)

    def score(self, prediction: Prediction, executed: Executed) -> tuple[bool, bool]:
        """(whole line right, command right)."""
        predicted = self.predicted_key(prediction)
        actual = self.executed_key(executed)
        if predicted is None or actual is None:
            return False, False
        return predicted == actual, predicted[0] == actual[0]


@dataclass
class DropTotals:
    """Node-side counters from the newest /diagnostics report."""

    per_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAM_DROP_KEYS, 0))
    stale_frames: int = 0
    degraded_frames: int = 0
    overruns: int = 0
    skipped_ticks: int = 0
    frames_held: int = 0
    window_frames: int = 0
    aligner_resets: int = 0
    last_reset_reason: str = ""
    seen: bool = False

    @property
    def dropped(self) -> int:
        """Messages lost or refused, all streams and kinds."""
        return sum(self.per_kind.values())


def drop_totals(statuses: Sequence[tuple[str, Mapping[str, str]]]) -> DropTotals:
    """Sum a /diagnostics array (status name, key/values) into display counters."""
    totals = DropTotals(seen=True)
    for name, values in statuses:
        task = status_task(name)
        if is_stream_task(task):
            for key in STREAM_DROP_KEYS:
                totals.per_kind[key] += counter(values, key)
            totals.stale_frames += counter(values, "stale_frames")
        elif task == TASK_BUFFER:
            totals.degraded_frames = counter(values, "degraded_frames")
            totals.frames_held = counter(values, "frames_held")
            totals.window_frames = counter(values, "window_frames")
            totals.aligner_resets = counter(values, "aligner_resets")
            totals.last_reset_reason = values.get("last_reset_reason", "")
        elif task == TASK_INFERENCE:
            totals.overruns = counter(values, "overruns")
            totals.skipped_ticks = counter(values, "skipped_ticks")
    return totals


def _fit(text: str, width: int = TEXT_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:5.1f}%" if whole else "    -"


def _latency(summary: LatencySummary | None) -> str:
    if summary is None:
        return "-"
    return f"p50 {summary.p50_ms:.1f} ms, p99 {summary.p99_ms:.1f} ms"


def _short_latency(summary: LatencySummary | None) -> str:
    if summary is None:
        return "-"
    return f"{summary.p50_ms:.1f}/{summary.p99_ms:.1f} ms"


class DemoView:
    """Keeps the running numbers and writes the demo's lines to `out`."""

    def __init__(self, out: TextIO, start_ns: int, scorer: LineScorer | None = None,
                 run_note: Callable[[str], str] | None = None) -> None:
        self.out = out
        self.run_note = run_note
        self.start_ns = start_ns
        self.scorer = scorer or LineScorer()
        self.executed: OrderedDict[int, Executed] = OrderedDict()
        self.latest_text: Executed | None = None
        self.predictions = 0
        self.scored = 0
        self.lines_right = 0
        self.commands_right = 0
        self.degraded = 0
        self.inference = LatencyStats()
        self.end_to_end = LatencyStats()
        self.drops = DropTotals()
        self.current_source = ""
        self._resolver = ModalResolver()

    def write(self, line: str = "") -> None:
        """Print one line now."""
        self.out.write(line + "\n")
        self.out.flush()

    def header(self, lines: Sequence[str]) -> None:
        """Print the banner: which source runs, which model, how to stop."""
        for line in lines:
            self.write(line)

    def columns(self) -> None:
        """Print the column titles above the prediction lines."""
        self.write()
        self.write(f"{'time':>7}  {'predicted':<{PREDICTED_WIDTH}}  "
                   f"{'executed':<{TEXT_WIDTH}}  match    conf")

    def on_executed(self, executed: Executed) -> None:
        """Remember a stamped reference line from the source."""
        if executed.source != self.current_source:
            if self.current_source:
                note = self.run_note(executed.source) if self.run_note else ""
                self.write(f"--- now replaying {executed.source}"
                           f"{' (' + note + ')' if note else ''} ---")
            self.current_source = executed.source
        self.executed[executed.stamp_ns] = executed
        while len(self.executed) > REFERENCE_MEMORY:
            self.executed.popitem(last=False)

    def on_reference_text(self, text: str, received_ns: int, source: str = "bag") -> None:
        """Take an unstamped reference line (a bag's String topic), matched by arrival."""
        try:
            label = self._resolver.label(parse_line(text))
            command, modal = label.command, label.modal
        except VocabularyError:
            command, modal = "", False
        self.latest_text = Executed(received_ns, text.strip(), command, modal, -1, source)

    def _reference_for(self, stamp_ns: int) -> Executed | None:
        found = self.executed.get(stamp_ns)
        return found if found is not None else self.latest_text

    def on_prediction(self, prediction: Prediction, received_ns: int, wall_ns: int) -> None:
        """One prediction from the node: score it and print it."""
        self.predictions += 1
        self.degraded += int(prediction.degraded)
        if prediction.latency_ms is not None:
            self.inference.record(prediction.latency_ms * NS_PER_MS)
        delay = wall_ns - prediction.stamp_ns
        if 0 <= delay < MAX_PLAUSIBLE_E2E_NS:
            self.end_to_end.record(delay)
        executed = self._reference_for(prediction.stamp_ns)
        mark = ""
        if executed is not None:
            line_ok, command_ok = self.scorer.score(prediction, executed)
            self.scored += 1
            self.lines_right += int(line_ok)
            self.commands_right += int(command_ok)
            mark = "line" if line_ok else ("command" if command_ok else "-")
        if prediction.degraded:
            mark += " (degraded)"
        elapsed = (received_ns - self.start_ns) / NS_PER_S
        shown = executed.gcode if executed is not None else ""
        predicted = _fit(prediction.text or "(nothing)", PREDICTED_WIDTH)
        self.write(f"{elapsed:6.1f}s  {predicted:<{PREDICTED_WIDTH}}  "
                   f"{_fit(shown):<{TEXT_WIDTH}}  {mark:<7}  {prediction.confidence:4.2f}")

    def on_diagnostics(self, statuses: Sequence[tuple[str, Mapping[str, str]]]) -> None:
        """Take the node's newest /diagnostics array (name, key/values per status)."""
        if any(is_stream_task(status_task(name)) for name, _ in statuses):
            self.drops = drop_totals(statuses)

    def accuracy_text(self) -> str:
        """Describe the running accuracy, or why there is none."""
        if not self.predictions and self.drops.window_frames:
            held = min(self.drops.frames_held, self.drops.window_frames)
            return (f"node filling its model window: {held}/{self.drops.window_frames} "
                    "frames")
        if not self.scored:
            return "accuracy: no executed line to compare with"
        return (f"accuracy line {_percent(self.lines_right, self.scored).strip()} "
                f"command {_percent(self.commands_right, self.scored).strip()} "
                f"(of {self.scored})")

    def drops_text(self) -> str:
        """Drop counters as reported by the node."""
        if not self.drops.seen:
            return "drops: waiting for /diagnostics"
        kinds = self.drops.per_kind
        resets = ""
        if self.drops.aligner_resets:
            reason = self.drops.last_reset_reason
            resets = (f", aligner resets {self.drops.aligner_resets}"
                      f"{' (' + reason + ')' if reason else ''}")
        return (f"dropped {self.drops.dropped} (lost {kinds['lost'] + kinds['rmw_lost']}, "
                f"late {kinds['late'] + kinds['out_of_order']}, malformed {kinds['malformed']})"
                f", degraded {self.drops.degraded_frames}, overruns {self.drops.overruns}"
                f"{resets}")

    def stats_line(self, now_ns: int) -> str:
        """Build the once-a-second status line."""
        elapsed = max((now_ns - self.start_ns) / NS_PER_S, 1e-9)
        return (f"[stats {elapsed:6.1f}s] {self.predictions} predictions "
                f"({self.predictions / elapsed:.1f}/s) | {self.accuracy_text()} | "
                f"latency p50/p99 inference {_short_latency(self.inference.recent())}, "
                f"end-to-end {_short_latency(self.end_to_end.recent())} | {self.drops_text()}")

    def summary(self, now_ns: int, reason: str) -> list[str]:
        """Build the final lines printed on exit."""
        elapsed = (now_ns - self.start_ns) / NS_PER_S
        return [
            "",
            f"demo finished after {elapsed:.1f} s ({reason})",
            f"  predictions : {self.predictions} ({self.degraded} from degraded windows)",
            f"  {self.accuracy_text()}",
            f"  inference latency since start  : {_latency(self.inference.since_start())}",
            f"  end-to-end latency since start : {_latency(self.end_to_end.since_start())}",
            f"  node: {self.drops_text()}",
        ]
