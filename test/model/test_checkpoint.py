# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Checkpoint files: round trip, and a CheckpointError naming the file for each bad one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from streaming_gcode.core.errors import CheckpointError
from streaming_gcode.core.features import FEATURE_SETS
from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.stream_layout import AlignmentSettings, StreamLayout, StreamSpec
from streaming_gcode.model.checkpoint import (
    CHECKPOINT_KEYS,
    find_checkpoint,
    FORMAT_VERSION,
    load_checkpoint,
    LoadedModel,
    random_model,
    resolve_checkpoint,
    save_checkpoint,
)

torch.set_num_threads(1)
SIZES = {"d_model": 16, "num_layers": 1}


def _save(model: LoadedModel, path: Path) -> Path:
    return save_checkpoint(path, model.backbone, model.line_heads, model.config, model.metadata)


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return random_model("full", seed=3, **SIZES)


@pytest.fixture()
def good(model, tmp_path) -> Path:
    return _save(model, tmp_path / "model.pt")


def _payload(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_round_trip_keeps_weights_config_and_metadata(model, good) -> None:
    loaded = load_checkpoint(good)
    assert loaded.path == good
    assert loaded.config == model.config
    assert loaded.metadata.to_dict() == model.metadata.to_dict()
    assert not loaded.backbone.training and not loaded.line_heads.training
    cont = torch.randn(1, 5, model.config.n_continuous)
    cat = torch.zeros(1, 5, model.config.n_categorical, dtype=torch.long)
    with torch.no_grad():
        for head, logits in model.line_heads(model.backbone(cont, cat)).items():
            torch.testing.assert_close(loaded.line_heads(loaded.backbone(cont, cat))[head], logits)
    assert set(_payload(good)) == set(CHECKPOINT_KEYS)
    assert loaded.vocabulary.head_sizes == model.config.head_sizes


def test_physical_random_model_has_no_categorical_inputs(tmp_path) -> None:
    model = random_model("physical", **SIZES)
    assert model.config.categorical_sizes == []
    assert model.metadata.continuous_features == list(FEATURE_SETS["physical"].continuous)
    assert load_checkpoint(_save(model, tmp_path / "p.pt")).config.n_categorical == 0


def test_random_model_restricted_to_a_layout() -> None:
    spec = StreamSpec("currents", "/c", "sensor_msgs/msg/JointState", ("x_motor", "y_motor"))
    layout = StreamLayout((spec,), AlignmentSettings(None, 4.0, 10**9, "hold_last", 5 * 10**8))
    model = random_model("physical", layout=layout, **SIZES)
    assert model.metadata.continuous_features == ["x_motor", "y_motor"]
    assert model.feature_map(layout).n_continuous == 2


def test_missing_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match=r"absent\.pt: no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pt")


def test_truncated_file(good) -> None:
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError,
                       match=r"model\.pt: unreadable checkpoint \(truncated or corrupt"):
        load_checkpoint(good)


def test_garbage_file(tmp_path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(os.urandom(2048))
    with pytest.raises(CheckpointError, match=r"noise\.pt: (unreadable checkpoint|refused)"):
        load_checkpoint(path)


class _RunsCode:
    """Unpickling this would call os.system: the attack weights_only loading stops."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused(good, tmp_path) -> None:
    marker = tmp_path / "pwned"
    payload = _payload(good)
    payload["metadata"]["training"] = {"x": _RunsCode(marker)}
    hostile = tmp_path / "hostile.pt"
    torch.save(payload, hostile)
    with pytest.raises(CheckpointError, match=r"hostile\.pt: refused: .*unsafe or foreign pickle"):
        load_checkpoint(hostile)
    assert not marker.exists()


def test_not_a_dict(tmp_path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match=r"list\.pt: expected a dict"):
        load_checkpoint(path)


@pytest.mark.parametrize("key", CHECKPOINT_KEYS)
def test_missing_key(good, key) -> None:
    payload = _payload(good)
    del payload[key]
    torch.save(payload, good)
    with pytest.raises(CheckpointError, match=rf"model\.pt: missing keys \['{key}'\]"):
        load_checkpoint(good)


def test_wrong_format_version(good) -> None:
    payload = _payload(good)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, good)
    expected = (rf"format version {FORMAT_VERSION + 1}, "
                rf"this software reads version {FORMAT_VERSION}")
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(good)


def test_weight_shape_mismatch(good) -> None:
    payload = _payload(good)
    payload["lm_state_dict"]["heads.command.weight"] = torch.zeros(3, 16)
    torch.save(payload, good)
    with pytest.raises(CheckpointError,
                       match=r"model\.pt: lm_state_dict does not fit .*size mismatch"):
        load_checkpoint(good)


def test_missing_weight(good) -> None:
    payload = _payload(good)
    del payload["backbone_state_dict"]["lstm.weight_hh_l0"]
    torch.save(payload, good)
    with pytest.raises(CheckpointError, match=r"backbone_state_dict does not fit .*Missing key"):
        load_checkpoint(good)


def test_config_and_metadata_disagree(good) -> None:
    payload = _payload(good)
    payload["metadata"]["continuous_features"] = payload["metadata"]["continuous_features"][:-1]
    payload["metadata"]["categorical_vocab"]["momo"] = [0, 1]
    torch.save(payload, good)
    expected = (r"inconsistent checkpoint: \d+ continuous feature names"
                r".*categorical vocabularies imply sizes")
    with pytest.raises(CheckpointError, match=expected):
        load_checkpoint(good)


def test_bad_config_and_metadata(good, tmp_path) -> None:
    payload = _payload(good)
    payload["config"]["d_model"] = 0
    torch.save(payload, tmp_path / "config.pt")
    with pytest.raises(CheckpointError, match=r"config\.pt: bad config: invalid ModelConfig"):
        load_checkpoint(tmp_path / "config.pt")
    payload = _payload(good)
    del payload["metadata"]["norm_std"]
    torch.save(payload, tmp_path / "meta.pt")
    with pytest.raises(CheckpointError, match=r"meta\.pt: bad metadata: .*norm_std"):
        load_checkpoint(tmp_path / "meta.pt")


def test_output_vocabulary_disagrees_with_head_sizes(good) -> None:
    payload = _payload(good)
    payload["metadata"]["vocabulary"]["values"]["X"] = [0, 1]
    torch.save(payload, good)
    with pytest.raises(CheckpointError, match="output vocabulary head sizes"):
        load_checkpoint(good)


def test_default_checkpoint_is_the_shipped_full_model(tmp_path) -> None:
    assert resolve_checkpoint(tmp_path / "x.pt") == tmp_path / "x.pt"
    shipped = default_checkpoint("full")
    if shipped is None:
        pytest.skip("models/full.pt is not present in this tree")
    assert resolve_checkpoint(None) == shipped


def test_without_a_path_or_a_shipped_model_there_is_no_checkpoint(monkeypatch) -> None:
    monkeypatch.setattr("streaming_gcode.model.checkpoint.default_checkpoint", lambda model: None)
    assert find_checkpoint("", "physical") is None
    assert find_checkpoint("m.pt", "physical") == Path("m.pt")
    with pytest.raises(CheckpointError, match=r"no --checkpoint given and the shipped "
                       r"models/physical.pt is not installed"):
        resolve_checkpoint(None, "physical")
