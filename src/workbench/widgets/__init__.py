"""ipywidgets + plotly views that compose analysis functions and plots."""

from workbench.widgets.board import GameExplorer
from workbench.widgets.circuit import CircuitExplorer
from workbench.widgets.features import FeatureExplorer
from workbench.widgets.intervention import InterventionExplorer

__all__ = ["CircuitExplorer", "FeatureExplorer", "GameExplorer", "InterventionExplorer"]
