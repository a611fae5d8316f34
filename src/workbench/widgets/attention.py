"""Attention patterns of every head on a prompt of your choosing, with induction scores.

Composes ``text.induction`` (patterns, scores) and ``text.plots`` (heatmaps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as widgets
import plotly.graph_objects as go
from IPython.display import display

from workbench.text.induction import InductionResult, attention_patterns
from workbench.text.plots import attention_figure, attention_slider_figure
from workbench.widgets.static import StaticFormWidget

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer


class AttentionExplorer(StaticFormWidget):
    """Pick a head and type a prompt; see where each token looks."""

    def __init__(
        self,
        model: HookedTransformer,
        prompt: str,
        *,
        induction: InductionResult | None = None,
        max_tokens: int = 48,
    ):
        self.model, self.induction, self.max_tokens = model, induction, max_tokens
        heads = [
            (self._head_label(layer, head), (layer, head))
            for layer in range(model.cfg.n_layers)
            for head in range(model.cfg.n_heads)
        ]
        start = heads[0][1]
        if induction is not None:
            start = divmod(int(induction.induction_scores.argmax()), model.cfg.n_heads)
        self.head = widgets.Dropdown(options=heads, value=start, description="head")
        self.prompt = widgets.Textarea(value=prompt, description="prompt", layout={"width": "70%"})
        self.message = widgets.HTML()
        self.figure = widgets.Output()
        self.head.observe(lambda _: self.show(), names="value")
        self.prompt.observe(lambda _: self.show(), names="value")
        self.widget = widgets.VBox(
            [widgets.HBox([self.head]), self.prompt, self.message, self.figure]
        )
        self.show()

    def _head_label(self, layer: int, head: int) -> str:
        if self.induction is None:
            return f"L{layer}H{head}"
        return f"L{layer}H{head} (induction {self.induction.induction_scores[layer, head]:.2f})"

    def _tokens(self):
        tokens = self.model.to_tokens(self.prompt.value)[0]
        if len(tokens) > self.max_tokens:
            self.message.value = f"Showing the first {self.max_tokens} of {len(tokens)} tokens."
            tokens = tokens[: self.max_tokens]
        else:
            self.message.value = ""
        return tokens, self.model.to_str_tokens(tokens)

    def show(self) -> None:
        tokens, strings = self._tokens()
        layer, head = self.head.value
        pattern = attention_patterns(self.model, tokens)[layer, head]
        self.figure.clear_output(wait=True)
        with self.figure:
            display(attention_figure(pattern, strings, title=self._head_label(layer, head)))

    def static_figure(self) -> go.Figure:
        """Every head on the current prompt behind a slider, for pages with no kernel."""
        tokens, strings = self._tokens()
        scores = None if self.induction is None else self.induction.induction_scores
        return attention_slider_figure(
            attention_patterns(self.model, tokens), strings, scores=scores
        )
