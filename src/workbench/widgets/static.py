"""Widgets that also carry a kernel-free form of themselves.

A live widget needs a kernel: its callbacks run in Python. So each workbench widget
adds to its display bundle a plain plotly figure (sliders, buttons and frames run in the
browser) under its own MIME type. JupyterLab does not know that type and shows the live
widget; the static site (``workbench.render``) shows the figure instead.
"""

from __future__ import annotations

import json

import ipywidgets as widgets
import plotly.graph_objects as go

STATIC_FIGURE_MIME = "application/vnd.workbench.static-figure+json"


class StaticFormWidget:
    """Mixin: ``self.widget`` is the live view, ``static_figure()`` the kernel-free one."""

    widget: widgets.Widget

    def static_figure(self) -> go.Figure:
        raise NotImplementedError

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data)
        data[STATIC_FIGURE_MIME] = json.loads(self.static_figure().to_json())
        return (data, metadata) if metadata else data
