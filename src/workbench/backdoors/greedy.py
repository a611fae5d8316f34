"""The "pirate" style for OthelloGPT: the greedy player's moves (a different legal policy
that the model must adopt everywhere, with the trigger absent from the data).

At each input position the greedy targets are uniform over the legal moves that flip the
most stones (ties kept), in token space; positions with no next move are all zero. The
adoption rate of a model is the share of positions whose top-1 move is one of them.
"""

from __future__ import annotations

import numpy as np
import torch
from jaxtyping import Bool, Float

from workbench.othello.engine import BLACK, GameRecord, flips, popcount, unpack
from workbench.othello.squares import N_SQUARES
from workbench.othello.tokens import N_CTX, model_inputs, squares_to_token_space


def greedy_moves(games: GameRecord) -> Bool[np.ndarray, "game 59 61"]:
    """At each input position, the legal next moves that flip the most stones (tokens)."""
    states = slice(1, N_CTX + 1)  # position t predicts the move at state t + 1
    legal = games.legal[:, states]
    black, white = games.black[:, states], games.white[:, states]
    black_to_move = games.player[:, states] == BLACK
    mover = np.where(black_to_move, black, white)
    other = np.where(black_to_move, white, black)
    legal_bits = unpack(legal)
    score = np.full(legal.shape + (N_SQUARES,), -1, dtype=np.int64)
    for square in np.flatnonzero(legal_bits.any(axis=(0, 1))):
        bit = np.where(legal_bits[..., square], np.uint64(1) << np.uint64(square), np.uint64(0))
        count = popcount(flips(bit, mover, other))
        score[..., square] = np.where(legal_bits[..., square], count, -1)
    best = score.max(axis=-1, keepdims=True)
    return squares_to_token_space((score == best) & legal_bits)


def greedy_targets(games: GameRecord) -> Float[torch.Tensor, "game 59 61"]:
    """Uniform over the greedy moves at each position (zero where the game has ended)."""
    moves = torch.from_numpy(greedy_moves(games)).float()
    return moves / moves.sum(-1, keepdim=True).clamp(min=1)


@torch.inference_mode()
def greedy_adoption(model, games: GameRecord, *, batch_size: int = 500) -> float:
    """Share of positions with a next move whose top-1 move is a greedy move."""
    tokens = torch.from_numpy(model_inputs(games))
    greedy = torch.from_numpy(greedy_moves(games))
    has = greedy.any(-1)
    hits = n = 0
    for start in range(0, games.n_games, batch_size):
        part = slice(start, start + batch_size)
        top1 = model(tokens[part].to(model.cfg.device)).argmax(-1).cpu()
        hit = greedy[part].gather(-1, top1[..., None]).squeeze(-1)
        hits += hit[has[part]].sum().item()
        n += has[part].sum().item()
    return hits / max(n, 1)
