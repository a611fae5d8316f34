"""The controls every feature explorer shares: a feature number, a search box and a list
of the features that match, wired together; bad input is explained in a message line."""

from __future__ import annotations

import ipywidgets as widgets

from workbench.widgets.static import StaticFormWidget


class FeaturePicker(StaticFormWidget):
    """Subclasses implement ``find(query) -> (hits, note)`` (``hits``: (label, feature)
    pairs, best first; raise ``ValueError`` with what is valid) and ``show()``."""

    def _controls(
        self, start: int, d_sae: int, *, placeholder: str, results: str, views: list
    ) -> None:
        self.feature = widgets.BoundedIntText(
            value=start, min=0, max=d_sae - 1, description="feature"
        )
        self.query = widgets.Text(placeholder=placeholder, description="search")
        self.results = widgets.Dropdown(options=[], description=results)
        self.message = widgets.HTML()
        self.feature.observe(lambda _: self.show(), names="value")
        self.query.observe(lambda change: self.search(change["new"]), names="value")
        self.results.observe(self._pick, names="value")
        self.widget = widgets.VBox(
            [widgets.HBox([self.feature, self.query, self.results]), self.message, *views]
        )

    def find(self, query: str) -> tuple[list[tuple[str, int]], str]:
        raise NotImplementedError

    def show(self) -> None:
        raise NotImplementedError

    def search(self, query: str) -> None:
        """List the features that match ``query`` and show the best one."""
        if not query.strip():
            return
        try:
            hits, note = self.find(query)
        except ValueError as err:
            self.message.value = f"<span style='color:#b71c1c'>{err}</span>"
            return
        if not hits:
            self.message.value = f"No feature matches {query!r} here."
            return
        self.message.value = note
        self.results.options = hits
        self.results.value = hits[0][1]
        self.feature.value = hits[0][1]  # show the best match at once

    def _pick(self, change) -> None:
        if change["new"] is not None:
            self.feature.value = change["new"]
