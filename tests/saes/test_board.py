import pytest
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
    union_coverage,
    union_f1,
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


def _brute_force_scores(acts, props, thresholds):
    """Best-threshold F1 (the lowest threshold of equals) and that threshold, pair by pair."""
    f1 = torch.zeros(acts.shape[1], props.shape[1])
    best_t = torch.zeros_like(f1)
    for f in range(acts.shape[1]):
        for p in range(props.shape[1]):
            for t in thresholds:
                on = acts[:, f] > t * acts[:, f].max().clamp(min=1e-8)
                tp = int((on & props[:, p]).sum())
                if tp == 0:
                    continue
                precision, recall = tp / int(on.sum()), tp / int(props[:, p].sum())
                score = 2 * precision * recall / (precision + recall)
                if score > f1[f, p] + 1e-7:
                    f1[f, p], best_t[f, p] = score, t
    return f1, best_t


def test_f1_matches_a_brute_force_count():
    gen = torch.Generator().manual_seed(0)
    acts = torch.rand(300, 4, generator=gen)
    props = torch.rand(300, 3, generator=gen) > 0.6
    scores = score_features(acts, props, thresholds=(0.5,))
    f1, _ = _brute_force_scores(acts, props, (0.5,))
    assert torch.allclose(scores.f1, f1, atol=1e-6)


@pytest.mark.parametrize("density", [0.03, 0.6])  # an SAE's activations, a neuron layer's
@pytest.mark.parametrize("sparse_below", [None, 0.0, 1.0])  # the default, always dense, sparse
def test_best_threshold_f1_matches_a_brute_force_count_sparse_or_dense(density, sparse_below):
    gen = torch.Generator().manual_seed(1)
    acts = torch.rand(500, 6, generator=gen) * (torch.rand(500, 6, generator=gen) < density)
    acts[:, 5] = 0.0  # a feature that never fires
    props = torch.rand(500, 4, generator=gen) > 0.7
    props[:, 0] = acts[:, 0] > 0.5 * acts[:, 0].max()  # found exactly at threshold 0.5
    thresholds = (0.0, 0.2, 0.5, 0.7)
    scores = score_features(
        acts, props, thresholds=thresholds, chunk=128, sparse_below=sparse_below
    )
    f1, best_t = _brute_force_scores(acts, props, thresholds)
    assert torch.allclose(scores.f1, f1, atol=1e-6)
    assert torch.equal(scores.threshold, best_t)
    assert scores.f1[0, 0] == 1.0 and scores.threshold[0, 0] == 0.5
    assert (scores.f1[5] == 0).all() and (scores.precision[5] == 0).all()


def test_thresholds_must_ascend():
    props = torch.ones(4, 1, dtype=torch.bool)
    with pytest.raises(ValueError, match="ascending"):
        score_features(torch.rand(4, 2), props, thresholds=(0.5, 0.1))


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


def test_reconstruction_takes_each_squares_most_precise_firing_feature():
    """Against a position-by-position vote: every square the class of the firing feature
    that is most precise for it (on the first half), else the majority class."""
    props, relative, game = _reconstruction_inputs()
    gen = torch.Generator().manual_seed(2)
    noisy = props[:, :192].float() * (torch.rand(len(props), 192, generator=gen) > 0.1)
    acts = torch.cat([noisy, torch.rand(len(props), 20, generator=gen)], dim=1)
    rec = reconstruct_board(acts, relative, game)

    test = game >= torch.unique(game)[len(torch.unique(game)) // 2]
    fit = ~test
    scores = score_features(acts[fit], props[fit, :192])
    votes = (scores.precision >= 0.95) & (scores.f1 > 0)
    top = acts[fit].max(0).values.clamp(min=1e-8)
    lowest = torch.where(votes, scores.threshold, torch.tensor(2.0)).min(1).values
    weight = scores.precision + 0.01 * scores.f1
    majority = torch.stack([(relative[fit] == c).sum(0) for c in range(3)], -1).argmax(-1)
    right = 0
    for x, truth in zip(acts[test], relative[test], strict=True):
        for square in range(64):
            best, guess = 0.0, int(majority[square])
            for c in range(3):
                j = 64 * c + square
                for f in torch.nonzero(votes[:, j]).flatten().tolist():
                    if x[f] > lowest[f] * top[f] and weight[f, j] > best:
                        best, guess = float(weight[f, j]), c
            right += guess == int(truth[square])
    assert rec.accuracy == pytest.approx(right / relative[test].numel(), abs=1e-6)
    assert rec.n_features_used == int(votes.any(1).sum())


def test_a_property_split_over_two_features_is_whole_in_their_union():
    labels = _labels()
    props = board_properties(labels)
    j = property_names().index("C4 theirs")
    odd = (positions_game_index(labels) % 2 == 1).float()
    planted = props[:, j].float()
    halves = torch.stack([planted * odd, planted * (1 - odd)], dim=1) * 3.0  # disjoint parts
    noise = torch.rand(len(props), 6, generator=torch.Generator().manual_seed(0)) * 0.05
    acts = torch.cat([noise, halves], dim=1)
    f1 = union_f1(acts, props, score_features(acts, props), sizes=(1, 2, 4))
    assert f1[0, j] < 0.8  # one half alone: recall about 1/2
    assert abs(float(f1[1, j]) - 1.0) < 1e-6 and abs(float(f1[2, j]) - 1.0) < 1e-6


def test_union_f1_matches_boolean_unions_and_never_falls():
    gen = torch.Generator().manual_seed(1)
    acts = torch.rand(400, 6, generator=gen) ** 3
    props = torch.rand(400, 4, generator=gen) > 0.7
    scores = score_features(acts, props)
    f1 = union_f1(acts, props, scores, sizes=(1, 2, 3), candidates=6)
    top = acts.max(0).values

    def on(f, p):
        return acts[:, f] > scores.threshold[f, p] * top[f]

    def f1_of(pred, p):
        tp = int((pred & props[:, p]).sum())
        return 2 * tp / (int(pred.sum()) + int(props[:, p].sum()))

    for p in range(4):
        first = int(scores.f1[:, p].argmax())
        assert abs(float(f1[0, p]) - f1_of(on(first, p), p)) < 1e-6
        pair = max(f1_of(on(first, p) | on(c, p), p) for c in range(6))
        assert abs(float(f1[1, p]) - max(pair, float(f1[0, p]))) < 1e-6
        assert f1[0, p] <= f1[1, p] <= f1[2, p]


def test_union_coverage_starts_at_coverage_and_rejects_mismatched_scores():
    props = board_properties(_labels(20))
    acts = torch.rand(len(props), 8, generator=torch.Generator().manual_seed(2))
    by_size = union_coverage(acts, props, sizes=(1, 2))
    coverage = score_features(acts, props).coverage()
    assert all(abs(by_size[1][g] - coverage[g]) < 1e-6 for g in property_groups())
    assert all(by_size[2][g] >= by_size[1][g] for g in property_groups())
    with pytest.raises(ValueError, match="score these acts"):
        union_f1(acts[:, :4], props, score_features(acts, props))
    with pytest.raises(ValueError, match="positive"):
        union_f1(acts, props, score_features(acts, props), sizes=(0,))
    with pytest.raises(ValueError, match="positive"):
        union_f1(acts, props, score_features(acts, props), candidates=0)


def test_held_out_unions_are_chosen_on_one_half_and_scored_on_the_other():
    labels = _labels()
    props = board_properties(labels)
    held_out = positions_game_index(labels) >= 20
    j = property_names().index("C4 theirs")
    exact = props[:, j].float()
    # Two features: exact on the held-out half only, and exact on the fitting half only.
    acts = torch.stack([exact * held_out, exact * ~held_out], dim=1)
    fit = ~held_out
    scores = score_features(acts[fit], props[fit])
    f1 = union_f1(acts, props, scores, sizes=(1, 2), held_out=held_out)
    # Chosen on the fitting half: feature 1 alone (perfect there, so no second feature),
    # which never fires on the held-out half.
    assert float(f1[0, j]) == 0.0 and float(f1[1, j]) == 0.0
    in_sample = union_f1(acts, props, score_features(acts, props), sizes=(1, 2))
    assert abs(float(in_sample[1, j]) - 1.0) < 1e-6
    with pytest.raises(ValueError, match="both sides"):
        union_f1(acts, props, scores, held_out=torch.ones(len(acts), dtype=torch.bool))
