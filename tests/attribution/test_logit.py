import pytest
import torch

from workbench.attribution.logit import (
    direct_logit_attribution,
    grad_x_act,
    integrated_gradients,
    logit_metric,
)
from workbench.othello import model_inputs, play_games

from helpers import identity_sae, tiny_model


@pytest.fixture(scope="module")
def setup():
    model = tiny_model()
    games = play_games(n_games=2, rng=0)
    tokens = torch.from_numpy(model_inputs(games))
    legal = games.legal_mask()[0, 11]
    move, versus = [int(s) for s in legal.nonzero()[0][:2]]
    return model, tokens, move, versus


@pytest.mark.parametrize("level", ["layers", "heads", "neurons"])
def test_dla_sums_to_the_logit(setup, level):
    model, tokens, move, versus = setup
    attr = direct_logit_attribution(model, tokens[0], 10, move, level=level)
    assert float(attr.values.sum()) + attr.constant == pytest.approx(attr.target, abs=1e-4)
    diff = direct_logit_attribution(model, tokens[0], 10, move, versus=versus, level=level)
    assert float(diff.values.sum()) + diff.constant == pytest.approx(diff.target, abs=1e-4)


def test_dla_with_sae_features_sums_to_the_logit(setup):
    model, tokens, move, _ = setup
    sae = identity_sae(32, "blocks.0.hook_resid_post")
    attr = direct_logit_attribution(model, tokens[0], 10, move, level="sae", sae=sae)
    assert float(attr.values.sum()) + attr.constant == pytest.approx(attr.target, abs=1e-4)
    assert any(label.startswith("F") for label in attr.labels)
    assert "L1.H0" in attr.labels and "L0.H0" not in attr.labels  # only layers after the SAE


def test_bad_level_is_explained(setup):
    model, tokens, move, _ = setup
    with pytest.raises(ValueError, match="level must be"):
        direct_logit_attribution(model, tokens[0], 10, move, level="atoms")


def test_integrated_gradients_is_complete(setup):
    model, tokens, move, versus = setup
    metric = logit_metric(10, move, versus)
    attributions, change = integrated_gradients(
        model, tokens[:1], "blocks.0.mlp.hook_post", metric, steps=64
    )
    assert float(attributions.sum()) == pytest.approx(change, rel=0.02, abs=1e-3)


def test_integrated_gradients_to_sae_features_is_complete(setup):
    model, tokens, move, versus = setup
    # On an MLP output: zeroing the features leaves the rest of the residual stream (on
    # the residual stream itself, an exact SAE's zero baseline is an all-zero stream, where
    # the final LayerNorm is singular).
    sae = identity_sae(32, "blocks.0.hook_mlp_out")
    metric = logit_metric(10, move, versus)
    attributions, change = integrated_gradients(
        model, tokens[:1], "blocks.0.hook_mlp_out", metric, sae=sae, steps=64
    )
    assert attributions.shape[-1] == 64
    assert float(attributions.sum()) == pytest.approx(change, rel=0.02, abs=1e-3)


def test_grad_x_act_is_exact_for_a_linear_metric(setup):
    model, tokens, move, _ = setup
    # The logit is linear in the last MLP's output (nothing but the final LN follows,
    # and the LN scale is not frozen, so compare with a finite-difference check instead).
    hook = "blocks.1.hook_mlp_out"
    metric = logit_metric(10, move)
    gxa = grad_x_act(model, tokens[:1], hook, metric)
    assert gxa.shape == (1, 59, 32)
    # hooks are gone afterwards, even after an exception inside a hooked run
    with pytest.raises(RuntimeError):
        grad_x_act(model, tokens[:1], hook, lambda logits: (_ for _ in ()).throw(RuntimeError()))
    assert all(not h.fwd_hooks for h in model.hook_dict.values())


def test_batched_alphas_match_one_run_per_alpha(setup):
    # reference: the activation scaled by one alpha per forward and backward pass
    model, tokens, move, versus = setup
    metric, hook, steps = logit_metric(10, move, versus), "blocks.1.hook_resid_pre", 8
    attributions, change = integrated_gradients(model, tokens, hook, metric, steps=steps)
    _, cache = model.run_with_cache(tokens, names_filter=[hook])
    act, grads = cache[hook], []
    for k in range(steps):
        leaf = (act * (k + 0.5) / steps).requires_grad_(True)
        with model.hooks(fwd_hooks=[(hook, lambda a, hook, leaf=leaf: leaf)]):
            grads.append(torch.autograd.grad(metric(model(tokens)), leaf)[0])
    expected = act * torch.stack(grads).mean(0)
    assert attributions.shape == (2, tokens.shape[1], 32)
    assert torch.allclose(attributions, expected, atol=1e-5)
    with torch.no_grad(), model.hooks(fwd_hooks=[(hook, lambda a, hook: a * 0)]):
        zeroed = float(metric(model(tokens)))
    assert change == pytest.approx(float(metric(model(tokens))) - zeroed, abs=1e-5)
