import torch

from workbench.activations import Labels
from workbench.othello import play_games
from workbench.saes.board import (
    board_properties,
    positions_game_index,
    property_groups,
    property_names,
    reconstruct_board,
    score_features,
)


def _labels(n_games=40, seed=0):
    return Labels.from_games(play_games(n_games=n_games, rng=seed))


def test_a_feature_equal_to_a_property_gets_f1_one():
    props = board_properties(_labels())
    j = property_names().index("C4 theirs")
    noise = torch.rand(len(props), 5) * 0.05  # weak features that detect nothing well
    planted = props[:, j].float() * 3.0
    acts = torch.cat([noise, planted[:, None]], dim=1)
    scores = score_features(acts, props)
    assert scores.best_feature("C4 theirs") == (5, 1.0)
    name, f1 = scores.label(5)
    assert name == "C4 theirs" and f1 == 1.0


def test_f1_matches_a_brute_force_count():
    gen = torch.Generator().manual_seed(0)
    acts = torch.rand(300, 4, generator=gen)
    props = torch.rand(300, 3, generator=gen) > 0.6
    scores = score_features(acts, props, thresholds=(0.5,))
    for f in range(4):
        on = acts[:, f] > 0.5 * acts[:, f].max()
        for p in range(3):
            tp = int((on & props[:, p]).sum())
            precision, recall = tp / max(int(on.sum()), 1), tp / max(int(props[:, p].sum()), 1)
            f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
            assert abs(float(scores.f1[f, p]) - f1) < 1e-6


def test_coverage_is_one_when_every_property_has_its_feature():
    props = board_properties(_labels())
    scores = score_features(props.float(), props)
    assert all(abs(v - 1.0) < 1e-6 for v in scores.coverage().values())
    assert set(scores.coverage()) == set(property_groups())


def test_coverage_by_state_credits_only_the_state_a_feature_detects():
    props = board_properties(_labels())
    mine = props[:, 64:128]  # one exact feature per "<square> mine" property, nothing else
    by_state = score_features(mine.float(), props).coverage_by_state()
    assert list(by_state) == ["empty", "mine", "theirs"]
    assert abs(by_state["mine"] - 1.0) < 1e-6
    assert by_state["empty"] < 0.9 and by_state["theirs"] < 0.9
    overall = score_features(mine.float(), props).coverage()["mine/theirs/empty"]
    assert abs(overall - sum(by_state.values()) / 3) < 0.02  # near: centre squares never empty


def _reconstruction_inputs(n_games=60):
    """Board properties, relative boards and game index of the valid positions."""
    labels = _labels(n_games)
    relative = labels.relative.reshape(-1, 64)[labels.valid.reshape(-1)]
    return board_properties(labels), relative, positions_game_index(labels)


def test_reconstruction_is_exact_with_exact_features_and_majority_without():
    props, relative, game = _reconstruction_inputs()
    exact = reconstruct_board(props[:, :192].float(), relative, game)
    assert exact.accuracy == 1.0
    assert exact.n_features_used == int((props[:, :192].sum(0) > 0).sum())  # 188: no empty centre
    blind = reconstruct_board(torch.rand(len(props), 8) * 0.01, relative, game)
    assert blind.n_features_used == 0 and blind.accuracy == blind.majority_accuracy
    assert exact.f1 == 1.0 and blind.f1 == 0.0


def test_reconstruction_f1_counts_only_the_squares_the_features_name():
    props, relative, game = _reconstruction_inputs()
    mine_only = reconstruct_board(props[:, 64:128].float(), relative, game)  # exact 'mine'
    test = game >= torch.unique(game)[len(torch.unique(game)) // 2]
    recall = float((relative[test] == 1).float().mean())  # precision is 1
    assert abs(mine_only.f1 - 2 * recall / (1 + recall)) < 1e-6
    assert mine_only.accuracy > mine_only.f1  # the majority fallback fills the rest
