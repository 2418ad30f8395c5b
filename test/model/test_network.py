# Copyright 2026 streaming_gcode developers
# SPDX-License-Identifier: Apache-2.0
"""The streaming model: shapes, causality, window-versus-stateful equivalence, config."""

from __future__ import annotations

import pytest
import torch

from streaming_gcode.core.errors import ConfigError, ModelConfigError
from streaming_gcode.core.package import default_checkpoint
from streaming_gcode.core.parameters import NODE_PARAMETERS
from streaming_gcode.model import network
from streaming_gcode.model.network import build_model, ModelConfig, parameter_count

torch.set_num_threads(1)
HEADS = {"command": 7, "form": 2, "param_X": 30}


def _model(n_cont=6, cats=(4, 3), d_model=16, num_layers=2, window=8, **kw):
    config = ModelConfig(n_continuous=n_cont, categorical_sizes=list(cats), head_sizes=HEADS,
                         d_model=d_model, num_layers=num_layers, dropout=0.0, window=window, **kw)
    backbone, line_heads = build_model(config, seed=1)
    return backbone.eval(), line_heads.eval()


def _inputs(batch, steps, n_cont=6, cats=(4, 3), seed=0):
    g = torch.Generator().manual_seed(seed)
    cont = torch.randn(batch, steps, n_cont, generator=g) * 3 + 5
    cat = torch.stack([torch.randint(0, s, (batch, steps), generator=g) for s in cats], -1) \
        if cats else torch.zeros(batch, steps, 0, dtype=torch.long)
    return cont, cat


@torch.no_grad()
def test_shapes_of_backbone_and_heads() -> None:
    backbone, line_heads = _model()
    hidden = backbone(*_inputs(3, 11))
    assert hidden.shape == (3, 11, 16)
    logits = line_heads(hidden)
    assert {h: tuple(v.shape) for h, v in logits.items()} == {
        h: (3, 11, n) for h, n in HEADS.items()}


@torch.no_grad()
def test_no_categorical_inputs() -> None:
    backbone, line_heads = _model(cats=())
    cont, cat = _inputs(2, 5, cats=())
    assert cat.shape == (2, 5, 0)
    assert backbone(cont, cat).shape == (2, 5, 16)


@torch.no_grad()
def test_seed_size_is_constructible() -> None:
    config = ModelConfig(n_continuous=155, categorical_sizes=[10, 10, 50, 50], head_sizes=HEADS,
                         d_model=256, num_layers=4, num_heads=8, window=64)
    backbone, line_heads = build_model(config, seed=0)
    cont, cat = _inputs(1, 4, n_cont=155, cats=(10, 10, 50, 50))
    assert line_heads(backbone.eval()(cont, cat))["command"].shape == (1, 4, 7)
    assert parameter_count(backbone, line_heads) > 1_000_000


@torch.no_grad()
def test_causal_a_change_at_t_changes_nothing_before_t() -> None:
    backbone, line_heads = _model(code_inputs=[0])
    cont, cat = _inputs(1, 12)
    before = line_heads(backbone(cont, cat))
    t = 7
    cont2, cat2 = cont.clone(), cat.clone()
    cont2[0, t] += 4.0
    cat2[0, t, 0] = (cat2[0, t, 0] + 1) % 4
    after = line_heads(backbone(cont2, cat2))
    for head in HEADS:
        torch.testing.assert_close(after[head][:, :t], before[head][:, :t], rtol=0, atol=0)
        assert not torch.allclose(after[head][:, t], before[head][:, t])


@torch.no_grad()
@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_incremental_steps_equal_the_full_window(chunk: int) -> None:
    backbone, _ = _model(window=8)
    cont, cat = _inputs(2, 8)
    full = backbone(cont, cat)
    state, parts = None, []
    for start in range(0, 8, chunk):
        hidden, state = backbone.step(cont[:, start:start + chunk], cat[:, start:start + chunk],
                                      state)
        parts.append(hidden)
    torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-5, atol=1e-5)
    zero = backbone.initial_state(2)
    torch.testing.assert_close(backbone.step(cont, cat, zero)[0], full)


@torch.no_grad()
def test_window_and_state_differ_once_more_than_a_window_was_fed() -> None:
    backbone, _ = _model(window=8)
    cont, cat = _inputs(1, 20)
    stateful = backbone(cont, cat)[0, -1]
    window = backbone(cont[:, -8:], cat[:, -8:])[0, -1]
    assert not torch.allclose(stateful, window, atol=1e-4)


@torch.no_grad()
def test_normalisation_happens_inside_from_raw_values() -> None:
    backbone, _ = _model()
    cont, cat = _inputs(1, 5)
    mean, std = cont.mean((0, 1)), cont.std((0, 1))
    reference = backbone(((cont - mean) / std), cat)
    backbone.set_normalisation(mean, std)
    torch.testing.assert_close(backbone(cont, cat), reference, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expected 6"):
        backbone.set_normalisation(mean[:3], std[:3])


@torch.no_grad()
def test_unknown_categorical_indices_read_as_index_zero() -> None:
    backbone, _ = _model()
    cont, cat = _inputs(1, 4)
    zero = cat.clone()
    zero[..., 0] = 0
    wild = cat.clone()
    wild[..., 0] = 99
    torch.testing.assert_close(backbone(cont, wild), backbone(cont, zero))


def test_config_round_trip_and_validation() -> None:
    config = ModelConfig(n_continuous=3, categorical_sizes=[5], head_sizes=HEADS, code_inputs=[0])
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown ModelConfig keys"):
        ModelConfig.from_dict({**config.to_dict(), "colour": 1})
    with pytest.raises(ValueError, match="categorical sizes must be >= 2"):
        ModelConfig(n_continuous=3, categorical_sizes=[1], head_sizes=HEADS)
    with pytest.raises(ValueError, match="head_sizes"):
        ModelConfig(n_continuous=3)
    with pytest.raises(ValueError, match="code_inputs"):
        ModelConfig(n_continuous=3, head_sizes=HEADS, code_inputs=[3])
    with pytest.raises(ConfigError, match="invalid ModelConfig: .*head_sizes"):
        ModelConfig(n_continuous=3)  # a configuration error (one line from the CLI)


def test_num_heads_is_accepted_but_changes_nothing() -> None:
    a = build_model(ModelConfig(n_continuous=3, head_sizes=HEADS, num_heads=1), seed=0)
    b = build_model(ModelConfig(n_continuous=3, head_sizes=HEADS, num_heads=8), seed=0)
    for x, y in zip(a[0].state_dict().values(), b[0].state_dict().values()):
        assert torch.equal(x, y)


def test_parameter_count_is_known_before_the_model_is_built() -> None:
    config = ModelConfig(n_continuous=3, categorical_sizes=[5, 7], head_sizes=HEADS,
                         code_inputs=[0, 2], num_layers=3, d_model=24)
    assert config.parameter_count == parameter_count(*build_model(config))


def test_shipped_model_sizes_are_within_the_limits() -> None:
    for name in ("full", "physical"):
        path = default_checkpoint(name)
        if path is None:
            pytest.skip(f"models/{name}.pt is not installed")
        config = ModelConfig.from_dict(torch.load(path, weights_only=True)["config"])
        assert config.parameter_count < network.MAX_PARAMETERS // 10


def test_window_limit_is_the_window_frames_parameter_range() -> None:
    spec = next(p for p in NODE_PARAMETERS if p.name == "window_frames")
    assert network.MAX_WINDOW == spec.maximum == 65536
    ModelConfig(n_continuous=3, head_sizes=HEADS, window=network.MAX_WINDOW)


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("d_model", 10_000_000, r"d_model 10000000 above the limit 4096"),
    ("num_layers", 20_000, r"num_layers 20000 above the limit 32"),
    ("window", 10**9, r"window 1000000000 above the limit 65536"),
    ("window", 2_000_000, r"window 2000000 above the limit 65536"),
    ("code_buckets", 10**10, r"code_buckets 10000000000 above the limit 1048576"),
    ("embedding_dim", 10**6, r"embedding_dim 1000000 above the limit 1024"),
    ("d_model", 1e7, r"d_model 10000000.0 must be an integer"),
    ("num_layers", True, r"num_layers True must be an integer"),
])
def test_sizes_above_the_limits_are_refused_before_allocation(field, value, expected) -> None:
    with pytest.raises(ModelConfigError, match=rf"invalid ModelConfig: {expected}"):
        ModelConfig(n_continuous=3, head_sizes=HEADS, code_inputs=[0], **{field: value})


def test_total_parameters_and_class_counts_are_bounded() -> None:
    with pytest.raises(ModelConfigError, match=r"\d+ parameters above the limit 50000000"):
        ModelConfig(n_continuous=3, head_sizes=HEADS, d_model=4096, num_layers=32)
    with pytest.raises(ModelConfigError, match=r"class counts \[2000000\] above the limit"):
        ModelConfig(n_continuous=3, head_sizes={"command": 2_000_000})
    with pytest.raises(ModelConfigError, match=r"70000 inputs above the limit 65536"):
        ModelConfig(n_continuous=70_000, head_sizes=HEADS)
    with pytest.raises(ModelConfigError, match=r"invalid ModelConfig: .*infinity"):
        ModelConfig.from_dict({"n_continuous": 3, "head_sizes": {"command": float("inf")}})
