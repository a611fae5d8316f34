"""Pick an SAE feature, or search for the features that detect a board property, and see
its card (``saes.plots.feature_card_figure``) and its top-activating boards.

Composes ``saes.features.FeatureSet`` (data) and ``saes.plots`` (figures).
"""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

from workbench.probes.probe import ProbeSuite
from workbench.saes.features import FeatureSet
from workbench.saes.plots import feature_boards_figure, feature_card_figure, top_positions_figure
from workbench.widgets.picker import FeaturePicker


class FeatureExplorer(FeaturePicker):
    """Browse the features of an SAE on a set of games, with their board-grounded labels."""

    def __init__(self, features: FeatureSet, *, suite: ProbeSuite | None = None, feature=None):
        self.features, self.suite = features, suite
        start = features.best_labelled(1)[0] if feature is None else int(feature)
        self.card = widgets.Output()
        self.tops = widgets.Output()
        self._controls(
            start,
            features.sae.cfg.d_sae,
            placeholder="e.g. C4 theirs, D3 legal, E5 flipped",
            results="best",
            views=[self.card, self.tops],
        )
        self.show()

    def find(self, prop: str) -> tuple[list[tuple[str, int]], str]:
        """The features that best detect ``prop`` (e.g. "C4 theirs"), by F1."""
        parts = prop.split()
        if len(parts) == 2:  # "c4 Theirs" -> "C4 theirs"
            parts = [parts[0].upper(), parts[1].lower()]
        hits = self.features.search(" ".join(parts))
        return [(f"{f} (F1 {f1:.2f})", f) for f, f1 in hits], ""

    def show(self) -> None:
        card = self.features.card(self.feature.value, suite=self.suite)
        for out, fig in (
            (self.card, feature_card_figure(card)),
            (self.tops, top_positions_figure(self.features, card)),
        ):
            out.clear_output(wait=True)
            with out:
                display(fig)

    def static_figure(self) -> go.Figure:
        """The best-labelled features' boards behind a slider, for pages with no kernel."""
        return feature_boards_figure(self.features, self.features.best_labelled(16))
