"""The heuristic board (each stone stays with whoever placed it) against a scalar replay."""

import numpy as np

from workbench.othello import play_games
from workbench.othello.reference import start_board
from workbench.othello.squares import EMPTY
from workbench.rules.heuristic import flip_history, heuristic_boards, heuristic_relative


def test_the_heuristic_board_keeps_each_stone_with_its_placer():
    games = play_games(n_games=20, rng=5)
    boards = heuristic_boards(games)
    for g in range(games.n_games):
        board = start_board()
        for t, square in enumerate(games.moves[g]):
            if square < 0:
                break
            board[square] = int(games.player[g, t])
            assert list(boards[g, t + 1]) == board


def test_the_heuristic_is_wrong_exactly_where_a_stone_was_flipped_an_odd_number_of_times():
    games = play_games(n_games=30, rng=6)
    exact = games.boards("relative")[:, 1:60]
    heuristic = heuristic_relative(games)
    count, age = flip_history(games)
    valid = (games.moves[:, :59] >= 0)[..., None] & (exact != EMPTY)
    np.testing.assert_array_equal((heuristic != exact)[valid], (count % 2 == 1)[valid])
    assert ((age >= 0) == (count > 0)).all()
