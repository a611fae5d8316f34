"""The model's board against the exact board and the simplest heuristic board.

1. The heuristic board: each stone belongs to whoever placed it (flips ignored; the four
   centre stones keep their starting colours), in the mine/theirs frame of the player to
   move next, as the exact board (``activations.Labels.relative``).
2. The model's board at layer L: the shipped linear probe of ``relative`` at
   ``blocks.L.hook_resid_post`` (``workbench.probes.probe``), argmax per square.
3. On the squares where the heuristic and the exact board differ (a stone flipped an odd
   number of times), count how often the model's board agrees with each; split by how
   many times the stone was flipped and by how long ago it was last flipped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from jaxtyping import Int, Int8

from workbench.activations import Labels, harvest
from workbench.othello.engine import GameRecord
from workbench.othello.squares import BLACK, CENTRE_SQUARES, EMPTY, MINE, THEIRS, WHITE
from workbench.othello.tokens import N_CTX
from workbench.probes.probe import ProbeSuite

FLIPS = ("1", "3+")  # odd flip counts: where the heuristic is wrong
AGES = ("0", "1-4", "5-9", "10+")  # moves since the stone was last flipped
_AGE_EDGES = (0, 1, 5, 10)


def heuristic_boards(games: GameRecord) -> Int8[np.ndarray, "game 61 64"]:
    """State ``t``'s board if every stone stayed with whoever placed it (absolute frame)."""
    owner = np.zeros((games.n_games, 64), dtype=np.int8)
    owner[:, [27, 36]], owner[:, [28, 35]] = WHITE, BLACK
    assert set(CENTRE_SQUARES) == {27, 28, 35, 36}
    out = np.zeros((games.n_games, games.moves.shape[1] + 1, 64), dtype=np.int8)
    out[:, 0] = owner
    rows = np.arange(games.n_games)
    for t in range(games.moves.shape[1]):
        played = games.moves[:, t] >= 0
        squares = np.clip(games.moves[:, t], 0, None)
        owner[rows[played], squares[played]] = games.player[played, t]
        out[:, t + 1] = owner
    return out


def heuristic_relative(games: GameRecord) -> Int[np.ndarray, "game pos 64"]:
    """Step 1 at each model position (position p: the state after move p)."""
    board = heuristic_boards(games)[:, 1 : N_CTX + 1]
    mover = games.player[:, 1 : N_CTX + 1][..., None]
    rel = np.full(board.shape, EMPTY, dtype=np.int64)
    rel[(board != EMPTY) & (board == mover)] = MINE
    rel[(board != EMPTY) & (board != mover)] = THEIRS
    return rel


def flip_history(games: GameRecord) -> tuple[np.ndarray, np.ndarray]:
    """At each position and square: times flipped so far, and moves since the last flip
    (-1 if never)."""
    flipped = games.flipped_mask()[:, 1 : N_CTX + 1]  # flipped by move p
    count = np.cumsum(flipped, axis=1)
    age = np.full(flipped.shape, -1, dtype=np.int64)
    last = np.full((flipped.shape[0], 64), -1, dtype=np.int64)
    for p in range(flipped.shape[1]):
        last = np.where(flipped[:, p], p, last)
        age[:, p] = np.where(last >= 0, p - last, -1)
    return count, age


@dataclass
class LayerBoard:
    layer: int
    differ: int  # (position, square) pairs where the heuristic and exact boards differ
    agrees_exact: float  # the probe's board there equals the exact board
    agrees_heuristic: float  # ... equals the heuristic board
    accuracy_elsewhere: float  # the probe's accuracy where they agree (occupied squares)
    by_flips: dict[str, float] = field(default_factory=dict)  # agrees_exact per flip count
    by_age: dict[str, float] = field(default_factory=dict)  # agrees_exact per age bucket
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def compare_boards(
    model, suite: ProbeSuite, games: GameRecord, *, progress: bool = False
) -> list[LayerBoard]:
    """Steps 2-3 at every layer the suite has a ``relative`` probe after."""
    labels = Labels.from_games(games)
    valid = labels.valid.numpy()
    exact = labels.relative.numpy()
    heur = heuristic_relative(games)
    count, age = flip_history(games)
    differ = (exact != heur) & valid[..., None]
    same = (exact == heur) & (exact != EMPTY) & valid[..., None]
    hooks = [f"blocks.{layer}.hook_resid_post" for layer in range(model.cfg.n_layers)]
    acts = harvest(model, games, hooks, progress=progress)
    out = []
    for layer, hook in enumerate(hooks):
        pred = suite.get("relative", hook).predict(acts.acts[hook]).numpy()
        right = pred == exact
        row = LayerBoard(
            layer,
            int(differ.sum()),
            float(right[differ].mean()),
            float((pred == heur)[differ].mean()),
            float(right[same].mean()),
        )
        for name, mask in _flip_buckets(count, differ):
            row.by_flips[name], row.counts[f"flips {name}"] = _mean(right, mask), int(mask.sum())
        for name, mask in _age_buckets(age, differ):
            row.by_age[name], row.counts[f"age {name}"] = _mean(right, mask), int(mask.sum())
        out.append(row)
    return out


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else float("nan")


def _flip_buckets(count: np.ndarray, differ: np.ndarray):
    yield "1", differ & (count == 1)
    yield "3+", differ & (count >= 3)


def _age_buckets(age: np.ndarray, differ: np.ndarray):
    edges = [*_AGE_EDGES, 10**6]
    for name, lo, hi in zip(AGES, edges[:-1], edges[1:], strict=True):
        yield name, differ & (age >= lo) & (age < hi)
