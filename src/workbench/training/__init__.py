"""Training OthelloGPTs on synthetic games."""

from workbench.training.presets import PRESETS
from workbench.training.train import TrainConfig, Trainer, train

__all__ = ["PRESETS", "TrainConfig", "Trainer", "train"]
