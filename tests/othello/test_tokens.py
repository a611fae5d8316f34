import numpy as np
import pytest

from workbench.othello import play_games
from workbench.othello.tokens import (
    D_VOCAB,
    TOKEN_TO_SQUARE,
    decode,
    encode,
    model_inputs,
    next_move_targets,
)


def test_vocabulary_is_the_othellogpt_convention():
    assert D_VOCAB == 61
    assert TOKEN_TO_SQUARE[0] == -1  # pass / pad
    assert TOKEN_TO_SQUARE[1] == 0 and TOKEN_TO_SQUARE[60] == 63  # A1, H8
    assert 27 not in TOKEN_TO_SQUARE and 36 not in TOKEN_TO_SQUARE
    # D4..E5 removed: D3 (19) -> 20, C4 (26) -> 27, F4 (29) -> 28, F5 (37) -> 34
    assert list(encode(np.array([19, 26, 29, 37]))) == [20, 27, 28, 34]


def test_round_trip_on_games():
    record = play_games(n_games=50, rng=0)
    assert (decode(encode(record.moves)) == record.moves).all()


def test_centre_square_has_no_token():
    with pytest.raises(ValueError, match="D4 is a centre square"):
        encode(np.array([27]))
    with pytest.raises(ValueError, match="Tokens must be in 0..60"):
        decode(np.array([61]))


def test_targets_are_legal_moves_after_each_input_position():
    record = play_games(n_games=30, rng=2)
    tokens, targets = model_inputs(record), next_move_targets(record)
    assert tokens.shape == (30, 59) and targets.shape == (30, 59, 61)
    for g in range(30):
        for t in range(59):
            next_move = record.moves[g, t + 1]
            if next_move >= 0:  # the move actually played next is always a target
                assert targets[g, t, encode(np.array([next_move]))[0]]
            else:
                assert not targets[g, t].any()
    assert not targets[..., 0].any()
