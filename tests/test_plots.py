import numpy as np
import plotly.graph_objects as go

from workbench.othello import play_games
from workbench.othello.squares import BLACK, WHITE
from workbench.plots import TRACE, board_figure, game_figure


def test_board_figure_places_stones_where_the_board_has_them():
    record = play_games(n_games=1, rng=0)
    board = record.boards()[0, 10]
    fig = board_figure(board, legal=record.legal_mask()[0, 10], last_move=int(record.moves[0, 9]))
    assert isinstance(fig, go.Figure)
    black = set(zip(fig.data[TRACE["black"]].x, fig.data[TRACE["black"]].y, strict=True))
    expected = {(s % 8, s // 8) for s in np.flatnonzero(board == BLACK)}
    assert black == expected
    assert len(fig.data[TRACE["white"]].x) == (board == WHITE).sum()
    assert len(fig.data[TRACE["legal"]].x) == record.legal_mask()[0, 10].sum()


def test_game_figure_has_a_frame_and_slider_step_per_state():
    record = play_games(n_games=1, rng=1)
    fig = game_figure(record, 0)
    n_states = int(record.lengths[0]) + 1
    assert len(fig.frames) == n_states
    assert len(fig.layout.sliders[0].steps) == n_states
    last = fig.frames[-1].data
    assert len(last[TRACE["black"]].x) + len(last[TRACE["white"]].x) == 4 + record.lengths[0]
