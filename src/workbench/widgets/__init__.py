"""ipywidgets + plotly views that compose analysis functions and plots.

Each widget's module is imported when the widget is first used: the text and SAE widgets
pull in sae-lens (and through it wandb), which the Othello board widgets never need.
"""

from importlib import import_module

_MODULES = {
    "AttentionExplorer": "attention",
    "CircuitExplorer": "circuit",
    "FeatureExplorer": "features",
    "GameExplorer": "board",
    "InterventionExplorer": "intervention",
    "LiveMonitor": "monitor",
    "RuleExplorer": "rules",
    "TextFeatureExplorer": "text_features",
}


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(import_module(f"workbench.widgets.{_MODULES[name]}"), name)
    raise AttributeError(f"module 'workbench.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


__all__ = sorted(_MODULES)
