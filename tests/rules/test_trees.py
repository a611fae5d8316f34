"""Trees: a planted rule is recovered exactly, the JSON round-trips and evaluates as the
fitted sklearn tree does."""

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from workbench.othello import play_games
from workbench.rules import (
    LayerRules,
    NeuronRule,
    RuleConfig,
    RuleFileError,
    evaluate,
    fit_trees,
    from_sklearn,
    r2_score,
    score_trees,
    tree_text,
)
from workbench.rules.features import feature_index, position_features

PLANTED = {
    "if": "played C4",
    "then": {"if": "C5 theirs", "then": {"value": 2.0}, "else": {"value": 0.5}},
    "else": {"if": "F5 legal", "then": {"value": -0.25}, "else": {"value": 0.0}},
}


@pytest.fixture(scope="module")
def positions():
    return position_features(play_games(n_games=600, rng=1)).X


def planted(X):
    """The planted neuron, computed directly from the feature columns."""
    c4, c5, f5 = (
        X[:, feature_index(c)].astype(bool) for c in ("played C4", "C5 theirs", "F5 legal")
    )
    return np.where(c4, np.where(c5, 2.0, 0.5), np.where(f5, -0.25, 0.0))


def test_a_planted_neuron_is_recovered_exactly(positions):
    X = positions
    train, test = X[: len(X) // 2], X[len(X) // 2 :]
    assert planted(train).std() > 0 and (train[:, feature_index("played C4")] == 1).sum() > 50
    (tree,) = fit_trees(train, planted(train)[:, None], config=RuleConfig(min_samples_leaf=5))
    assert tree == PLANTED
    assert score_trees([tree], test, planted(test)[:, None])[0] == pytest.approx(1.0)


def test_noise_is_not_a_rule(positions):
    y = np.random.default_rng(0).normal(size=(len(positions), 1))
    (tree,) = fit_trees(positions, y)
    assert r2_score(y[:, 0], evaluate(tree, positions)) < 0.01


def test_json_evaluates_as_the_fitted_tree(positions):
    rng = np.random.default_rng(0)
    X = positions[:4000]
    y = X[:, :64].sum(1) * 0.1 + X[:, 200] * 1.3 + rng.normal(scale=0.1, size=len(X))
    fitted = DecisionTreeRegressor(max_depth=4).fit(X.astype(np.float32), y)
    exact = from_sklearn(fitted, decimals=12)
    np.testing.assert_allclose(evaluate(exact, X), fitted.predict(X.astype(np.float32)))
    rounded = from_sklearn(fitted)  # as shipped: leaves to 4 decimals
    np.testing.assert_allclose(evaluate(rounded, X), fitted.predict(X), atol=5e-5)
    assert "if " in tree_text(rounded) and "-> " in tree_text(rounded)


def test_a_layer_file_round_trips(tmp_path):
    rules = LayerRules(
        "othello-gpt-cpu",
        "blocks.1.mlp.hook_post",
        100,
        [NeuronRule(0, 0.9876, PLANTED), NeuronRule(1, 0.0, {"value": -0.1})],
        {"seed": 0, "command": "workbench rules othello-gpt-cpu"},
    )
    path = rules.save(tmp_path / "blocks.1.json")
    again = LayerRules.load(path)
    assert again == rules and again.layer == 1
    import json

    data = json.loads(path.read_text())
    assert list(data)[:4] == ["model", "hook", "games", "neurons"]
    assert data["neurons"][0] == {"neuron": 0, "r2": 0.9876, "tree": PLANTED}


@pytest.mark.parametrize(
    "tree, message",
    [
        ({"if": "C4 black", "then": {"value": 1}, "else": {"value": 0}}, "Unknown condition"),
        ({"if": "C4 mine", "then": {"value": 1}}, "keys"),
        ({"value": "high"}, "keys"),
    ],
)
def test_a_malformed_tree_is_refused(tmp_path, tree, message):
    data = {"model": "m", "hook": "blocks.0.mlp.hook_post", "games": 1}
    data["neurons"] = [{"neuron": 0, "r2": 0.5, "tree": tree}]
    with pytest.raises(RuleFileError, match=message):
        LayerRules.from_dict(data)
