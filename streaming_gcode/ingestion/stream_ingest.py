# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node's ingestion path without ROS: message -> adapter -> aligner -> ring buffer.

`StreamIngest` owns the per-stream adapters, drop counters and rate meters, the
frame aligner and the ring buffer, behind one lock: subscription callbacks call
`on_message` (cheap: adapt, validate, push, finalise due frames), the inference
tick reads windows under the same lock, and diagnostics take snapshots. Nothing
here raises on bad input; every refusal is counted and returned for throttled
logging. Pure Python, so tests drive it with explicit timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import threading
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from streaming_gcode.core.errors import MessageError
from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stats import NS_PER_S, RateMeter
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.ingestion.adapters import (
    DEFAULT_MAX_ARRAY_LENGTH,
    DEFAULT_MAX_FUTURE_NS,
    make_adapter,
)
from streaming_gcode.ingestion.alignment import (
    CLOCK_JUMP_TOLERANCE_NS,
    FrameAligner,
    SampleVerdict,
)
from streaming_gcode.ingestion.drop_accounting import (
    DropAccounting,
    MULTIPLE_PUBLISHERS_CHOICES,
    MULTIPLE_PUBLISHERS_WARN,
)
from streaming_gcode.ingestion.reports import BufferReport, RecentDelta, StreamReport
from streaming_gcode.ingestion.ring_buffer import AlignedRingBuffer


FLOAT32_MAX = float(np.finfo(np.float32).max)
# A receipt stamp older than this is not trusted (another clock, or a backlog so deep
# that its samples are late anyway); it stays well inside the aligner's clock-jump
# tolerance, so aligning at receipt never looks like the clock going back.
RECEIPT_LAG_LIMIT_NS = CLOCK_JUMP_TOLERANCE_NS // 2


def receipt_time(now_ns: int, received_ns: int | None) -> int:
    """Return the time to align a message at: its receipt when plausible, else `now_ns`.

    Plausible means on the node clock's scale: not after now, at most
    `RECEIPT_LAG_LIMIT_NS` before it.
    """
    if received_ns is None or not 0 < now_ns - received_ns <= RECEIPT_LAG_LIMIT_NS:
        return now_ns
    return received_ns


class Outcome(enum.Enum):
    """What became of one delivered message."""

    ACCEPTED = "accepted"
    LATE = "late"
    OUT_OF_ORDER = "out_of_order"
    MALFORMED = "malformed"
    BEFORE_CLOCK = "before_clock"
    REFUSED_PUBLISHER = "refused_publisher"


@dataclass(frozen=True)
class IngestResult:
    """Outcome of one message, the reason when refused, and frames it finalised."""

    outcome: Outcome
    reason: str = ""
    frames: int = 0
    lost_before: int = 0


_VERDICT_OUTCOME = {
    SampleVerdict.ACCEPTED: Outcome.ACCEPTED,
    SampleVerdict.LATE: Outcome.LATE,
    SampleVerdict.OUT_OF_ORDER: Outcome.OUT_OF_ORDER,
}


def _check_frame_range(stream: str, values: np.ndarray) -> None:
    """Frames hold float32: a finite double beyond its range would turn into Inf there."""
    if values.size and float(np.abs(values).max()) > FLOAT32_MAX:
        raise MessageError(f"stream {stream!r}: value beyond the float32 range of frames "
                           f"(+-{FLOAT32_MAX:.4g})")


class StreamIngest:
    """Everything between a subscription callback and the ring buffer."""

    def __init__(
        self,
        layout: StreamLayout,
        feature_map: FeatureMap,
        capacity: int,
        max_array_length: int = DEFAULT_MAX_ARRAY_LENGTH,
        max_future_ns: int = DEFAULT_MAX_FUTURE_NS,
        qos_descriptions: Sequence[str] | None = None,
        clock: Callable[[], int] | None = None,
        multiple_publishers: str = MULTIPLE_PUBLISHERS_WARN,
    ) -> None:
        if multiple_publishers not in MULTIPLE_PUBLISHERS_CHOICES:
            raise ValueError(f"multiple_publishers must be one of "
                             f"{list(MULTIPLE_PUBLISHERS_CHOICES)}, got {multiple_publishers!r}")
        self.multiple_publishers = multiple_publishers
        self.layout = layout
        # With a clock, "now" is read under the lock: a time read before waiting for it
        # can be older than one another thread already used, which is not a clock jump.
        self._clock = clock
        self.feature_map = feature_map
        self.lock = threading.Lock()
        self.adapters = tuple(
            make_adapter(spec, max_array_length, max_future_ns) for spec in layout.streams
        )
        self.drops = DropAccounting(layout.stream_names)
        self.rates = tuple(RateMeter() for _ in layout.streams)
        self.buffer = AlignedRingBuffer(
            capacity, feature_map.n_continuous, feature_map.n_categorical
        )
        self.aligner = FrameAligner(layout, feature_map, self.buffer)
        # Chosen once per stream, so a `newest` stream pays nothing for batches.
        self._push = tuple(self._push_sample_or_batch if spec.batched else self.aligner.push
                           for spec in layout.streams)
        self._qos = list(qos_descriptions or ("",) * len(layout.streams))
        self._topics = [spec.topic for spec in layout.streams]   # as resolved by the node
        self._stale_synced = [0] * len(layout.streams)
        self._recent: RecentDelta[str] = RecentDelta()
        self._frames_reported = 0
        self._degraded_reported = 0
        self._unknown_reported = 0
        n = len(layout.streams)
        self._retracted_synced = [0] * n
        self._left_out_synced = [0] * n
        self._overwritten_synced = [0] * n
        self._events_synced = 0
        self._ignored_names = [0] * n   # messages that carried names beyond the channels
        # header stamp minus node clock at receipt: newest, and largest |offset| since report
        self._offset_newest: list[int | None] = [None] * n
        self._offset_peak: list[int | None] = [None] * n
        self._lag_ns = 0   # taken minus received, of the newest message ingested

    def on_message(
        self,
        index: int,
        msg: Any,
        now_ns: int | None,
        publisher: Hashable | None = None,
        sequence: int | None = None,
        received_ns: int | None = None,
    ) -> IngestResult:
        """Account, adapt, validate and align one message received at `now_ns`.

        With a clock, `now_ns` is ignored (pass None): the clock is read under the lock.
        `received_ns` is when the middleware received the message, on the same clock:
        a message taken from a backlog is then aligned at its receipt, so frames do
        not time out while their samples wait in the queue (see `receipt_time`).
        """
        name = self.layout.streams[index].name
        with self.lock:
            now_ns = self._now(now_ns)
            lost = self.drops.on_message(name, publisher, sequence)
            if now_ns <= 0:
                self.drops.on_before_clock(name)
                return IngestResult(Outcome.BEFORE_CLOCK, f"stream {name!r}: the node clock "
                                    "is not running yet (use_sim_time without /clock); dropped",
                                    0, lost)
            if not self.drops.admit(name, publisher, now_ns, self.multiple_publishers):
                return IngestResult(Outcome.REFUSED_PUBLISHER, f"stream {name!r}: message from "
                                    "a second publisher refused (multiple_publishers first)",
                                    0, lost)
            self.rates[index].tick(now_ns)
            received_ns = receipt_time(now_ns, received_ns)
            self._lag_ns, now_ns = now_ns - received_ns, received_ns
            try:
                sample = self.adapters[index].adapt(msg, now_ns)
                _check_frame_range(name, sample.values)
            except MessageError as exc:
                self.drops.on_malformed(name)
                return IngestResult(Outcome.MALFORMED, str(exc), 0, lost)
            if sample.ignored_names:
                self._ignored_names[index] += 1
            stamp = now_ns if sample.stamp_ns is None else sample.stamp_ns
            if sample.stamp_ns is not None:
                self._note_offset(index, stamp - now_ns)
            frames = self._advance(now_ns)  # a clock jump resets before this sample lands
            verdict = self._push[index](index, stamp, sample.values)
            self._sync_sample_counts()
            outcome = _VERDICT_OUTCOME[verdict]
            reason = ""
            if outcome is Outcome.ACCEPTED:
                self.drops.on_accepted(name)
            elif outcome is Outcome.LATE:
                self.drops.on_late(name)
                reason = (f"stream {name!r}: sample stamped {stamp} ns is behind the "
                          f"alignment watermark {self.aligner.watermark_ns} ns (dropped)")
            else:
                self.drops.on_out_of_order(name)
                reason = (f"stream {name!r}: sample stamped {stamp} ns is older than the "
                          f"stream's newest {self.aligner.newest_stamp(index)} ns (dropped)")
            frames += self._advance(now_ns)
            return IngestResult(outcome, reason, frames, lost)

    def _push_sample_or_batch(self, index: int, stamp_ns: int,
                              values: np.ndarray) -> SampleVerdict:
        """Push a batched stream's message: one sample, or a batch ending at `stamp_ns`."""
        if values.ndim == 2:
            return self.aligner.push_batch(index, stamp_ns, values)
        return self.aligner.push(index, stamp_ns, values)

    def _note_offset(self, index: int, offset_ns: int) -> None:
        self._offset_newest[index] = offset_ns
        peak = self._offset_peak[index]
        if peak is None or abs(offset_ns) > abs(peak):
            self._offset_peak[index] = offset_ns

    def _sync_sample_counts(self) -> None:
        """Carry the aligner's retracted, left-out and overwritten counts into the accounting."""
        counters = self.aligner.counters
        if counters.sample_events == self._events_synced:
            return   # the common case: nothing changed
        self._events_synced = counters.sample_events
        for counts, synced, count in ((counters.retracted, self._retracted_synced,
                                       self.drops.on_retracted),
                                      (counters.left_out, self._left_out_synced,
                                       self.drops.on_samples_left_out),
                                      (counters.overwritten, self._overwritten_synced,
                                       self.drops.on_samples_overwritten)):
            for index, spec in enumerate(self.layout.streams):
                change = counts[index] - synced[index]
                if change:
                    count(spec.name, change)
                    synced[index] = counts[index]

    def _advance(self, now_ns: int) -> int:
        resets = self.aligner.counters.resets
        frames = self.aligner.advance(now_ns)
        if self.aligner.counters.resets != resets:
            # The clock went back: frames from before the jump must not share a window
            # with frames after it.
            self.buffer.clear()
        return frames

    def advance(self, now_ns: int | None) -> int:
        """Finalise frames whose alignment timeout passed (called by the deadline timer).

        Timeouts are judged on the receipt scale, as in `on_message`: now less the
        lag of the newest message ingested (its wait in the queue), so a deadline
        that runs while ingestion drains a backlog does not finalise frames whose
        samples are still queued; once the queue is drained the lag is back to ~0.
        """
        with self.lock:
            return self._advance(self._now(now_ns) - self._lag_ns)

    def _now(self, now_ns: int | None) -> int:
        if self._clock is not None:
            return self._clock()
        if now_ns is None:
            raise ValueError("an ingest without a clock needs the receipt time")
        return now_ns

    def set_subscription(self, index: int, topic: str, qos: str) -> None:
        """Report stream `index` as subscribed: the topic resolved, the QoS in force.

        Diagnostics then show where and how the node listens (namespace,
        remapping and qos_overrides applied), not the configured values.
        """
        with self.lock:
            self._topics[index] = topic
            self._qos[index] = qos

    def on_message_lost(self, index: int, count_change: int) -> None:
        """Middleware message-lost event for stream `index`."""
        with self.lock:
            self.drops.on_message_lost(self.layout.streams[index].name, count_change)

    def on_incompatible_qos(self, index: int, count_change: int, policy: str) -> None:
        """Incompatible-QoS event for stream `index`."""
        with self.lock:
            self.drops.on_incompatible_qos(self.layout.streams[index].name, count_change, policy)

    def _sync_stale(self) -> None:
        stale = self.aligner.counters.stale_frames
        for index, spec in enumerate(self.layout.streams):
            self.drops.on_stale(spec.name, stale[index] - self._stale_synced[index])
            self._stale_synced[index] = stale[index]

    def stream_reports(self, now_ns: int, started_ns: int,
                       graph_publishers: Sequence[int | None] | None = None
                       ) -> list[StreamReport]:
        """Per-stream reports; `recent` counts and peak stamp offsets are since the last call.

        `graph_publishers`: publishers the ROS graph shows on each topic (the only
        count there is when messages carry no publisher gid).
        """
        graph = tuple(graph_publishers or (None,) * len(self.layout.streams))
        with self.lock:
            self._sync_stale()
            reports = []
            for index, spec in enumerate(self.layout.streams):
                newest, peak = self._offset_newest[index], self._offset_peak[index]
                self._offset_peak[index] = None
                total = self.drops.counters(spec.name)
                meter = self.rates[index]
                age = meter.age_ns(now_ns)
                if age is None:
                    age = max(0, now_ns - started_ns)
                reports.append(StreamReport(
                    spec.name, self._topics[index], spec.msg_type, self._qos[index], total,
                    self._recent.delta(spec.name, total), meter.rate_hz(now_ns),
                    age / NS_PER_S, self.drops.incompatible_policy(spec.name),
                    stamp_offset_s=None if newest is None else newest / NS_PER_S,
                    stamp_offset_peak_s=None if peak is None else peak / NS_PER_S,
                    live_publishers=tuple(self.drops.live_publishers(spec.name, now_ns)),
                    graph_publishers=graph[index], multiple_publishers=self.multiple_publishers,
                    ignored_names=self._ignored_names[index], stamp_source=spec.stamp_source,
                    optional=spec.optional,
                ))
            return reports

    def buffer_report(self, window_frames: int) -> BufferReport:
        """Ring buffer and aligner state; `recent` counts are since the previous call."""
        with self.lock:
            counters = self.aligner.counters
            newest = self.buffer.newest(1)
            report = BufferReport(
                capacity=self.buffer.capacity,
                frames_held=len(self.buffer),
                window_frames=window_frames,
                frames=counters.frames,
                frames_recent=counters.frames - self._frames_reported,
                degraded_frames=counters.degraded_frames,
                degraded_recent=counters.degraded_frames - self._degraded_reported,
                newest_frame_degraded=bool(newest is not None and newest.degraded[-1]),
                skipped_frames=counters.skipped_frames,
                timed_out_frames=counters.timed_out_frames,
                pending_frames=self.aligner.pending_frames,
                aligner_resets=counters.resets,
                last_reset_reason=counters.last_reset_reason,
                newest_frame_stamp_ns=self.buffer.newest_stamp,
                stale_policy=self.layout.alignment.stale_policy,
            )
            self._frames_reported = counters.frames
            self._degraded_reported = counters.degraded_frames
            return report

    def unknown_categorical(self) -> tuple[int, int]:
        """Categorical values outside the vocabulary: (total, since the previous call)."""
        with self.lock:
            total = self.feature_map.unknown_categorical
            recent = total - self._unknown_reported
            self._unknown_reported = total
            return total, recent

    def summary(self) -> dict[str, int]:
        """Totals over all streams and frames, for the final stats line."""
        with self.lock:
            self._sync_stale()
            totals = self.drops.totals().as_dict()
            # loss counted once per stream (max of the two views), then summed
            totals["missing"] = sum(c.missing for c in self.drops.snapshot().values())
            counters = self.aligner.counters
            totals.update(frames=counters.frames, degraded_frames=counters.degraded_frames,
                          aligner_resets=counters.resets)
            return totals
