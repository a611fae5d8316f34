"""The interpretable features a neuron's rule may test, one row per position.

Position ``p`` of a game has read moves ``0..p``; its features describe the state after
move ``p``, seen from the player to move next (the probes' mine/theirs frame,
``workbench.activations.Labels``), as 384 binary columns, six blocks of 64 squares:

===========  =========================================================================
``empty``    the square is empty
``mine``     it holds a stone of the player to move next
``theirs``   it holds a stone of the player who is not to move next
``legal``    it is a legal move for the player to move next
``flipped``  the move just played flipped it
``played``   it is the square just played (condition text ``played C4``)
===========  =========================================================================

Column ``k * 64 + square`` is kind ``k`` on ``square`` (``A1 = 0``, as ``workbench.othello``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from jaxtyping import Bool, Int, UInt8

from workbench.activations import Labels
from workbench.othello.engine import GameRecord
from workbench.othello.squares import EMPTY, MINE, N_SQUARES, SQUARE_NAMES, THEIRS, square_index
from workbench.othello.tokens import N_CTX

KINDS: tuple[str, ...] = ("empty", "mine", "theirs", "legal", "flipped", "played")
N_FEATURES = len(KINDS) * N_SQUARES  # 384


class ConditionError(ValueError):
    """A rule condition that names no feature (not ``"<SQ> kind"`` or ``"played <SQ>"``)."""


def condition(feature: int) -> str:
    """The condition text of column ``feature``: ``"C4 theirs"``, ``"played C4"``."""
    kind, square = divmod(int(feature), N_SQUARES)
    if not 0 <= kind < len(KINDS):
        raise ConditionError(f"Feature {feature} is out of range: valid are 0..{N_FEATURES - 1}.")
    name = SQUARE_NAMES[square]
    return f"played {name}" if KINDS[kind] == "played" else f"{name} {KINDS[kind]}"


def feature_index(text: str) -> int:
    """The column a condition names (the inverse of ``condition``)."""
    parts = text.split()
    if len(parts) == 2 and parts[0] == "played":
        kind, square = "played", parts[1]
    elif len(parts) == 2 and parts[1] in KINDS[:-1]:
        square, kind = parts
    else:
        raise ConditionError(
            f"Unknown condition {text!r}: expected '<SQ> empty|mine|theirs|legal|flipped' or "
            "'played <SQ>', <SQ> a square A1..H8."
        )
    try:
        return KINDS.index(kind) * N_SQUARES + square_index(square)
    except ValueError as err:
        raise ConditionError(f"Unknown condition {text!r}: {err}") from err


FEATURE_NAMES: tuple[str, ...] = tuple(condition(f) for f in range(N_FEATURES))


@dataclass(frozen=True)
class PositionFeatures:
    """The features of every real position of a set of games, flattened game-major."""

    X: UInt8[np.ndarray, "n 384"]  # 0/1 per feature column
    game: Int[np.ndarray, " n"]  # which game of the record
    pos: Int[np.ndarray, " n"]  # which position (0..58): the move just played
    valid: Bool[np.ndarray, "game pos"]  # the positions kept (moves actually played)

    @property
    def move_number(self) -> Int[np.ndarray, " n"]:
        """Moves read so far (1..59)."""
        return self.pos + 1

    def column(self, text: str) -> Bool[np.ndarray, " n"]:
        """Where a condition (``"C4 flipped"``) holds."""
        return self.X[:, feature_index(text)].astype(bool)


def position_features(games: GameRecord) -> PositionFeatures:
    """The 384 binary features of each position where a move was played."""
    labels = Labels.from_games(games)
    valid = labels.valid.numpy()
    relative = labels.relative.numpy()[valid]  # (n, 64)
    played = np.zeros_like(relative, dtype=bool)
    n = relative.shape[0]
    played[np.arange(n), games.moves[:, :N_CTX][valid]] = True
    blocks = (
        relative == EMPTY,
        relative == MINE,
        relative == THEIRS,
        labels.legal.numpy()[valid],
        labels.flipped.numpy()[valid],
        played,
    )
    X = np.empty((n, N_FEATURES), dtype=np.uint8)
    for k, block in enumerate(blocks):
        X[:, k * N_SQUARES : (k + 1) * N_SQUARES] = block
    game, pos = np.nonzero(valid)
    return PositionFeatures(X, game, pos, valid)
