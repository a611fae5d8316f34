"""Explore a feature graph: click a node to see its feature card (``saes.plots``)."""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

from workbench.circuits.graph import FeatureGraph
from workbench.circuits.plots import NODE_TRACE, graph_figure
from workbench.saes.features import FeatureSet
from workbench.saes.plots import feature_card_figure
from workbench.widgets.static import StaticFormWidget


class CircuitExplorer(StaticFormWidget):
    """The graph; clicking a feature node shows its card and its strongest inputs."""

    def __init__(self, graph: FeatureGraph, features: dict[int, FeatureSet], *, suite=None):
        self.graph, self.features, self.suite = graph, features, suite
        self.labels = graph_labels(graph, features)
        self.figure = go.FigureWidget(graph_figure(graph, labels=self.labels))
        self.figure.data[NODE_TRACE].on_click(self._on_click)
        self.info = widgets.HTML("Click a feature node for its card.")
        self.card = widgets.Output()
        self.widget = widgets.VBox([self.figure, self.info, self.card])

    def _on_click(self, trace, points, state) -> None:
        if points.point_inds:
            self.show(int(trace.customdata[points.point_inds[0]]))

    def show(self, node: int) -> None:
        n = self.graph.nodes[node]
        inputs = self.graph.incoming(node)[:6]
        lines = [f"<b>{n.label}</b> {self.labels.get(node, '')}"] + [
            f"&nbsp;&nbsp;{self.graph.nodes[s].label} {self.labels.get(s, '')}: {w:+.3f}"
            for s, w in inputs
        ]
        self.info.value = "<br>".join(lines)
        self.card.clear_output(wait=True)
        if n.feature >= 0 and n.layer in self.features:
            with self.card:
                display(
                    feature_card_figure(self.features[n.layer].card(n.feature, suite=self.suite))
                )

    def static_figure(self) -> go.Figure:
        return graph_figure(self.graph, labels=self.labels)


def graph_labels(graph: FeatureGraph, features: dict[int, FeatureSet]) -> dict[int, str]:
    """Each feature node's best-matching board property and its F1."""
    out = {}
    for i, n in enumerate(graph.nodes):
        if n.feature >= 0 and n.layer in features:
            prop, f1 = features[n.layer].scores.label(n.feature)
            out[i] = f"{prop} (F1 {f1:.2f})"
    return out
