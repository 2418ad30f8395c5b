# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The `stream_node` executable: SIGINT and SIGTERM are handled from the first instant.

Importing the node (rclpy, torch) takes seconds. A signal in that window would
otherwise end the process with a KeyboardInterrupt traceback (SIGINT) or the
default SIGTERM death (exit -15). Here both signals are only recorded: raising
from a signal handler while a native extension is initialising aborts the
process, so nothing is raised. After the imports a recorded signal ends
start-up cleanly (exit 0, a final stats line); `stream_node.main` checks again once
the node exists, and from `rclpy.init` on rclpy stops the executor on either
signal (calling this handler too).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Sequence

from streaming_gcode.core.package import NODE_NAME  # standard library only: stays fast

STOPPED_WHILE_IMPORTING = "final stats: stopped during start-up, no message processed"
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def stop_requested() -> bool:
    """Tell whether SIGINT or SIGTERM has arrived."""
    return bool(_received)


def main(args: Sequence[str] | None = None) -> int:
    """Import and run the node; a signal at any moment gives a clean exit 0."""
    for signum in SIGNALS:
        signal.signal(signum, _record)
    # Deferred on purpose: rclpy and torch take seconds to import, and a signal in
    # that time must only be recorded (the handlers above), never kill the process.
    from streaming_gcode.node import stream_node

    if stop_requested():
        print(f"[{NODE_NAME}] {STOPPED_WHILE_IMPORTING}", file=sys.stderr, flush=True)
        return 0
    try:
        return stream_node.main(args, stop_requested=stop_requested)
    except Exception:
        # A signal shuts the rclpy context down under a node being built; stream_node.main
        # has already printed its final line.
        if stop_requested():
            return 0
        raise


if __name__ == "__main__":
    sys.exit(main())
