"""Figures of monitor results: pure functions that return plotly figures, never show them.

``auroc_heatmap``: monitor x layer (or any two keys) of a ``MonitorTable``'s mean AUROC over
seeds at one position, on a scale centred at 0.5 (chance); the hover gives the spread and
the counts. ``roc_figure``: ROC curves of several score sets. ``score_trace_figure``: each
monitor's score along one input, as the fraction of clean positions it exceeds.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch

from workbench.monitors.metrics import MonitorTable, roc_curve
from workbench.plots import fit_title


def auroc_heatmap(
    table: MonitorTable,
    position: str,
    *,
    monitors: list[str] | None = None,
    hooks: list[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Mean AUROC over seeds of each (monitor, hook) at ``position`` (blank: not scored)."""
    summary = {(s.monitor, s.hook): s for s in table.summary() if s.position == position}
    if not summary:
        positions = sorted({s.position for s in table.summary()})
        raise ValueError(f"No rows at position {position!r}; positions: {positions}.")
    monitors = monitors or list(dict.fromkeys(m for m, _ in summary))
    hooks = hooks or list(dict.fromkeys(h for _, h in summary))
    z = np.full((len(monitors), len(hooks)), np.nan)
    text = [["" for _ in hooks] for _ in monitors]
    for i, m in enumerate(monitors):
        for j, h in enumerate(hooks):
            s = summary.get((m, h))
            if s is None:
                continue
            z[i, j] = s.mean
            spread = "" if s.n_seeds < 2 else f" ({s.min:.3f}-{s.max:.3f} over {s.n_seeds} seeds)"
            text[i][j] = f"{s.mean:.3f}{spread}<br>{s.n_pos} positive, {s.n_neg} negative"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[h.replace(".hook_", " ") for h in hooks],
            y=monitors,
            zmin=0,
            zmax=1,
            zmid=0.5,
            colorscale="RdBu",
            text=text,
            texttemplate="%{z:.2f}",
            colorbar=dict(title="AUROC"),
            hovertemplate="%{y} @ %{x}<br>%{text}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title=title or f"AUROC at {position} (0.5 = chance)",
        height=max(300, 34 * len(monitors) + 140),
        margin=dict(l=10, r=10),
    )
    return fit_title(fig)


def roc_figure(
    curves: dict[str, tuple[torch.Tensor, torch.Tensor]], *, title: str = ""
) -> go.Figure:
    """ROC curves: ``{name: (scores, labels)}``, each with its AUROC in the legend."""
    from workbench.monitors.metrics import auroc

    fig = go.Figure()
    for name, (scores, labels) in curves.items():
        fpr, tpr, _ = roc_curve(scores, labels)
        fig.add_scatter(x=fpr.tolist(), y=tpr.tolist(), mode="lines",
                        name=f"{name} ({auroc(scores, labels):.3f})")  # fmt: skip
    fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="grey"),
                    name="chance", showlegend=False)  # fmt: skip
    fig.update_layout(
        title=title, xaxis_title="false-positive rate", yaxis_title="true-positive rate",
        height=420, legend=dict(font=dict(size=10)),
    )  # fmt: skip
    return fit_title(fig)


def score_trace_figure(
    positions: list[str],
    scores: dict[str, np.ndarray],
    *,
    title: str = "",
    marks: dict | None = None,
) -> go.Figure:
    """Each monitor's calibrated score (the fraction of clean positions it exceeds) along one
    input; ``marks`` labels positions (e.g. where the trigger ends)."""
    fig = go.Figure()
    for name, values in scores.items():
        fig.add_scatter(x=positions, y=list(values), mode="lines+markers", name=name)
    for x, label in (marks or {}).items():
        fig.add_vline(x=x, line_dash="dot", annotation_text=label)
    fig.update_layout(
        title=title, yaxis_title="above this share of clean positions", yaxis_range=[0, 1.02],
        height=380, legend=dict(font=dict(size=10)),
    )  # fmt: skip
    return fit_title(fig)
