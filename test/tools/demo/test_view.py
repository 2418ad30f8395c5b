# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The demo's terminal display: reading predictions, scoring lines, stats and summary."""

from decimal import Decimal
import io
import json

import numpy as np
import pytest

from streaming_gcode.core.stats import NS_PER_MS, NS_PER_S
from streaming_gcode.inference.engine import InferenceResult
from streaming_gcode.inference.feed_cursor import FeedPlan
from streaming_gcode.ingestion.ring_buffer import Window
from streaming_gcode.model.decoding import round_trip
from streaming_gcode.model.gcode import LineLabel
from streaming_gcode.model.random_weights import default_vocabulary
from streaming_gcode.outputs.diagnostics import TASK_BUFFER, TASK_INFERENCE
from streaming_gcode.outputs.prediction import prediction_record
from streaming_gcode.tools.demo.view import DemoView, drop_totals, LineScorer, parse_prediction
from streaming_gcode.tools.harness.node_status import node_fqn, stream_status, task_status
from streaming_gcode.tools.harness.source_frames import Executed

T0 = 1_760_000_000 * NS_PER_S
VOCAB = default_vocabulary()


def _payload(label: LineLabel, stamp_ns: int, latency_ms: float = 12.0,
             degraded: bool = False) -> str:
    """Build a `~/prediction` message exactly as the node does."""
    frames = Window(np.zeros(64, np.int64), np.zeros((64, 1), np.float32),
                    np.zeros((64, 0), np.int64), np.zeros(64, bool), first_sequence=37)
    prepared = FeedPlan(frames, from_zero_state=True, newest_sequence=100,
                        newest_stamp_ns=stamp_ns, first_stamp_ns=stamp_ns - 63 * 250 * NS_PER_MS,
                        degraded=degraded, newest_degraded=degraded, last_degraded_fed=0,
                        reset_reason=None)
    result = InferenceResult({}, prepared)
    record = prediction_record(result, round_trip(label, VOCAB), int(latency_ms * NS_PER_MS),
                               "full_window", 64)
    return json.dumps(record)


def _label(command: str, modal: bool, **params: str) -> LineLabel:
    return LineLabel(command, modal, tuple((k, Decimal(v)) for k, v in params.items()))


def _executed(stamp_ns: int, gcode: str, command: str, modal: bool) -> Executed:
    return Executed(stamp_ns, gcode, command, modal, 10, "face_001")


def test_node_predictions_are_read():
    prediction = parse_prediction(_payload(_label("G1", False, X="3.3", Z="0"), T0, 7.5))
    assert prediction.stamp_ns == T0
    assert prediction.text == "G1 X3.3 Z0."
    assert (prediction.command, prediction.modal) == ("G1", False)
    assert prediction.latency_ms == pytest.approx(7.5)
    assert 0 < prediction.confidence <= 1 and not prediction.degraded
    modal = parse_prediction(_payload(_label("G3", True, X="3.3", Y="0.4", R="0.083"), T0))
    assert (modal.text, modal.command, modal.modal) == ("X3.3 Y0.4 R0.083", "G3", True)
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_prediction("[1, 2]")


def test_lines_are_scored_at_the_vocabulary_precision():
    scorer = LineScorer(VOCAB)
    predicted = parse_prediction(_payload(_label("G3", True, X="3.3", Y="0.4", R="0.083"), T0))
    same = _executed(T0, "X3.3002 Y0.4 R0.083", "G3", True)
    assert scorer.score(predicted, same) == (True, True)
    other_values = _executed(T0, "X3.275 Y0.3746 R0.083", "G3", True)
    assert scorer.score(predicted, other_values) == (False, True)
    other_command = _executed(T0, "X3.3 Y0.4 R0.083", "G2", True)
    assert scorer.score(predicted, other_command) == (False, False)
    written = _executed(T0, "G3 X3.3 Y0.4 R0.083", "G3", False)
    assert scorer.score(predicted, written) == (False, True)   # form differs
    assert scorer.score(predicted, _executed(T0, "not gcode ???", "G3", True)) == (False, False)


def test_view_prints_predictions_next_to_executed_lines_and_keeps_score():
    out = io.StringIO()
    view = DemoView(out, start_ns=0, scorer=LineScorer(VOCAB))
    view.on_executed(_executed(T0, "G1 X3.3 Z0.", "G1", False))
    view.on_executed(_executed(T0 + 250 * NS_PER_MS, "X-0.1 Y0.2 R0.083", "G2", True))
    view.on_prediction(parse_prediction(_payload(_label("G1", False, X="3.3", Z="0"), T0, 10)),
                       received_ns=2 * NS_PER_S, wall_ns=T0 + 40 * NS_PER_MS)
    view.on_prediction(parse_prediction(_payload(_label("G1", False, X="-0.1"),
                                                 T0 + 250 * NS_PER_MS, 30, degraded=True)),
                       received_ns=3 * NS_PER_S, wall_ns=T0 + 330 * NS_PER_MS)
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:4] == ["2.0s", "G1", "X3.3", "Z0."]
    assert lines[0].split()[4:8] == ["G1", "X3.3", "Z0.", "line"]
    assert "X-0.1 Y0.2 R0.083" in lines[1] and "- (degraded)" in lines[1]
    assert view.accuracy_text() == "accuracy line 50.0% command 50.0% (of 2)"
    stats = view.stats_line(4 * NS_PER_S)
    assert "2 predictions (0.5/s)" in stats
    inference = np.percentile([10.0, 30.0], [50, 99])
    end_to_end = np.percentile([40.0, 80.0], [50, 99])   # wall time minus stamp
    assert (f"latency p50/p99 inference {inference[0]:.1f}/{inference[1]:.1f} ms, "
            f"end-to-end {end_to_end[0]:.1f}/{end_to_end[1]:.1f} ms") in stats, stats
    summary = "\n".join(view.summary(4 * NS_PER_S, "Ctrl-C received"))
    assert "demo finished after 4.0 s (Ctrl-C received)" in summary
    assert "predictions : 2 (1 from degraded windows)" in summary


def test_unstamped_bag_references_are_matched_by_arrival_and_resolved():
    out = io.StringIO()
    view = DemoView(out, start_ns=0, scorer=LineScorer(VOCAB))
    view.on_reference_text("G2 X-0.2 Y0.1 R0.083", received_ns=1)
    view.on_reference_text("X-0.1004 Y0.2 R0.083", received_ns=2)
    predicted = _label("G2", True, X="-0.1", Y="0.2", R="0.083")
    view.on_prediction(parse_prediction(_payload(predicted, T0)), 3, wall_ns=0)
    assert view.accuracy_text() == "accuracy line 100.0% command 100.0% (of 1)"


def test_diagnostics_give_drops_and_window_fill():
    node = node_fqn("/demo_9")   # the demo's node: `/demo_9/streaming_gcode: buffer`
    statuses = [
        (stream_status("controller", node), {"lost": "1", "rmw_lost": "2", "late": "3",
                                             "out_of_order": "0", "malformed": "4",
                                             "stale_frames": "5"}),
        (stream_status("motor_currents", node), {"lost": "1", "late": "0", "malformed": "0"}),
        (task_status(TASK_BUFFER, node), {"degraded_frames": "6", "frames_held": "20",
                                          "window_frames": "64", "aligner_resets": "1",
                                          "last_reset_reason": "clock jumped back"}),
        (task_status(TASK_INFERENCE, node), {"overruns": "7", "skipped_ticks": "8",
                                             "latency_recent_p50_ms": "9.5",
                                             "latency_recent_p99_ms": "20"}),
    ]
    assert statuses[2][0] == "/demo_9/streaming_gcode: buffer"
    totals = drop_totals(statuses)
    assert totals.dropped == 11 and totals.per_kind["malformed"] == 4
    assert (totals.stale_frames, totals.degraded_frames, totals.overruns) == (5, 6, 7)
    view = DemoView(io.StringIO(), start_ns=0)
    assert view.drops_text() == "drops: waiting for /diagnostics"
    view.on_diagnostics(statuses)
    assert view.accuracy_text() == "node filling its model window: 20/64 frames"
    assert view.drops_text() == ("dropped 11 (lost 4, late 3, malformed 4), degraded 6, "
                                 "overruns 7, aligner resets 1 (clock jumped back)")


def test_a_new_run_is_announced_with_its_note():
    out = io.StringIO()
    view = DemoView(out, 0, run_note=lambda run: "validation run" if run == "b" else "")
    view.on_executed(Executed(1, "G1 X1.", "G1", False, 1, "a"))
    view.on_executed(Executed(2, "G1 X1.", "G1", False, 1, "b"))
    view.on_executed(Executed(3, "G1 X1.", "G1", False, 1, "b"))
    assert out.getvalue().splitlines() == ["--- now replaying b (validation run) ---"]
