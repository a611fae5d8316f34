"""Rule-level explanations of OthelloGPT's MLP neurons: algorithm or bag of heuristics?

1. ``features``: 384 binary features of a position, relative to the player to move next
   (each square empty/mine/theirs/legal/flipped, and the square just played).
2. ``fit``: a depth-4 decision tree per neuron of ``blocks.L.mlp.hook_post`` (scikit-learn),
   scored by held-out R²; ``trees``: the trees as JSON, evaluated straight from it, and
   the layer files ``data/rules/<model>/blocks.<L>.json`` (``workbench rules``).
3. ``catalogue``: neurons grouped by what their rules say, counted per layer and model.
4. ``ablation``: mean-ablate rule-explained neurons; the next-move loss changes where the
   rule fires against control positions.
5. ``heuristic``: the probes' board against the exact board and the "whoever placed it"
   board, layer by layer.
"""

from workbench.rules.features import FEATURE_NAMES, KINDS, PositionFeatures, position_features
from workbench.rules.fit import (
    RuleConfig,
    RuleLayerError,
    fit_layer,
    fit_trees,
    load_rules,
    mlp_hook,
    neuron_activations,
    rules_dir,
    rules_path,
    score_trees,
    shipped_layers,
)
from workbench.rules.trees import (
    LayerRules,
    NeuronRule,
    RuleFileError,
    conditions,
    evaluate,
    from_sklearn,
    r2_score,
    tree_text,
)

__all__ = [
    "FEATURE_NAMES",
    "KINDS",
    "LayerRules",
    "NeuronRule",
    "PositionFeatures",
    "RuleConfig",
    "RuleFileError",
    "RuleLayerError",
    "conditions",
    "evaluate",
    "fit_layer",
    "fit_trees",
    "from_sklearn",
    "load_rules",
    "mlp_hook",
    "neuron_activations",
    "position_features",
    "r2_score",
    "rules_dir",
    "rules_path",
    "score_trees",
    "shipped_layers",
    "tree_text",
]
