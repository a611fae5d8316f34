"""Everything about one SAE feature, as data: where it fires, on which boards, what it
means for the board (best-matching property, probe cosines) and what it does (direct
effect on the move logits). ``plots`` draws it; ``widgets.FeatureExplorer`` composes both.

1. ``FeatureSet.build`` encodes the SAE's hook activations on a set of games once and
   scores every feature against the exact board (``saes.board.score_features``).
2. ``card(i)`` gathers feature ``i``: activation histogram, top-activating positions,
   mean mine/theirs/empty board where it fires, decoder cosine with each relative-frame
   probe direction, direct logit effect per square, and its automatic label.

Direct logit effect: the decoder direction times the unembedding, after centring (what the
final LayerNorm does first) and dividing by the typical final-LayerNorm scale on these
games: the first-order effect of adding the feature at activation 1 on each move's logit,
for a residual-stream (or MLP-out) feature read by the unembedding with no later layer in
between. Later layers can change it; attribution (issue on circuits) measures the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

from workbench.activations import harvest, hook_layer
from workbench.othello.engine import GameRecord
from workbench.othello.tokens import TOKEN_TO_SQUARE
from workbench.probes.probe import ProbeSuite
from workbench.saes.board import (
    FeatureScores,
    board_properties,
    positions_game_index,
    property_names,
    score_features,
)
from workbench.saes.loading import check_compatible

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer


@dataclass
class FeatureCard:
    feature: int
    label: str  # best-matching board property
    label_f1: float
    frequency: float  # fraction of positions where it fires
    activations: Float[np.ndarray, " n_active"]  # its nonzero values (histogram)
    top: list[tuple[int, int, float]]  # (game, position, activation), largest first
    mean_board: Float[np.ndarray, "64 3"]  # P(empty, mine, theirs) where it fires
    probe_cosine: Float[np.ndarray, "64 3"] | None  # decoder . probe direction (cosine)
    logit_effect: Float[np.ndarray, " 64"]  # direct effect on each square's move logit


@dataclass
class FeatureSet:
    """An SAE's features on a set of games, scored against the board."""

    model: HookedTransformer
    sae: SAE
    hook: str
    games: GameRecord
    acts: Float[Tensor, "n d_sae"]  # every valid position, flattened over games
    game: Int[Tensor, " n"]  # the game of each position
    position: Int[Tensor, " n"]  # the model position (0..58)
    relative: Int[Tensor, "n 64"]
    scores: FeatureScores
    ln_scale: float  # typical final-LayerNorm scale, for the direct logit effect

    @classmethod
    def build(
        cls,
        model: HookedTransformer,
        sae: SAE,
        games: GameRecord,
        *,
        hook: str | None = None,
        progress: bool = True,
    ) -> FeatureSet:
        hook = check_compatible(sae, model, hook)
        sites = [hook, "ln_final.hook_scale"]
        acts = harvest(model, games, sites, progress=progress)
        valid = acts.labels.valid
        with torch.no_grad():
            feats = sae.encode(acts.flat(hook)[0].float())
        positions = torch.arange(valid.shape[1]).expand_as(valid)
        return cls(
            model=model,
            sae=sae,
            hook=hook,
            games=games,
            acts=feats,
            game=positions_game_index(acts.labels),
            position=positions[valid],
            relative=acts.labels.relative[valid],
            scores=score_features(feats, board_properties(acts.labels)),
            ln_scale=float(acts.acts["ln_final.hook_scale"].float().mean()),
        )

    def search(self, prop: str, n: int = 10) -> list[tuple[int, float]]:
        """Features that best detect ``prop`` (e.g. ``"C4 theirs"``), with their F1."""
        names = property_names()
        if prop not in names:
            raise ValueError(
                f"Unknown board property {prop!r}: use '<square> <empty|mine|theirs|legal|"
                f"flipped>', e.g. 'C4 theirs' (squares A1..H8)."
            )
        f1 = self.scores.f1[:, names.index(prop)]
        top = torch.topk(f1, min(n, len(f1)))
        return [(int(i), float(v)) for v, i in zip(top.values, top.indices, strict=True)]

    def best_labelled(self, n: int = 12) -> list[int]:
        """The ``n`` features whose best board property they detect most accurately."""
        best = self.scores.f1.amax(dim=1)
        return [int(i) for i in torch.topk(best, min(n, len(best))).indices]

    def card(self, feature: int, *, suite: ProbeSuite | None = None, top_k: int = 6) -> FeatureCard:
        if not 0 <= feature < self.sae.cfg.d_sae:
            raise ValueError(f"feature must be in 0..{self.sae.cfg.d_sae - 1}, got {feature}.")
        a = self.acts[:, feature]
        on = a > 0
        label, f1 = self.scores.label(feature)
        top = torch.topk(a, min(top_k, len(a)))
        top_list = [
            (int(self.game[i]), int(self.position[i]), float(v))
            for v, i in zip(top.values, top.indices, strict=True)
            if v > 0
        ]
        if on.any():
            mean_board = torch.stack(
                [(self.relative[on] == c).float().mean(0) for c in range(3)], -1
            )
        else:
            mean_board = torch.full((64, 3), float("nan"))
        return FeatureCard(
            feature=feature,
            label=label,
            label_f1=f1,
            frequency=float(on.float().mean()),
            activations=a[on].numpy(),
            top=top_list,
            mean_board=mean_board.numpy(),
            probe_cosine=None if suite is None else self._probe_cosine(feature, suite),
            logit_effect=self._logit_effect(feature),
        )

    def _decoder(self, feature: int) -> Float[Tensor, " d_model"]:
        return self.sae.W_dec[feature].detach().float()

    def _probe_cosine(self, feature: int, suite: ProbeSuite) -> np.ndarray | None:
        site = self.hook if suite.key("relative", self.hook) in suite.probes else None
        if site is None:  # e.g. an MLP-out SAE: use the residual stream after that block
            layer = hook_layer(self.hook)
            site = f"blocks.{layer}.hook_resid_post"
            if suite.key("relative", site) not in suite.probes:
                return None
        W = suite.get("relative", site).W.float()  # d_model, 64, 3
        directions = W - W.mean(-1, keepdim=True)  # each class against the others
        d = self._decoder(feature)
        cos = torch.einsum("d,dsc->sc", d, directions) / (d.norm() * directions.norm(dim=0)).clamp(
            min=1e-12
        )
        return cos.numpy()

    def _logit_effect(self, feature: int) -> np.ndarray:
        d = self._decoder(feature)
        d = d - d.mean()
        W_U = self.model.W_U.detach().float()
        if self.model.cfg.normalization_type == "LN":
            d = d * self.model.ln_final.w.detach().float()
        logits = (d / self.ln_scale) @ W_U  # d_vocab
        out = np.full(64, np.nan)
        out[TOKEN_TO_SQUARE[1:]] = logits[1:].numpy()
        return out
