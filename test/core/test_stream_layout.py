# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Stream layout parsing from params files and flat parameters, and its errors."""

from pathlib import Path

import pytest

from streaming_gcode.core import stream_layout
from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.stream_layout import load_params_file, StreamLayout
from streaming_gcode.core.stream_spec import JOINT_STATE

REPO = Path(__file__).resolve().parents[2]


def _params(**overrides):
    params = {
        "stream_names": ["ctrl", "imu"],
        "frame_clock": "ctrl",
        "sample_rate_hz": 4.0,
        "max_staleness_s": 1.0,
        "stale_policy": "hold_last",
        "alignment_timeout_s": 0.5,
        "streams.ctrl.topic": "cnc/ctrl",
        "streams.ctrl.type": "sensor_msgs/JointState",
        "streams.ctrl.channels": ["a", "b"],
        "streams.imu.topic": "cnc/imu",
        "streams.imu.type": "sensor_msgs/msg/Imu",
        "streams.imu.channels": ["linear_acceleration.x", "angular_velocity.z"],
        "streams.imu.reliable": True,
    }
    params.update(overrides)
    return params


def test_default_config_parses():
    layout = StreamLayout.from_yaml(REPO / "config" / "stream.yaml")
    assert layout.stream_names[0] == "controller"
    assert layout.clock_index == 0
    assert len(layout.streams) == 10
    assert all(s.msg_type == JOINT_STATE for s in layout.streams)
    assert layout.stream("motor_currents").field == "effort"
    assert layout.frame_period_ns == 250_000_000
    # every board's magnetometers drift between runs; nothing else is marked
    board = layout.stream("board_spindle2")
    assert board.drifting == ("spindle2.Mx", "spindle2.My", "spindle2.Mz")
    assert not layout.stream("controller").drifting


def test_flat_parameters_parse_and_normalise_types():
    layout = StreamLayout.from_parameters(_params())
    assert layout.streams[0].msg_type == "sensor_msgs/msg/JointState"
    assert layout.streams[1].reliable is True
    assert layout.alignment.max_staleness_ns == 1_000_000_000


def test_grid_mode_when_frame_clock_empty():
    layout = StreamLayout.from_parameters(_params(frame_clock="", sample_rate_hz=100.0))
    assert layout.clock_index is None and layout.frame_period_ns == 10_000_000


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"stream_names": []}, "stream_names must be a non-empty list"),
        ({"stream_names": ["ctrl", "ctrl"]}, "duplicates"),
        ({"frame_clock": "nope"}, "frame_clock 'nope' is not a stream"),
        ({"sample_rate_hz": 0.0}, "sample_rate_hz must be > 0"),
        ({"max_staleness_s": -1.0}, "max_staleness_s must be > 0"),
        ({"stale_policy": "guess"}, "stale_policy must be one of"),
        ({"streams.ctrl.type": "std_msgs/string"}, "is not supported"),
        ({"streams.ctrl.type": "geometry_msgs/WrenchStamped",
          "streams.ctrl.channels": ["wrench.force.x", "Wrench.torque"]},
         r"\['Wrench.torque'\] are not field paths of geometry_msgs/msg/WrenchStamped"),
        ({"streams.ctrl.type": "geometry_msgs/WrenchStamped",
          "streams.ctrl.channels": ["wrench..x"]}, "expected dotted field names"),
        ({"streams.ctrl.channels": []}, "channels must be a non-empty list"),
        ({"streams.ctrl.field": "torque"}, "field must be one of"),
        ({"streams.imu.channels": ["gyro.x"]}, "are not Imu channels"),
        ({"streams.imu.topic": "cnc/ctrl"}, "share a topic"),
        ({"streams.imu.channels": ["a"], "streams.imu.type": "std_msgs/Float32MultiArray"},
         "channel 'a' is in both"),
        ({"streams.ctrl.depth": 0}, "depth must be an integer >= 1"),
        ({"sample_rate_hz": "fast"}, "must be a finite number"),
    ],
)
def test_invalid_layouts_are_rejected_with_reason(overrides, message):
    with pytest.raises(ConfigError, match=message):
        StreamLayout.from_parameters(_params(**overrides))


def test_params_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.yaml"
    with pytest.raises(ConfigError, match="none.yaml does not exist"):
        load_params_file(missing)
    bad = tmp_path / "bad.yaml"
    bad.write_text("other_node:\n  ros__parameters:\n    x: 1\n")
    with pytest.raises(ConfigError, match="no 'ros__parameters' for node"):
        load_params_file(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params_file(broken)


def test_node_specific_section_overrides_wildcard(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "/**:\n  ros__parameters:\n    a: 1\n    b: {c: 2}\n"
        "streaming_gcode:\n  ros__parameters:\n    a: 3\n"
    )
    assert load_params_file(path) == {"a": 3, "b.c": 2}


def test_params_file_aliases_and_size_are_bounded(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text('a: &a ["x", "x", "x"]\nb: &b [*a, *a, *a]\n'
                    "/**:\n  ros__parameters:\n    stream_names: *b\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml is not valid YAML: alias \*a refused "
                                          r"\(aliases are not accepted\) \(line 2, column 8\)"):
        load_params_file(bomb)
    good = tmp_path / "good.yaml"
    good.write_text("/**:\n  ros__parameters:\n    a: 1\n")
    monkeypatch.setattr(stream_layout, "MAX_PARAMS_FILE_BYTES", 10)
    with pytest.raises(ConfigError, match=r"params file .*good\.yaml is \d+ bytes; "
                                          r"expected at most 10"):
        load_params_file(good)


def test_driver_options_default_to_ignore_header_and_required():
    spec = StreamLayout.from_parameters(_params()).streams[0]
    assert (spec.extra_names, spec.stamp_source, spec.optional) == ("ignore", "header", False)
    spec = StreamLayout.from_parameters(_params(**{
        "streams.imu.extra_names": "reject", "streams.imu.stamp_source": "receipt",
        "streams.imu.optional": True})).streams[1]
    assert (spec.extra_names, spec.stamp_source, spec.optional) == ("reject", "receipt", True)


@pytest.mark.parametrize("overrides, message", [
    ({"streams.ctrl.extra_names": "keep"}, r"streams.ctrl.extra_names must be one of "
                                           r"\['ignore', 'reject'\], got 'keep'"),
    ({"streams.ctrl.stamp_source": "gps"}, r"stamp_source must be one of \['header', "
                                           r"'receipt'\]"),
    ({"streams.imu.optional": "yes"}, r"streams.imu.optional must be true or false"),
    ({"streams.imu.optional": True, "stale_policy": "skip"},
     r"\['imu'\] are optional, but stale_policy skip would drop every frame"),
    ({"streams.ctrl.optional": True}, r"the frame clock 'ctrl' cannot be optional"),
    ({"streams.imu.drifting": ["nope"]}, r"streams.imu.drifting must list continuous channels "
                                         r"of the stream"),
])
def test_bad_driver_options_are_rejected_with_reason(overrides, message):
    with pytest.raises(ConfigError, match=message):
        StreamLayout.from_parameters(_params(**overrides))


def test_any_stamped_type_is_a_stream_with_field_path_channels():
    layout = StreamLayout.from_parameters(_params(**{
        "streams.ctrl.type": "geometry_msgs/WrenchStamped",
        "streams.ctrl.channels": ["wrench.force.x", "wrench.torque.z"],
        "streams.ctrl.stamp_source": "receipt",
    }))
    spec = layout.stream("ctrl")
    assert spec.msg_type == "geometry_msgs/msg/WrenchStamped"
    assert spec.channels == ("wrench.force.x", "wrench.torque.z")
    assert spec.stamp_source == "receipt"


def _vib(**options):
    """Return the test layout plus a batched accelerometer `vib` (with `options` on it)."""
    params = _params(**{"stream_names": ["ctrl", "imu", "vib"],
                        "streams.vib.topic": "cnc/vib",
                        "streams.vib.type": "std_msgs/Float32MultiArray",
                        "streams.vib.channels": ["vx", "vy", "vz"]})
    params.update({f"streams.vib.{key}": value for key, value in options.items()})
    return params


def test_streams_default_to_newest_one_sample_per_message():
    spec = StreamLayout.from_parameters(_vib()).stream("vib")
    assert (spec.aggregate, spec.sample_rate_hz) == ("newest", 0.0)
    assert not spec.aggregated and not spec.batched and spec.sample_period_ns is None


@pytest.mark.parametrize("aggregate", ["newest", "mean", "rms", "min", "max", "peak_to_peak"])
def test_a_1khz_accelerometer_in_batches_parses(aggregate):
    spec = StreamLayout.from_parameters(
        _vib(aggregate=aggregate, sample_rate_hz=1000.0)).stream("vib")
    assert (spec.aggregate, spec.sample_rate_hz, spec.sample_period_ns) == (
        aggregate, 1000.0, 1_000_000)
    assert spec.batched and spec.aggregated is (aggregate != "newest")


def test_the_readme_example_stream_parses(tmp_path):
    text = (REPO / "README.md").read_text()
    snippet = text.split("High-rate streams: a 1 kHz", 1)[1].split("```yaml\n", 1)[1]
    snippet = snippet.split("```", 1)[0].replace("controller, ..., ", "")
    path = tmp_path / "vib.yaml"
    path.write_text(snippet)
    spec = StreamLayout.from_yaml(path).stream("spindle_vibration")
    assert (spec.aggregate, spec.sample_rate_hz, spec.channels) == (
        "rms", 1000.0, ("vib_x", "vib_y", "vib_z"))


def test_an_aggregated_stream_keeps_its_reach_back_plus_timeout_plus_margin_of_samples():
    layout = StreamLayout.from_parameters(_vib(aggregate="rms", sample_rate_hz=1000.0))
    # a frame reaches back max(0.25 s frame period, 1 s max_staleness) + 0.5 s timeout
    # + 1 s margin, at 1 kHz
    assert stream_layout.aggregate_history_depth(layout.stream("vib"), layout.alignment) == 2500
    slow = StreamLayout.from_parameters({**_vib(aggregate="rms", sample_rate_hz=1000.0),
                                         "max_staleness_s": 3.0})
    assert stream_layout.aggregate_history_depth(slow.stream("vib"), slow.alignment) == 4500
    plain = StreamLayout.from_parameters(_vib(aggregate="mean"))
    assert stream_layout.aggregate_history_depth(plain.stream("vib"), plain.alignment) == \
        stream_layout.DEFAULT_AGGREGATE_HISTORY


@pytest.mark.parametrize("options, message", [
    ({"aggregate": "median"}, r"streams.vib.aggregate must be one of \['newest', 'mean', "
                              r"'rms', 'min', 'max', 'peak_to_peak'\], got 'median'"),
    ({"sample_rate_hz": -1.0}, r"streams.vib.sample_rate_hz must be 0 \(not batched\) or a "
                               r"rate in \(0, 1e\+06\] Hz, got -1"),
    ({"sample_rate_hz": 2e6}, r"streams.vib.sample_rate_hz must be 0 .*got 2e\+06"),
    ({"sample_rate_hz": "fast"}, r"streams.vib.sample_rate_hz must be a finite number, "
                                 r"got 'fast'"),
    ({"sample_rate_hz": True}, r"streams.vib.sample_rate_hz must be a finite number"),
    ({"aggregate": "mean", "categorical": ["vz"]},
     r"streams.vib.aggregate mean cannot apply to the categorical channels \['vz'\]"),
    ({"aggregate": "rms", "sample_rate_hz": 700_000.0},
     r"streams.vib.sample_rate_hz 700000 needs 1750000 samples of history per frame; at most "
     r"1048576"),
])
def test_bad_high_rate_options_are_refused_with_one_clear_error(options, message):
    with pytest.raises(ConfigError, match=message):
        StreamLayout.from_parameters(_vib(**options))


def test_a_sample_rate_on_a_one_sample_type_is_refused():
    with pytest.raises(ConfigError, match=r"streams.imu.sample_rate_hz is for batched arrays "
                                          r".*sensor_msgs/msg/Imu carries one sample per "
                                          r"message, so leave it 0"):
        StreamLayout.from_parameters(_params(**{"streams.imu.sample_rate_hz": 100.0}))


@pytest.mark.parametrize("option", [{"streams.ctrl.aggregate": "mean"},
                                    {"streams.vib.sample_rate_hz": 100.0}])
def test_the_frame_clock_cannot_aggregate_or_batch(option):
    params = _vib()
    params.update(option)
    clock = next(iter(option)).split(".")[1]
    params["frame_clock"] = clock
    with pytest.raises(ConfigError, match=rf"the frame clock '{clock}' stamps one frame per "
                                          r"message, so it cannot set"):
        StreamLayout.from_parameters(params)


def test_aggregates_also_apply_to_one_sample_streams():
    layout = StreamLayout.from_parameters(_params(**{"streams.imu.aggregate": "max"}))
    assert layout.stream("imu").aggregated and layout.stream("imu").sample_rate_hz == 0.0
