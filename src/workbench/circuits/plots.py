"""The feature graph as a plotly figure: nodes by layer (rows) and position (columns)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from workbench.circuits.graph import FeatureGraph

NODE_TRACE = 0  # index of the node trace (widgets attach click handlers to it)


def node_xy(graph: FeatureGraph) -> tuple[np.ndarray, np.ndarray]:
    """Layout: x = position, y = layer; nodes sharing a (layer, position) fan out
    vertically within their layer's band (error nodes at the top of the band)."""
    groups: dict[tuple[int, int], list[int]] = {}
    for i, n in enumerate(graph.nodes):
        groups.setdefault((n.layer, n.position), []).append(i)
    x, y = np.zeros(len(graph.nodes)), np.zeros(len(graph.nodes))
    for (layer, position), members in groups.items():
        members.sort(key=lambda i: (graph.nodes[i].feature == -1, graph.nodes[i].feature))
        step = min(0.7 / max(len(members), 1), 0.12)
        for k, i in enumerate(members):
            x[i] = position
            y[i] = layer + (k - (len(members) - 1) / 2) * step
    return x, y


def graph_figure(
    graph: FeatureGraph,
    *,
    labels: dict[int, str] | None = None,
    min_weight: float = 0.02,
    show_errors: bool = False,
    height: int = 520,
) -> go.Figure:
    """Nodes (hover: label and activation) and the edges stronger than ``min_weight`` of
    the strongest (blue positive, red negative, width by strength)."""
    x, y = node_xy(graph)
    labels = labels or {}
    keep = {i for i, n in enumerate(graph.nodes) if n.feature != -1 or show_errors}
    text = [
        f"{n.label}<br>{labels.get(i, '')}<br>activation {n.activation:.3f}"
        for i, n in enumerate(graph.nodes)
    ]
    strongest = max((abs(w) for w in graph.edges.values()), default=1.0) or 1.0
    nodes = go.Scatter(
        x=[x[i] for i in sorted(keep)],
        y=[y[i] for i in sorted(keep)],
        customdata=sorted(keep),
        mode="markers",
        marker=dict(
            size=[18 if graph.nodes[i].feature == -2 else 10 for i in sorted(keep)],
            color=[
                "#ff8f00"
                if graph.nodes[i].feature == -2
                else "#546e7a"
                if graph.nodes[i].feature == -1
                else "#263238"
                for i in sorted(keep)
            ],
        ),
        text=[text[i] for i in sorted(keep)],
        hoverinfo="text",
        name="nodes",
    )
    fig = go.Figure([nodes])
    for sign, colour in ((1, "#1565c0"), (-1, "#c62828")):
        for lo, hi, width in ((min_weight, 0.2, 1), (0.2, 0.5, 2.5), (0.5, 1.01, 5)):
            xs, ys = [], []
            for (s, t), w in graph.edges.items():
                r = abs(w) / strongest
                if s in keep and t in keep and np.sign(w) == sign and lo <= r < hi:
                    xs += [x[s], x[t], None]
                    ys += [y[s], y[t], None]
            if xs:
                fig.add_scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line=dict(color=colour, width=width),
                    opacity=0.6,
                    hoverinfo="skip",
                    showlegend=False,
                )
    fig.update_layout(
        title=dict(  # two short lines: one long line was cut at a 900 px column's edge
            text=(
                f"Feature graph: logit {graph.logit:.3f} "
                f"(replacement model {graph.replacement_logit:.3f})<br>"
                f"<sup>error nodes carry {graph.error_share:.0%} of the logit's inputs</sup>"
            )
        ),
        margin=dict(t=80),
        xaxis_title="position (moves read - 1)",
        yaxis=dict(title="layer (top: the logit)", dtick=1),
        height=height,
        showlegend=False,
        clickmode="event",
    )
    return fig
