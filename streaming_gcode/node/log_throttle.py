# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Throttled warnings keyed by stream, outcome and problem.

Keyed by outcome alone, a flood of one kind of malformed message (say, wrong
lengths) kept every other kind (non-finite values, bad stamps) out of the log
for as long as it lasted. The key now also holds the problem: the reason's
wording with its numbers and quoted values taken out (`problem_kind`), so the
adapters' fixed sentences each get their own interval while the values inside
them (lengths, stamps, names) never make a new key. Keys per stream are capped,
so no input can grow the table without bound.
"""

from __future__ import annotations

import re
import threading
import time

MAX_PROBLEM_CHARS = 80          # of a reason kept in its key
MAX_KINDS_PER_STREAM = 32       # distinct (outcome, problem) keys per stream, then OTHER_PROBLEM
OTHER_PROBLEM = "other"
_STREAM_PREFIX = re.compile(r"^stream '[^']*': ")
_VALUE_START = re.compile(r"""['"\[({<]""")   # where quoted names and listed values begin
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

ThrottleKey = tuple[str, str, str]    # (stream label, outcome or subsystem, problem)


def problem_kind(reason: str) -> str:
    """Return what went wrong without the values: `data has # values; expected #`.

    The text before the first quoted or bracketed value, numbers replaced by
    `#`: the adapters' sentences differ in their wording, their values vary.
    """
    text = _STREAM_PREFIX.sub("", reason, count=1)
    start = _VALUE_START.search(text)
    if start is not None:
        text = text[:start.start()]
    return _NUMBER.sub("#", text).strip()[:MAX_PROBLEM_CHARS]


class LogThrottle:
    """At most one log line per key and interval, saying how many were suppressed."""

    def __init__(self) -> None:
        self._last: dict[ThrottleKey, float] = {}
        self._suppressed: dict[ThrottleKey, int] = {}
        self._kinds: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def key(self, stream: str, kind: str, reason: str) -> ThrottleKey:
        """Return the key of a warning; a stream's new problems past the cap share one."""
        problem = problem_kind(reason)
        with self._lock:
            kinds = self._kinds.setdefault(stream, set())
            if (kind, problem) not in kinds:
                if len(kinds) >= MAX_KINDS_PER_STREAM:
                    return (stream, kind, OTHER_PROBLEM)
                kinds.add((kind, problem))
        return (stream, kind, problem)

    def allow(self, key: ThrottleKey, interval_s: float) -> int | None:
        """None to stay quiet, else the number of suppressed lines since the last one."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < interval_s:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._suppressed.pop(key, 0)
