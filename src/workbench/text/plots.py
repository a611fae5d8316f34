"""Views of text features: highlighted contexts (HTML) and plotly figures.

Pure functions of ``text.features`` data; nothing here computes activations.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from workbench.plots import fit_title
from workbench.text.features import Context, FeatureSummary, TextFeatureSet


def _show(token: str) -> str:
    return token.replace("\n", "↵").replace(" ", "·") if token.strip() == "" else token


def contexts_html(contexts: list[Context], *, max_value: float | None = None) -> str:
    """Contexts as lines of tokens, each shaded by the feature's activation on it."""
    top = max_value or max((c.value for c in contexts), default=1.0) or 1.0
    lines = []
    for c in contexts:
        spans = []
        for i, (tok, act) in enumerate(zip(c.tokens, c.activations, strict=True)):
            alpha = min(1.0, max(0.0, act / top))
            border = "border-bottom:2px solid #e65100;" if i == c.focus else ""
            title = html.escape(f"{tok!r}: {act:.2f}")
            text = html.escape(_show(tok)).replace("\n", "↵")
            spans.append(
                f"<span title='{title}' style='background:rgba(230,81,0,{alpha:.2f});"
                f"{border}white-space:pre'>{text}</span>"
            )
        lines.append(
            f"<div style='font-family:monospace;margin:2px 0'><b>{c.value:5.2f}</b>&nbsp;"
            + "".join(spans)
            + "</div>"
        )
    return "".join(lines) or "<i>This feature never fires on these windows.</i>"


def _context_text(c: Context) -> str:
    """A context as one line, the focus token in bold (plotly's table supports <b>)."""
    parts = [html.escape(t).replace("\n", "↵") for t in c.tokens]
    parts[c.focus] = f"<b>[{parts[c.focus]}]</b>"
    return "".join(parts)


def text_feature_figure(
    fs: TextFeatureSet, summary: FeatureSummary, contexts: list[Context], *, height: int = 520
) -> go.Figure:
    """Histogram, direct effect on next tokens and top contexts of one feature."""
    fig = make_subplots(
        rows=2,
        cols=2,
        specs=[[{}, {}], [{"type": "table", "colspan": 2}, None]],
        row_heights=[0.45, 0.55],
        subplot_titles=[
            f"activations (fires on {summary.frequency:.2%} of tokens)",
            "direct effect on next-token logits",
            "top-activating contexts ([focus] token)",
        ],
        vertical_spacing=0.12,
    )
    fig.add_trace(
        go.Histogram(x=fs.activations(summary.feature).numpy(), nbinsx=40, marker_color="#455a64"),
        1,
        1,
    )
    effects = summary.boosted[:8] + summary.suppressed[:8][::-1]
    fig.add_trace(
        go.Bar(
            x=[v for _, v in effects],
            y=[repr(t) for t, _ in effects],
            orientation="h",
            marker_color=["#1b5e20" if v > 0 else "#b71c1c" for _, v in effects],
        ),
        1,
        2,
    )
    fig.update_yaxes(autorange="reversed", row=1, col=2)
    fig.add_trace(
        go.Table(
            columnwidth=[1, 9],
            header={"values": ["activation", "context"], "align": "left"},
            cells={
                "values": [
                    [f"{c.value:.2f}" for c in contexts],
                    [_context_text(c) for c in contexts],
                ],
                "align": "left",
            },
        ),
        2,
        1,
    )
    fig.update_layout(
        title=f"Feature {summary.feature}: {summary.label}",
        height=height,
        width=880,  # fits a 900 px notebook column
        showlegend=False,
        margin={"t": 70, "l": 40, "r": 20, "b": 20},
    )
    return fit_title(fig)


def text_features_slider_figure(
    fs: TextFeatureSet, summaries: list[FeatureSummary], contexts: list[list[Context]]
) -> go.Figure:
    """Several features behind a slider: each step shows one feature's figure."""
    if not summaries:
        raise ValueError("No features to show.")
    figures = [text_feature_figure(fs, s, c) for s, c in zip(summaries, contexts, strict=True)]
    fig = go.Figure(figures[0])
    n = len(figures[0].data)
    for other in figures[1:]:
        for trace in other.data:
            fig.add_trace(trace.update(visible=False))
    steps = []
    for i, s in enumerate(summaries):
        visible = [j // n == i for j in range(n * len(figures))]
        title = f"Feature {s.feature}: {s.label}"
        steps.append(
            {
                "method": "update",
                "label": str(s.feature),
                "args": [{"visible": visible}, {"title": title}],
            }
        )
    fig.update_layout(
        sliders=[{"steps": steps, "currentvalue": {"prefix": "feature: "}, "pad": {"t": 30}}],
        height=600,
    )
    return fit_title(fig)


def attention_figure(
    pattern: Float[Tensor, "dest src"], tokens: list[str], *, title: str = "", size: int = 520
) -> go.Figure:
    """One head's attention pattern: rows attend (destination), columns are attended to."""
    labels = [f"{i}:{_show(t)}" for i, t in enumerate(tokens)]
    fig = go.Figure(
        go.Heatmap(
            z=pattern.numpy(),
            x=labels,
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="%{y} → %{x}: %{z:.2f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title="destination")
    fig.update_xaxes(title="source")
    fig.update_layout(title=title, width=size + 80, height=size, margin={"t": 50, "b": 40})
    return fit_title(fig)


def attention_slider_figure(
    patterns: Float[Tensor, "layer head dest src"],
    tokens: list[str],
    *,
    scores: Float[Tensor, "layer head"] | None = None,
    size: int = 560,
) -> go.Figure:
    """Every head's pattern behind a slider (``scores``, e.g. induction, in the labels)."""
    n_layers, n_heads = patterns.shape[:2]
    fig = attention_figure(patterns[0, 0], tokens, size=size)
    steps = []
    for layer in range(n_layers):
        for head in range(n_heads):
            name = f"L{layer}H{head}"
            extra = "" if scores is None else f" (induction score {scores[layer, head]:.2f})"
            steps.append(
                {
                    "method": "update",
                    "label": name,
                    "args": [{"z": [patterns[layer, head].numpy()]}, {"title": name + extra}],
                }
            )
    fig.update_layout(
        title=steps[0]["args"][1]["title"],
        sliders=[{"steps": steps, "currentvalue": {"prefix": "head: "}, "pad": {"t": 60}}],
        height=size + 80,
    )
    return fit_title(fig)
