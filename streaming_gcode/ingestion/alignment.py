# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Timestamp alignment of several sensor streams into model frames.

The same `FrameAligner` runs in the live node (samples from subscriptions, `now`
from the node clock) and offline (samples from a recording, `now` = newest stamp
seen), so training, evaluation and the node see identical frames. The rules are
in docs/architecture.md ("Alignment semantics").

The watermark follows the node clock: a frame is never finalised before `now`
reaches its stamp, so a sample stamped ahead of the clock (inside the adapters'
`max_future_stamp_s`) cannot push the watermark past the other streams' good
samples. A sample more than `max_staleness` ahead is provisional: when its
stream's next sample is stamped before it, the ahead sample (and its pending
frame on the frame clock) is retracted (counted) instead of the good one being
refused as out of order. Offline, `now` is the newest stamp seen, never behind
a sample or a frame, so neither rule applies there: frames are the node's.
Aggregated streams (ingestion/aggregation.py) keep every sample since the previous
frame; a batch (`push_batch`, a 2-D array message) is stamped back from its receipt.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
import enum
from typing import Iterable, Protocol

import numpy as np

from streaming_gcode.core.features import FeatureMap
from streaming_gcode.core.stream_layout import aggregate_history_depth, StreamLayout
from streaming_gcode.ingestion.aggregation import batch_stamps, StreamAggregator
from streaming_gcode.ingestion.frame_table import FrameCollector, FrameTable
from streaming_gcode.ingestion.stream_history import StreamHistory

DEFAULT_HISTORY = 64
MAX_PENDING_FRAMES = 4096
# `now` read by two threads (a tick and a message callback) can arrive slightly out of
# order; only a step back larger than this is a clock jump (sim time restarted).
CLOCK_JUMP_TOLERANCE_NS = 1_000_000_000


class SampleVerdict(enum.Enum):
    """What the aligner did with one sample."""

    ACCEPTED = "accepted"
    LATE = "late"                  # stamped before the newest finalised frame
    OUT_OF_ORDER = "out_of_order"  # stamped before its stream's newest sample


class FrameSink(Protocol):
    """Anything frames can be appended to (the ring buffer, an offline collector)."""

    def append(
        self, stamp_ns: int, continuous: np.ndarray, categorical: np.ndarray, degraded: bool
    ) -> None:
        """Take one finalised frame (copied by the sink)."""


@dataclass
class AlignmentCounters:
    """Everything the aligner dropped, flagged or reset, for diagnostics."""

    frames: int = 0
    degraded_frames: int = 0
    skipped_frames: int = 0
    timed_out_frames: int = 0
    resets: int = 0
    last_reset_reason: str = ""
    accepted: list[int] = field(default_factory=list)
    late: list[int] = field(default_factory=list)
    out_of_order: list[int] = field(default_factory=list)
    stale_frames: list[int] = field(default_factory=list)
    retracted: list[int] = field(default_factory=list)   # ahead samples withdrawn
    left_out: list[int] = field(default_factory=list)    # batch samples behind the watermark
    overwritten: list[int] = field(default_factory=list)  # aggregated, lost from a full ring
    sample_events: int = 0   # changes of retracted, left_out or overwritten (cheap to poll)


class FrameAligner:
    """Turns per-stream samples into frames on a frame clock or a fixed grid."""

    def __init__(
        self,
        layout: StreamLayout,
        feature_map: FeatureMap,
        sink: FrameSink,
        history_depth: int = DEFAULT_HISTORY,
    ) -> None:
        self.layout = layout
        self.feature_map = feature_map
        self.sink = sink
        settings = layout.alignment
        self._clock = layout.clock_index
        self._period = settings.frame_period_ns
        self._staleness = settings.max_staleness_ns
        self._timeout = settings.alignment_timeout_ns
        self._policy = settings.stale_policy
        self._histories = [
            StreamHistory(len(s.channels), aggregate_history_depth(s, settings)
                          if s.aggregated else history_depth)
            for s in layout.streams
        ]
        # None for `newest` streams: their frames take one sample, as they always did.
        self._aggregators = [StreamAggregator(s.aggregate) if s.aggregated else None
                             for s in layout.streams]
        self._sample_periods = [s.sample_period_ns for s in layout.streams]
        self._pending: deque[int] = deque()
        self._next_grid: int | None = None
        self._watermark: int | None = None
        self._last_now: int | None = None
        self._started_ns: int | None = None
        self._continuous = np.zeros(feature_map.n_continuous, dtype=np.float32)
        self._categorical = np.zeros(feature_map.n_categorical, dtype=np.int64)
        n = len(layout.streams)
        self.counters = AlignmentCounters(
            accepted=[0] * n, late=[0] * n, out_of_order=[0] * n, stale_frames=[0] * n,
            retracted=[0] * n,
            left_out=[0] * n,
            overwritten=[0] * n,
        )

    @property
    def watermark_ns(self) -> int | None:
        """Stamp of the newest finalised frame."""
        return self._watermark

    @property
    def pending_frames(self) -> int:
        """Frames waiting for slower streams."""
        return len(self._pending)

    def newest_stamp(self, stream_index: int) -> int | None:
        """Stamp of a stream's newest accepted sample."""
        return self._histories[stream_index].newest_stamp

    def push(self, stream_index: int, stamp_ns: int, values: np.ndarray) -> SampleVerdict:
        """Take one validated sample; late and out-of-order samples are dropped and counted."""
        history = self._histories[stream_index]
        if self._watermark is not None and (
            stamp_ns < self._watermark
            or (stream_index == self._clock and stamp_ns == self._watermark)
        ) and not self._revives(stream_index, stamp_ns):
            self.counters.late[stream_index] += 1
            return SampleVerdict.LATE
        newest = history.newest_stamp
        if newest is not None and self._last_now is not None \
                and newest > self._last_now + self._staleness and stamp_ns <= newest:
            newest = self._retract(stream_index, stamp_ns)
        if newest is not None and (
            stamp_ns < newest or (stream_index == self._clock and stamp_ns == newest)
        ):
            self.counters.out_of_order[stream_index] += 1
            return SampleVerdict.OUT_OF_ORDER
        if self._aggregators[stream_index] is not None and history.retained == history.depth:
            self.counters.sample_events += 1
            self.counters.overwritten[stream_index] += history.overwrites_after(
                np.array([stamp_ns]), self._watermark)
        history.push(stamp_ns, values)
        if self._started_ns is None:
            self._started_ns = stamp_ns
        self.counters.accepted[stream_index] += 1
        if stream_index == self._clock:
            self._add_pending(stamp_ns)
        elif self._clock is None:
            self._extend_grid(stamp_ns)
        return SampleVerdict.ACCEPTED

    def _revives(self, stream_index: int, stamp_ns: int) -> bool:
        """Tell whether a sample behind the watermark brings a dead stream back.

        Frames do not wait for a stream whose newest sample is older than
        `max_staleness` (or that sent none): after a silence, the clock's first
        sample finalises its frame at once, and the resuming stream's samples of
        that moment sit just behind the watermark. Dropping them as late would
        keep the stream dead while the clock stays ahead; taking them (never into
        finalised frames) makes frames wait for it again. Only within
        `max_staleness` of the watermark (an older sample is fresh for no frame).
        """
        if stream_index == self._clock or self._watermark - stamp_ns > self._staleness:
            return False
        newest = self._histories[stream_index].newest_stamp
        return newest is None or self._watermark - newest > self._staleness

    def push_batch(self, stream_index: int, end_ns: int, values: np.ndarray) -> SampleVerdict:
        """Take a batch `[n, channels]`, samples `sample_rate_hz` apart, the last at `end_ns`.

        Receipt jitter can make a batch reach back before the stream's previous
        sample: those stamps move up to it (nothing lost). Samples behind the
        watermark (finalised frames) are left out; late only when all of them are,
        unless the batch brings a dead stream back (`_revives`): then it is taken.
        """
        history = self._histories[stream_index]
        period = self._sample_periods[stream_index]
        if period is None:
            raise ValueError(f"stream {self.layout.streams[stream_index].name!r} has no "
                             "sample_rate_hz; its batches cannot be stamped")
        behind = self._watermark is not None and end_ns <= self._watermark
        reviving = behind and self._revives(stream_index, end_ns)
        if behind and end_ns < self._watermark and not reviving:
            self.counters.late[stream_index] += 1
            return SampleVerdict.LATE
        newest = history.newest_stamp
        if newest is not None and end_ns < newest:
            self.counters.out_of_order[stream_index] += 1
            return SampleVerdict.OUT_OF_ORDER
        stamps = batch_stamps(end_ns, len(values), period, newest)
        if self._watermark is not None and not reviving:
            keep = stamps > self._watermark   # at the watermark: the finalised frame's moment
            self.counters.left_out[stream_index] += len(keep) - int(np.count_nonzero(keep))
            self.counters.sample_events += 1
            stamps, values = stamps[keep], values[keep]
        if self._aggregators[stream_index] is not None:
            self.counters.sample_events += 1
            self.counters.overwritten[stream_index] += history.overwrites_after(
                stamps, self._watermark)
        history.push_many(stamps, values)
        if self._started_ns is None:
            self._started_ns = int(stamps[0])
        self.counters.accepted[stream_index] += 1
        if self._clock is None:
            self._extend_grid(end_ns)
        return SampleVerdict.ACCEPTED

    def _retract(self, stream_index: int, stamp_ns: int) -> int | None:
        """Withdraw a stream's samples stamped ahead of the clock and after `stamp_ns`.

        Called when the stream's newest sample is more than `max_staleness` ahead of
        the last `now`. Only samples stamped after that `now` are withdrawn (never used
        for a frame: frames wait for the clock); on the frame clock their pending
        frames go too. Returns the stream's newest stamp afterwards.
        """
        history = self._histories[stream_index]
        floor = max(stamp_ns - (stream_index == self._clock), self._last_now or stamp_ns)
        retracted = history.retract_after(floor)
        self.counters.retracted[stream_index] += retracted  # still counted in `accepted`
        self.counters.sample_events += 1
        if stream_index == self._clock:
            while self._pending and self._pending[-1] > floor:
                self._pending.pop()
        return history.newest_stamp

    def advance(self, now_ns: int) -> int:
        """Finalise frames that are complete or whose timeout passed; return how many."""
        if self._last_now is not None and now_ns < self._last_now:
            if self._last_now - now_ns > CLOCK_JUMP_TOLERANCE_NS:
                self.reset("clock jumped back")
            else:
                now_ns = self._last_now
        self._last_now = now_ns
        starting = self._started_ns is not None and now_ns < self._started_ns + self._timeout
        emitted = 0
        while self._pending:
            stamp = self._pending[0]
            if stamp > now_ns:
                break  # the watermark never passes the node clock
            if not self._complete(stamp, starting):
                if now_ns < stamp + self._timeout:
                    break
                self.counters.timed_out_frames += 1
            self._pending.popleft()
            emitted += self._emit(stamp)
        return emitted

    def flush(self) -> int:
        """Finalise every pending frame (end of a recording)."""
        emitted = 0
        while self._pending:
            emitted += self._emit(self._pending.popleft())
        return emitted

    def reset(self, reason: str) -> None:
        """Forget all samples and pending frames (clock jump, restart); counted."""
        for history in self._histories:
            history.clear()
        for aggregator in self._aggregators:
            if aggregator is not None:
                aggregator.clear()
        self._pending.clear()
        self._next_grid = None
        self._watermark = None
        self._last_now = None
        self._started_ns = None
        self.counters.resets += 1
        self.counters.last_reset_reason = reason

    def _add_pending(self, stamp_ns: int) -> None:
        if len(self._pending) >= MAX_PENDING_FRAMES:
            self.counters.timed_out_frames += 1
            if self._last_now is not None and self._pending[0] > self._last_now:
                return  # a flood stamped ahead: drop the new frame, never emit before `now`
            self._emit(self._pending.popleft())
        self._pending.append(stamp_ns)

    def _extend_grid(self, stamp_ns: int) -> None:
        if self._next_grid is None:
            self._next_grid = -(-stamp_ns // self._period) * self._period
        while self._next_grid <= stamp_ns:
            self._add_pending(self._next_grid)
            self._next_grid += self._period

    def _complete(self, stamp_ns: int, starting: bool) -> bool:
        """Tell whether every live stream has delivered a sample at or after `stamp_ns`.

        While `starting` (within one alignment timeout of the first sample after a
        reset), streams not seen yet are waited for too, so the first frames do not
        depend on which stream's message happened to arrive first.
        """
        for index, history in enumerate(self._histories):
            if index == self._clock:
                continue
            newest = history.newest_stamp
            if newest is None:
                if starting:
                    return False
                continue
            if newest >= stamp_ns:
                continue
            if stamp_ns - newest <= self._staleness:
                return False
        return True

    def _emit(self, stamp_ns: int) -> int:
        degraded = False
        fmap = self.feature_map
        for index, history in enumerate(self._histories):
            gather = fmap.gathers[index]
            aggregator = self._aggregators[index]
            if aggregator is None:
                slot = history.newest_at_or_before(stamp_ns)
            else:
                slot, held = self._aggregate(history, aggregator, stamp_ns)
            fresh = slot is not None and stamp_ns - int(history.stamps[slot]) <= self._staleness
            if not fresh:
                self.counters.stale_frames[index] += 1
                if self._policy == "skip":
                    self.counters.skipped_frames += 1
                    self._watermark = stamp_ns
                    return 0
                degraded = True
                if self._policy == "zero_fill":
                    slot = None
            if slot is not None and aggregator is not None and held is None:
                # nothing aggregated yet (the only sample sits at the watermark or is
                # stale): the fill value, never one raw sample passed off as a statistic
                degraded, slot = True, None
            if slot is None:
                dst = gather.continuous_dst
                self._continuous[dst] = fmap.continuous_fill[dst]
                self._categorical[gather.categorical_dst] = 0
                continue
            values = history.values[slot] if aggregator is None else held
            self._continuous[gather.continuous_dst] = values[gather.continuous_src]
            for src, dst in zip(gather.categorical_src, gather.categorical_dst):
                self._categorical[dst] = fmap.category_index(int(dst), float(values[src]))
        self.sink.append(stamp_ns, self._continuous, self._categorical, degraded)
        self._watermark = stamp_ns
        self.counters.frames += 1
        self.counters.degraded_frames += int(degraded)
        return 1

    def _aggregate(self, history: StreamHistory, aggregator: StreamAggregator,
                   stamp_ns: int) -> tuple[int | None, np.ndarray | None]:
        """Newest slot at or before `stamp_ns` and the frame's value (ingestion/aggregation.py).

        The samples are those after the previous frame, at most `max_staleness` old.
        """
        after = stamp_ns - self._staleness - 1
        if self._watermark is not None:
            after = max(after, self._watermark)
        samples, slot = history.between(after, stamp_ns)
        return slot, aggregator.frame_value(samples)


def align_samples(
    layout: StreamLayout,
    feature_map: FeatureMap,
    samples: Iterable[tuple[int, int, np.ndarray]],
    aligner_out: list[FrameAligner] | None = None,
) -> FrameTable:
    """Align recorded samples `(stream_index, stamp_ns, values)` exactly as the node would.

    `now` follows the newest stamp seen, as if the recording were replayed in real
    time; pass a list as `aligner_out` to get the aligner (and its counters) back.
    """
    collector = FrameCollector()
    aligner = FrameAligner(layout, feature_map, collector)
    newest: int | None = None
    for stream_index, stamp_ns, values in samples:
        if values.ndim == 2:   # a batch (2-D array message), stamped at its last sample
            aligner.push_batch(stream_index, stamp_ns, values)
        else:
            aligner.push(stream_index, stamp_ns, values)
        newest = stamp_ns if newest is None else max(newest, stamp_ns)
        aligner.advance(newest)
    aligner.flush()
    if aligner_out is not None:
        aligner_out.append(aligner)
    return collector.table(feature_map.n_continuous, feature_map.n_categorical)
