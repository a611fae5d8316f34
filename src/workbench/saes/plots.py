"""Figures for SAE features: pure functions from ``saes.features`` data to plotly figures."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.othello.squares import COLUMNS, SQUARE_NAMES
from workbench.plots import board_slider_figure, board_traces
from workbench.saes.features import FeatureCard, FeatureSet

_NAMES = np.array(SQUARE_NAMES).reshape(8, 8)


def _board_heatmap(values: np.ndarray, label: str, zmax: float | None = None) -> go.Heatmap:
    z = np.asarray(values, dtype=float).reshape(8, 8)
    zmax = zmax or float(np.nanmax(np.abs(z))) or 1.0
    text = [[f"{_NAMES[r, c]}<br>{label}: {z[r, c]:.3f}" for c in range(8)] for r in range(8)]
    return go.Heatmap(
        z=z,
        zmin=-zmax,
        zmax=zmax,
        zmid=0,
        colorscale="RdBu_r",
        text=text,
        hoverinfo="text",
        showscale=False,
        xgap=1,
        ygap=1,
    )


def feature_card_figure(card: FeatureCard, *, height: int = 300) -> go.Figure:
    """Histogram, board where it fires, probe cosine and direct logit effect of a feature."""
    titles = [
        f"activations (fires on {card.frequency:.1%})",
        "where it fires: P(mine) − P(theirs)",
        "decoder · probe 'mine' direction",
        "direct effect on move logits",
    ]
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.05)
    fig.add_trace(go.Histogram(x=card.activations, nbinsx=40, marker_color="#455a64"), 1, 1)
    mine_minus_theirs = card.mean_board[:, 1] - card.mean_board[:, 2]
    fig.add_trace(_board_heatmap(mine_minus_theirs, "P(mine) − P(theirs)", 1.0), 1, 2)
    if card.probe_cosine is not None:
        fig.add_trace(_board_heatmap(card.probe_cosine[:, 1], "cosine"), 1, 3)
    fig.add_trace(_board_heatmap(card.logit_effect, "Δ logit"), 1, 4)
    for col in (2, 3, 4):
        fig.update_xaxes(
            tickvals=list(range(8)), ticktext=list(COLUMNS), side="top", row=1, col=col
        )
        fig.update_yaxes(
            tickvals=list(range(8)),
            ticktext=[str(r + 1) for r in range(8)],
            autorange="reversed",
            scaleanchor=f"x{col}",
            row=1,
            col=col,
        )
    fig.update_layout(
        title=f"Feature {card.feature}: {card.label} (F1 {card.label_f1:.2f})",
        height=height,
        width=880,  # fits a 900 px notebook column
        showlegend=False,
        margin=dict(t=80, l=30, r=10, b=30),
    )
    fig.update_annotations(font_size=12)  # the four subplot titles, each in a quarter
    return fig


def top_positions_figure(fs: FeatureSet, card: FeatureCard, *, size: int = 360) -> go.Figure:
    """The positions where a feature fires most, as boards (last move and flips marked)."""
    if not card.top:
        return go.Figure().update_layout(title=f"Feature {card.feature} never fires here")
    boards = fs.games.boards()
    legal, flipped = fs.games.legal_mask(), fs.games.flipped_mask()
    steps, labels, titles = [], [], []
    for rank, (g, p, value) in enumerate(card.top):
        state = p + 1
        steps.append(
            board_traces(
                boards[g, state],
                legal=legal[g, state],
                last_move=int(fs.games.moves[g, p]),
                flipped=flipped[g, state],
            )
        )
        labels.append(str(rank + 1))
        titles.append(f"#{rank + 1}: game {g}, after move {state}: activation {value:.2f}")
    return board_slider_figure(steps, labels, prefix="top position: ", titles=titles, size=size)


def feature_boards_figure(fs: FeatureSet, features: list[int], *, size: int = 420) -> go.Figure:
    """A slider over features, each shown as its mean board where it fires, with a ring on
    the square of its label (kernel-free)."""
    steps, labels, titles = [], [], []
    for f in features:
        label, f1 = fs.scores.label(f)
        on = fs.acts[:, f] > 0
        board = np.zeros(64)
        if on.any():
            rel = fs.relative[on]
            board = ((rel == 1).float().mean(0) - (rel == 2).float().mean(0)).numpy()
        steps.append(
            board_traces(
                np.zeros(64, dtype=np.int8),
                last_move=SQUARE_NAMES.index(label.split(" ")[0]),  # ring: the label's square
                values=board,
                value_label="P(mine) − P(theirs)",
                zmin=-1,
                zmax=1,
                colorscale="RdBu_r",
            )
        )
        labels.append(str(f))
        titles.append(
            f"feature {f}: {label} (F1 {f1:.2f}), fires on {float(on.float().mean()):.1%}"
        )
    return board_slider_figure(steps, labels, prefix="feature: ", titles=titles, size=size)
