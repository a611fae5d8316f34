"""Pick an SAE feature, or search for the features that detect a board property, and see
its card (``saes.plots.feature_card_figure``) and its top-activating boards.

Composes ``saes.features.FeatureSet`` (data) and ``saes.plots`` (figures).
"""

from __future__ import annotations

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

from workbench.probes import ProbeSuite
from workbench.saes.features import FeatureSet
from workbench.saes.plots import feature_boards_figure, feature_card_figure, top_positions_figure
from workbench.widgets.static import StaticFormWidget


class FeatureExplorer(StaticFormWidget):
    """Browse the features of an SAE on a set of games, with their board-grounded labels."""

    def __init__(self, features: FeatureSet, *, suite: ProbeSuite | None = None, feature=None):
        self.features, self.suite = features, suite
        start = features.best_labelled(1)[0] if feature is None else int(feature)
        self.feature = widgets.BoundedIntText(
            value=start, min=0, max=features.sae.cfg.d_sae - 1, description="feature"
        )
        self.query = widgets.Text(
            placeholder="e.g. C4 theirs, D3 legal, E5 flipped", description="search"
        )
        self.results = widgets.Dropdown(options=[], description="best")
        self.message = widgets.HTML()
        self.card = widgets.Output()
        self.tops = widgets.Output()
        self.feature.observe(lambda _: self.show(), names="value")
        self.query.observe(lambda change: self.search(change["new"]), names="value")
        self.results.observe(self._pick, names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.feature, self.query, self.results]),
                self.message,
                self.card,
                self.tops,
            ]
        )
        self.show()

    def search(self, prop: str) -> None:
        """List the features that best detect ``prop``; bad input explains what is valid."""
        prop = " ".join(prop.split())
        if not prop:
            return
        parts = prop.split(" ")
        if len(parts) == 2:
            prop = f"{parts[0].upper()} {parts[1].lower()}"
        try:
            hits = self.features.search(prop)
        except ValueError as err:
            self.message.value = f"<span style='color:#b71c1c'>{err}</span>"
            return
        self.message.value = ""
        self.results.options = [(f"{f} (F1 {f1:.2f})", f) for f, f1 in hits]
        self.results.value = hits[0][0]
        self.feature.value = hits[0][0]  # show the best match at once

    def _pick(self, change) -> None:
        if change["new"] is not None:
            self.feature.value = change["new"]

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
