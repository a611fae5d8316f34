"""Interactive board: step through a game, or play moves by clicking, with the model's view.

Composes the engine (``othello.replay``), the model's predictions
(``evaluation.next_move_probabilities``) and the pure board traces (``plots.board_traces``);
it computes nothing of its own.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go

from workbench.evaluation import next_move_probabilities
from workbench.othello.engine import GameRecord, parse_moves, play_games, replay
from workbench.othello.squares import BLACK, SQUARE_NAMES, square_index
from workbench.plots import TRACE, board_figure, board_traces, game_figure, restyle_board
from workbench.widgets.static import StaticFormWidget

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

WRAP = widgets.Layout(flex_flow="row wrap")  # a row that does not fit the column wraps


class GameExplorer(StaticFormWidget):
    """Step through a game with a slider; click a legal square to play it from there.

    The heatmap is the model's probability for each square being the next move; blue
    outlines are the true legal moves; a red ring marks the last move and red crosses the
    stones it flipped. Display it by leaving it as the last expression of a cell.
    """

    def __init__(self, model: HookedTransformer, moves=None, *, size: int = 380, seed: int = 0):
        self.model = model
        self._rng = np.random.default_rng(seed)
        self.figure = go.FigureWidget(board_figure(np.zeros(64, dtype=np.int8), size=size))
        self.slider = widgets.IntSlider(
            value=0, min=0, max=0, description="moves", continuous_update=True
        )
        # board (size + 170 px) and info side by side within a 900 px notebook column
        self.info = widgets.HTML(layout=widgets.Layout(width="300px"))
        self.message = widgets.HTML()
        fit = widgets.Layout(width="auto")  # ipywidgets' fixed 148 px cut the longer labels
        undo = widgets.Button(description="Undo", icon="undo", layout=fit)
        reset = widgets.Button(description="New game", icon="refresh", layout=fit)
        random_game = widgets.Button(description="Random game", icon="random", layout=fit)
        model_move = widgets.Button(description="Play model's move", icon="play", layout=fit)
        undo.on_click(lambda _: self.undo())
        reset.on_click(lambda _: self.set_moves([]))
        random_game.on_click(lambda _: self.random_game())
        model_move.on_click(lambda _: self.play_model_move())
        self.slider.observe(lambda change: self.show(change["new"]), names="value")
        self.figure.data[TRACE["click"]].on_click(self._on_click)
        self.widget = widgets.VBox(
            [
                widgets.HBox([reset, random_game, undo, model_move]),
                self.slider,
                widgets.HBox([self.figure, self.info], layout=WRAP),
                self.message,
            ]
        )
        self.set_moves([] if moves is None else [int(m) for m in parse_moves(moves)[0] if m >= 0])

    # -- state ------------------------------------------------------------------------
    def set_moves(self, moves: list[int], *, show: int | None = None) -> None:
        """Replace the game (validated by the engine) and show state ``show`` (default: last)."""
        self.record: GameRecord = replay([moves]) if moves else play_games(np.zeros((1, 0), int))
        self.moves = list(moves)
        # unpacked once per game, not on every slider step
        self._boards = self.record.boards()[0]
        self._legal = self.record.legal_mask()[0]
        self._flipped = self.record.flipped_mask()[0]
        self.probs = next_move_probabilities(self.model, np.array(moves, dtype=np.int64))
        self.slider.max = len(moves)
        target = len(moves) if show is None else show
        if self.slider.value == target:
            self.show(target)
        self.slider.value = target

    @property
    def state(self) -> int:
        return self.slider.value

    def play(self, square: int | str) -> bool:
        """Play ``square`` at the shown state (dropping later moves); False if illegal."""
        square = square_index(square)
        t = self.state
        legal = np.flatnonzero(self._legal[t])
        if square not in legal:
            names = ", ".join(SQUARE_NAMES[s] for s in legal) or "none (game over)"
            self.message.value = f"<b>{SQUARE_NAMES[square]}</b> is not legal here. Legal: {names}."
            return False
        self.message.value = ""
        self.set_moves(self.moves[:t] + [square])
        return True

    def undo(self) -> None:
        if self.state > 0:
            self.set_moves(self.moves[: self.state - 1])

    def random_game(self) -> None:
        game = play_games(n_games=1, rng=self._rng)
        self.set_moves([int(m) for m in game.moves[0] if m >= 0], show=0)

    def play_model_move(self) -> None:
        row = self.probs[self.state]
        if np.isnan(row).all():
            self.message.value = "The model predicts from the first move on: play one first."
            return
        self.play(int(np.nanargmax(row)))

    # -- view -------------------------------------------------------------------------
    def _on_click(self, trace, points, state) -> None:
        if points.point_inds:
            self.play(int(points.point_inds[0]))

    def show(self, t: int) -> None:
        legal = self._legal[t]
        last = self.moves[t - 1] if t > 0 else None
        probs = self.probs[t] if t < len(self.probs) else np.full(64, np.nan)
        values = None if np.isnan(probs).all() else probs
        traces = board_traces(
            self._boards[t], values=values, legal=legal, last_move=last, flipped=self._flipped[t]
        )
        restyle_board(self.figure, traces)
        self.info.value = self._describe(t, probs, legal)

    def _describe(self, t: int, probs: np.ndarray, legal: np.ndarray) -> str:
        player = "black" if self.record.player[0, t] == BLACK else "white"
        lines = [f"<b>State {t}</b>: {t} moves played"]
        if t > 0:
            lines.append(f"last move: {SQUARE_NAMES[self.moves[t - 1]]}")
        if not legal.any():
            lines.append("game over" if t == len(self.moves) else "")
            return "<br>".join(lines)
        lines.append(
            f"to move: {player}; legal: {', '.join(SQUARE_NAMES[s] for s in np.flatnonzero(legal))}"
        )
        if np.isnan(probs).all():
            lines.append("<i>no prediction before the first move</i>")
            return "<br>".join(lines)
        top = np.argsort(-probs)[:5]
        lines.append(f"model mass on legal moves: {probs[legal].sum():.3f}")
        lines.append("<b>model's top moves</b>:")
        for s in top:
            mark = "&#10003;" if legal[s] else "&#10007; illegal"
            lines.append(f"&nbsp;&nbsp;{html.escape(SQUARE_NAMES[s])}: {probs[s]:.3f} {mark}")
        return "<br>".join(lines)

    def static_figure(self) -> go.Figure:
        """The current game and predictions as a kernel-free figure with a slider."""
        return game_figure(self.record, 0, probs=self.probs, title="Game and predictions")
