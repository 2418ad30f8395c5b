# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Agreement monitor: pairing by stamp, rolling rate, criteria, levels; one live node test."""

from __future__ import annotations

from pathlib import Path
import re

import numpy as np
import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.outputs.agreement import (
    AGREEMENT_KEYS,
    agreement_status,
    AgreementMonitor,
    AgreementSettings,
    line_key,
)
from streaming_gcode.outputs.diagnostics import Level

REPO = Path(__file__).resolve().parents[2]

S = 1_000_000_000
TOPIC = "/cnc/executing_line"


def _settings(**kw) -> AgreementSettings:
    base = {"window_ns": 10 * S, "warn_below": 0.8, "error_below": 0.5, "min_samples": 4}
    base.update(kw)
    return AgreementSettings(**base)


@pytest.mark.parametrize(("predicted", "reference", "command", "words", "line"), [
    ("G1 X3.29 Y0.37", "G1 X3.291 Y0.3746", True, True, False),
    ("G1 X3.291 Y0.3746", "G01 Y0.37460 X3.291", True, True, True),
    ("X3.2 Y0.4 R0.08", "X3.275 Y0.7064 R0.083", True, True, False),  # modal continuations
    ("G1 X3.2", "X3.2", False, False, False),
    ("G0 Z1.", "G0 X1.", True, False, False),
    ("M30", "G0 Z5.", False, False, False),
])
def test_criteria(predicted, reference, command, words, line):
    for criterion, expected in (("command", command), ("words", words), ("line", line)):
        assert (line_key(predicted, criterion) == line_key(reference, criterion)) is expected


def test_empty_or_unparseable_lines_are_not_compared():
    assert line_key("", "words") is None and line_key("   ", "line") is None
    assert line_key("hello world", "command") is None
    monitor = AgreementMonitor(_settings())
    monitor.on_reference(0, "")
    assert monitor.on_prediction(S, "G1 X1") is None
    assert monitor.without_reference == 1 and monitor.rate is None


def test_pairs_each_prediction_with_the_newest_reference_at_or_before_it():
    monitor = AgreementMonitor(_settings(criterion="line"))
    assert monitor.on_prediction(0, "G0 X1") is None  # no reference yet
    monitor.on_reference(1 * S, "G0 X1")
    monitor.on_reference(2 * S, "G1 X2")
    monitor.on_reference(4 * S, "G1 X4")
    assert monitor.on_prediction(1 * S, "G0 X1") is True
    assert monitor.on_prediction(3 * S, "G1 X2") is True       # 2 s line still executing
    assert monitor.on_prediction(3 * S + 1, "G1 X4") is False  # 4 s line is in the future
    assert monitor.on_prediction(4 * S, "G1 X4") is True
    assert (monitor.compared_total, monitor.agreed_total) == (4, 3)


def test_rolling_rate_matches_numpy_on_the_same_window():
    rng = np.random.default_rng(7)
    window = 10 * S
    monitor = AgreementMonitor(_settings(window_ns=window, criterion="command"))
    stamps = np.cumsum(rng.integers(S // 10, S, size=400))
    truth = rng.random(400) < 0.7
    for stamp, agree in zip(stamps, truth):
        monitor.on_reference(int(stamp), "G1 X1")
        monitor.on_prediction(int(stamp), "G1 X2" if agree else "G0 X2")
        mask = (stamps <= stamp) & (stamps > stamp - window)
        assert monitor.rate == pytest.approx(truth[mask].mean())
        assert monitor.report(TOPIC).compared == int(mask.sum())


def test_clock_going_back_resets_the_window():
    monitor = AgreementMonitor(_settings())
    for i in range(5):
        monitor.on_reference(i * S, "G1 X1")
        monitor.on_prediction(i * S, "G0 X1")
    assert monitor.rate == 0.0
    monitor.on_reference(0, "G1 X1")     # replay restarted
    assert monitor.on_prediction(0, "G1 X5") is True
    assert monitor.rate == 1.0 and monitor.resets == 1
    assert monitor.compared_total == 6   # totals survive the reset


def _fed(agreeing: int, disagreeing: int, **kw) -> AgreementMonitor:
    monitor = AgreementMonitor(_settings(**kw))
    monitor.on_reference(0, "G1 X1 Y1")
    for i in range(agreeing + disagreeing):
        monitor.on_prediction(i * S // 10, "G1 X2 Y2" if i < agreeing else "G0 Z3")
    return monitor


@pytest.mark.parametrize(("agreeing", "disagreeing", "level", "message"), [
    (9, 1, Level.OK, r"agreement 90.0% over the last 10 s \(9/10, criterion words\)"),
    (7, 3, Level.WARN, r"agreement 70.0% .* below 80%"),
    (4, 6, Level.ERROR, r"agreement 40.0% .* below 50%: not the expected program\?"),
    (1, 2, Level.OK, r"collecting: 3/4 predictions compared"),
])
def test_levels(agreeing, disagreeing, level, message):
    status = agreement_status("streaming_gcode", "cnc", _fed(agreeing, disagreeing).report(TOPIC))
    assert status.level == level
    assert status.name == "streaming_gcode: agreement" and status.hardware_id == "cnc"
    assert float(status.value("rate")) == pytest.approx(agreeing / (agreeing + disagreeing),
                                                        rel=1e-5)
    assert re.search(message, status.message), status.message
    assert tuple(k for k, _ in status.values) == AGREEMENT_KEYS


def test_missing_reference_warns_after_min_samples():
    monitor = AgreementMonitor(_settings())
    for i in range(3):
        monitor.on_prediction(i * S, "G1 X1")
    status = agreement_status("n", "cnc", monitor.report(TOPIC))
    assert status.level == Level.OK and "waiting for reference lines" in status.message
    monitor.on_prediction(4 * S, "G1 X1")
    status = agreement_status("n", "cnc", monitor.report(TOPIC))
    assert status.level == Level.WARN
    assert status.message == f"no reference line received on {TOPIC}"


@pytest.mark.parametrize(("kw", "message"), [
    ({"window_ns": 0}, r"agreement window must be > 0 s"),
    ({"warn_below": 0.4, "error_below": 0.5}, r"error_below <= warn_below"),
    ({"warn_below": 1.5}, r"warn_below <= 1"),
    ({"min_samples": 0}, r"min_samples must be >= 1"),
    ({"criterion": "vibes"}, r"criterion 'vibes' is not one of"),
    ({"min_confidence": 1.5}, r"min_confidence must be in \[0, 1\], got 1.5"),
])
def test_invalid_settings(kw, message):
    with pytest.raises(ConfigError, match=message):
        AgreementMonitor(_settings(**kw))


def test_an_unsure_prediction_abstains_and_a_nearby_line_agrees():
    monitor = AgreementMonitor(_settings(min_confidence=0.9))
    monitor.on_reference(0, "G1 X1 Y2")
    # the start of a job: the witness is not sure of the program yet, so not judged
    assert monitor.on_prediction(1 * S, "G0 Z5", confidence=0.4) is None
    assert (monitor.abstained, monitor.compared_total) == (1, 0)
    # sure, and the reference is one of the lines within the witness's timing slack
    assert monitor.on_prediction(2 * S, "G0 Z5", also=["G3 X1 R2", "G1 X4 Y4"],
                                 confidence=0.95) is True
    assert monitor.on_prediction(3 * S, "G0 Z5", also=["G3 X1 R2"], confidence=0.95) is False
    # no confidence (a model without a library): always judged
    assert monitor.on_prediction(4 * S, "G1 X9 Y9") is True
    report = monitor.report(TOPIC)
    assert (report.abstained, report.compared_total, report.agreed_total) == (1, 3, 2)
    values = dict(agreement_status("n", "cnc", report).values)
    assert (values["abstained"], values["min_confidence"]) == ("1", "0.9")


# ---------------------------------------------------------------- live, through the node

AGREEMENT_PARAMS = {"reference_topic": "/cnc/executing_line", "agreement_window_s": 60.0,
                    "agreement_min_samples": 10, "agreement_criterion": "words", "stride": 4}


def _with_reference(source, destination, text_at):
    """Copy a bag, replacing each reference line by `text_at(stamp_ns, original)`."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    from streaming_gcode.recordings.bag_reader import open_bag, reference_topic_of
    from streaming_gcode.recordings.bag_writer import (
        BAG_FORMAT_VERSION, qos_profile, serialize, STRING, string_message, typestore,
    )

    writer = Writer(destination, version=BAG_FORMAT_VERSION, storage_plugin=StoragePlugin.MCAP)
    writer.open()
    with open_bag(source) as bag:
        reference = reference_topic_of(bag)
        connections = {
            name: writer.add_connection(name, topic.msg_type, typestore=typestore(),
                                        offered_qos_profiles=[qos_profile(bool(topic.reliable),
                                                                          topic.depth or 10)])
            for name, topic in bag.info.topics.items()
        }
        for key, value in bag.info.custom_data.items():
            writer.set_custom_data(key, value)
        for message in bag.messages():
            data = message.data
            if message.topic == reference:
                text = text_at(message.log_time_ns, bag.deserialize(message).data)
                data = serialize(string_message(text), STRING)
            writer.write(connections[message.topic], message.log_time_ns, data)
    writer.close()
    return destination


def _agreement_status(capture):
    return next(s for s in capture.statuses if s.name.endswith(": agreement"))


@pytest.mark.ros
@pytest.mark.data
@pytest.mark.slow
def test_live_agreement_follows_the_reference_topic(tmp_path, data_dir):
    """A reference equal to what the model predicts agrees; the real program does not.

    The model is random, so the program it is fed cannot match its guesses: the
    bag whose reference was altered to the model's own offline predictions is
    the one that must read OK, the original one ERROR.
    """
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from streaming_gcode.model.checkpoint import save_checkpoint
    from streaming_gcode.model.random_weights import random_model
    from streaming_gcode.model.decoding import decode_frames
    from streaming_gcode.offline.bag_frames import prepare_bag
    from streaming_gcode.offline.evaluation import frame_logits
    from streaming_gcode.recordings.bag_writer import write_run_bag
    from streaming_gcode.recordings.csv_runs import load_run
    from streaming_gcode.tools.live_eval.bag_evaluation import layout_parameters, played_topics
    from streaming_gcode.tools.live_eval.capture import play_through_node, quiet_domain
    from streaming_gcode.tools.live_eval.playback import LiveOptions, node_parameters

    run_file = data_dir / "pocket_009_aligned.csv.gz"
    if not run_file.is_file():
        pytest.skip(f"{run_file.name} is not in {data_dir}")
    flat, layout = layout_parameters(REPO / "config" / "stream.yaml")
    model = random_model("full", layout, seed=5, window=8, d_model=32, num_layers=1)
    checkpoint = save_checkpoint(tmp_path / "random.pt", model.backbone, model.line_heads,
                                 model.config, model.metadata)
    original = write_run_bag(load_run(run_file), layout, tmp_path / "original").path
    prepared, _, _ = prepare_bag(original, layout, model.feature_map(layout))
    guesses = decode_frames(frame_logits(model.backbone, model.line_heads, prepared.table,
                                         "window", model.metadata.window), model.vocabulary)
    by_stamp = {int(s): g.text for s, g in zip(prepared.table.stamps, guesses)}
    agreeing = _with_reference(original, tmp_path / "agreeing",
                               lambda stamp, line: by_stamp.get(stamp, line))
    topics = played_topics(layout, AGREEMENT_PARAMS) + ["/clock", "/streaming_gcode/prediction"]
    options = LiveOptions(rate=20.0, node_parameters=AGREEMENT_PARAMS,
                          domain_id=quiet_domain(topics))
    levels = {}
    for bag in (agreeing, original):
        params = node_parameters(flat, checkpoint, options)
        capture = play_through_node(bag, params, options, played_topics(layout, params),
                                    None, 90.0)
        status = _agreement_status(capture)
        levels[bag.name] = status.level
        assert int(status.value("compared")) >= 10, status
        assert capture.agreement, "nothing published on ~/agreement"
        assert capture.agreement[-1] == pytest.approx(float(status.value("rate")), abs=1e-6)
    assert levels == {"agreeing": Level.OK, "original": Level.ERROR}
