"""workbench: a Jupyter workbench for looking inside OthelloGPT and small language models.

import workbench
model = workbench.load_model("othello")      # shipped default, offline, CPU
games = workbench.othello.play_games(n_games=100, rng=0)
sae = workbench.load_sae("othello", "blocks.2.hook_resid_post", "topk")  # sae-lens SAE
"""

from workbench import othello
from workbench.models import list_models, load_model, model_card
from workbench.saes.loading import list_saes, load_sae

__all__ = ["list_models", "list_saes", "load_model", "load_sae", "model_card", "othello"]
