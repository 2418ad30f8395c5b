# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The node's managed lifecycle: every transition counted, a configuration error a FAILURE.

`ManagedNode` is rclpy's `LifecycleNode` with the bookkeeping around the stream
node's four hooks (`configure_pipeline`, `start_outputs`, `stop_outputs`,
`release_pipeline`). A configuration error ends configure with FAILURE and one
logged error, after releasing whatever the failed attempt had created, so the
node can be configured again. `autostart` (the node's default, what `ros2 run`
does) configures and activates at once and raises the error instead, so
`stream_node` exits with code 2 and one error line as it did before it was managed.
Inactive, the subscriptions stay: messages are counted and aligned as usual
(the buffer stays warm) and only the outputs stop.
"""

from __future__ import annotations

from dataclasses import dataclass
import signal
import sys
from typing import Any, Callable, Sequence

import rclpy
from rclpy.executors import Executor, ExternalShutdownException
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from streaming_gcode.core.errors import StreamingGcodeError
from streaming_gcode.core.package import NODE_NAME
from streaming_gcode.node.executor_choice import (
    executor_kind, freeze_startup_objects, make_executor, SINGLE_THREADED,
    use_node_switch_interval,
)
from streaming_gcode.outputs.diagnostics import ACTIVE_STATE, LifecycleReport

UNCONFIGURED, INACTIVE, FINALIZED = "unconfigured", "inactive", "finalized"
STOPPED_DURING_STARTUP = "final stats: stopped during start-up, no message processed"
EXIT_CONFIG_ERROR = 2   # `stream_node`'s exit code for a configuration error


@dataclass
class TransitionCounts:
    """Transitions since start, and the messages delivered while inactive."""

    state: str = UNCONFIGURED
    transitions: int = 0
    configures: int = 0
    configure_failures: int = 0
    activations: int = 0
    deactivations: int = 0
    cleanups: int = 0
    shutdowns: int = 0
    inactive_messages: int = 0     # closed inactive periods
    inactive_from: int | None = None   # messages received when the open one began

    def enter(self, state: str, received: int) -> None:
        """Record the new state; `received` is the node's message total at this moment."""
        if self.inactive_from is not None:
            self.inactive_messages += received - self.inactive_from
        self.inactive_from = received if state == INACTIVE else None
        self.state = state

    def messages_inactive(self, received: int) -> int:
        """Messages delivered while inactive, the open period included."""
        open_period = 0 if self.inactive_from is None else received - self.inactive_from
        return self.inactive_messages + open_period


class ManagedNode(LifecycleNode):
    """A lifecycle node whose subclass says how to build, start, stop and release its work."""

    autostart_requested: bool = True   # configure and activate at once (a parameter)
    # Work may run inside other callbacks (the tick in ingestion: tick_wakeup.py): set
    # by `run_process` when it spins the single-threaded executor, off in-process.
    inline_ticks: bool = False

    def __init__(self, node_name: str, **node_kwargs: Any) -> None:
        super().__init__(node_name, **node_kwargs)
        self.transitions = TransitionCounts()
        self.configure_error: BaseException | None = None   # of the last failed configure
        self._raise_on_failure = False                      # autostart: main reports it

    # -- what the subclass does ---------------------------------------------------------

    def configure_pipeline(self) -> None:
        """Read the parameters, load the model, subscribe (StreamingGcodeError: bad config)."""
        raise NotImplementedError

    def start_outputs(self) -> None:
        """Start the ticks and publishing."""
        raise NotImplementedError

    def stop_outputs(self) -> None:
        """Stop the ticks: nothing is published until the next activation."""
        raise NotImplementedError

    def release_pipeline(self) -> None:
        """Destroy subscriptions, publishers and timers; drop the model (safe when partial)."""
        raise NotImplementedError

    def messages_received(self) -> int:
        """Messages delivered to the subscriptions so far."""
        return 0

    def final_stats(self) -> str:
        """Return the process's last line."""
        raise NotImplementedError

    # -- rclpy's transition callbacks -----------------------------------------------------

    def _enter(self, state: str) -> TransitionCallbackReturn:
        self.transitions.enter(state, self.messages_received())
        return TransitionCallbackReturn.SUCCESS

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Build everything; on an error release what was built and report FAILURE."""
        counts = self.transitions
        counts.transitions += 1
        counts.configures += 1
        try:
            self.configure_pipeline()
        except Exception as exc:  # noqa: BLE001 - a transition reports, it does not raise
            self.release_pipeline()
            counts.configure_failures += 1
            self.configure_error = exc
            if not isinstance(exc, StreamingGcodeError):
                self.get_logger().error(f"configure failed: {exc!r}")
                return TransitionCallbackReturn.ERROR
            if not self._raise_on_failure:
                self.get_logger().error(f"configure failed: {exc}")
            return TransitionCallbackReturn.FAILURE
        self.configure_error = None
        return self._enter(INACTIVE)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start ticking and publishing."""
        self.transitions.transitions += 1
        self.transitions.activations += 1
        self.start_outputs()
        return self._enter(ACTIVE_STATE)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the outputs; inputs go on being counted and aligned."""
        self.transitions.transitions += 1
        self.transitions.deactivations += 1
        self.stop_outputs()
        return self._enter(INACTIVE)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything configure built."""
        self.transitions.transitions += 1
        self.transitions.cleanups += 1
        received = self.messages_received()
        self.release_pipeline()
        self.transitions.enter(UNCONFIGURED, received)
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, from whichever state."""
        self.transitions.transitions += 1
        self.transitions.shutdowns += 1
        received = self.messages_received()
        self.stop_outputs()
        self.release_pipeline()
        self.transitions.enter(FINALIZED, received)
        return TransitionCallbackReturn.SUCCESS

    def lifecycle_report(self) -> LifecycleReport:
        """Report the counts for the inference status, and the entities held (leak check)."""
        c = self.transitions
        return LifecycleReport(
            c.state, c.transitions, c.configures, c.configure_failures, c.activations,
            c.deactivations, c.cleanups, c.messages_inactive(self.messages_received()),
            len(list(self.subscriptions)), len(list(self.publishers)), len(list(self.timers)))


def autostart(node: ManagedNode) -> None:
    """Configure and activate `node`; raise the configuration error if configure failed."""
    node._raise_on_failure = True
    try:
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise node.configure_error or RuntimeError("configure failed")
    finally:
        node._raise_on_failure = False
    if node.trigger_activate() != TransitionCallbackReturn.SUCCESS:
        raise RuntimeError("activate failed")


def started(node: ManagedNode) -> ManagedNode:
    """Autostart `node` if it asks for it; a failure destroys it and raises (in-process use)."""
    if node.autostart_requested:
        try:
            autostart(node)
        except BaseException:
            node.destroy_node()
            raise
    return node


def _ignore_signals() -> None:
    """Ignore further SIGINT/SIGTERM: a second Ctrl-C must not become a traceback."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def run_process(make_node: Callable[[], ManagedNode], args: Sequence[str] | None,
                stop_requested: Callable[[], bool] | None) -> int:
    """Build, autostart and spin a node until SIGINT/SIGTERM; 0, or 2 on a bad config.

    Exit 0 ends with the node's final stats line; a configuration error (at
    construction or, with autostart, at configure) is one `stream_node: error:`
    line and EXIT_CONFIG_ERROR. Without autostart the node waits unconfigured
    for the lifecycle services.
    """
    node: ManagedNode | None = None
    executor: Executor | None = None
    status = 0
    use_node_switch_interval()
    try:
        kind = executor_kind()   # STREAMING_GCODE_EXECUTOR, for the benchmark
        rclpy.init(args=list(args) if args is not None else None)
        node = make_node()
        node.inline_ticks = kind == SINGLE_THREADED
        if stop_requested is not None and stop_requested():
            return status
        if node.autostart_requested:
            autostart(node)
        freeze_startup_objects()
        executor = make_executor(kind)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except StreamingGcodeError as exc:
        print(f"stream_node: error: {exc}", file=sys.stderr, flush=True)
        status = EXIT_CONFIG_ERROR
    finally:
        _ignore_signals()
        if executor is not None:
            executor.shutdown()  # let a running tick finish before the node goes away
        if node is not None:
            if status == 0:   # a refused configuration has its error line only
                print(f"[{NODE_NAME}] {node.final_stats()}", file=sys.stderr, flush=True)
            node.destroy_node()
        elif status == 0:
            print(f"[{NODE_NAME}] {STOPPED_DURING_STARTUP}", file=sys.stderr, flush=True)
        rclpy.try_shutdown()
    return status
