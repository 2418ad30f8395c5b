# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The managed node over real DDS: every transition through the lifecycle services.

One node started with `autostart: false` is driven through configure (a failed
one first), activate, deactivate, cleanup and shutdown by `change_state`, and
its outputs appear only while active; one started as `ros2 run` starts it
(autostart) is deactivated and activated 100 times during a 20x-speed replay:
no crash, no leaked subscription, publisher or timer, counters consistent,
memory flat. Bounds are generous; nothing here measures speed.
"""

from __future__ import annotations

import threading
import time

import pytest

pytest.importorskip("rclpy", reason="rclpy is not installed")

import torch  # noqa: E402

import fault_support as fs  # noqa: E402, I100

pytestmark = [pytest.mark.ros, pytest.mark.slow]
torch.set_num_threads(1)

NODE = "/streaming_gcode"
INPUT_TOPICS = ("/fault/joints", "/fault/imu", "/fault/arr")
OUTPUT_TOPICS = (f"{NODE}/gcode", f"{NODE}/prediction")
QUIET_S = 0.5          # lets messages in flight arrive before a window of observation
OBSERVE_S = 1.5        # publishing this long must (or must not) give predictions
CYCLES = 100
REPLAY_SPEED = 20      # the replay publishes at 20x the layout's nominal rate
RSS_BOUND_BYTES = 64 * 1024 * 1024   # growth allowed across the cycles
ENTITY_KEYS = ("subscriptions", "publishers", "timers")


def _graph_counts(graph: fs.Graph) -> dict[str, int]:
    """Count the node's entities as the ROS graph sees them (this test holds none)."""
    counts = {t: graph.node.count_subscribers(t) for t in INPUT_TOPICS}
    counts.update({t: graph.node.count_publishers(t) for t in OUTPUT_TOPICS})
    return counts


def _inference(graph: fs.Graph) -> dict[str, str]:
    """Return the inference status of diagnostics sent after a quiet pause."""
    time.sleep(QUIET_S)
    since = time.monotonic()
    graph.wait_for(lambda: fs.INFERENCE in graph.statuses(since), 10.0, "fresh diagnostics")
    return graph.statuses(since)[fs.INFERENCE]


def _predictions_while_publishing(graph: fs.Graph) -> int:
    time.sleep(QUIET_S)
    since = time.monotonic()
    graph.run(OBSERVE_S)
    return len(graph.predictions_since(since))


def test_every_transition_through_the_lifecycle_services(tmp_path) -> None:
    checkpoint = tmp_path / "late.pt"      # written only after the first configure
    graph = fs.Graph("lifecycle_test")
    lifecycle = fs.LifecycleClient(graph, NODE)
    node = None
    try:
        node = fs.start(tmp_path, fs.node_params(checkpoint, autostart=False), graph,
                        ready=lifecycle.ready)
        lifecycle.wait_answering()
        assert lifecycle.state() == "unconfigured"
        assert _predictions_while_publishing(graph) == 0 and not graph.diagnostics
        assert not lifecycle.change("activate")           # not from unconfigured
        assert not lifecycle.change("configure")          # no checkpoint yet: FAILURE
        assert lifecycle.state() == "unconfigured", node.text()
        assert set(_graph_counts(graph).values()) == {0}  # the failed attempt released all
        graph.wait_for(lambda: "configure failed" in node.text(), 10.0, "the error line")
        assert node.text().count("configure failed") == 1 and "no such checkpoint" in node.text()

        fs.small_checkpoint(checkpoint)
        assert lifecycle.change("configure") and lifecycle.state() == "inactive"
        assert set(_graph_counts(graph).values()) == {1}
        assert _predictions_while_publishing(graph) == 0
        inactive = _inference(graph)
        assert inactive["state"] == "inactive"
        assert (inactive["configures"], inactive["configure_failures"]) == ("2", "1")
        assert int(inactive["messages_inactive"]) > 0     # inputs counted while inactive
        assert graph.statuses()[fs.JOINTS]["messages"] != "0"

        for round_ in (1, 2):
            assert lifecycle.change("activate") and lifecycle.state() == "active"
            since = time.monotonic()
            graph.wait_for(lambda: len(graph.predictions_since(since)) >= 3, 30.0,
                           f"predictions after activation {round_}", streams=fs.STREAMS)
            active = _inference(graph)
            assert active["state"] == "active" and active["activations"] == str(round_)
            assert lifecycle.change("deactivate") and lifecycle.state() == "inactive"
            assert _predictions_while_publishing(graph) == 0
            assert _inference(graph)["deactivations"] == str(round_)

        assert lifecycle.change("cleanup") and lifecycle.state() == "unconfigured"
        assert set(_graph_counts(graph).values()) == {0}
        time.sleep(QUIET_S)
        since = time.monotonic()
        graph.run(OBSERVE_S)
        assert not graph.statuses(since) and not graph.predictions_since(since)

        assert lifecycle.change("configure") and lifecycle.state() == "inactive"
        assert set(_graph_counts(graph).values()) == {1}
        assert _inference(graph)["cleanups"] == "1"
        assert lifecycle.change("shutdown") and lifecycle.state() == "finalized"
        assert set(_graph_counts(graph).values()) == {0}
        assert node.alive()
        assert node.stop() == 0, node.text()
        assert "final stats: ticks" in node.text() and "Traceback" not in node.text()
    finally:
        graph.close()
        if node is not None:
            node.kill()


def _replay(graph: fs.Graph, stop: threading.Event) -> None:
    while not stop.is_set():
        graph.publish()
        time.sleep(fs.PERIOD_S / REPLAY_SPEED)


def test_deactivate_activate_100_times_during_a_fast_replay(tmp_path) -> None:
    graph = fs.Graph("lifecycle_cycles_test")
    lifecycle = fs.LifecycleClient(graph, NODE)
    node = None
    stop = threading.Event()
    replay = threading.Thread(target=_replay, args=(graph, stop), daemon=True)
    try:
        node = fs.start(tmp_path, fs.node_params(fs.small_checkpoint(tmp_path / "s.pt")), graph)
        lifecycle.wait_answering()
        assert lifecycle.state() == "active"              # autostart, as `ros2 run` starts
        graph.wait_for(lambda: len(graph.predictions) >= 3, 30.0, "first predictions",
                       streams=fs.STREAMS)
        before = _inference(graph)
        counts_before = _graph_counts(graph)
        assert set(counts_before.values()) == {1}
        replay.start()
        for _ in range(CYCLES // 10):                     # allocator warm-up before measuring
            assert lifecycle.change("deactivate") and lifecycle.change("activate")
        rss_before = node.rss()
        for cycle in range(CYCLES - CYCLES // 10):
            assert lifecycle.change("deactivate"), f"deactivate {cycle}: {node.text()[-2000:]}"
            assert lifecycle.change("activate"), f"activate {cycle}: {node.text()[-2000:]}"
        rss_after = node.rss()
        since = time.monotonic()
        graph.wait_for(lambda: bool(graph.predictions_since(since)), 30.0,
                       "predictions after the cycles")
        stop.set()
        replay.join(10)
        after = _inference(graph)
        statuses = graph.statuses()
        assert node.alive(), node.text()
        assert lifecycle.state() == "active"
        assert _graph_counts(graph) == counts_before
        assert {k: after[k] for k in ENTITY_KEYS} == {k: before[k] for k in ENTITY_KEYS}
        assert (after["activations"], after["deactivations"]) == (str(CYCLES + 1), str(CYCLES))
        assert after["transitions"] == str(1 + CYCLES + 1 + CYCLES)
        assert (after["configures"], after["cleanups"], after["errors"]) == ("1", "0", "0")
        ticks, predictions = int(after["ticks"]), int(after["predictions"])
        skipped, idle = int(after["skipped_ticks"]), int(after["idle_ticks"])
        assert predictions > int(before["predictions"])
        assert predictions + skipped + idle <= ticks <= predictions + skipped + idle + 1
        joints = statuses[fs.JOINTS]
        assert int(before["messages_inactive"]) <= int(after["messages_inactive"]) <= 3 * graph.k
        assert 0 < int(joints["messages"]) <= graph.k
        assert rss_after - rss_before < RSS_BOUND_BYTES, (rss_before, rss_after)
        assert node.stop() == 0, node.text()
        assert "Traceback" not in node.text()
    finally:
        stop.set()
        graph.close()
        if node is not None:
            node.kill()
