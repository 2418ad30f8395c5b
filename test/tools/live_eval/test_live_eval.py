# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Real runs as bags, replayed through the live node: online equals offline, nothing lost.

Each live test starts a node in-process (`use_sim_time`, reliable deep
subscriptions), plays converted runs from a `streaming-gcode replay` process
with `/clock`, and checks the node's predictions against the offline model on
the same windows. A small random checkpoint makes online-versus-offline and the
bookkeeping independent of training; the shipped model, when present, is also
held to its model card's validation accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streaming_gcode.cli import main as cli_main
from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import StreamLayout
from streaming_gcode.model.decoding import round_trip
from streaming_gcode.model.gcode import label_lines
from streaming_gcode.model.vocabulary import OutputVocabulary
from streaming_gcode.outputs.diagnostics import (
    Level, Status, TASK_BUFFER, TASK_INFERENCE, TASK_MODEL,
)
from streaming_gcode.recordings.bag_writer import write_run_bags
from streaming_gcode.tools.harness.node_status import node_fqn, stream_status, task_status
from streaming_gcode.tools.live_eval.bag_evaluation import evaluate_live
from streaming_gcode.tools.live_eval.playback import header_stamp_ns, LiveOptions, node_parameters
from streaming_gcode.tools.live_eval.report import node_counters, percentiles_ms, record_key
from streaming_gcode.tools.live_eval.session import handles, parse_node_parameters

REPO = Path(__file__).resolve().parents[3]
CONFIG = REPO / "config" / "stream.yaml"
SHIPPED_MODEL = REPO / "models" / "full.pt"
RUNS = ("pocket_009", "adaptive_001")          # ~80 s and ~95 s of recording
FAST_RATE = 20.0
FAST_STRIDE = 8                                # 2 s of bag time = 0.1 s wall per tick at 20x
SLOW_SECONDS = 12.0
HELD_OUT_SECONDS = 90.0                        # of each held-out run, with the shipped model
ACCURACY_MARGIN = 0.05
REPORT_KEYS = ("overall", "runs", "online_equals_offline", "predictions", "lost_messages",
               "latency_ms")


@pytest.fixture(scope="module")
def bags(tmp_path_factory, data_dir) -> list[Path]:
    runs = [data_dir / f"{name}_aligned.csv.gz" for name in RUNS]
    missing = [r.name for r in runs if not r.is_file()]
    if missing:
        pytest.skip(f"{missing} not in {data_dir}")
    out = tmp_path_factory.mktemp("bags")
    layout = StreamLayout.from_yaml(CONFIG)
    return [s.path for s in write_run_bags(runs, layout, out, show_progress=False)]


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    from streaming_gcode.model.checkpoint import save_checkpoint
    from streaming_gcode.model.random_weights import random_model

    model = random_model("full", StreamLayout.from_yaml(CONFIG), seed=3, window=16,
                         d_model=32, num_layers=1)
    path = tmp_path_factory.mktemp("model") / "random.pt"
    return save_checkpoint(path, model.backbone, model.line_heads, model.config, model.metadata)


def _check_run(run: dict) -> None:
    """Assert online == offline, nothing lost or dropped, and the tick bookkeeping."""
    name = run["run"]
    why = (name, run["drops"], run["last_reset_reason"], run["node_final_stats"])
    assert run["online_equals_offline"], (*why, run["offline_mismatches"])
    assert run["compared_with_offline"] == run["predictions"] > 0, why
    assert run["lost_messages"] == 0, why
    drops = run["drops"]
    assert drops["late"] == drops["out_of_order"] == drops["malformed"] == 0, why
    assert drops["lost"] == drops["rmw_lost"] == 0, why
    # every tick that found new data published exactly one prediction, and it arrived
    ran = run["ticks"] - run["idle_ticks"] - drops["skipped_ticks"]
    assert abs(run["predictions"] - ran) <= 1, why
    # ...and the number of predictions matches the stride ticks the frames allow
    lo, hi = run["expected_predictions"]
    assert lo - 1 - drops["skipped_ticks"] <= run["predictions"] <= hi + 1, (*why, lo, hi)


@pytest.mark.ros
@pytest.mark.data
@pytest.mark.slow
def test_replay_at_20x_through_the_node_equals_offline(bags, random_checkpoint):
    options = LiveOptions(rate=FAST_RATE, node_parameters={"stride": FAST_STRIDE})
    report, table = evaluate_live(bags[:1], random_checkpoint, CONFIG, options)
    assert all(key in report for key in REPORT_KEYS)
    assert [r["run"] for r in report["runs"]] == list(RUNS[:1])
    for run in report["runs"]:
        _check_run(run)
    assert report["online_equals_offline"] is True
    assert report["lost_messages"] == 0
    assert report["predictions"] == sum(r["predictions"] for r in report["runs"])
    assert report["latency_ms"]["p50"] > 0 and "online equals offline: True" in table


@pytest.mark.ros
@pytest.mark.data
@pytest.mark.slow
def test_replay_at_1x_through_the_node_equals_offline(bags, random_checkpoint):
    options = LiveOptions(rate=1.0, duration_s=SLOW_SECONDS)
    report, _ = evaluate_live(bags[:1], random_checkpoint, CONFIG, options)
    run = report["runs"][0]
    _check_run(run)
    # stride 1 (one tick per nominal frame period): nearly every frame once the window is full
    assert run["predictions"] >= run["frames"] - 16 - 2


def _validation_runs(metadata, data_dir: Path, count: int = 2) -> list[Path]:
    """Held-out runs of the model card's validation split, facing runs first."""
    split = metadata.training.get("split", {}).get("validation", [])
    names = sorted(split, key=lambda n: (not n.startswith("face_"), n))
    runs = [data_dir / f"{n}_aligned.csv.gz" for n in names]
    return [r for r in runs if r.is_file()][:count]


@pytest.mark.ros
@pytest.mark.data
@pytest.mark.slow
def test_evaluate_live_with_the_shipped_model(tmp_path, data_dir):
    """`evaluate --data ... --live` on held-out runs keeps the model card's accuracy."""
    if not SHIPPED_MODEL.is_file():
        pytest.skip(f"{SHIPPED_MODEL} is not trained yet")
    from streaming_gcode.model.checkpoint import load_checkpoint

    metadata = load_checkpoint(SHIPPED_MODEL).metadata
    card = metadata.validation_metrics["overall"]
    runs = _validation_runs(metadata, data_dir)
    if len(runs) < 2:
        pytest.skip("the model card lists no validation runs present in the data")
    out = tmp_path / "live.json"
    assert cli_main(["evaluate", "--data", *map(str, runs), "--live",
                     "--checkpoint", str(SHIPPED_MODEL), "--node-param", f"stride={FAST_STRIDE}",
                     "--rate", f"{FAST_RATE:g}", "--playback-duration", f"{HELD_OUT_SECONDS:g}",
                     "--json", str(out), "--quiet"]) == 0
    report = json.loads(out.read_text())
    assert all(key in report for key in REPORT_KEYS)
    for run in report["runs"]:
        _check_run(run)
        assert Path(run["timeline"]).is_file()
    # the live predictions equal the offline ones (checked above), so this is the
    # model on held-out runs, sampled once per tick
    assert report["overall"]["command_accuracy"] >= card["command_accuracy"] - ACCURACY_MARGIN


def test_node_parameters_for_replay(tmp_path):
    flat = {"stream_names": ["a"], "streams.a.reliable": False, "alignment_timeout_s": 0.5}
    params = node_parameters(flat, tmp_path / "m.pt", LiveOptions(rate=20.0, depth=500,
                                                                  node_parameters={"stride": 8}))
    assert params["use_sim_time"] is True and params["checkpoint"] == str(tmp_path / "m.pt")
    assert params["streams.a.reliable"] is True and params["streams.a.depth"] == 500
    assert params["alignment_timeout_s"] == pytest.approx(2.0 * 20.0)
    assert params["stride"] == 8


def test_a_record_gives_back_the_key_of_the_line_it_was_decoded_from():
    labels = label_lines(["G0 X1. Y2.", "G1 Z-0.5 F300", "X1.5", "M5"])
    vocab = OutputVocabulary.build(labels)
    for label in labels:
        decoded = round_trip(label, vocab)
        record = {"heads": {head: {"label": p.label, "index": p.index,
                                   "confidence": p.confidence}
                            for head, p in decoded.heads.items()}}
        assert record_key(json.loads(json.dumps(record)), vocab) == decoded.key
        assert decoded.key == vocab.key(label)


def test_latency_percentiles_of_the_report():
    assert percentiles_ms([]) == {"p50": None, "p99": None}
    got = percentiles_ms([1.0, 2.0, 3.0, 4.0])
    assert got == {"p50": pytest.approx(2.5), "p99": pytest.approx(3.97)}


def test_node_counters_read_the_statuses_of_the_fully_qualified_node():
    def status(name: str, **values: str) -> Status:
        return Status(name, Level.OK, "", "cnc", tuple(values.items()))

    node = node_fqn("/mill_1")   # `/mill_1/streaming_gcode: <task>`
    counters = node_counters([
        status(stream_status("controller", node), topic="mill_1/cnc/controller_state",
               messages="10", lost="1", late="2"),
        status(task_status(TASK_INFERENCE, node), ticks="5", predictions="4", idle_ticks="1",
               skipped_ticks="0", overruns="0", errors="0", period_ms="250"),
        status(task_status(TASK_BUFFER, node), frames="9", aligner_resets="1"),
        status(task_status(TASK_MODEL, node), window_frames="64"),
    ])
    assert counters["received"] == {"/mill_1/cnc/controller_state": 10}
    assert (counters["drops"]["lost"], counters["drops"]["late"]) == (1, 2)
    assert counters["drops"]["aligner_resets"] == 1
    assert (counters["ticks"], counters["predictions"], counters["frames"]) == (5, 4, 9)
    assert counters["period_ms"] == 250.0 and counters["window_frames"] == 64


def test_header_stamp_from_cdr_bytes():
    import struct

    stamp = 1_735_741_523 * 1_000_000_000 + 700_000_000
    little = b"\x00\x01\x00\x00" + struct.pack("<iI", 1_735_741_523, 700_000_000) + b"rest"
    big = b"\x00\x00\x00\x00" + struct.pack(">iI", 1_735_741_523, 700_000_000)
    assert header_stamp_ns(little) == header_stamp_ns(big) == stamp


def test_cli_arguments():
    assert parse_node_parameters(["stride=4", "mode=incremental", "x="]) == {
        "stride": 4, "mode": "incremental", "x": ""}
    with pytest.raises(ConfigError, match=r"node parameter 'stride' must look like NAME=VALUE"):
        parse_node_parameters(["stride"])

    class Args:
        data = None
        bags = None
        live = False

    with pytest.raises(ConfigError, match=r"give --data PATH\.\.\. \(recorded runs\) or --bags"):
        handles(Args())
    Args.data = ["x"]
    assert handles(Args()) is False
    Args.live = True
    assert handles(Args()) is True


OTHER_PUBLISHER = """
import sys, time
import rclpy
from rclpy.node import Node
from std_msgs.msg import String
rclpy.init(domain_id=int(sys.argv[1]))
node = Node("someone_else")
node.create_publisher(String, "/cnc/executing_line", 10)
time.sleep(60)
"""


@pytest.mark.ros
def test_evaluation_avoids_a_domain_where_others_publish():
    pytest.importorskip("rclpy")
    import subprocess
    import sys

    from streaming_gcode.tools.live_eval.capture import busy_topics, quiet_domain

    domain = 232  # the last spare domain: test sessions use 100..199
    other = subprocess.Popen([sys.executable, "-c", OTHER_PUBLISHER, str(domain)])
    try:
        topics = ["/cnc/executing_line", "/clock"]
        assert busy_topics(domain, topics, settle_s=30.0) == ["/cnc/executing_line"]
        # a fresh probe needs time to discover the other process on a loaded host
        chosen = quiet_domain(["/cnc/executing_line"], preferred=domain, settle_s=10.0)
        assert chosen != domain and not busy_topics(chosen, ["/cnc/executing_line"])
    finally:
        other.kill()
        other.wait()


@pytest.mark.data
def test_continuous_bag_replays_the_offline_continuous_stream(tmp_path, data_dir):
    """`--live --continuous` plays one bag of the restamped runs: the offline stream's frames."""
    import numpy as np

    from streaming_gcode.core.features import feature_set, FeatureMap
    from streaming_gcode.offline.bag_frames import prepare_bag
    from streaming_gcode.offline.continuous import prepare_continuous
    from streaming_gcode.recordings.csv_runs import load_run
    from streaming_gcode.tools.live_eval.bag_evaluation import input_bags

    runs = [data_dir / f"{name}_004_aligned.csv.gz" for name in ("damageface", "damagepocket")]
    if not all(r.is_file() for r in runs):
        pytest.skip(f"{[r.name for r in runs]} not all in {data_dir}")
    [bag] = input_bags(None, [str(r) for r in runs], CONFIG, tmp_path, quiet=True,
                       continuous=True)
    layout = StreamLayout.from_yaml(CONFIG)
    features = feature_set("physical", layout)
    fmap = FeatureMap.build(layout, list(features.continuous), [], {})
    replayed, _, _ = prepare_bag(bag, layout, fmap)
    offline = prepare_continuous([load_run(r) for r in runs], layout, fmap).stream
    assert replayed.name == "continuous" and len(replayed) == len(offline)
    np.testing.assert_array_equal(np.diff(replayed.table.stamps), np.diff(offline.table.stamps))
    np.testing.assert_allclose(replayed.table.continuous, offline.table.continuous)
    with pytest.raises(ConfigError, match="--bags --continuous is not implemented"):
        input_bags([str(bag)], None, CONFIG, tmp_path, continuous=True)


@pytest.mark.ros
@pytest.mark.data
@pytest.mark.slow
def test_the_physics_witness_flags_reported_lines_of_another_program(tmp_path, data_dir):
    """The physical model against the controller's reported lines (issue: physics witness).

    Replays 30 s of machine time of a held-out run twice through the node with the
    shipped physical model and `reference_topic`: once with the run's own reported
    lines (agreement stays OK), once with another program's lines reported at the
    same rows (agreement ERROR within those 30 s).
    """
    from dataclasses import replace

    from streaming_gcode.core.package import default_checkpoint
    from streaming_gcode.outputs.agreement import TASK_AGREEMENT
    from streaming_gcode.recordings.bag_writer import write_run_bag
    from streaming_gcode.recordings.csv_runs import load_run
    from streaming_gcode.tools.live_eval.bag_evaluation import layout_parameters, played_topics
    from streaming_gcode.tools.live_eval.capture import play_through_node

    checkpoint = default_checkpoint("physical")
    genuine_path = data_dir / "face_013_aligned.csv.gz"
    other_path = data_dir / "pocket150025_013_aligned.csv.gz"
    if checkpoint is None or not genuine_path.is_file() or not other_path.is_file():
        pytest.skip("needs the shipped models/physical.pt and runs face_013, pocket150025_013")
    genuine, other = load_run(genuine_path), load_run(other_path)
    tampered = replace(genuine, gcode=[other.gcode[min(i, len(other) - 1)]
                                       for i in range(len(genuine))])
    flat, layout = layout_parameters(CONFIG)
    options = LiveOptions(rate=10.0, duration_s=30.0, node_parameters={
        "stride": 2, "reference_topic": "cnc/executing_line", "agreement_min_samples": 10})
    params = node_parameters(flat, checkpoint, options)
    levels = {}
    for name, run in (("genuine", genuine), ("tampered", tampered)):
        bag = tmp_path / name
        write_run_bag(run, layout, bag)
        capture = play_through_node(bag, params, options, played_topics(layout, params))
        [status] = [s for s in capture.statuses if s.name.endswith(f": {TASK_AGREEMENT}")]
        assert int(status.value("compared")) >= 10, (name, status)
        levels[name] = (status.level.name, status.message)
    assert levels["genuine"][0] == "OK", levels
    assert levels["tampered"][0] == "ERROR", levels
