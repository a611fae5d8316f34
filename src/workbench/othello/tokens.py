"""OthelloGPT tokens, the convention of Li et al. (2023) and the published checkpoints.

Vocabulary of 61: token 0 is pass/padding; tokens 1..60 are the 60 non-centre squares in
increasing square order (A1 -> 1, B1 -> 2, ..., H8 -> 60). The model reads the first 59
moves of a game; the output at position ``t`` predicts move ``t + 1``.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Bool, Int

from workbench.othello.engine import GameRecord, unpack
from workbench.othello.squares import (
    CENTRE_SQUARES,
    N_SQUARES,
    SQUARE_NAMES,
    SquareError,
    integer_array,
)

D_VOCAB = 61
N_CTX = 59  # input length: moves 0..58
PAD = 0
TOKEN_TO_SQUARE: Int[np.ndarray, " 61"] = np.array(
    [-1] + [s for s in range(N_SQUARES) if s not in CENTRE_SQUARES], dtype=np.int64
)
SQUARE_TO_TOKEN: Int[np.ndarray, " 64"] = np.full(N_SQUARES, -1, dtype=np.int64)
SQUARE_TO_TOKEN[TOKEN_TO_SQUARE[1:]] = np.arange(1, D_VOCAB)


def encode(squares: Int[np.ndarray, "*batch"]) -> Int[np.ndarray, "*batch"]:
    """Square indices (``-1`` for none) to tokens (``0`` for none)."""
    squares = integer_array(squares, "Squares")
    if ((squares < -1) | (squares >= N_SQUARES)).any():
        bad = squares[(squares < -1) | (squares >= N_SQUARES)][0]
        raise SquareError(f"Squares must be indices 0..63 or -1 (no move), got {bad}.")
    tokens = np.where(squares >= 0, SQUARE_TO_TOKEN[np.clip(squares, 0, None)], PAD)
    if (tokens < 0).any():
        bad = squares[tokens < 0][0]
        raise SquareError(
            f"Square {SQUARE_NAMES[bad]} is a centre square, which is never played and has "
            "no token: the centre squares are D4, E4, D5, E5."
        )
    return tokens


def decode(tokens: Int[np.ndarray, "*batch"]) -> Int[np.ndarray, "*batch"]:
    """Tokens to square indices (``-1`` for pass/pad)."""
    tokens = integer_array(tokens, "Tokens")
    if ((tokens < 0) | (tokens >= D_VOCAB)).any():
        bad = tokens[(tokens < 0) | (tokens >= D_VOCAB)][0]
        raise SquareError(f"Tokens must be in 0..{D_VOCAB - 1} (0: pass/padding), got {bad}.")
    return TOKEN_TO_SQUARE[tokens]


def model_inputs(record: GameRecord) -> Int[np.ndarray, "game 59"]:
    """The model's input: tokens of the first 59 moves (0 after a game's end)."""
    return encode(record.moves[:, :N_CTX])


def squares_to_token_space(
    mask: Bool[np.ndarray, "*batch 64"],
) -> Bool[np.ndarray, "*batch 61"]:
    """Re-index a per-square mask onto the vocabulary (pass token always False)."""
    out = np.zeros(mask.shape[:-1] + (D_VOCAB,), dtype=bool)
    out[..., 1:] = mask[..., TOKEN_TO_SQUARE[1:]]
    return out


def next_move_targets(record: GameRecord) -> Bool[np.ndarray, "game 59 61"]:
    """Legal next moves after each input position, in token space.

    Position ``t`` has read moves ``0..t``, so its targets are the legal moves at state
    ``t + 1``. A row is all False where the game has ended (no prediction to score).
    """
    return squares_to_token_space(unpack(record.legal[:, 1 : N_CTX + 1]))
