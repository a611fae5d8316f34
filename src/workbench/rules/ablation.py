"""Are the rules causal? Mean-ablate rule-explained neurons and see where the loss moves.

1. Run the games once up to layer L and keep the residual stream there; every ablated
   run starts from it (``start_at_layer``), so only layers L.. are recomputed.
2. The next-move loss of a position is the model's cross-entropy against the uniform
   distribution over the exact legal next moves (what random-play data trains towards):
   ``-mean over legal m of log p(m)``.
3. For one neuron: set its ``blocks.L.mlp.hook_post`` activation to its mean over all
   positions of the games, and take each position's loss change. Its rule *fires* where
   a position reaches its tree's highest leaf; the other positions are the controls.
   Specificity = mean |loss change| where it fires / mean |loss change| on the controls
   (Singh et al. 2025 report 5-10x for their layer-5 neurons).
4. For a group (all explained neurons whose rules mention, say, "C4 flipped"): ablate
   them together and rank the 384 board features by the mean loss change on the
   positions where each holds: which board patterns break.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Bool, Float
from torch import Tensor
from tqdm.auto import tqdm

from workbench.othello.engine import GameRecord
from workbench.othello.tokens import model_inputs, next_move_targets
from workbench.rules.features import (
    FEATURE_NAMES,
    PositionFeatures,
    feature_index,
    position_features,
)
from workbench.rules.fit import mlp_hook
from workbench.rules.trees import Tree, leaves

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

MIN_FIRING = 5  # a neuron whose rule fires on fewer test positions is left out


def next_move_loss(
    logits: Float[Tensor, "game pos d_vocab"], legal: Bool[Tensor, "game pos d_vocab"]
) -> Float[Tensor, "game pos"]:
    """Cross-entropy against the uniform distribution on the legal moves (NaN where none)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    n = legal.sum(-1)
    return -(logp * legal).sum(-1) / n.where(n > 0, torch.nan)


def fires(tree: Tree, X: np.ndarray) -> Bool[np.ndarray, " n"]:
    """The positions that reach the tree's highest leaf."""
    path, _ = max(leaves(tree), key=lambda leaf: leaf[1])
    mask = np.ones(X.shape[0], dtype=bool)
    for c in path:
        holds = not c.startswith("not ")
        column = X[:, feature_index(c if holds else c[4:])].astype(bool)
        mask &= column if holds else ~column
    return mask


class LayerAblator:
    """One layer's clean run kept, so each ablation recomputes only the layers after it."""

    def __init__(self, model: HookedTransformer, games: GameRecord, layer: int, *, batch=64):
        self.model, self.layer, self.hook = model, layer, mlp_hook(model, layer)
        tokens = torch.from_numpy(model_inputs(games))
        self.legal = torch.from_numpy(next_move_targets(games))
        self.features: PositionFeatures = position_features(games)
        self.batches = list(tokens.split(batch))
        resid, acts = [], []
        pre = f"blocks.{layer}.hook_resid_pre"
        with torch.inference_mode():
            for t in self.batches:
                _, cache = model.run_with_cache(t, names_filter=[pre, self.hook])
                resid.append(cache[pre])
                acts.append(cache[self.hook])
        self.resid = resid
        acts = torch.cat(acts)  # (game, pos, d_mlp)
        self.valid = torch.from_numpy(self.features.valid)
        self.activations = acts[self.valid].numpy()  # (n, d_mlp), the valid positions
        self.means = acts[self.valid].mean(0)
        self.clean = self._loss({})

    def _loss(self, fixed: dict[int, float] | Tensor) -> Float[np.ndarray, " n"]:
        """Each valid position's loss with the neurons in ``fixed`` set to their means."""
        neurons = torch.as_tensor(list(fixed), dtype=torch.long)

        def ablate(act: Tensor, hook) -> Tensor:
            act[..., neurons] = self.means[neurons].to(act.dtype)
            return act

        hooks = [(self.hook, ablate)] if len(neurons) else []
        out, start = [], 0
        with torch.inference_mode(), self.model.hooks(fwd_hooks=hooks):
            for resid in self.resid:
                logits = self.model(resid, start_at_layer=self.layer)
                legal = self.legal[start : start + len(resid)]
                out.append(next_move_loss(logits, legal))
                start += len(resid)
        return torch.cat(out)[self.valid].numpy()

    def delta(self, neurons: list[int]) -> Float[np.ndarray, " n"]:
        """The loss change at each valid position when ``neurons`` are mean-ablated."""
        return self._loss(dict.fromkeys(int(n) for n in neurons)) - self.clean


@dataclass
class NeuronAblation:
    neuron: int
    r2: float
    firing: int  # test positions where the rule fires
    fire_delta: float  # mean |loss change| there
    control_delta: float  # mean |loss change| elsewhere

    @property
    def ratio(self) -> float:
        return self.fire_delta / self.control_delta if self.control_delta > 0 else float("inf")


def neuron_ablations(
    ablator: LayerAblator, rules: list, *, progress: bool = False
) -> list[NeuronAblation]:
    """Step 3 for each of ``rules`` (``NeuronRule`` objects) whose rule fires often enough."""
    out = []
    X = ablator.features.X
    for rule in tqdm(rules, desc=f"ablate layer {ablator.layer}", disable=not progress):
        where = fires(rule.tree, X)
        ok = np.isfinite(ablator.clean)
        if (where & ok).sum() < MIN_FIRING or (~where & ok).sum() < MIN_FIRING:
            continue
        change = np.abs(ablator.delta([rule.neuron]))
        out.append(
            NeuronAblation(
                rule.neuron,
                rule.r2,
                int((where & ok).sum()),
                float(change[where & ok].mean()),
                float(change[~where & ok].mean()),
            )
        )
    return out


@dataclass
class GroupAblation:
    condition: str  # what the group's rules mention
    neurons: list[int]
    patterns: list[tuple[str, float, int]]  # (feature, mean loss change where it holds, count)
    overall: float  # mean loss change over all positions

    def to_dict(self) -> dict:
        return asdict(self)

    def rank(self, feature: str) -> int | None:
        """Where ``feature`` ranks among the patterns that break most (1 = first)."""
        names = [p[0] for p in self.patterns]
        return names.index(feature) + 1 if feature in names else None


def group_ablation(
    ablator: LayerAblator, condition: str, neurons: list[int], *, min_count: int = 30
) -> GroupAblation:
    """Step 4: ablate ``neurons`` together; features ranked by the loss change."""
    change = ablator.delta(neurons)
    ok = np.isfinite(change)
    X = ablator.features.X[ok].astype(bool)
    change = change[ok]
    counts = X.sum(0)
    sums = change @ X
    patterns = [
        (FEATURE_NAMES[f], float(sums[f] / counts[f]), int(counts[f]))
        for f in np.flatnonzero(counts >= min_count)
    ]
    patterns.sort(key=lambda p: -p[1])
    return GroupAblation(condition, [int(n) for n in neurons], patterns, float(change.mean()))
