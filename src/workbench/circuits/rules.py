"""What the rules say makes a move legal: the stones it would flip and the anchors.

A move is legal when, along some line from it, a run of the opponent's stones is closed
by one of the player's own (the anchor). ``flanking_lines`` returns those squares, so a
circuit's features can be checked against them.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.othello.engine import replay
from workbench.othello.squares import SQUARE_NAMES

DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


@dataclass
class FlankingLines:
    move: int
    flipped: list[int]  # the opponent's stones the move would flip
    anchors: list[int]  # the player's stones closing each flipped run

    @property
    def squares(self) -> set[str]:
        return {SQUARE_NAMES[s] for s in [self.move, *self.flipped, *self.anchors]}


def flanking_lines(moves: list[int], move: int) -> FlankingLines:
    """The flanking lines that make ``move`` legal after ``moves`` (error if illegal)."""
    before = replay([list(moves)])
    after = replay([list(moves) + [move]])  # raises IllegalMoveError with the legal moves
    flipped = [int(s) for s in after.flipped_mask()[0, len(moves) + 1].nonzero()[0]]
    board = before.boards("relative")[0, len(moves)]  # 1 = the mover's, 2 = the opponent's
    anchors = []
    row, col = divmod(move, 8)
    for dr, dc in DIRECTIONS:
        r, c, run = row + dr, col + dc, 0
        while 0 <= r < 8 and 0 <= c < 8 and r * 8 + c in flipped:
            r, c, run = r + dr, c + dc, run + 1
        if run and 0 <= r < 8 and 0 <= c < 8 and board[r * 8 + c] == 1:
            anchors.append(r * 8 + c)
    return FlankingLines(move, flipped, anchors)
