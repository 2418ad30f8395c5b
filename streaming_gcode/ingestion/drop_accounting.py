# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Per-stream drop accounting: every message that did not become data is counted.

Losses are inferred from gaps in each publisher's `publication_sequence_number`
(from the subscription's MessageInfo); a publisher is identified by its gid, so
a restarted sensor (new gid, sequence restarting at 1) starts fresh instead of
looking like a loss burst. The other counters are fed by the node: RMW
message-lost events, late and out-of-order samples refused by the aligner,
malformed messages refused by the adapters, stale frames, incompatible QoS.
Not thread-safe by itself: the node serialises calls.

Loss is counted once. `lost` (sequence gaps) and `rmw_lost` (the middleware's
message-lost events) are two views of the same missing messages: both are
kept and shown, but `missing` = max(lost, rmw_lost) is what `dropped`,
`offered`, drop ratios and the final stats line add. Where only one view exists
(rclpy without publisher gids: no gaps) the other still counts; where both see
the same burst it is not counted twice.

Several publishers on one stream: `admit` applies `multiple_publishers`
(`warn`: take all, the status WARNs; `accept`: take all; `first`: take only the
first live publisher's messages, the others' are counted `refused_publisher`).
A publisher is live while seen within PUBLISHER_LIVE_NS. Without gids (Jazzy:
`untracked`) publishers cannot be told apart: every message is taken.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, fields, replace
from typing import Hashable, Iterable

from streaming_gcode.core.parameters import MULTIPLE_PUBLISHERS_CHOICES

DEFAULT_MAX_PUBLISHERS = 32
PUBLISHER_LIVE_NS = 2_000_000_000    # a publisher not heard for this long is not live
MULTIPLE_PUBLISHERS_WARN, MULTIPLE_PUBLISHERS_ACCEPT, MULTIPLE_PUBLISHERS_FIRST = (
    MULTIPLE_PUBLISHERS_CHOICES
)


@dataclass(frozen=True)
class DropCounters:
    """Cumulative counts for one stream since start."""

    received: int = 0            # messages delivered to the callback
    accepted: int = 0            # samples the aligner took
    lost: int = 0                # inferred from sequence-number gaps
    rmw_lost: int = 0            # reported by the middleware (message-lost events)
    late: int = 0                # behind the alignment watermark
    out_of_order: int = 0        # older than the stream's newest sample
    malformed: int = 0           # rejected by the adapter
    before_clock: int = 0        # arrived while the node clock read zero (sim time, no /clock)
    stale: int = 0               # frames built without a fresh sample of this stream
    incompatible_qos: int = 0    # incompatible-QoS events (a publisher we cannot hear)
    sequence_resets: int = 0     # sequence went backwards on a known publisher
    publishers: int = 0          # distinct publisher identities seen
    untracked: int = 0           # delivered without publisher gid or sequence: no gap inferable
    retracted: int = 0           # accepted stamped far ahead of the clock, then withdrawn
    #                              (a part of `accepted`)
    refused_publisher: int = 0   # from a second publisher under multiple_publishers=first
    samples_left_out: int = 0    # samples of accepted batches behind the watermark (not
    #                              messages: not in `dropped`)
    samples_overwritten: int = 0  # aggregated samples lost from a full history, untaken

    @property
    def missing(self) -> int:
        """Messages lost on the way, counted once: the larger of the two views."""
        return max(self.lost, self.rmw_lost)

    @property
    def dropped(self) -> int:
        """Messages that were sent or delivered but did not become data."""
        return (self.missing + self.late + self.out_of_order + self.malformed
                + self.before_clock + self.retracted)

    @property
    def offered(self) -> int:
        """Messages the publishers sent as far as we can tell (delivered + lost)."""
        return self.received + self.missing

    def minus(self, earlier: DropCounters) -> DropCounters:
        """Return the counts accumulated since the `earlier` snapshot."""
        return DropCounters(
            **{f.name: getattr(self, f.name) - getattr(earlier, f.name) for f in fields(self)}
        )

    def as_dict(self) -> dict[str, int]:
        """Counters as a plain mapping (for diagnostics and the final stats line)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNTER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(DropCounters))


class _StreamState:
    """Mutable counters and the newest sequence number of each recent publisher."""

    def __init__(self, max_publishers: int) -> None:
        self.counts = dict.fromkeys(COUNTER_NAMES, 0)
        self.last_sequence: OrderedDict[Hashable, int] = OrderedDict()
        self.max_publishers = max_publishers
        self.last_incompatible_policy = ""
        self.last_seen: OrderedDict[Hashable, int] = OrderedDict()
        self.owner: Hashable | None = None


class DropAccounting:
    """Drop counters for a fixed set of streams, keyed by stream name."""

    def __init__(
        self, streams: Iterable[str], max_publishers: int = DEFAULT_MAX_PUBLISHERS
    ) -> None:
        if max_publishers < 1:
            raise ValueError(f"max_publishers must be >= 1, got {max_publishers}")
        self._streams = {name: _StreamState(max_publishers) for name in streams}

    @property
    def streams(self) -> tuple[str, ...]:
        """Stream names in the order given."""
        return tuple(self._streams)

    def _state(self, stream: str) -> _StreamState:
        try:
            return self._streams[stream]
        except KeyError:
            raise KeyError(
                f"no drop counters for stream {stream!r}; streams are {list(self._streams)}"
            ) from None

    def on_message(self, stream: str, publisher: Hashable | None, sequence: int | None) -> int:
        """Count a delivered message; return how many were lost just before it.

        `publisher` is the publisher gid (any hashable) and `sequence` its
        publication sequence number; either may be None (or 0) when the
        middleware does not provide it, and then no gap can be inferred.
        """
        state = self._state(stream)
        state.counts["received"] += 1
        if publisher is None or not sequence:
            state.counts["untracked"] += 1
            return 0
        history = state.last_sequence
        previous = history.get(publisher)
        history[publisher] = sequence
        history.move_to_end(publisher)
        if previous is None:
            state.counts["publishers"] += 1
            if len(history) > state.max_publishers:
                history.popitem(last=False)
            return 0
        if sequence <= previous:
            state.counts["sequence_resets"] += 1
            return 0
        gap = sequence - previous - 1
        state.counts["lost"] += gap
        return gap

    def admit(self, stream: str, publisher: Hashable | None, now_ns: int, policy: str) -> bool:
        """Note `publisher` as live at `now_ns`; False if `policy` refuses its message."""
        state = self._state(stream)
        if publisher is None:
            return True
        seen = state.last_seen
        seen[publisher] = now_ns
        seen.move_to_end(publisher)
        if len(seen) > state.max_publishers:
            seen.popitem(last=False)
        owner = state.owner
        if owner is None or now_ns - seen.get(owner, now_ns - PUBLISHER_LIVE_NS - 1) \
                > PUBLISHER_LIVE_NS:
            state.owner = owner = publisher
        if policy == MULTIPLE_PUBLISHERS_FIRST and publisher != owner:
            state.counts["refused_publisher"] += 1
            return False
        return True

    def live_publishers(self, stream: str, now_ns: int) -> list[Hashable]:
        """Return the publishers heard within PUBLISHER_LIVE_NS, the first one first."""
        state = self._state(stream)
        live = [p for p, t in state.last_seen.items() if now_ns - t <= PUBLISHER_LIVE_NS]
        if state.owner in live:
            live.remove(state.owner)
            live.insert(0, state.owner)
        return live

    def on_retracted(self, stream: str, count: int) -> None:
        """Count accepted samples later withdrawn (stamped far ahead of the node clock).

        They stay in `accepted` (what the aligner took on arrival), so `received` still
        splits into accepted + refused; `dropped` counts them as not having become data.
        """
        self._state(stream).counts["retracted"] += max(0, int(count))

    def on_samples_left_out(self, stream: str, count: int) -> None:
        """Count samples of an accepted batch left out behind the alignment watermark."""
        self._state(stream).counts["samples_left_out"] += max(0, int(count))

    def on_samples_overwritten(self, stream: str, count: int) -> None:
        """Count aggregated samples overwritten in a full history before a frame took them."""
        self._state(stream).counts["samples_overwritten"] += max(0, int(count))

    def on_accepted(self, stream: str) -> None:
        """Count a sample the aligner took."""
        self._state(stream).counts["accepted"] += 1

    def on_late(self, stream: str) -> None:
        """Count a sample refused because it is behind the alignment watermark."""
        self._state(stream).counts["late"] += 1

    def on_out_of_order(self, stream: str) -> None:
        """Count a sample older than the stream's newest sample."""
        self._state(stream).counts["out_of_order"] += 1

    def on_malformed(self, stream: str) -> None:
        """Count a message the adapter rejected."""
        self._state(stream).counts["malformed"] += 1

    def on_before_clock(self, stream: str) -> None:
        """Count a message that arrived before the node clock started (dropped)."""
        self._state(stream).counts["before_clock"] += 1

    def on_message_lost(self, stream: str, count_change: int) -> None:
        """Count messages the middleware reports as lost (message-lost event)."""
        self._state(stream).counts["rmw_lost"] += max(0, int(count_change))

    def on_stale(self, stream: str, frames: int = 1) -> None:
        """Count frames built while this stream had no fresh sample."""
        self._state(stream).counts["stale"] += max(0, int(frames))

    def on_incompatible_qos(self, stream: str, count_change: int, policy: str) -> None:
        """Count incompatible-QoS events and remember the offending policy."""
        state = self._state(stream)
        state.counts["incompatible_qos"] += max(0, int(count_change))
        state.last_incompatible_policy = policy

    def incompatible_policy(self, stream: str) -> str:
        """Return the QoS policy named by the latest incompatible-QoS event ('' if none)."""
        return self._state(stream).last_incompatible_policy

    def tracked_publishers(self, stream: str) -> int:
        """Count the publisher identities remembered (bounded by max_publishers)."""
        return len(self._state(stream).last_sequence)

    def counters(self, stream: str) -> DropCounters:
        """Return an immutable snapshot of one stream's counters."""
        return DropCounters(**self._state(stream).counts)

    def snapshot(self) -> dict[str, DropCounters]:
        """Immutable snapshots of every stream's counters."""
        return {name: self.counters(name) for name in self._streams}

    def totals(self) -> DropCounters:
        """All streams summed."""
        total = DropCounters()
        for counters in self.snapshot().values():
            total = replace(
                total,
                **{name: getattr(total, name) + getattr(counters, name) for name in COUNTER_NAMES},
            )
        return total
