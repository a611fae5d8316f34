"""Figures of the rules: pure functions, data in, ``plotly.graph_objects.Figure`` out.

Every figure fits a 900 px notebook column.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float

from workbench.othello.engine import GameRecord
from workbench.plots import board_slider_figure, board_traces, fit_title
from workbench.rules.features import PositionFeatures

WIDTH = 860


def explained_figure(rows: list[dict], *, threshold: float = 0.7) -> go.Figure:
    """Share of each layer's neurons whose rule explains them (held-out R² > threshold);
    ``rows``: dicts with model, layer, neurons, explained."""
    fig = go.Figure()
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        fig.add_bar(
            x=[r["layer"] for r in mine],
            y=[r["explained"] / r["neurons"] for r in mine],
            name=model,
            text=[f"{r['explained']}/{r['neurons']}" for r in mine],
            textposition="outside",
        )
    fig.update_layout(
        title=f"MLP neurons whose depth-4 rule has held-out R² > {threshold}",
        xaxis_title="layer",
        yaxis=dict(title="share of the layer's neurons", tickformat=".0%"),
        barmode="group",
        width=WIDTH,
        height=400,
    )
    return fit_title(fig)


def r2_histogram(r2_by_model: dict[str, Float[np.ndarray, " neuron"]]) -> go.Figure:
    """The distribution of held-out R² over all neurons of each model."""
    fig = go.Figure()
    for model, r2 in r2_by_model.items():
        fig.add_histogram(x=np.clip(r2, -0.2, 1), name=model, xbins=dict(size=0.05), opacity=0.6)
    fig.update_layout(
        title="Held-out R² of every neuron's rule (clipped at -0.2)",
        xaxis_title="R²",
        yaxis_title="neurons",
        barmode="overlay",
        width=WIDTH,
        height=350,
    )
    return fit_title(fig)


def groups_figure(counts: dict[str, dict[str, int]], *, top: int = 8) -> go.Figure:
    """Stacked bars: for each layer label (``"othello L3"``), its neurons by group; the
    ``top`` commonest explained groups by name, the other explained ones as "other rules"."""
    totals: dict[str, int] = {}
    for c in counts.values():
        for g, n in c.items():
            if g not in ("unexplained", "clock"):
                totals[g] = totals.get(g, 0) + n
    named = sorted(totals, key=lambda g: -totals[g])[:top]
    fig = go.Figure()
    for group in [*named, "other rules", "clock", "unexplained"]:
        values = []
        for c in counts.values():
            if group == "other rules":
                values.append(sum(n for g, n in c.items() if g in totals and g not in named))
            else:
                values.append(c.get(group, 0))
        colour = {"unexplained": "#cfd8dc", "clock": "#8d6e63"}.get(group)
        fig.add_bar(x=list(counts), y=values, name=group, marker_color=colour)
    fig.update_layout(
        title="What the rules say: neurons by group (kinds of the conditions that make it fire)",
        barmode="stack",
        yaxis_title="neurons",
        width=WIDTH,
        height=420,
        legend=dict(font=dict(size=10)),
    )
    return fit_title(fig)


def fit_figure(
    activation: Float[np.ndarray, " n"], predicted: Float[np.ndarray, " n"], *, title: str
) -> go.Figure:
    """A neuron's activation against its rule's prediction, per position."""
    lo, hi = float(min(activation.min(), predicted.min())), float(activation.max())
    fig = go.Figure(
        go.Scattergl(
            x=predicted,
            y=activation,
            mode="markers",
            marker=dict(size=4, opacity=0.3),
            name="positions",
        )
    )
    fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", line=dict(dash="dot"), name="y = x")
    fig.update_layout(
        title=title,
        xaxis_title="rule's prediction",
        yaxis_title="activation",
        width=420,
        height=360,
        showlegend=False,
        margin=dict(t=50, l=50, r=10, b=40),
    )
    return fit_title(fig)


def top_boards_figure(
    games: GameRecord,
    features: PositionFeatures,
    activation: Float[np.ndarray, " n"],
    *,
    k: int = 8,
    size: int = 340,
) -> go.Figure:
    """The ``k`` positions where a neuron is highest, as boards behind a slider."""
    boards = games.boards()
    legal, flipped = games.legal_mask(), games.flipped_mask()
    steps, labels, titles = [], [], []
    for rank, i in enumerate(np.argsort(-activation)[:k]):
        g, p = int(features.game[i]), int(features.pos[i])
        steps.append(
            board_traces(
                boards[g, p + 1],
                legal=legal[g, p + 1],
                last_move=int(games.moves[g, p]),
                flipped=flipped[g, p + 1],
            )
        )
        labels.append(str(rank + 1))
        titles.append(f"#{rank + 1}: after move {p + 1}, activation {activation[i]:.2f}")
    return board_slider_figure(steps, labels, prefix="top position: ", titles=titles, size=size)


def ablation_figure(rows: list[dict]) -> go.Figure:
    """Per model and layer, the spread of ablation specificity (loss change where the rule
    fires / elsewhere) over the neurons ablated, on a log axis; 1 = no specificity."""
    fig = go.Figure()
    for r in rows:
        ratios = [n["fire"] / n["control"] for n in r["neurons"] if n["control"] > 0]
        if ratios:
            fig.add_box(y=ratios, name=f"{r['model']} L{r['layer']}", boxpoints="all")
    fig.add_hline(y=1, line_dash="dot")
    fig.update_layout(
        title="Mean-ablating an explained neuron: |loss change| where its rule fires / elsewhere",
        yaxis=dict(title="ratio (log)", type="log"),
        showlegend=False,
        width=WIDTH,
        height=420,
    )
    return fit_title(fig)


def boards_figure(rows: list[dict]) -> go.Figure:
    """Per model and layer, on squares where 'whoever placed it' and the exact board
    differ: how often the probed board agrees with each."""
    fig = go.Figure()
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        x = [r["layer"] for r in mine]
        fig.add_scatter(x=x, y=[r["agrees_exact"] for r in mine], name=f"{model}: exact")
        fig.add_scatter(
            x=x,
            y=[r["agrees_heuristic"] for r in mine],
            name=f"{model}: heuristic",
            line=dict(dash="dot"),
        )
    fig.update_layout(
        title="Flipped stones: does the model's board (probe) follow the flips or the placer?",
        xaxis_title="layer (resid_post)",
        yaxis=dict(title="share of those squares", tickformat=".0%", range=[0, 1]),
        width=WIDTH,
        height=400,
    )
    return fit_title(fig)


def age_figure(rows: list[dict], model: str) -> go.Figure:
    """One model: agreement with the exact board on flipped stones, by layer and by how
    long ago the stone was last flipped."""
    mine = [r for r in rows if r["model"] == model]
    ages = list(mine[0]["by_age"]) if mine else []
    fig = go.Figure()
    for age in ages:
        fig.add_scatter(
            x=[r["layer"] for r in mine],
            y=[r["by_age"][age] for r in mine],
            name=f"last flipped {age} moves ago",
        )
    for flips in mine[0]["by_flips"] if mine else []:
        fig.add_scatter(
            x=[r["layer"] for r in mine],
            y=[r["by_flips"][flips] for r in mine],
            name=f"flipped {flips} times",
            line=dict(dash="dash"),
        )
    fig.update_layout(
        title=f"{model}: the probe agrees with the exact board on flipped stones, by age",
        xaxis_title="layer (resid_post)",
        yaxis=dict(title="agrees with exact", tickformat=".0%", range=[0, 1]),
        width=WIDTH,
        height=400,
    )
    return fit_title(fig)
