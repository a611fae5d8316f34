"""workbench: a Jupyter workbench for looking inside OthelloGPT and small language models.

import workbench
model = workbench.load_model("othello")      # shipped default, offline, CPU
games = workbench.othello.play_games(n_games=100, rng=0)
sae = workbench.load_sae("othello", "blocks.2.hook_resid_post", "topk")  # sae-lens SAE
"""

from workbench import othello
from workbench.models import list_models, load_model, model_card


def __getattr__(name: str):
    # sae-lens is imported on first use only: it is slow to import, and model training
    # (on machines without it) needs none of it.
    if name in ("list_saes", "load_sae"):
        from workbench.saes import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = ["list_models", "list_saes", "load_model", "load_sae", "model_card", "othello"]
