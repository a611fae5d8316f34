"""workbench: a Jupyter workbench for looking inside OthelloGPT and small language models.

import workbench
model = workbench.load_model("othello")      # shipped default, offline, CPU
games = workbench.othello.play_games(n_games=100, rng=0)
"""

from workbench import othello
from workbench.models import list_models, load_model, model_card

__all__ = ["list_models", "load_model", "model_card", "othello"]
