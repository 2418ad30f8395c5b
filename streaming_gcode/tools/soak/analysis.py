# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""What a soak run measures and concludes, without ROS: samples, drop accounting, summary.

A soak replays recorded bags in a loop against the live node for a long time
and samples the node process over time (`session.py` does the ROS side). This
module turns what was sampled into the report: resident-memory growth after
warm-up, prediction latency percentiles and their drift, and every message
accounted for. A message is *explained* when the node counted it (accepted, or
dropped as lost/late/out-of-order/malformed/before-clock); whatever the player
published that the node neither received nor counted as lost, and whatever it
received without a verdict, is an *unexplained* drop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math
from pathlib import Path
from typing import Mapping, Sequence

from streaming_gcode.core.stats import summarise_latencies
from streaming_gcode.offline.figures import pyplot, save_figure
from streaming_gcode.tools.harness.node_status import counter, STREAM_DROP_KEYS

SOAK_FORMAT = "streaming_gcode.tools.soak.analysis/1"
DEFAULT_SOAK_SECONDS = 1800.0
DEFAULT_RATE = 10.0                 # playback speed: the bags' real rate times this
DEFAULT_SAMPLE_PERIOD_S = 5.0
WARMUP_FRACTION = 0.1               # the first tenth of the run is warm-up ...
MIN_WARMUP_S = 10.0                 # ... but at least this
MAX_WARMUP_S = 300.0                # ... and at most this
BYTES_PER_MB = 1024 * 1024

# Diagnostics keys of a stream status that the accounting reads.
DROP_KEYS: tuple[str, ...] = STREAM_DROP_KEYS + ("before_clock",)
TALLY_KEYS: tuple[str, ...] = ("messages", "accepted") + DROP_KEYS
# Keys every report carries (the schema `test_soak.py` checks).
REPORT_KEYS: tuple[str, ...] = (
    "format", "seconds_requested", "seconds_run", "warmup_s", "rate", "bags", "checkpoint",
    "machine", "command", "passes", "published_messages", "received_messages",
    "counted_drops", "unexplained_drops", "predictions", "skipped_ticks", "overruns",
    "inference_errors", "aligner_resets", "rss_initial_bytes", "rss_baseline_bytes",
    "rss_final_bytes", "rss_peak_bytes", "rss_growth_after_warmup",
    "rss_peak_growth_after_warmup", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
    "latency_p99_first_half_ms", "latency_p99_second_half_ms", "latency_p99_drift",
    "node_exit_code", "final_stats", "samples",
)


def stream_tally(values: Mapping[str, str]) -> dict[str, int]:
    """Read the counters of one stream's diagnostic values (missing or unparsable: 0)."""
    return {key: counter(values, key) for key in TALLY_KEYS}


def counted_drops(tally: Mapping[str, int]) -> int:
    """Messages the node dropped and counted (every drop category)."""
    return sum(int(tally.get(key, 0)) for key in DROP_KEYS)


def unexplained_drops(published: int, tally: Mapping[str, int]) -> int:
    """Count the published messages the node's counters do not account for.

    `published - (received + lost + rmw_lost)` are messages that vanished without
    a sequence gap or middleware event; `received - accepted - refused` are
    deliveries without a verdict. Both should be zero.
    """
    offered = tally.get("messages", 0) + tally.get("lost", 0) + tally.get("rmw_lost", 0)
    refused = sum(tally.get(k, 0) for k in ("late", "out_of_order", "malformed", "before_clock"))
    unseen = max(0, published - offered)
    unaccounted = max(0, tally.get("messages", 0) - tally.get("accepted", 0) - refused)
    return unseen + unaccounted


def warmup_seconds(total_s: float) -> float:
    """Warm-up excluded from growth and drift figures, for a run of `total_s`."""
    return min(MAX_WARMUP_S, max(MIN_WARMUP_S, WARMUP_FRACTION * total_s))


@dataclass(frozen=True)
class SoakSample:
    """The node and the run at one instant of the soak."""

    elapsed_s: float
    rss_bytes: int
    predictions: int             # predictions received so far
    latency_p99_ms: float | None  # over the predictions since the previous sample
    counted_drops: int           # every stream, cumulative (from diagnostics)
    skipped_ticks: int
    aligner_resets: int
    passes: int                  # bag passes started
    published: int               # messages the player published so far

    def as_dict(self) -> dict[str, object]:
        """JSON-able form."""
        return asdict(self)


def latency_p99_ms(latencies_ms: Sequence[float]) -> float | None:
    """Return the p99 of latencies in ms (None without any)."""
    summary = summarise_latencies(latencies_ms, per_ms=1.0)
    return None if summary is None else summary.p99_ms


def _growth(value: int, baseline: int) -> float | None:
    return None if baseline <= 0 else value / baseline - 1.0


def memory_summary(samples: Sequence[SoakSample], warmup_s: float) -> dict[str, object]:
    """RSS at start, after warm-up (baseline), at the end and at peak; growth fractions."""
    if not samples:
        return {"rss_initial_bytes": 0, "rss_baseline_bytes": 0, "rss_final_bytes": 0,
                "rss_peak_bytes": 0, "rss_growth_after_warmup": None,
                "rss_peak_growth_after_warmup": None}
    after = [s for s in samples if s.elapsed_s >= warmup_s] or [samples[-1]]
    baseline = after[0].rss_bytes
    final = samples[-1].rss_bytes
    peak = max(s.rss_bytes for s in after)
    return {
        "rss_initial_bytes": samples[0].rss_bytes,
        "rss_baseline_bytes": baseline,
        "rss_final_bytes": final,
        "rss_peak_bytes": peak,
        "rss_growth_after_warmup": _growth(final, baseline),
        "rss_peak_growth_after_warmup": _growth(peak, baseline),
    }


def latency_summary(latencies: Sequence[tuple[float, float]], warmup_s: float,
                    end_s: float) -> dict[str, object]:
    """Percentiles over the whole run, and p99 of each half after warm-up (drift)."""
    all_ms = [ms for _, ms in latencies]
    middle = warmup_s + (end_s - warmup_s) / 2
    first = [ms for t, ms in latencies if warmup_s <= t < middle]
    second = [ms for t, ms in latencies if t >= middle]
    overall = summarise_latencies(all_ms, per_ms=1.0)
    p99_first, p99_second = latency_p99_ms(first), latency_p99_ms(second)
    drift = None
    if p99_first and p99_second is not None:
        drift = p99_second / p99_first - 1.0
    return {
        "latency_p50_ms": None if overall is None else overall.p50_ms,
        "latency_p99_ms": None if overall is None else overall.p99_ms,
        "latency_max_ms": None if overall is None else overall.max_ms,
        "latency_p99_first_half_ms": p99_first,
        "latency_p99_second_half_ms": p99_second,
        "latency_p99_drift": drift,
    }


def drop_summary(published: Mapping[str, int],
                 tallies: Mapping[str, Mapping[str, int]]) -> dict[str, object]:
    """Per-topic and total message accounting at the end of a run.

    `published` and `tallies` are keyed by topic; a topic the node never
    reported counts all its messages as unexplained.
    """
    counted = dict.fromkeys(DROP_KEYS, 0)
    unexplained = 0
    received = 0
    per_topic = {}
    for topic, sent in sorted(published.items()):
        tally = tallies.get(topic, {})
        lost = unexplained_drops(sent, tally)
        unexplained += lost
        received += tally.get("messages", 0)
        for key in DROP_KEYS:
            counted[key] += tally.get(key, 0)
        per_topic[topic] = {"published": sent, **{k: tally.get(k, 0) for k in TALLY_KEYS},
                            "unexplained": lost}
    return {"published_messages": sum(published.values()), "received_messages": received,
            "counted_drops": counted, "unexplained_drops": unexplained, "topics": per_topic}


def plot_samples(samples: Sequence[SoakSample], path: Path, title: str) -> Path:
    """RSS, interval latency p99, counted drops and predictions over time, as a PNG."""
    plt = pyplot()
    t = [s.elapsed_s / 60 for s in samples]
    series = (
        ("resident memory (MB)", [s.rss_bytes / BYTES_PER_MB for s in samples]),
        ("latency p99 (ms)", [math.nan if s.latency_p99_ms is None else s.latency_p99_ms
                              for s in samples]),
        ("counted drops", [s.counted_drops for s in samples]),
        ("predictions", [s.predictions for s in samples]),
    )
    figure, axes = plt.subplots(len(series), 1, figsize=(9, 9), sharex=True)
    for axis, (label, values) in zip(axes, series):
        axis.plot(t, values, marker=".", linewidth=1)
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    axes[0].set_title(title)
    axes[-1].set_xlabel("elapsed (min)")
    figure.tight_layout()
    return save_figure(figure, path, dpi=90)


def format_summary(report: Mapping[str, object]) -> str:
    """Summarise the report in a few lines for the terminal."""
    def fmt(value: object, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    return "\n".join((
        f"soak: {fmt(report['seconds_run'], '.0f')} s, {report['passes']} bag passes, "
        f"{report['published_messages']} messages published, "
        f"{report['predictions']} predictions",
        f"  resident memory: {fmt(report['rss_baseline_bytes'] / BYTES_PER_MB, '.1f')} MB "
        f"after warm-up -> {fmt(report['rss_final_bytes'] / BYTES_PER_MB, '.1f')} MB at the "
        f"end (growth {fmt(report['rss_growth_after_warmup'], '+.2%')}, peak "
        f"{fmt(report['rss_peak_growth_after_warmup'], '+.2%')})",
        f"  latency: p50 {fmt(report['latency_p50_ms'], '.2f')} ms, p99 "
        f"{fmt(report['latency_p99_ms'], '.2f')} ms (halves "
        f"{fmt(report['latency_p99_first_half_ms'], '.2f')} / "
        f"{fmt(report['latency_p99_second_half_ms'], '.2f')} ms, drift "
        f"{fmt(report['latency_p99_drift'], '+.1%')})",
        f"  drops: counted {report['counted_drops']}, unexplained "
        f"{report['unexplained_drops']}; skipped ticks {report['skipped_ticks']}, "
        f"aligner resets {report['aligner_resets']}; node exit code {report['node_exit_code']}",
    ))
