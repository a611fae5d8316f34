"""Ablation: the cached-residual shortcut matches a whole forward pass with the neuron
set to its mean; the loss is the cross-entropy on the legal moves."""

import numpy as np
import pytest
import torch

from workbench.othello import model_inputs, play_games
from workbench.othello.tokens import next_move_targets
from workbench.rules.ablation import LayerAblator, fires, group_ablation, next_move_loss
from workbench.rules.trees import NeuronRule

from helpers import tiny_model


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model, games = tiny_model(), play_games(n_games=12, rng=3)
    return model, games, LayerAblator(model, games, 1, batch=5)


def test_a_mean_ablation_matches_a_whole_forward_pass(setup):
    model, games, ablator = setup
    tokens = torch.from_numpy(model_inputs(games))
    legal = torch.from_numpy(next_move_targets(games))
    mean = ablator.means[7]

    def ablate(act, hook):
        act[..., 7] = mean
        return act

    with torch.inference_mode():
        clean = next_move_loss(model(tokens), legal)[ablator.valid].numpy()
        with model.hooks(fwd_hooks=[("blocks.1.mlp.hook_post", ablate)]):
            ablated = next_move_loss(model(tokens), legal)[ablator.valid].numpy()
    ok = np.isfinite(clean)
    np.testing.assert_allclose(ablator.clean[ok], clean[ok], atol=1e-5)
    np.testing.assert_allclose(ablator.delta([7])[ok], (ablated - clean)[ok], atol=1e-5)


def test_the_loss_is_the_cross_entropy_on_the_legal_moves():
    logits = torch.tensor([[[0.0, 1.0, 2.0]]])
    legal = torch.tensor([[[False, True, True]]])
    logp = torch.log_softmax(logits, -1)[0, 0]
    assert next_move_loss(logits, legal).item() == pytest.approx(-(logp[1] + logp[2]).item() / 2)


def test_a_rule_fires_on_its_highest_leaf_and_groups_rank_patterns(setup):
    _, _, ablator = setup
    X = ablator.features.X
    tree = {"if": "played C4", "then": {"value": 1.0}, "else": {"value": 0.0}}
    assert (fires(tree, X) == ablator.features.column("played C4")).all()
    flipped = {"if": "played C4", "then": {"value": 0.0}, "else": {"value": 1.0}}
    assert (fires(flipped, X) == ~ablator.features.column("played C4")).all()
    group = group_ablation(ablator, "played C4", [NeuronRule(3, 0.9, tree).neuron], min_count=1)
    assert group.patterns and group.rank(group.patterns[0][0]) == 1
