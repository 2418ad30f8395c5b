# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Sim time that jumps back (a bag replayed again): the node resets cleanly and says so.

The node runs with `use_sim_time` in incremental mode; this test publishes
`/clock` and stamps every sample with that clock, first from T1, then again
from T0 < T1 as a replayed recording would. Expected: the aligner and the
recurrent state reset (counted in diagnostics), no window mixes frames from
both sides of the jump, predictions resume in the new time base, and the
samples after the jump are not refused as late. A wall-clock step goes
through the same path (the node clock going back) but cannot be injected
without changing this machine's clock, so it is not tested here.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

from rosgraph_msgs.msg import Clock  # noqa: E402
import torch  # noqa: E402, I100

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)

S = fs.S
T1 = 1_800_000_000 * S
T0 = T1 - 600 * S
FRAME_NS = int(fs.PERIOD_S * S)
BUFFER = fs.STATUS + "buffer"
INFERENCE = fs.STATUS + "inference"
JOINTS = fs.STATUS + "stream joints"


class SimSource:
    """Publishes /clock and the streams stamped on it, one frame per call."""

    def __init__(self, graph: fs.Graph, start_ns: int) -> None:
        self.graph = graph
        self.now = start_ns

    def frame(self) -> int:
        self.now += FRAME_NS
        clock = Clock()
        clock.clock.sec, clock.clock.nanosec = divmod(self.now, S)
        self.graph.clock.publish(clock)
        return self.graph.publish(stamp_ns=self.now)

    def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.frame()
            time.sleep(fs.PERIOD_S)


def test_sim_time_jumping_back_resets_buffer_and_state_counted(tmp_path) -> None:
    checkpoint = fs.small_checkpoint(tmp_path / "small.pt")
    graph = fs.Graph("clock_test")
    node = None
    try:
        node = fs.start(tmp_path, fs.node_params(checkpoint, use_sim_time=True,
                                                 mode="incremental"), graph)
        source = SimSource(graph, T1)
        end = time.monotonic() + 60.0
        while len(graph.predictions) < 5 and time.monotonic() < end:
            source.frame()
            time.sleep(fs.PERIOD_S)
        assert len(graph.predictions) >= 5, node.text()[-2000:]
        source.run(0.5)
        graph.wait_for(lambda: bool(graph.statuses(time.monotonic() - 0.2)), 10.0,
                       "fresh diagnostics")
        before = graph.statuses()
        jumped = time.monotonic()
        source.now = T0                                   # the recording starts again
        source.run(3.0)
        after = graph.statuses(time.monotonic() - 0.3) or graph.statuses()
        assert int(after[BUFFER]["aligner_resets"]) == int(before[BUFFER]["aligner_resets"]) + 1
        assert "back" in after[BUFFER]["last_reset_reason"].lower(), after[BUFFER]
        assert int(after[INFERENCE]["state_resets"]) > int(before[INFERENCE]["state_resets"])
        # the samples after the jump are data, not late drops
        assert int(after[JOINTS]["late"]) - int(before[JOINTS]["late"]) <= 2
        resumed = [r for r in graph.predictions_since(jumped) if r["stamp_ns"] < T1]
        assert len(resumed) >= 5
        for record in resumed:                            # no window spans the jump
            assert T0 < record["window_start_ns"] <= record["stamp_ns"] < T1
        assert int(after[INFERENCE]["errors"]) == 0
        code = node.stop()
        text = node.text()
        assert code == 0 and "final stats:" in text and "Traceback" not in text
        assert "resets 1" in text
    finally:
        graph.close()
        if node is not None:
            node.kill()
