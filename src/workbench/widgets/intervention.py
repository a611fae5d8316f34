"""Flip a stone in the model's mind and watch its predicted moves change.

Composes ``interventions.predict_with_edits`` (the probe-direction edit),
``interventions.edited_legal_moves`` (the exact legal moves of the edited board) and
``plots.board_traces``. Left: the model as it is, on the real board. Right: the edited
model, on the edited board, with that board's true legal moves outlined.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
import torch

from workbench.activations import resid_sites
from workbench.othello.engine import parse_moves, replay
from workbench.othello.squares import BLACK, EMPTY, MINE, SQUARE_NAMES, THEIRS, WHITE
from workbench.plots import TRACE, board_figure, board_traces, flip_scan_figure, restyle_board
from workbench.probes.interventions import (
    Edit,
    edited_legal_moves,
    predict_with_edits,
    probes_from,
    scan_flips,
)
from workbench.probes.probe import ProbeSuite
from workbench.widgets.static import StaticFormWidget

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

WRAP = widgets.Layout(flex_flow="row wrap")  # a row that does not fit the column wraps


def _probs(logits: torch.Tensor) -> np.ndarray:
    return logits.softmax(-1)[0].numpy()


class InterventionExplorer(StaticFormWidget):
    """Click an occupied square on the right board to flip its colour in the model's mind."""

    def __init__(
        self,
        model: HookedTransformer,
        suite: ProbeSuite,
        moves,
        *,
        first_site: str | None = None,
        scale: float = 10.0,
        size: int = 300,
    ):
        self.model, self.suite = model, suite
        self.moves = [int(m) for m in parse_moves(moves)[0] if m >= 0]
        self.record = replay([self.moves])
        sites = [s for s in resid_sites(model) if suite.key("relative", s) in suite.probes]
        self.site = widgets.Dropdown(
            options=sites,
            value=first_site or sites[min(1, len(sites) - 1)],
            description="edit from",
        )
        self.scale = widgets.FloatLogSlider(
            value=scale, base=10, min=-1, max=2, step=0.1, description="margin"
        )
        self.position = widgets.IntSlider(
            value=len(self.moves) - 1,
            min=0,
            max=min(len(self.moves), 59) - 1,
            description="position",
        )
        self.info = widgets.HTML()
        self.edit: tuple[int, int] | None = None  # (square, to_class)
        blank = np.zeros(64, dtype=np.int8)
        # side by side in a 900 px notebook column: the legend on the edited board only
        self.before = go.FigureWidget(
            board_figure(blank, title="model as it is", size=size, legend=False)
        )
        self.after = go.FigureWidget(board_figure(blank, title="after the edit", size=size))
        self.after.data[TRACE["click"]].on_click(self._on_click)
        for control in (self.site, self.scale, self.position):
            control.observe(lambda _: self.update(), names="value")
        clear = widgets.Button(description="Clear edit", layout=widgets.Layout(width="auto"))
        clear.on_click(lambda _: self.flip(None))
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.position, self.site, self.scale, clear], layout=WRAP),
                widgets.HBox([self.before, self.after], layout=WRAP),
                self.info,
            ]
        )
        self.update()

    def _on_click(self, trace, points, state) -> None:
        if points.point_inds:
            self.flip(int(points.point_inds[0]))

    def flip(self, square: int | None) -> None:
        """Flip ``square`` (mine <-> theirs) in the model's mind; None clears the edit."""
        if square is None:
            self.edit = None
        else:
            board = self._relative_board()
            if board[square] == EMPTY:
                self.info.value = f"{SQUARE_NAMES[square]} is empty: click a stone to flip it."
                return
            self.edit = (square, THEIRS if board[square] == MINE else MINE)
        self.update()

    def _relative_board(self) -> np.ndarray:
        return self.record.boards("relative")[0, self.position.value + 1]

    def update(self) -> None:
        p = self.position.value
        state = p + 1
        board = self.record.boards()[0, state]
        legal = self.record.legal_mask()[0, state]
        plain = _probs(predict_with_edits(self.model, self.record, [Edit(0, p, 0, 0)], {}, scale=0))
        self._draw(self.before, board, plain, legal)
        if self.edit is None:
            self._draw(self.after, board, plain, legal)
            self.info.value = "Click a stone on the right board to flip it in the model's mind."
            return
        square, to_class = self.edit
        probes = probes_from(self.model, self.suite, self.site.value)
        edited = _probs(
            predict_with_edits(
                self.model,
                self.record,
                [Edit(0, p, square, to_class)],
                probes,
                scale=self.scale.value,
            )
        )
        new_legal = edited_legal_moves(
            self._relative_board()[None], np.array([square]), np.array([to_class])
        )[0]
        mine = BLACK if self.record.player[0, state] == BLACK else WHITE
        new_board = board.copy()
        new_board[square] = mine if to_class == MINE else BLACK + WHITE - mine
        self._draw(self.after, new_board, edited, new_legal, marked=square)
        top_n = np.argsort(-edited)[: int(new_legal.sum())]
        errors = int((~new_legal[top_n]).sum())
        top_n_before = np.argsort(-plain)[: int(new_legal.sum())]
        self.info.value = (
            f"Flipped <b>{SQUARE_NAMES[square]}</b> to {'mine' if to_class == MINE else 'theirs'} "
            f"at {len(probes)} site(s) from {self.site.value}. Legal moves of the edited board: "
            f"{', '.join(SQUARE_NAMES[s] for s in np.flatnonzero(new_legal))}. "
            f"Top-N errors: {int((~new_legal[top_n_before]).sum())} before, {errors} after."
        )

    @staticmethod
    def _draw(fig, board, probs, legal, marked: int | None = None) -> None:
        restyle_board(fig, board_traces(board, values=probs, legal=legal, last_move=marked))

    def static_figure(self) -> go.Figure:
        """Every single-stone flip at the current position, behind a kernel-free slider."""
        p = self.position.value
        scan = scan_flips(
            self.model,
            self.suite,
            self.record,
            p,
            first_site=self.site.value,
            scale=self.scale.value,
        )
        board = self.record.boards()[0, p + 1]
        return flip_scan_figure(scan, board, int(self.record.player[0, p + 1]))
