import pytest

from workbench.circuits.rules import flanking_lines
from workbench.othello import IllegalMoveError, play_games, reference
from workbench.othello.squares import EMPTY


def test_flanking_lines_agree_with_the_scalar_reference():
    game = [int(m) for m in play_games(n_games=1, rng=5).moves[0] if m >= 0]
    for t in (0, 10, 25, 40):
        record_moves = game[:t]
        move = game[t]
        lines = flanking_lines(record_moves, move)
        ref = reference.play(record_moves)
        board, player = ref.boards[-1], ref.players[-1]
        assert sorted(lines.flipped) == sorted(reference.flipped_by(board, move, player))
        other = reference.opponent(player)
        assert all(board[s] == other for s in lines.flipped)
        assert lines.anchors and all(board[s] == player for s in lines.anchors)
        assert board[move] == EMPTY


def test_an_illegal_move_is_refused():
    with pytest.raises(IllegalMoveError):
        flanking_lines([], 0)
