# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The performance benchmark: every configuration side by side, in one process, one run.

Configurations of a *group* (a model size and a stride) run in lockstep on the
same synthetic stream and the same weights: frames are appended to every
subject, and at each tick every subject predicts, in an order that rotates
from tick to tick, so load from the rest of the machine hits all of them
alike and the speedup ratios stay meaningful on a shared host. Per
configuration: tick latency percentiles (wall clock), CPU time per prediction
(process time: all threads), and, in a separate sequential pass, the memory it
takes to set up and the peak memory growth while streaming. Then batching
(1..64 machines per pass) and, when the node is available, end to end over DDS.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
import gc
import os
import platform
import time
from typing import Callable, Sequence

import numpy as np

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameters import MODE_FULL_WINDOW, MODE_INCREMENTAL
from streaming_gcode.core.stats import NS_PER_MS, summarise_latencies
from streaming_gcode.inference.backends import BACKEND_ONNXRUNTIME, BACKEND_TORCH
from streaming_gcode.tools.bench.subjects import (
    apply_threads, BACKEND_ORDER, BASELINE, BASELINE_DEFAULT_THREADS, BatchSubject, default_size,
    EngineSubject, MODE_SEED, ModelSize, MODES, SEED_SIZE, seed_size, SeedSubject, Stream, Subject,
    synthetic_stream, TORCH_DEFAULT_THREADS,
)

MB = 1024.0 * 1024.0
QUICK_TICKS, FULL_TICKS = 20, 300
QUICK_WARMUP, FULL_WARMUP = 3, 10
QUICK_MEMORY_TICKS, FULL_MEMORY_TICKS = 5, 60
QUICK_BATCH_TICKS, FULL_BATCH_TICKS = 5, 60
MIN_BUDGET_TICKS = 5              # a time budget never cuts a measurement below this
LOCKSTEP_SEED = 0                 # the per-tick order of the subjects (reproducible)
BATCH_BUDGET_S = 20.0             # per machine count, full run
MACHINE_COUNTS: tuple[int, ...] = (1, 4, 16, 64)
PRIMARY_STRIDE = 8
AS_IS_TICKS = 40                  # the seed with torch's default threads, measured alone


@dataclass
class BenchOptions:
    """What to run; the defaults are the full benchmark."""

    quick: bool = False
    threads: int = 1
    ticks: int | None = None
    machines: tuple[int, ...] = MACHINE_COUNTS
    dds: bool = True
    sizes: list[ModelSize] | None = None      # None: the seed's and the default model's
    strides: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def measured_ticks(self) -> int:
        """Ticks measured per configuration."""
        return self.ticks or (QUICK_TICKS if self.quick else FULL_TICKS)


def summary_ms(latencies_ns: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max/mean in milliseconds: the latency fields of a results.json entry."""
    summary = summarise_latencies(latencies_ns)
    if summary is None:
        raise ConfigError("the benchmark measured no tick: give it ticks to time")
    fields = summary._asdict()
    del fields["count"]          # an entry says `ticks` instead
    return fields


def lockstep(subjects: Sequence[Subject], stream: Stream, window: int, stride: int,
             warmup: int, ticks: int,
             budget_s: float | None = None) -> dict[str, tuple[list, list, list]]:
    """Feed every subject the same frames and tick them in an order shuffled every tick.

    A rotation would always run each subject right after the same other one, whose
    cache footprint then biases it (about 10 % between identical subjects); a
    seeded shuffle spreads that evenly. Returns per subject the wall and CPU ns of
    each measured tick and its logits.
    """
    out: dict[str, tuple[list, list, list]] = {s.name: ([], [], []) for s in subjects}
    for index in range(window):
        for subject in subjects:
            subject.ingest(index)
    index = window
    started = time.perf_counter()
    order = np.random.default_rng(LOCKSTEP_SEED)
    for tick in range(warmup + ticks):
        for position in order.permutation(len(subjects)):
            subject = subjects[position]
            apply_threads(subject)
            cpu = time.process_time_ns()
            wall = time.perf_counter_ns()
            logits = subject.tick()
            wall = time.perf_counter_ns() - wall
            cpu = time.process_time_ns() - cpu
            if logits is not None and tick >= warmup:
                out[subject.name][0].append(wall)
                out[subject.name][1].append(cpu)
                out[subject.name][2].append({h: np.array(v) for h, v in logits.items()})
        for _ in range(stride):
            for subject in subjects:
                subject.ingest(index)
            index += 1
        if (budget_s is not None and tick - warmup >= MIN_BUDGET_TICKS
                and time.perf_counter() - started > budget_s):
            break
    return out


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


def _heap_probe() -> tuple[str, Callable[[], int]]:
    """Bytes the process holds: glibc's heap in use (mallinfo2) where available, else RSS.

    Heap in use counts what is allocated, not pages the allocator keeps cached, so
    configurations measured one after the other in this process do not hide each
    other's allocations the way RSS would.
    """
    try:
        function = ctypes.CDLL("libc.so.6").mallinfo2
        function.restype = _MallInfo2

        def heap() -> int:
            info = function()
            return int(info.uordblks + info.hblkhd)

        heap()
        return "heap_in_use", heap
    except (OSError, AttributeError):
        import psutil

        process = psutil.Process()
        return "rss", lambda: int(process.memory_info().rss)


MEMORY_METHOD, _held_bytes = _heap_probe()


def measure_memory(make: Callable[[], Subject], window: int, stride: int,
                   ticks: int) -> dict[str, float]:
    """Memory a subject holds after set-up (incl. its first window) and its growth while streaming.

    Growth is the largest amount held after any tick beyond what was held after
    set-up (sampled between ticks; transient allocations inside a tick are not seen).
    """
    gc.collect()
    before = _held_bytes()
    subject = make()
    for index in range(window):
        subject.ingest(index)
    subject.tick()
    gc.collect()
    ready = _held_bytes()
    peak = ready
    index = window
    for _ in range(ticks):
        for _ in range(stride):
            subject.ingest(index)
            index += 1
        subject.tick()
        peak = max(peak, _held_bytes())
    del subject
    gc.collect()
    return {"setup_memory_mb": (ready - before) / MB, "peak_memory_growth_mb": (peak - ready) / MB}


@dataclass(frozen=True)
class Group:
    """Configurations compared with one baseline: a model size at a stride."""

    size: ModelSize
    stride: int
    primary: bool

    @property
    def label(self) -> str:
        """`<size>/stride<k>`."""
        return f"{self.size.name}/stride{self.stride}"

    def config_name(self, variant: str) -> str:
        """Plain names in the primary group (seed size, stride 8), suffixed elsewhere."""
        return variant if self.primary else f"{variant}@{self.size.name}_s{self.stride}"


def _factories(group: Group, stream: Stream,
               options: BenchOptions) -> dict[str, Callable[[], Subject]]:
    """Return the subject constructors of a group.

    The seed baseline at the engines' thread count (the reference: equal threads,
    so the ratios measure the approach), then every mode x backend.
    """
    size, stride, threads = group.size, group.stride, options.threads
    name = group.config_name(BASELINE)
    made: dict[str, Callable[[], Subject]] = {
        name: lambda: SeedSubject(name, size, stream, stride, threads)}
    for mode in MODES:
        for backend in BACKEND_ORDER:
            variant = group.config_name(f"{mode}_{backend}")
            made[variant] = (lambda v=variant, m=mode, b=backend:
                             EngineSubject(v, size, stream, m, b, threads))
    return made


def _reference(group: Group, subject: Subject) -> str:
    """Eager torch in the same mode (the seed baseline is compared with full-window torch)."""
    mode = MODE_FULL_WINDOW if subject.mode == MODE_SEED else subject.mode
    return group.config_name(f"{mode}_{BACKEND_TORCH}")


def agreement(logits: list[dict], reference: list[dict]) -> dict[str, float]:
    """Measure agreement with eager torch: top-1 (all heads, ticks), largest logit gap."""
    pairs = [(a[h], b[h]) for a, b in zip(logits, reference) for h in a]
    if not pairs:
        return {"top1_agreement_vs_torch": float("nan"),
                "max_abs_logit_diff_vs_torch": float("nan")}
    same = [a.argmax() == b.argmax() for a, b in pairs]
    return {"top1_agreement_vs_torch": float(np.mean(same)),
            "max_abs_logit_diff_vs_torch": float(max(np.abs(a - b).max() for a, b in pairs))}


def measure_group(group: Group, options: BenchOptions, log: Callable[[str], None]) -> list[dict]:
    """Latency (lockstep), CPU and memory of every configuration of a group."""
    ticks = options.measured_ticks
    warmup = QUICK_WARMUP if options.quick else FULL_WARMUP
    window, stride = group.size.window, group.stride
    stream = synthetic_stream(group.size.config, window + (warmup + ticks + 2) * stride)
    factories = _factories(group, stream, options)
    subjects = [make() for make in factories.values()]
    gc.collect()
    timings = lockstep(subjects, stream, window, stride, warmup, ticks)
    baseline_name = group.config_name(BASELINE)
    entries = []
    for subject in subjects:
        wall, cpu, logits = timings[subject.name]
        entries.append(_entry(group, subject, wall, cpu, lockstep=True,
                              **agreement(logits, timings[_reference(group, subject)][2])))
    del subjects
    memory_ticks = QUICK_MEMORY_TICKS if options.quick else FULL_MEMORY_TICKS
    for entry, make in zip(entries, factories.values()):
        entry.update(measure_memory(make, window, stride, memory_ticks))
    if group.primary and not options.quick and TORCH_DEFAULT_THREADS != options.threads:
        entries.append(_seed_as_is(group, stream, warmup, min(ticks, AS_IS_TICKS)))
    base = next(e for e in entries if e["name"] == baseline_name)
    for entry in entries:
        entry["speedup_vs_baseline_p99"] = base["p99_ms"] / entry["p99_ms"]
        entry["speedup_vs_baseline_p50"] = base["p50_ms"] / entry["p50_ms"]
        entry["speedup_vs_baseline_cpu"] = (base["cpu_ms_per_prediction"]
                                            / entry["cpu_ms_per_prediction"])
        log(f"  {entry['name']:<44} p50 {entry['p50_ms']:8.3f} ms  p99 {entry['p99_ms']:8.3f} ms  "
            f"x{entry['speedup_vs_baseline_p99']:.1f} (p99)")
    return entries


def _seed_as_is(group: Group, stream: Stream, warmup: int, ticks: int) -> dict:
    """Measure the seed with torch's default threads, alone (not in lockstep).

    Informational: on a shared 2-core host its two OpenMP threads spin against
    everything else, which would also disturb the subjects ticking next to it.
    """
    subject = SeedSubject(BASELINE_DEFAULT_THREADS, group.size, stream, group.stride,
                          TORCH_DEFAULT_THREADS)
    wall, cpu, _ = lockstep([subject], stream, group.size.window, group.stride, warmup,
                            ticks)[subject.name]
    return _entry(group, subject, wall, cpu, lockstep=False)


def _entry(group: Group, subject: Subject, wall: Sequence[int], cpu: Sequence[int],
           lockstep: bool, **extra: float) -> dict:
    """One configuration's results entry (results.json `configs[]`, see bench_report)."""
    return {"name": subject.name, "group": group.label, "size": group.size.name,
            "mode": subject.mode, "backend": subject.backend, "threads": subject.threads,
            "window": group.size.window, "stride": group.stride, "ticks": len(wall),
            **summary_ms(wall), "cpu_ms_per_prediction": float(np.mean(cpu)) / NS_PER_MS,
            "baseline": group.config_name(BASELINE), "lockstep": lockstep, **extra,
            "latencies_ms": [round(w / NS_PER_MS, 4) for w in wall]}


def measure_batching(size: ModelSize, stride: int, mode: str, backend: str,
                     options: BenchOptions) -> list[dict]:
    """One batched pass per tick for each machine count: latency and throughput."""
    ticks = QUICK_BATCH_TICKS if options.quick else FULL_BATCH_TICKS
    warmup = 1 if options.quick else 3
    stream = synthetic_stream(size.config, size.window + (warmup + ticks + 2) * stride, seed=1)
    runner = size.runner(backend, options.threads)
    rows = []
    for machines in options.machines:
        subject = BatchSubject(size, stream, machines, mode, runner)
        wall, cpu, _ = lockstep([subject], stream, size.window, stride, warmup, ticks,
                                budget_s=None if options.quick else BATCH_BUDGET_S)[subject.name]
        stats = summary_ms(wall)
        rows.append({"size": size.name, "mode": mode, "backend": backend, "stride": stride,
                     "machines": machines, "ticks": len(wall), **stats,
                     "cpu_ms_per_tick": float(np.mean(cpu)) / NS_PER_MS,
                     "per_machine_ms": stats["mean_ms"] / machines,
                     "predictions_per_s": machines * 1000.0 / stats["mean_ms"],
                     "frames_per_s": machines * stride * 1000.0 / stats["mean_ms"]})
    one = rows[0]
    for row in rows:
        row["latency_vs_1_p99"] = row["p99_ms"] / one["p99_ms"]
        row["latency_vs_1_p50"] = row["p50_ms"] / one["p50_ms"]
    return rows


def plan_groups(sizes: list[ModelSize], options: BenchOptions) -> list[Group]:
    """Seed size at stride 8 (primary) and 16 (full run); other sizes at stride 8."""
    groups = []
    for size in sizes:
        both = not options.quick and size.name == SEED_SIZE
        default = (PRIMARY_STRIDE, 16) if both else (PRIMARY_STRIDE,)
        for stride in options.strides.get(size.name, default):
            groups.append(Group(size, stride, primary=not groups))
    return groups


def machine_facts() -> dict:
    """Where the numbers come from."""
    import onnxruntime
    import torch

    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), model)
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "torch_default_threads": TORCH_DEFAULT_THREADS,
            "gpu": False}


def _load_average() -> float | None:
    """Return the host's 1-minute load average (how busy the shared machine was), if known."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _end_to_end(quick: bool, log: Callable[[str], None]) -> dict:
    """Measure over DDS, or say why not: rclpy is optional for the benchmark."""
    try:
        # rclpy, imported by the DDS phase: without it that phase is skipped, not the bench
        from streaming_gcode.tools.bench.end_to_end import run_end_to_end
    except ImportError as exc:
        return {"skipped": f"rclpy is not importable ({exc})"}
    return run_end_to_end(quick, log)


def run_benchmark(options: BenchOptions, log: Callable[[str], None] = print) -> dict:
    """Run every measurement; returns the results document (see bench_report for the schema)."""
    started = time.perf_counter()
    load_before = _load_average()
    sizes = options.sizes or [seed_size(), default_size()]
    gc.freeze()   # imports and weights are permanent: keep full collections short
    configs: list[dict] = []
    for group in plan_groups(sizes, options):
        log(f"group {group.label}: {options.measured_ticks} ticks per configuration, lockstep")
        configs.extend(measure_group(group, options, log))
    batching: list[dict] = []
    modes = (MODE_INCREMENTAL,) if options.quick else MODES
    for mode in modes:
        log(f"batching {sizes[0].name}/{mode}/{BACKEND_ONNXRUNTIME}: "
            f"machines {list(options.machines)}")
        batching.extend(measure_batching(sizes[0], PRIMARY_STRIDE, mode, BACKEND_ONNXRUNTIME,
                                         options))
    end_to_end = _end_to_end(options.quick, log) if options.dds else None
    machine = {**machine_facts(), "load_average_1min": [load_before, _load_average()]}
    return {"schema_version": 1, "quick": options.quick, "machine": machine,
            "sizes": [s.describe() for s in sizes], "baseline": BASELINE,
            "memory_method": MEMORY_METHOD,
            "configs": configs, "batching": batching, "end_to_end": end_to_end,
            "duration_s": time.perf_counter() - started}
