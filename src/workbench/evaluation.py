"""How well does a model play legal Othello? Scored against the exact engine.

For every input position with a next move, the engine knows the legal set exactly:

1. top-1 legal: the argmax move is legal;
2. legal mass: total predicted probability on legal moves;
3. exact set: the top-N moves are exactly the legal set, N = the number of legal moves
   (the set version of Li et al.'s top-N error).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor
from tqdm.auto import tqdm

from workbench.models.config import require_othello_model
from workbench.othello.engine import GameRecord, play_games
from workbench.othello.tokens import (
    N_CTX,
    TOKEN_TO_SQUARE,
    encode,
    model_inputs,
    next_move_targets,
)

if TYPE_CHECKING:
    from transformer_lens import HookedTransformer

#: The held-out sets of games, one helper for both (``held_out_games``). Each is a stream of
#: ``play_games`` no training run draws (training uses ``[seed, chunk]`` with small seeds).
EVAL_SEED = 2**31 - 1  # "models": legal-move evaluation, generator entropy [seed, 7]
SAE_EVAL_SEED = 20241124  # "saes": SAEs, features and circuits, generator entropy [seed]
HeldOutSet = Literal["models", "saes"]
_HELD_OUT_SEEDS: dict[str, int] = {"models": EVAL_SEED, "saes": SAE_EVAL_SEED}


@dataclass(frozen=True)
class LegalMoveMetrics:
    top1_legal: float  # fraction of positions whose argmax move is legal
    legal_mass: float  # mean probability on legal moves
    exact_set: float  # fraction of positions whose top-N moves are exactly the legal set
    n_positions: int
    n_games: int

    def to_dict(self) -> dict:
        return asdict(self)


def held_out_games(
    n_games: int = 2000,
    *,
    policy: Literal["random", "greedy"] = "random",
    seed: int | None = None,
    kind: HeldOutSet = "models",
) -> GameRecord:
    """Games never drawn in training, for evaluation.

    ``kind`` picks the set: ``"models"`` (the model cards, ``workbench eval``, training's
    evaluations) or ``"saes"`` (SAE records, feature labels, circuits;
    ``saes.evaluate.eval_games``). Both streams are kept as they were so that every recorded
    figure reproduces. ``seed``: another seed gives an independent set of the same kind
    (default: the kind's fixed seed).
    """
    if kind not in _HELD_OUT_SEEDS:
        raise ValueError(f"kind={kind!r}: valid kinds are {sorted(_HELD_OUT_SEEDS)}")
    seed = _HELD_OUT_SEEDS[kind] if seed is None else seed
    entropy = [seed, 7] if kind == "models" else [seed]
    return play_games(n_games=n_games, policy=policy, rng=np.random.default_rng(entropy))


def in_top_n(logits: Float[Tensor, "n k"], n: Int[Tensor, " n"]) -> Bool[Tensor, "n k"]:
    """For each row, which entries are among its ``n[row]`` largest logits."""
    ranks = logits.argsort(dim=-1, descending=True).argsort(dim=-1)
    return ranks < n[:, None]


def score_logits(
    logits: Float[Tensor, "batch pos d_vocab"], legal: Bool[Tensor, "batch pos d_vocab"]
) -> dict[str, Tensor]:
    """Per-position scores (only positions with at least one legal move are returned)."""
    has_move = legal.any(dim=-1)
    logits, legal = logits[has_move].float(), legal[has_move]
    probs = logits.softmax(dim=-1)
    top1 = legal.gather(-1, logits.argmax(dim=-1, keepdim=True)).squeeze(-1)
    exact = (in_top_n(logits, legal.sum(dim=-1)) == legal).all(dim=-1)
    return {"top1": top1, "mass": (probs * legal).sum(-1), "exact": exact}


@torch.inference_mode()
def evaluate_legal_moves(
    model: HookedTransformer,
    games: GameRecord,
    *,
    batch_size: int = 100,
    progress: bool = True,
) -> LegalMoveMetrics:
    """Score ``model`` on ``games`` against the exact legal-move sets (a bar per batch)."""
    require_othello_model(model)
    device = model.cfg.device
    tokens = torch.from_numpy(model_inputs(games))
    legal = torch.from_numpy(next_move_targets(games))
    sums = {"top1": 0.0, "mass": 0.0, "exact": 0.0}
    n = 0
    starts = range(0, games.n_games, batch_size)
    for start in tqdm(starts, desc="legal-move accuracy", unit="batch", disable=not progress):
        logits = model(tokens[start : start + batch_size].to(device))
        scores = score_logits(logits, legal[start : start + batch_size].to(device))
        for key in sums:
            sums[key] += scores[key].float().sum().item()
        n += scores["top1"].numel()
    return LegalMoveMetrics(
        top1_legal=sums["top1"] / n,
        legal_mass=sums["mass"] / n,
        exact_set=sums["exact"] / n,
        n_positions=n,
        n_games=games.n_games,
    )


@torch.inference_mode()
def next_move_probabilities(
    model: HookedTransformer, moves: Int[np.ndarray, " move"]
) -> Float[np.ndarray, "state 64"]:
    """The model's next-move distribution over squares at every state of one game.

    Row ``t`` is the prediction for move ``t`` after reading moves ``0..t-1``; row 0 (no
    input yet) and states past the model's 59-token context are NaN. The pass token's
    probability is left out, so a row sums to at most 1.
    """
    moves = np.asarray(moves, dtype=np.int64)
    moves = moves[moves >= 0]
    out = np.full((len(moves) + 1, 64), np.nan, dtype=np.float32)
    tokens = encode(moves[:N_CTX])
    if len(tokens) == 0:
        return out
    logits = model(torch.from_numpy(tokens)[None].to(model.cfg.device))[0]
    probs = logits.float().softmax(-1).cpu().numpy()
    out[1 : len(tokens) + 1] = 0.0
    out[1 : len(tokens) + 1, TOKEN_TO_SQUARE[1:]] = probs[:, 1:]
    return out
