"""Exact Othello: squares, a vectorised bitboard engine, a scalar reference, tokens."""

from workbench.othello.engine import (
    GameRecord,
    IllegalMoveError,
    parse_moves,
    play_games,
    replay,
)
from workbench.othello.squares import (
    BLACK,
    EMPTY,
    MINE,
    SQUARE_NAMES,
    THEIRS,
    WHITE,
    square_index,
    square_name,
)
from workbench.othello.tokens import (
    D_VOCAB,
    N_CTX,
    decode,
    encode,
    model_inputs,
    next_move_targets,
)

__all__ = [
    "BLACK",
    "D_VOCAB",
    "EMPTY",
    "MINE",
    "N_CTX",
    "SQUARE_NAMES",
    "THEIRS",
    "WHITE",
    "GameRecord",
    "IllegalMoveError",
    "decode",
    "encode",
    "model_inputs",
    "next_move_targets",
    "parse_moves",
    "play_games",
    "replay",
    "square_index",
    "square_name",
]
