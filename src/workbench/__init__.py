"""workbench: a Jupyter workbench for looking inside OthelloGPT and small language models.

import workbench
model = workbench.load_model("othello")      # shipped default, offline, CPU
games = workbench.othello.play_games(n_games=100, rng=0)
sae = workbench.load_sae("othello", "blocks.2.hook_resid_post", "topk")  # sae-lens SAE
"""

from importlib import import_module

from workbench import othello


def __getattr__(name: str):
    # Imported on first use. TransformerLens (which imports transformers, datasets and
    # pandas: seconds) and sae-lens wait for the first model or SAE loaded, under a bar
    # (workbench.progress): no module a notebook's import cell reaches imports them.
    if name in ("list_models", "load_model", "model_card"):
        from workbench import models

        return getattr(models, name)
    if name in ("list_saes", "load_sae"):
        from workbench.saes import loading

        return getattr(loading, name)
    try:  # a subpackage not imported yet: ``import workbench; workbench.models.REGISTRY``
        return import_module(f"workbench.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"workbench.{name}":
            raise
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


__all__ = ["list_models", "list_saes", "load_model", "load_sae", "model_card", "othello"]
