# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The `stream_node` executable: SIGINT and SIGTERM are handled from the first instant.

Importing the node (rclpy, torch) takes seconds. A signal in that window would
otherwise end the process with a KeyboardInterrupt traceback (SIGINT) or the
default SIGTERM death (exit -15). Here a signal during the imports ends
start-up cleanly (exit 0, a final stats line); once they are done both signals
raise KeyboardInterrupt until `node.main` hands them to rclpy, which stops the
executor on either.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Sequence

NODE_NAME = "streaming_gcode"
STOPPED_WHILE_IMPORTING = "final stats: stopped during start-up, no message processed"
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _StopRequested(BaseException):
    """Unwinds the imports when a signal arrives before the node exists."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequested(signum)


def main(args: Sequence[str] | None = None) -> int:
    """Import and run the node; a signal at any moment gives a clean exit 0."""
    for signum in SIGNALS:
        signal.signal(signum, _stop)
    try:
        from streaming_gcode import node
        for signum in SIGNALS:
            signal.signal(signum, signal.default_int_handler)
    except _StopRequested:
        for signum in SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        print(f"[{NODE_NAME}] {STOPPED_WHILE_IMPORTING}", file=sys.stderr, flush=True)
        return 0
    return node.main(args)


if __name__ == "__main__":
    sys.exit(main())
