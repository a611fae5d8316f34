"""ipywidgets + plotly views that compose analysis functions and plots."""

from workbench.widgets.attention import AttentionExplorer
from workbench.widgets.board import GameExplorer
from workbench.widgets.circuit import CircuitExplorer
from workbench.widgets.features import FeatureExplorer
from workbench.widgets.intervention import InterventionExplorer
from workbench.widgets.monitor import LiveMonitor
from workbench.widgets.text_features import TextFeatureExplorer

__all__ = [
    "AttentionExplorer",
    "CircuitExplorer",
    "FeatureExplorer",
    "GameExplorer",
    "InterventionExplorer",
    "LiveMonitor",
    "TextFeatureExplorer",
]
