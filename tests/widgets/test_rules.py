"""RuleExplorer: a neuron's tree, its fit and its boards; search by condition."""

import numpy as np

from workbench.othello import play_games
from workbench.rules import LayerRules, NeuronRule
from workbench.widgets import RuleExplorer

from helpers import tiny_model

TREE = {"if": "played C4", "then": {"value": 1.0}, "else": {"value": 0.0}}


def test_the_explorer_shows_a_neuron_and_finds_rules_by_condition():
    model = tiny_model()
    neurons = [NeuronRule(i, 0.0, {"value": 0.0}) for i in range(model.cfg.d_mlp)]
    neurons[5] = NeuronRule(5, 0.9, TREE)
    rules = LayerRules("tiny", "blocks.1.mlp.hook_post", 10, neurons)
    explorer = RuleExplorer(model, rules, play_games(n_games=20, rng=0))
    assert explorer.feature.value == 5  # the best-explained neuron first
    assert "played C4" in explorer.text.value and "R² 0.900" in explorer.text.value
    explorer.query.value = "C4"
    assert explorer.results.options[0][1] == 5
    explorer.query.value = "H8 mine"
    assert "No feature matches" in explorer.message.value
    assert explorer.static_figure().layout.width <= 900
    assert np.isfinite(explorer.acts).all()
