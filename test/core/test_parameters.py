# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Parameter specs, start-up validation and atomic runtime changes."""

from __future__ import annotations

import math

import pytest

from streaming_gcode.core.errors import ConfigError
from streaming_gcode.core.parameters import (
    DEFAULT_STRIDE,
    LAYOUT_PARAMETERS,
    MAX_NAME_LENGTH,
    MAX_PATH_LENGTH,
    MAX_STRING_ARRAY_ITEMS,
    NODE_PARAMETERS,
    NodeSettings,
    setting_field,
    SHOWN_VALUE_CHARS,
    stream_parameter_specs,
    USE_SIM_TIME,
    validate_changes,
)
from streaming_gcode.core.stream_layout import StreamLayout


def test_every_node_parameter_is_a_settings_field_with_matching_default() -> None:
    settings = NodeSettings()
    names = [spec.name for spec in NODE_PARAMETERS]
    assert len(names) == len(set(names))
    assert {setting_field(name) for name in names} == set(settings.as_dict())
    for spec in NODE_PARAMETERS:
        assert getattr(settings, setting_field(spec.name)) == spec.default, spec.name
        assert spec.check(spec.default) is None, spec.name
        assert spec.description.endswith("."), spec.name


def test_defaults_are_consistent() -> None:
    assert NodeSettings().inconsistency() is None
    assert NodeSettings.from_values({}) == NodeSettings()


def test_kinds() -> None:
    kinds = {spec.name: spec.kind for spec in NODE_PARAMETERS + LAYOUT_PARAMETERS}
    assert kinds["allow_random_model"] == "bool"
    assert kinds["stride"] == "integer"
    assert kinds["latency_warn_ms"] == "double"
    assert kinds["mode"] == "string"
    assert kinds["stream_names"] == "string_array"


def test_from_values_accepts_valid_values_and_coerces_integers_for_doubles() -> None:
    settings = NodeSettings.from_values(
        {"stride": 4, "mode": "incremental", "latency_warn_ms": 20, "use_sim_time": True}
    )
    assert settings.stride == 4 and settings.mode == "incremental"
    assert settings.latency_warn_ms == 20.0 and isinstance(settings.latency_warn_ms, float)


def test_from_values_lists_every_problem() -> None:
    with pytest.raises(ConfigError, match=r"stride must be >= 0, got -1.*mode must be one of "
                       r"\['full_window', 'incremental'\], got 'batch'"):
        NodeSettings.from_values({"stride": -1, "mode": "batch"})


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("stride", 2.5, r"stride must be an integer"),
        ("stride", True, r"stride must be an integer"),
        ("num_threads", 0, r"num_threads must be >= 1"),
        ("loss_warn_ratio", 1.5, r"loss_warn_ratio must be <= 1.0"),
        ("latency_warn_ms", math.nan, r"latency_warn_ms must be finite"),
        ("latency_warn_ms", "fast", r"latency_warn_ms must be a number"),
        ("allow_random_model", 1, r"allow_random_model must be true or false"),
        ("model", "huge", r"model must be one of \['full', 'physical'\]"),
        ("hardware_id", 3, r"hardware_id must be a string"),
    ],
)
def test_invalid_values_give_a_reason(name: str, value: object, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        NodeSettings.from_values({name: value})


def test_warn_above_error_is_inconsistent() -> None:
    with pytest.raises(ConfigError, match=r"latency_warn_ms \(300.0\) must not exceed "
                       r"latency_error_ms \(250.0\)"):
        NodeSettings.from_values({"latency_warn_ms": 300.0})


def test_valid_runtime_change_returns_complete_new_settings() -> None:
    current = NodeSettings()
    updated, reason = validate_changes(current, {"stride": 3, "num_threads": 2})
    assert reason == "" and updated is not None
    assert (updated.stride, updated.num_threads) == (3, 2)
    assert current.stride == DEFAULT_STRIDE  # the old settings are untouched


def test_one_invalid_change_rejects_the_whole_batch() -> None:
    current = NodeSettings()
    updated, reason = validate_changes(current, {"stride": 3, "num_threads": -1})
    assert updated is None
    assert "num_threads must be >= 1" in reason


def test_read_only_change_is_rejected_with_reason() -> None:
    updated, reason = validate_changes(NodeSettings(), {"checkpoint": "/tmp/x.pt"})
    assert updated is None
    assert reason == "checkpoint is read-only at runtime; restart the node to change it"
    same, reason = validate_changes(NodeSettings(), {"checkpoint": ""})
    assert same == NodeSettings() and reason == ""


def test_runtime_change_that_breaks_consistency_is_rejected() -> None:
    updated, reason = validate_changes(NodeSettings(), {"staleness_error_s": 0.5})
    assert updated is None
    assert "staleness_warn_s (1.0) must not exceed staleness_error_s (0.5)" in reason


def test_layout_parameter_defaults_parse_into_a_layout() -> None:
    flat = {spec.name: spec.default for spec in LAYOUT_PARAMETERS}
    flat["stream_names"] = ["imu"]
    for spec in stream_parameter_specs("imu"):
        flat[spec.name] = spec.default
    flat["streams.imu.topic"] = "imu/data"
    flat["streams.imu.type"] = "sensor_msgs/Imu"
    flat["streams.imu.channels"] = ["angular_velocity.z"]
    layout = StreamLayout.from_parameters(flat)
    assert layout.streams[0].msg_type == "sensor_msgs/msg/Imu"
    assert layout.alignment.stale_policy == flat["stale_policy"]
    for spec in stream_parameter_specs("imu"):
        assert spec.read_only and spec.name.startswith("streams.imu.")


def test_constraints_text() -> None:
    stride = next(s for s in NODE_PARAMETERS if s.name == "stride")
    assert stride.constraints == "range [0, 4096]"
    model = next(s for s in NODE_PARAMETERS if s.name == "model")
    assert model.constraints == "one of full, physical; read-only at runtime (restart to change)"


HUGE = 2_000_000   # characters: the hardware_id that made every /diagnostics message 28 MB


def _string_specs():
    return [spec for spec in NODE_PARAMETERS + LAYOUT_PARAMETERS + stream_parameter_specs("s")
            if spec.kind in ("string", "string_array")]


def test_every_string_parameter_has_a_length_limit() -> None:
    specs = _string_specs()
    assert {"hardware_id", "checkpoint", "machines", "streams.s.topic"} <= {s.name for s in specs}
    for spec in specs:
        assert 0 < spec.max_length <= MAX_PATH_LENGTH, spec.name
        too_long = "x" * (spec.max_length + 1)
        value = too_long if spec.kind == "string" else [too_long]
        problem = spec.check(value)
        assert problem is not None and "characters long" in problem, spec.name
        assert len(problem) < 200, spec.name   # the value is never quoted whole


def test_names_are_limited_to_256_characters_and_paths_to_4096() -> None:
    hardware_id = next(s for s in NODE_PARAMETERS if s.name == "hardware_id")
    checkpoint = next(s for s in NODE_PARAMETERS if s.name == "checkpoint")
    assert (MAX_NAME_LENGTH, MAX_PATH_LENGTH) == (256, 4096)
    assert hardware_id.check("h" * MAX_NAME_LENGTH) is None
    assert hardware_id.check("h" * (MAX_NAME_LENGTH + 1)) == (
        "hardware_id is 257 characters long; at most 256 are accepted")
    assert checkpoint.check("/" + "p" * (MAX_PATH_LENGTH - 1)) is None
    assert "at most 4096" in checkpoint.check("/" + "p" * MAX_PATH_LENGTH)
    assert "at most 256 characters" in hardware_id.constraints


def test_a_2mb_hardware_id_is_refused_at_start_up_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="hardware_id is 2000000 characters long") as info:
        NodeSettings.from_values({"hardware_id": "h" * HUGE})
    assert len(str(info.value)) < 200


def test_a_2mb_hardware_id_is_refused_at_runtime_and_nothing_changes() -> None:
    current = NodeSettings()
    updated, reason = validate_changes(current, {"hardware_id": "h" * HUGE, "stride": 3})
    assert updated is None
    assert reason == "hardware_id is 2000000 characters long; at most 256 are accepted"
    same, reason = validate_changes(current, {"hardware_id": "mill_7"})
    assert same is not None and same.hardware_id == "mill_7" and reason == ""


def test_string_arrays_are_limited_per_item_and_in_count() -> None:
    machines = next(s for s in NODE_PARAMETERS if s.name == "machines")
    assert machines.check(["a", "b" * (MAX_NAME_LENGTH + 1)]) == (
        "machines[1] is 257 characters long; at most 256 are accepted")
    assert machines.check(["m"] * MAX_STRING_ARRAY_ITEMS) is None
    assert machines.check(["m"] * (MAX_STRING_ARRAY_ITEMS + 1)) == (
        f"machines has {MAX_STRING_ARRAY_ITEMS + 1} items; at most "
        f"{MAX_STRING_ARRAY_ITEMS} are accepted")


def test_a_long_value_outside_the_choices_is_refused_by_length_not_quoted() -> None:
    mode = next(s for s in NODE_PARAMETERS if s.name == "mode")
    assert mode.check("m" * HUGE) == "mode is 2000000 characters long; at most 256 are accepted"
    problem = mode.check("m" * 100)
    assert "must be one of" in problem and "(102 characters)" in problem
    assert len(problem) < 100 + SHOWN_VALUE_CHARS


@pytest.mark.parametrize("value", [True, False])
def test_use_sim_time_is_read_only_at_runtime(value) -> None:
    current = NodeSettings()
    fixed = {USE_SIM_TIME: not value}
    updated, reason = validate_changes(current, {USE_SIM_TIME: value, "stride": 3}, fixed)
    assert updated is None
    assert reason.startswith("use_sim_time is read-only at runtime")
    assert "restart the node" in reason
    same, reason = validate_changes(current, {USE_SIM_TIME: not value, "stride": 3}, fixed)
    assert same is not None and same.stride == 3 and reason == ""


def test_diagnostic_updater_period_is_the_standard_name_with_a_deprecated_alias() -> None:
    assert setting_field("diagnostic_updater.period") == "diagnostics_period_s"
    standard = NodeSettings.from_values({"diagnostic_updater.period": 0.25,
                                         "diagnostics_period_s": 1.0})
    alias = NodeSettings.from_values({"diagnostic_updater.period": 1.0,
                                      "diagnostics_period_s": 0.5})
    both = NodeSettings.from_values({"diagnostic_updater.period": 0.25,
                                     "diagnostics_period_s": 0.5})
    assert (standard.diagnostics_period_s, alias.diagnostics_period_s,
            both.diagnostics_period_s) == (0.25, 0.5, 0.25)
    updated, _ = validate_changes(standard, {"diagnostics_period_s": 2.0})
    assert updated is not None and updated.diagnostics_period_s == 2.0
    updated, _ = validate_changes(alias, {"diagnostic_updater.period": 1.0})
    assert updated is not None and updated.diagnostics_period_s == 1.0
    updated, reason = validate_changes(alias, {"diagnostic_updater.period": 0.01})
    assert updated is None and "diagnostic_updater.period must be >= 0.05" in reason
