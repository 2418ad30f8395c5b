# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""Checkpoint files: round trip, and a CheckpointError naming the file for each bad one."""

from __future__ import annotations

import os
from pathlib import Path
import zipfile

import pytest
import torch

from streaming_gcode.core.errors import CheckpointError
from streaming_gcode.core.features import feature_set
from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.stream_layout import AlignmentSettings, resolve_layout, StreamLayout
from streaming_gcode.core.stream_spec import StreamSpec
from streaming_gcode.model import checkpoint_limits
from streaming_gcode.model.checkpoint import (
    CHECKPOINT_KEYS,
    find_checkpoint,
    FORMAT_VERSION,
    load_checkpoint,
    LoadedModel,
    resolve_checkpoint,
    save_checkpoint,
)
from streaming_gcode.model.random_weights import random_model

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
    physical = feature_set("physical", resolve_layout(None))
    assert model.metadata.continuous_features == list(physical.continuous)
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


def _with_config(good: Path, name: str, **changes) -> Path:
    payload = _payload(good)
    payload["config"].update(changes)
    path = good.with_name(name)
    torch.save(payload, path)
    return path


@pytest.mark.parametrize(("changes", "expected"), [
    ({"d_model": 10_000_000}, r"d_model 10000000 above the limit 4096"),
    ({"num_layers": 20_000}, r"num_layers 20000 above the limit 32"),
    ({"window": 10**9}, r"window 1000000000 above the limit 65536"),
    ({"code_buckets": 10**10}, r"code_buckets 10000000000 above the limit 1048576"),
])
def test_config_sizes_beyond_the_limits_are_refused_before_allocation(good, changes, expected):
    path = _with_config(good, "huge.pt", **changes)
    with pytest.raises(CheckpointError, match=rf"huge\.pt: bad config: invalid ModelConfig: "
                                              rf"{expected}"):
        load_checkpoint(path)


def test_metadata_window_beyond_the_window_frames_range_is_refused(good):
    payload = _payload(good)
    payload["metadata"]["window"] = 2_000_000
    torch.save(payload, good)
    with pytest.raises(CheckpointError, match=r"model\.pt: inconsistent checkpoint: "
                                              r"window 2000000 in 1\.\.65536"):
        load_checkpoint(good)


def _deflated(source_path: Path, path: Path, zero_bytes: int | None = None) -> Path:
    """Rezip deflated; with `zero_bytes`, the last tensor record becomes that many zeros."""
    with zipfile.ZipFile(source_path) as source, \
            zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        records = source.infolist()
        blob = max((r for r in records if "/data/" in r.filename),
                   key=lambda r: int(r.filename.rsplit("/", 1)[1]))
        for record in records:
            if record is blob and zero_bytes is not None:
                with out.open(record.filename, "w", force_zip64=True) as handle:
                    for _ in range(zero_bytes // (1 << 20)):
                        handle.write(bytes(1 << 20))
            else:
                out.writestr(record.filename, source.read(record.filename))
    return path


def test_deflated_archive_declaring_too_much_is_refused_from_its_directory(good, monkeypatch):
    payload = _payload(good)
    payload["metadata"]["training"] = {"blob": torch.zeros(4)}
    torch.save(payload, good)
    bomb = _deflated(good, good.with_name("bomb.pt"), 16 << 20)
    assert bomb.stat().st_size < 1 << 20  # 16 MiB of zeros in well under 1 MiB
    with pytest.raises(CheckpointError, match=r"bomb\.pt: refused: the archive holds \d+ bytes "
                                              r"of tensors but its config needs \d+"):
        load_checkpoint(bomb)
    monkeypatch.setattr(checkpoint_limits, "MAX_ARCHIVE_BYTES", 4 << 20)
    with pytest.raises(CheckpointError, match=r"bomb\.pt: refused: the archive declares \d+ "
                                              r"bytes uncompressed; expected at most 4194304"):
        load_checkpoint(bomb)


def test_deflated_archive_within_the_limits_still_loads(model, good, tmp_path):
    rezipped = _deflated(good, tmp_path / "deflated.pt")
    loaded = load_checkpoint(rezipped)
    assert loaded.config == model.config


def test_oversized_pickle_record_and_legacy_format_are_refused(good, tmp_path, monkeypatch):
    legacy = tmp_path / "legacy.pt"
    torch.save(_payload(good), legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"legacy\.pt: refused: a legacy \(torch < 1\.6"):
        load_checkpoint(legacy)
    monkeypatch.setattr(checkpoint_limits, "MAX_PICKLE_BYTES", 100)
    with pytest.raises(CheckpointError, match=r"model\.pt: refused: expected one data\.pkl "
                                              r"record of at most 100 bytes"):
        load_checkpoint(good)


def test_shipped_models_load_within_the_limits():
    for name in ("full", "physical"):
        path = default_checkpoint(name)
        if path is None:
            pytest.skip(f"models/{name}.pt is not installed")
        assert load_checkpoint(path).config.d_model == 128
