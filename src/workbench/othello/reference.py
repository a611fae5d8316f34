"""A small, obviously-correct scalar Othello engine: the reference the tests trust.

A board is a list of 64 ints (EMPTY / BLACK / WHITE). A move is legal when, walking from
it in one of the 8 directions, one meets one or more opponent stones and then one of the
mover's own. No bit tricks: one square at a time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from workbench.othello.squares import BLACK, EMPTY, WHITE

DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def opponent(player: int) -> int:
    return WHITE if player == BLACK else BLACK


def start_board() -> list[int]:
    board = [EMPTY] * 64
    board[27], board[36] = WHITE, WHITE  # D4, E5
    board[28], board[35] = BLACK, BLACK  # E4, D5
    return board


def flipped_by(board: list[int], square: int, player: int) -> list[int]:
    """Squares flipped if ``player`` plays ``square`` (empty list: not a legal move)."""
    if board[square] != EMPTY:
        return []
    row, col = divmod(square, 8)
    flipped = []
    for d_row, d_col in DIRECTIONS:
        run = []
        r, c = row + d_row, col + d_col
        while 0 <= r < 8 and 0 <= c < 8 and board[r * 8 + c] == opponent(player):
            run.append(r * 8 + c)
            r, c = r + d_row, c + d_col
        if run and 0 <= r < 8 and 0 <= c < 8 and board[r * 8 + c] == player:
            flipped.extend(run)
    return sorted(flipped)


def legal_squares(board: list[int], player: int) -> list[int]:
    return [s for s in range(64) if flipped_by(board, s, player)]


@dataclass
class ReferenceGame:
    """One game, kept as the list of states the vectorised engine also records."""

    boards: list[list[int]] = field(default_factory=list)  # before each move, then final
    players: list[int] = field(default_factory=list)  # who moves at each state
    legal: list[list[int]] = field(default_factory=list)  # their legal squares
    flipped: list[list[int]] = field(default_factory=list)  # flipped by the previous move
    moves: list[int] = field(default_factory=list)


def play(moves: list[int] | None = None, seed: int | None = None) -> ReferenceGame:
    """Replay ``moves`` or, without them, play uniformly random legal moves."""
    rng = random.Random(seed)
    board, player = start_board(), BLACK
    game = ReferenceGame()
    last_flipped: list[int] = []
    while True:
        legal = legal_squares(board, player)
        if not legal and legal_squares(board, opponent(player)):
            player = opponent(player)  # pass
            legal = legal_squares(board, player)
        game.boards.append(list(board))
        game.players.append(player)
        game.legal.append(legal)
        game.flipped.append(last_flipped)
        if not legal or (moves is not None and len(game.moves) >= len(moves)):
            return game  # over by the rules, or the given sequence stops here
        square = rng.choice(legal) if moves is None else moves[len(game.moves)]
        if square not in legal:
            raise ValueError(f"Illegal move {square}; legal: {legal}")
        last_flipped = flipped_by(board, square, player)
        board[square] = player
        for s in last_flipped:
            board[s] = player
        game.moves.append(square)
        player = opponent(player)
