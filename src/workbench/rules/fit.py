"""Fit one decision tree per MLP neuron and score it on held-out games.

1. Draw ``games`` training games and ``test_games`` held-out games (their own seeds).
2. Harvest ``blocks.L.mlp.hook_post`` on both; compute the 384 binary features once
   (``workbench.rules.features``); keep at most ``positions`` training positions, drawn
   uniformly across the training games.
3. Screen the features for each neuron, all neurons at once (a few matrix products): the
   ``candidates`` columns whose single split removes the most variance, and half as many
   again on each side of the best such split (so a rule "A, then B where A holds" keeps
   B even when B alone says little). ``candidates=None`` keeps all 384.
4. For each neuron, fit a ``sklearn.tree.DecisionTreeRegressor`` (``max_depth`` <= 4) on
   its candidate columns of the training positions; trees run ``jobs`` at a time in
   threads (sklearn fits without the GIL).
5. Convert each tree to JSON (``workbench.rules.trees``) and score the JSON tree, as it
   is stored, by R² on every held-out position.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Float, Int, UInt8
from joblib import Parallel, delayed
from sklearn.tree import DecisionTreeRegressor
from tqdm.auto import tqdm

from workbench import paths
from workbench.activations import harvest
from workbench.models.registry import _entry, canonical_name, load_model
from workbench.othello.engine import play_games
from workbench.rules.features import PositionFeatures, position_features
from workbench.rules.trees import LayerRules, NeuronRule, Tree, evaluate, from_sklearn, r2_score

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

TRAIN_SEED, TEST_SEED = 3900, 3901  # the games' seeds: neither the training stream nor probes'


class RuleLayerError(ValueError):
    """A layer the model does not have, or rules that were never fitted."""


@dataclass(frozen=True)
class RuleConfig:
    games: int = 400  # training games drawn
    positions: int = 8_000  # training positions kept (uniform over those games); cost ~linear
    candidates: int | None = 16  # features screened per neuron (step 3); None: all 384
    test_games: int = 300  # held-out games: R² is scored on all their positions
    max_depth: int = 4  # the rule's depth (the issue's <= 4)
    min_samples_leaf: int = 20  # no leaf on fewer positions (rare patterns overfit)
    min_gain: float = 1e-3  # a split must remove this share of the neuron's variance
    seed: int = 0  # which positions are kept, and sklearn's tie-breaks
    jobs: int = 1  # trees fitted at a time (threads)


def mlp_hook(model: HookedTransformer, layer: int) -> str:
    """``blocks.L.mlp.hook_post``, after checking the model has layer ``L``."""
    n = model.cfg.n_layers
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer) or not 0 <= layer < n:
        raise RuleLayerError(
            f"Layer {layer!r} is not a layer of {model.cfg.model_name or 'this model'}: "
            f"it has {n} layers, 0..{n - 1}."
        )
    return f"blocks.{int(layer)}.mlp.hook_post"


def neuron_activations(
    model: HookedTransformer, games, layer: int, *, progress: bool = False
) -> tuple[PositionFeatures, Float[np.ndarray, "n d_mlp"]]:
    """The features and the layer's MLP neuron activations at every real position."""
    hook = mlp_hook(model, layer)
    acts = harvest(model, games, [hook], progress=progress)
    features = position_features(games)
    return features, acts.acts[hook][torch.from_numpy(features.valid)].numpy()


def fit_trees(
    X: UInt8[np.ndarray, "n 384"],
    Y: Float[np.ndarray, "n neuron"],
    *,
    config: RuleConfig = RuleConfig(),
    progress: bool = False,
) -> list[Tree]:
    """One JSON tree per column of ``Y``, fitted on the feature rows ``X``."""
    X32 = np.ascontiguousarray(X, dtype=np.float32)  # sklearn's own dtype
    Y = np.asarray(Y, dtype=np.float64)
    scale = Y.var(axis=0)
    screened = None if config.candidates is None else candidates(X32, Y, config.candidates)

    def fit(j: int) -> Tree:
        tree = DecisionTreeRegressor(
            max_depth=config.max_depth,
            min_samples_leaf=config.min_samples_leaf,
            min_impurity_decrease=config.min_gain * float(scale[j]),
            random_state=config.seed,
        )
        if screened is None:
            return from_sklearn(tree.fit(X32, Y[:, j]))
        cols = screened[j]
        return from_sklearn(tree.fit(np.ascontiguousarray(X32[:, cols]), Y[:, j]), columns=cols)

    columns = tqdm(range(Y.shape[1]), desc="trees", unit="neuron", disable=not progress)
    return Parallel(n_jobs=config.jobs, prefer="threads")(delayed(fit)(j) for j in columns)


def _split_gain(count, total, n, sums):
    """Variance (sum of squares) removed by splitting ``n`` rows summing to ``sums`` into
    the ``count`` rows where a feature holds (summing to ``total``) and the rest."""
    rest = n - count
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(count > 0, total / count, 0) - np.where(rest > 0, (sums - total) / rest, 0)
    return np.where((count > 0) & (rest > 0), count * rest / np.maximum(n, 1) * diff**2, 0)


def candidates(
    X: Float[np.ndarray, "n 384"], Y: Float[np.ndarray, "n neuron"], k: int
) -> list[Int[np.ndarray, " c"]]:
    """Each neuron's screened feature columns (step 3): the top ``k`` by the variance their
    one split removes, and the top ``k // 2`` on each side of the best of those splits."""
    Yc = (Y - Y.mean(axis=0)).astype(np.float32)  # (n, neuron)
    n = float(len(Y))
    count = X.sum(axis=0)[:, None].astype(np.float64)  # (384, 1)
    total = (X.T @ Yc).astype(np.float64)  # (384, neuron)
    gain = _split_gain(count, total, n, 0.0)
    root = gain.argmax(axis=0)  # each neuron's best first split
    on = X[:, root]  # (n, neuron): rows where it holds
    count_on = (X.T @ on).astype(np.float64)
    total_on = (X.T @ (Yc * on)).astype(np.float64)
    n_on, sums_on = on.sum(axis=0).astype(np.float64), (Yc * on).sum(axis=0).astype(np.float64)
    gain_on = _split_gain(count_on, total_on, n_on, sums_on)
    gain_off = _split_gain(count - count_on, total - total_on, n - n_on, -sums_on)
    top = [np.argsort(-g, axis=0, kind="stable") for g in (gain, gain_on, gain_off)]
    half = max(k // 2, 1)
    return [
        np.unique(np.concatenate([top[0][:k, j], top[1][:half, j], top[2][:half, j]]))
        for j in range(Y.shape[1])
    ]


def score_trees(
    trees: list[Tree], X: UInt8[np.ndarray, "n 384"], Y: Float[np.ndarray, "n neuron"]
) -> list[float]:
    """Each tree's R² against its column of ``Y``."""
    return [r2_score(Y[:, j], evaluate(t, X)) for j, t in enumerate(trees)]


def fit_layer(
    model: HookedTransformer | str,
    layer: int,
    *,
    config: RuleConfig = RuleConfig(),
    progress: bool = True,
) -> LayerRules:
    """Every neuron's rule at ``blocks.<layer>.mlp.hook_post``, with held-out R²."""
    model = load_model(model) if isinstance(model, str) else model
    mlp_hook(model, layer)
    start = time.perf_counter()
    train_games = play_games(n_games=config.games, rng=TRAIN_SEED)
    test_games = play_games(n_games=config.test_games, rng=TEST_SEED)
    train, Y = neuron_activations(model, train_games, layer, progress=progress)
    keep = np.random.default_rng(config.seed).permutation(len(Y))[: config.positions]
    keep.sort()
    trees = fit_trees(train.X[keep], Y[keep], config=config, progress=progress)
    test, Y_test = neuron_activations(model, test_games, layer, progress=progress)
    r2 = score_trees(trees, test.X, Y_test)
    neurons = [
        NeuronRule(j, round(r, 4), t) for j, (t, r) in enumerate(zip(trees, r2, strict=True))
    ]
    record = {
        "positions": int(len(keep)),
        "held_out_games": config.test_games,
        "held_out_positions": int(len(Y_test)),
        "games_seeds": [TRAIN_SEED, TEST_SEED],
        "config": asdict(config),
        "seconds": round(time.perf_counter() - start, 1),
        "torch_threads": torch.get_num_threads(),
    }
    name = model.cfg.model_name or "unknown"
    return LayerRules(name, mlp_hook(model, layer), config.games, neurons, record)


def rules_dir(model_name: str, *, data_dir: str | Path | None = None) -> Path:
    """``data/rules/<model>``, under the registry name (an alias finds its model's folder,
    as ``data/probes`` and ``data/saes`` do)."""
    _entry(model_name)  # an unknown name fails here, listing the known ones
    return paths.data_dir(data_dir) / "rules" / canonical_name(model_name)


def rules_path(model_name: str, layer: int, *, data_dir: str | Path | None = None) -> Path:
    return rules_dir(model_name, data_dir=data_dir) / f"blocks.{layer}.json"


def shipped_layers(model_name: str, *, data_dir: str | Path | None = None) -> list[int]:
    folder = rules_dir(model_name, data_dir=data_dir)
    return sorted(int(p.name.split(".")[1]) for p in folder.glob("blocks.*.json"))


def load_rules(
    model_name: str = "othello", layer: int = 0, *, data_dir: str | Path | None = None
) -> LayerRules:
    """The shipped rules of one layer (``load_rules("othello-gpt-8l", 5)``)."""
    path = rules_path(model_name, layer, data_dir=data_dir)
    if not path.exists():
        have = shipped_layers(model_name, data_dir=data_dir)
        raise RuleLayerError(
            f"No rules for {model_name!r} layer {layer} ({path} is missing); shipped layers: "
            f"{have or 'none'}. Fit them: workbench rules {model_name} --layers {layer}"
        )
    return LayerRules.load(path)
