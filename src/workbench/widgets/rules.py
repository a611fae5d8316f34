"""Browse a layer's neuron rules: pick a neuron or search "C4 flipped", see its tree as
text, its activation against the rule's prediction, and its top positions as boards.

Composes ``workbench.rules`` (data: rules, catalogue, features) and ``rules.plots``.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
from IPython.display import display

from workbench.othello.engine import GameRecord
from workbench.rules.catalogue import catalogue, search
from workbench.rules.fit import neuron_activations
from workbench.rules.plots import fit_figure, top_boards_figure
from workbench.rules.trees import LayerRules, evaluate, tree_text
from workbench.widgets.picker import FeaturePicker


class RuleExplorer(FeaturePicker):
    """The rules of one layer, checked live on ``games`` (a few hundred are plenty)."""

    def __init__(self, model, rules: LayerRules, games: GameRecord, *, neuron: int | None = None):
        self.rules, self.games = rules, games
        self.features, self.acts = neuron_activations(model, games, rules.layer)
        self.entries = catalogue(rules)
        best = int(np.argmax(rules.r2)) if neuron is None else int(neuron)
        self.text = widgets.HTML(layout=widgets.Layout(max_width="880px"))
        self.fit = widgets.Output()
        self.tops = widgets.Output()
        self._controls(
            best,
            len(rules.neurons),
            placeholder="e.g. C4 flipped, played D3, B2 legal",
            results="neurons",
            views=[self.text, widgets.HBox([self.fit, self.tops])],
        )
        self.feature.description = "neuron"
        self.widget.layout = widgets.Layout(max_width="900px")
        self.show()

    def find(self, query: str) -> tuple[list[tuple[str, int]], str]:
        """Explained neurons whose rule mentions ``query``, best R² first."""
        hits = search(self.entries, query.strip())
        note = f"{len(hits)} explained neuron(s) mention {query.strip()!r}."
        return [(f"{e.neuron}: {e.rule} (R² {e.r2:.2f})", e.neuron) for e in hits[:50]], note

    def show(self) -> None:
        rule = self.rules[self.feature.value]
        entry = self.entries[rule.neuron]
        act = self.acts[:, rule.neuron]
        pred = evaluate(rule.tree, self.features.X)
        head = (
            f"<b>neuron {rule.neuron}</b> of {self.rules.hook} ({self.rules.model}): "
            f"held-out R² {rule.r2:.3f}; group <i>{html.escape(entry.group)}</i>; fires on "
            f"<code>{html.escape(entry.rule)}</code>"
        )
        self.text.value = f"{head}<pre>{html.escape(tree_text(rule.tree))}</pre>"
        for out, fig in (
            (self.fit, fit_figure(act, pred, title=f"neuron {rule.neuron}: rule vs activation")),
            (self.tops, top_boards_figure(self.games, self.features, act, size=300)),
        ):
            out.clear_output(wait=True)
            with out:
                display(fig)

    def static_figure(self) -> go.Figure:
        """The best-explained neuron's top positions, for pages with no kernel."""
        best = int(np.argmax(self.rules.r2))
        return top_boards_figure(self.games, self.features, self.acts[:, best])
