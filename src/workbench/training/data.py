"""Training batches: fresh synthetic games, generated online, with exact targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from jaxtyping import Bool, Float, Int
from torch import Tensor

from workbench.othello.engine import play_games
from workbench.othello.tokens import N_CTX, encode, model_inputs, next_move_targets


@dataclass
class Batch:
    tokens: Int[Tensor, "batch pos"]
    targets: Float[Tensor, "batch pos d_vocab"]  # distribution over the next move
    mask: Bool[Tensor, "batch pos"]  # positions that have a next move

    def to(self, device: str | torch.device, non_blocking: bool = False) -> Batch:
        return Batch(
            *(
                t.to(device, non_blocking=non_blocking)
                for t in (self.tokens, self.targets, self.mask)
            )
        )

    def pin_memory(self) -> Batch:
        return Batch(self.tokens.pin_memory(), self.targets.pin_memory(), self.mask.pin_memory())


def make_batch(
    n_games: int, *, seed: int, step: int, target: Literal["exact", "sampled"] = "exact"
) -> Batch:
    """The games of training step ``step``: the same (seed, step) always gives the same batch.

    ``"exact"`` targets are uniform over the legal moves (the true next-move distribution
    of random play); ``"sampled"`` is the one move the game actually played.
    """
    games = play_games(n_games=n_games, rng=np.random.default_rng([seed, step]))
    tokens = torch.from_numpy(model_inputs(games))
    legal = torch.from_numpy(next_move_targets(games))
    mask = legal.any(dim=-1)
    if target == "exact":
        targets = legal.float() / legal.sum(-1, keepdim=True).clamp(min=1)
    elif target == "sampled":
        following = torch.from_numpy(encode(games.moves[:, 1 : N_CTX + 1]))
        targets = torch.nn.functional.one_hot(following, legal.shape[-1]).float() * mask[..., None]
    else:
        raise ValueError(f"target must be 'exact' or 'sampled', got {target!r}.")
    return Batch(tokens, targets, mask)
