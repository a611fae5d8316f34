"""Browse an SAE's features on text: pick one or search by a word, and see its top
contexts highlighted token by token, its activation histogram and what it does to the next
token. Composes ``text.features`` (data) and ``text.plots`` (views).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

from workbench.text.features import TextFeatureSet, interpretable_features, summarize
from workbench.text.plots import contexts_html, text_feature_figure, text_features_slider_figure
from workbench.widgets.picker import FeaturePicker

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


class TextFeatureExplorer(FeaturePicker):
    def __init__(
        self,
        features: TextFeatureSet,
        model: HookedTransformer,
        sae: SAE,
        *,
        feature: int | None = None,
        n_contexts: int = 10,
    ):
        self.features, self.model, self.sae, self.n_contexts = features, model, sae, n_contexts
        start = interpretable_features(features, 1)[0] if feature is None else int(feature)
        self.contexts = widgets.HTML()
        self.figure = widgets.Output()
        self._controls(
            start,
            features.d_sae,
            placeholder="a word, e.g. king or Romeo",
            results="fires on it",
            views=[self.contexts, self.figure],
        )
        self.show()

    def find(self, query: str) -> tuple[list[tuple[str, int]], str]:
        """The features that fire on ``query``'s tokens, by share of their activation."""
        hits = self.features.search(query, self.model.tokenizer)
        ids = self.features.query_tokens(query, self.model.tokenizer)
        note = f"Features that fire on the tokens {[self.features.vocab[i] for i in ids]}:"
        return [(f"{f} (score {s:.2f})", f) for f, s in hits], note

    def show(self) -> None:
        f = self.feature.value
        summary = summarize(self.features, self.model, self.sae, f)
        contexts = self.features.contexts(f, self.n_contexts)
        self.contexts.value = f"<b>Feature {f}</b>: {summary.label}" + contexts_html(contexts)
        self.figure.clear_output(wait=True)
        with self.figure:
            display(text_feature_figure(self.features, summary, contexts))

    def static_figure(self) -> go.Figure:
        """The most token-specific features behind a slider, for pages with no kernel."""
        picks = interpretable_features(self.features, 12)
        summaries = [summarize(self.features, self.model, self.sae, f) for f in picks]
        contexts = [self.features.contexts(f, self.n_contexts) for f in picks]
        return text_features_slider_figure(self.features, summaries, contexts)
