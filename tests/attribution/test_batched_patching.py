"""The batched sweeps against one patched forward pass per cell (the loop they replace)."""

import pytest
import torch

from workbench.attribution.batched_patching import patch_sweep, path_patching_sweep
from workbench.attribution.patching import activation_patching, find_minimal_pair, path_patching
from workbench.othello import play_games

from helpers import tiny_model


@pytest.fixture(scope="module")
def pair():
    return find_minimal_pair(play_games(n_games=50, rng=4), 24, differ_at=20)[1]


def loop_sweep(model, pair, kind):
    """Reference: the corrupted game run alone once per cell, one hook patching one cell."""
    metric = pair.metric()
    _, cache = model.run_with_cache(pair.clean)

    def value(hooks=()):
        with torch.no_grad(), model.hooks(fwd_hooks=list(hooks)):
            return float(metric(model(pair.corrupted)))

    clean, corrupted = value_of(model, pair.clean, metric), value()
    rows = []
    for layer in range(model.cfg.n_layers):
        for head in [None] if kind == "resid" else range(model.cfg.n_heads):
            name = (
                f"blocks.{layer}.hook_resid_pre" if head is None else f"blocks.{layer}.attn.hook_z"
            )
            row = []
            for p in range(pair.clean.shape[1]):

                def patch(act, hook, p=p, head=head, name=name):
                    if head is None:
                        act[:, p] = cache[name][:, p]
                    else:
                        act[:, p, head] = cache[name][:, p, head]
                    return act

                row.append((value([(name, patch)]) - corrupted) / (clean - corrupted))
            rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


def value_of(model, tokens, metric):
    with torch.no_grad():
        return float(metric(model(tokens)))


@pytest.mark.parametrize("kind", ["resid", "heads"])
@pytest.mark.parametrize("skip_unchanged", [True, False])
def test_every_cell_equals_one_patched_run(pair, kind, skip_unchanged):
    model = tiny_model(seed=3)
    expected = loop_sweep(model, pair, kind)
    swept = patch_sweep(
        model, pair.clean, pair.corrupted, pair.metric(), kind=kind, batch_size=7,
        skip_unchanged=skip_unchanged, progress=False,
    )  # fmt: skip
    assert swept.shape == expected.shape
    assert (swept.double() - expected).abs().max() < 1e-6
    assert expected.abs().max() > 1e-2  # real effects, not 0 == 0
    if skip_unchanged:  # what the public function runs
        public = activation_patching(model, pair, kind=kind, batch_size=7, progress=False)
        assert torch.equal(swept, public)


def loop_neurons(model, pair, layer, positions):
    """Reference: one patched run per (neuron, position) of ``layer``'s MLP."""
    metric = pair.metric()
    name = f"blocks.{layer}.mlp.hook_post"
    _, cache = model.run_with_cache(pair.clean, names_filter=[name])
    clean, corrupted = value_of(model, pair.clean, metric), value_of(model, pair.corrupted, metric)
    rows = []
    for neuron in range(model.cfg.d_mlp):
        row = []
        for p in positions:

            def patch(act, hook, p=p, neuron=neuron):
                act[:, p, neuron] = cache[name][:, p, neuron]
                return act

            with torch.no_grad(), model.hooks(fwd_hooks=[(name, patch)]):
                row.append((float(metric(model(pair.corrupted))) - corrupted) / (clean - corrupted))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.float64)


@pytest.mark.parametrize("layer", [0, 1])
def test_every_neuron_cell_equals_one_patched_run(pair, layer):
    model = tiny_model(seed=3)
    positions = [3, 19, 20, 22, 24]  # before the differing move (20), at it, after it
    expected = loop_neurons(model, pair, layer, positions)
    swept = activation_patching(
        model, pair, kind="neurons", layer=layer, positions=positions, batch_size=50,
        progress=False,
    )  # fmt: skip
    assert swept.shape == (model.cfg.d_mlp, len(positions))
    assert (swept.double() - expected).abs().max() < 1e-6
    assert expected.abs().max() > 1e-3  # real effects, not 0 == 0
    every = patch_sweep(
        model, pair.clean, pair.corrupted, pair.metric(), kind="neurons", layer=layer,
        positions=positions, batch_size=50, skip_unchanged=False, progress=False,
    )  # fmt: skip
    assert (every.double() - expected).abs().max() < 1e-6
    with pytest.raises(ValueError, match="Give layer"):
        activation_patching(model, pair, kind="neurons", progress=False)


def test_positions_select_columns(pair):
    model = tiny_model(seed=3)
    full = activation_patching(model, pair, kind="heads", progress=False)
    some = activation_patching(model, pair, kind="heads", positions=[24, 0, 21], progress=False)
    assert torch.allclose(some, full[:, [24, 0, 21]], atol=1e-6)


def loop_path_patching(model, pair, senders, receivers):
    """Reference: the one-set-at-a-time path patching the sweep replaced."""
    metric = pair.metric()
    z_hooks = [f"blocks.{i}.attn.hook_z" for i in range(model.cfg.n_layers)]
    mlp_hooks = [f"blocks.{i}.hook_mlp_out" for i in range(model.cfg.n_layers)]
    _, clean_cache = model.run_with_cache(pair.clean)
    _, corr_cache = model.run_with_cache(pair.corrupted)

    def freeze(act, hook):
        out = corr_cache[hook.name].clone()
        if hook.name.endswith("hook_z"):
            layer = int(hook.name.split(".")[1])
            for lay, head in senders:
                if lay == layer:
                    out[:, :, head] = clean_cache[hook.name][:, :, head]
        return out

    received = {}

    def record(act, hook):
        received[hook.name] = act.clone()
        return act

    with (
        torch.no_grad(),
        model.hooks([(h, freeze) for h in z_hooks + mlp_hooks] + [(r, record) for r in receivers]),
    ):
        model(pair.corrupted)
    with (
        torch.no_grad(),
        model.hooks([(r, lambda act, hook: received[hook.name]) for r in receivers]),
    ):
        value = float(metric(model(pair.corrupted)))
    clean, corrupted = value_of(model, pair.clean, metric), value_of(model, pair.corrupted, metric)
    return (value - corrupted) / (clean - corrupted)


@pytest.mark.parametrize(
    "receivers",
    [
        ["blocks.1.hook_resid_post"],
        ["blocks.1.hook_resid_pre"],
        ["blocks.1.attn.hook_v", "blocks.1.hook_resid_mid"],
    ],
)
def test_path_patching_sweep_equals_one_set_at_a_time(pair, receivers):
    model = tiny_model(seed=3)
    sets = [[(0, 0)], [(0, 1)], [(0, 0), (0, 1)], [(1, 1)], []]
    swept = path_patching_sweep(model, pair, sets, receivers, batch_size=2)
    expected = [loop_path_patching(model, pair, s, receivers) for s in sets]
    assert swept.tolist() == pytest.approx(expected, abs=1e-6)
    assert max(abs(e) for e in expected) > 1e-3
    assert path_patching(model, pair, sets[2], receivers) == pytest.approx(expected[2], abs=1e-6)
