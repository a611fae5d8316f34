"""ipywidgets + plotly views that compose analysis functions and plots."""

from workbench.widgets.board import GameExplorer

__all__ = ["GameExplorer"]
