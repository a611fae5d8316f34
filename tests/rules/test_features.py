"""The rule features match a scalar Othello engine (``workbench.othello.reference``)."""

import numpy as np
import pytest

from workbench.othello import play_games
from workbench.othello.reference import play
from workbench.othello.squares import EMPTY
from workbench.rules.features import (
    FEATURE_NAMES,
    N_FEATURES,
    ConditionError,
    condition,
    feature_index,
    position_features,
)


def reference_features(moves: list[int]) -> np.ndarray:
    """Each position's 384 features, square by square, from the scalar engine."""
    game = play(moves)
    rows = []
    for p, square in enumerate(moves[:59]):
        state = p + 1  # position p has read moves 0..p
        board, player = game.boards[state], game.players[state]
        row = np.zeros(N_FEATURES, dtype=np.uint8)
        for s in range(64):
            row[s] = board[s] == EMPTY
            row[64 + s] = board[s] == player
            row[128 + s] = board[s] not in (EMPTY, player)
            row[192 + s] = s in game.legal[state]
            row[256 + s] = s in game.flipped[state]
        row[320 + square] = 1
        rows.append(row)
    return np.array(rows)


def test_features_match_the_scalar_engine_on_random_games():
    games = play_games(n_games=40, rng=7)
    features = position_features(games)
    for g in range(games.n_games):
        moves = [int(m) for m in games.moves[g] if m >= 0]
        expected = reference_features(moves)
        got = features.X[features.game == g]
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)
    assert (features.pos == np.concatenate([np.arange(v.sum()) for v in features.valid])).all()


def test_every_condition_names_its_column():
    assert len(set(FEATURE_NAMES)) == N_FEATURES
    assert condition(0) == "A1 empty" and condition(64 + 26) == "C4 mine"
    assert condition(320 + 26) == "played C4"
    assert all(feature_index(name) == i for i, name in enumerate(FEATURE_NAMES))
    for bad in ("C4 black", "played", "Z9 mine", "C4 flipped extra", "flipped C4"):
        with pytest.raises(ConditionError, match="condition"):
            feature_index(bad)
