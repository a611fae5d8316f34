"""Exact Othello engine, vectorised across games with uint64 bitboards.

Bit ``i`` of a bitboard is square ``i`` (``A1 = 0``, row-major, see ``squares.py``).
Every function here works on whole arrays of games at once:

1. ``legal_moves(mover, other)`` floods from the mover's stones through contiguous runs of
   the other player's stones in each of the 8 directions; an empty square right after such
   a run is legal.
2. ``flips(move, mover, other)`` floods from the played square; a run is flipped when it
   ends on one of the mover's stones.
3. ``play_games`` steps all games together: resolve passes (a player with no legal move
   passes; when neither can move the game is over), choose or check a move, flip, record.

The scalar reference in ``reference.py`` implements the same rules square by square; the
tests check that the two agree on many random games.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from jaxtyping import Bool, Int, Int8, UInt64

from workbench.othello.squares import (
    BLACK,
    EMPTY,
    MINE,
    N_SQUARES,
    SQUARE_NAMES,
    THEIRS,
    WHITE,
    MoveTypeError,
    integer_array,
    square_index,
)

N_MOVES = 60  # an Othello game has at most 60 moves (64 squares minus the 4 centre stones)
_U64 = np.uint64
_COL_A = _U64(0x0101010101010101)
_COL_H = _U64(0x8080808080808080)
_ALL = _U64(0xFFFFFFFFFFFFFFFF)
_NOT_A = _ALL ^ _COL_A
_NOT_H = _ALL ^ _COL_H
# (shift amount, shift left?, mask of squares a stone may land on without wrapping a row)
_DIRECTIONS = (
    (_U64(1), True, _NOT_A),  # east: col + 1
    (_U64(1), False, _NOT_H),  # west: col - 1
    (_U64(8), True, _ALL),  # south: row + 1
    (_U64(8), False, _ALL),  # north: row - 1
    (_U64(9), True, _NOT_A),  # row + 1, col + 1
    (_U64(7), True, _NOT_H),  # row + 1, col - 1
    (_U64(7), False, _NOT_A),  # row - 1, col + 1
    (_U64(9), False, _NOT_H),  # row - 1, col - 1
)
# Start: white on D4 and E5, black on E4 and D5; black moves first.
START_BLACK = _U64((1 << 28) | (1 << 35))
START_WHITE = _U64((1 << 27) | (1 << 36))


def _shift(x: np.ndarray, amount: np.uint64, left: bool) -> np.ndarray:
    return np.left_shift(x, amount) if left else np.right_shift(x, amount)


def legal_moves(mover: UInt64[np.ndarray, "*batch"], other: UInt64[np.ndarray, "*batch"]):
    """Bitboard of the squares where ``mover`` may play."""
    empty = ~(mover | other)
    legal = np.zeros_like(mover)
    for amount, left, mask in _DIRECTIONS:
        runs_through = other & mask
        run = _shift(mover, amount, left) & runs_through
        for _ in range(5):  # a run of the other colour is at most 6 stones long
            run |= _shift(run, amount, left) & runs_through
        legal |= _shift(run, amount, left) & empty & mask
    return legal


def flips(
    move: UInt64[np.ndarray, "*batch"],
    mover: UInt64[np.ndarray, "*batch"],
    other: UInt64[np.ndarray, "*batch"],
) -> UInt64[np.ndarray, "*batch"]:
    """Bitboard of the stones flipped when ``mover`` plays ``move`` (a single-bit board)."""
    flipped = np.zeros_like(mover)
    for amount, left, mask in _DIRECTIONS:
        runs_through = other & mask
        run = _shift(move, amount, left) & runs_through
        for _ in range(5):
            run |= _shift(run, amount, left) & runs_through
        closed = (_shift(run, amount, left) & mover & mask) != 0
        flipped |= np.where(closed, run, _U64(0))
    return flipped


def popcount(x: UInt64[np.ndarray, "*batch"]) -> Int[np.ndarray, "*batch"]:
    """Number of set bits of each bitboard."""
    return np.bitwise_count(x).astype(np.int64)


def select_bit(x: UInt64[np.ndarray, " batch"], k: Int[np.ndarray, " batch"]):
    """Index of the ``k``-th (0-based, from square 0 up) set bit of each bitboard."""
    x = x.copy()
    k = k.astype(np.uint8)
    position = np.zeros(x.shape, dtype=np.uint64)
    for width in (32, 16, 8, 4, 2, 1):  # binary search on the popcount of the low half
        count = np.bitwise_count(x & _U64((1 << width) - 1))
        go_up = k >= count
        k -= count * go_up
        step = go_up.astype(np.uint64) * _U64(width)
        x >>= step
        position += step
    return position.astype(np.int64)


def unpack(bitboards: UInt64[np.ndarray, "*batch"]) -> Bool[np.ndarray, "*batch 64"]:
    """Bitboards to boolean arrays with a trailing ``square`` axis of 64."""
    b = np.ascontiguousarray(bitboards, dtype="<u8")
    bits = np.unpackbits(b.view(np.uint8).reshape(*b.shape, 8), axis=-1, bitorder="little")
    return bits.astype(bool)


def pack(mask: Bool[np.ndarray, "*batch 64"]) -> UInt64[np.ndarray, "*batch"]:
    """Inverse of ``unpack``."""
    mask = np.asarray(mask, dtype=bool)
    if mask.shape[-1] != N_SQUARES:
        raise ValueError(f"pack expects a trailing axis of 64 squares, got shape {mask.shape}.")
    packed = np.packbits(mask, axis=-1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8")[..., 0].astype(np.uint64)


class IllegalMoveError(ValueError):
    """A move sequence contains a move that the rules do not allow."""


@dataclass(frozen=True)
class GameRecord:
    """Every game of a batch, position by position.

    State ``t`` (0..60) is the board before move ``t`` (state 60: after the last possible
    move). ``player[:, t]`` is the player to move at state ``t`` once passes are resolved,
    and ``legal[:, t]`` their legal moves: 0 once the game is over by the rules. A replayed
    sequence that stops early keeps the true legal set at its last state, and 0 after it.
    """

    moves: Int8[np.ndarray, "game 60"]  # square of move t, -1 once the game has ended
    black: UInt64[np.ndarray, "game 61"]  # black stones at state t
    white: UInt64[np.ndarray, "game 61"]  # white stones at state t
    player: Int8[np.ndarray, "game 61"]  # BLACK or WHITE: who moves at state t
    legal: UInt64[np.ndarray, "game 61"]  # legal moves of `player` at state t
    flipped: UInt64[np.ndarray, "game 61"]  # stones flipped by move t - 1 (0 at t = 0)

    @property
    def n_games(self) -> int:
        return self.moves.shape[0]

    @property
    def lengths(self) -> Int[np.ndarray, " game"]:
        """Number of moves played in each game."""
        return (self.moves >= 0).sum(axis=1)

    def boards(
        self, frame: Literal["absolute", "relative"] = "absolute"
    ) -> Int8[np.ndarray, "game 61 64"]:
        """Board at each state: EMPTY/BLACK/WHITE, or EMPTY/MINE/THEIRS for the player to move."""
        black, white = unpack(self.black), unpack(self.white)
        board = np.zeros(black.shape, dtype=np.int8)
        if frame == "absolute":
            board[black], board[white] = BLACK, WHITE
        elif frame == "relative":
            black_moves = (self.player == BLACK)[..., None]
            board[np.where(black_moves, black, white)] = MINE
            board[np.where(black_moves, white, black)] = THEIRS
        else:
            raise ValueError(f"frame must be 'absolute' or 'relative', got {frame!r}.")
        return board

    def legal_mask(self) -> Bool[np.ndarray, "game 61 64"]:
        return unpack(self.legal)

    def flipped_mask(self) -> Bool[np.ndarray, "game 61 64"]:
        return unpack(self.flipped)

    def __getitem__(self, index) -> GameRecord:
        """Select games (int, slice or index array); always keeps the game axis."""
        index = np.atleast_1d(np.arange(self.n_games)[index])
        return GameRecord(*(getattr(self, f)[index] for f in self.__dataclass_fields__))


def _choose_random(legal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    count = popcount(legal)
    k = np.minimum((rng.random(legal.shape) * count).astype(np.int64), np.maximum(count - 1, 0))
    return select_bit(legal, k)


def _choose_greedy(legal, mover, other, rng: np.random.Generator) -> np.ndarray:
    """The legal move that flips the most stones, ties broken uniformly at random."""
    score = np.full(legal.shape + (N_SQUARES,), -1.0)
    legal_bits = unpack(legal)
    for square in np.flatnonzero(legal_bits.any(axis=0)):
        bit = np.where(legal_bits[:, square], _U64(1) << _U64(square), _U64(0))
        score[:, square] = np.where(legal_bits[:, square], popcount(flips(bit, mover, other)), -1)
    score += rng.random(score.shape) * 0.5
    return score.argmax(axis=1)


def play_games(
    moves: Int[np.ndarray, "game move"] | None = None,
    *,
    n_games: int | None = None,
    policy: Literal["random", "greedy"] = "random",
    rng: np.random.Generator | int | None = None,
) -> GameRecord:
    """Play games from the start position, vectorised across games.

    With ``moves`` (square indices, ``-1`` to stop a game early), replay and check them;
    an illegal move raises ``IllegalMoveError``. Without, generate ``n_games`` games with
    ``policy``: ``"random"`` picks uniformly among legal moves (Li et al. 2023's synthetic
    distribution), ``"greedy"`` picks a move that flips the most stones.
    """
    if (moves is None) == (n_games is None):
        raise ValueError("Give exactly one of `moves` (to replay) or `n_games` (to generate).")
    if moves is None and (
        isinstance(n_games, bool) or not isinstance(n_games, int | np.integer) or n_games < 1
    ):
        raise ValueError(f"n_games must be a positive whole number, got {n_games!r}.")
    if moves is not None:
        moves = integer_array(moves, "moves")
        if moves.ndim != 2 or moves.shape[1] > N_MOVES or moves.shape[0] == 0:
            raise ValueError(
                f"moves must have shape (game, <= 60) with at least one game, got {moves.shape}."
            )
        if ((moves < -1) | (moves >= N_SQUARES)).any():
            bad = moves[(moves < -1) | (moves >= N_SQUARES)][0]
            raise IllegalMoveError(f"Move {bad} is not a square index 0..63 (or -1 to stop).")
        n_games = moves.shape[0]
    if policy not in ("random", "greedy"):
        raise ValueError(f"policy must be 'random' or 'greedy', got {policy!r}.")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    starts = range(0, n_games, _CHUNK)
    chunks = [
        _play_chunk(
            None if moves is None else moves[i : i + _CHUNK],
            min(_CHUNK, n_games - i),
            policy,
            rng,
            i,
        )
        for i in starts
    ]
    return chunks[0] if len(chunks) == 1 else concat_games(chunks)


def concat_games(records: list[GameRecord]) -> GameRecord:
    """The games of several records, in order, as one record."""
    fields = GameRecord.__dataclass_fields__
    return GameRecord(*(np.concatenate([getattr(r, f) for r in records]) for f in fields))


# Games stepped together: enough to amortise Python, and arrays of 64 KB stay below
# malloc's mmap threshold (16k-game chunks ran 1.5x slower, paying page faults per op).
_CHUNK = 8192


def _play_chunk(moves, n_games: int, policy: str, rng: np.random.Generator, offset: int):
    mover = np.full(n_games, START_BLACK)
    other = np.full(n_games, START_WHITE)
    colour = np.full(n_games, BLACK, dtype=np.int8)
    alive = np.ones(n_games, dtype=bool)
    # Recorded time-major, so each step writes contiguous rows; transposed at the end.
    out_moves = np.full((N_MOVES, n_games), -1, dtype=np.int8)
    rec = {k: np.zeros((N_MOVES + 1, n_games), np.uint64) for k in ("b", "w", "l", "f")}
    player = np.zeros((N_MOVES + 1, n_games), dtype=np.int8)

    for t in range(N_MOVES + 1):
        legal = legal_moves(mover, other)
        stuck = alive & (legal == 0)
        if stuck.any():  # pass: the other player moves if they can, else the game is over
            legal_other = np.zeros_like(legal)
            legal_other[stuck] = legal_moves(other[stuck], mover[stuck])
            passes = stuck & (legal_other != 0)
            mover, other = (
                np.where(passes, other, mover),
                np.where(passes, mover, other),
            )
            colour = np.where(passes, np.int8(BLACK + WHITE) - colour, colour).astype(np.int8)
            legal = np.where(passes, legal_other, legal)
            alive &= legal != 0
        legal = np.where(alive, legal, _U64(0))  # the true legal set while the game goes on
        rec["l"][t] = legal
        if moves is not None:  # a given sequence may stop (-1) before the game is over
            given = moves[:, t] if t < moves.shape[1] else np.full(n_games, -1)
            late = ~alive & (given >= 0)
            if late.any():
                raise _move_after_end_error(offset + int(np.flatnonzero(late)[0]), t)
            alive &= given >= 0
        elif t == N_MOVES:
            alive[:] = False
        is_black = colour == BLACK
        rec["b"][t] = np.where(is_black, mover, other)
        rec["w"][t] = np.where(is_black, other, mover)
        player[t] = colour
        if not alive.any():
            late = (moves[:, t + 1 :] >= 0).any(axis=1) if moves is not None else [False]
            if np.any(late):
                raise _move_after_end_error(offset + int(np.flatnonzero(late)[0]), t)
            break
        if moves is not None:
            square = np.where(alive, moves[:, t], 0)
            bit = np.where(alive, _U64(1) << square.astype(np.uint64), _U64(0))
            illegal = alive & ((bit & legal) == 0)
            if illegal.any():
                raise _illegal_move_error(int(np.flatnonzero(illegal)[0]), t, moves, legal, offset)
        elif policy == "random":
            square = _choose_random(legal, rng)
        else:
            square = _choose_greedy(legal, mover, other, rng)
        bit = np.where(alive, _U64(1) << square.astype(np.uint64), _U64(0))
        flipped = flips(bit, mover, other)
        out_moves[t] = np.where(alive, square, -1)
        if t + 1 <= N_MOVES:
            rec["f"][t + 1] = flipped
        mover, other = (
            np.where(alive, other & ~flipped, mover),
            np.where(alive, mover | bit | flipped, other),
        )
        colour = np.where(alive, np.int8(BLACK + WHITE) - colour, colour).astype(np.int8)
    rec = {k: np.ascontiguousarray(v.T) for k, v in rec.items()}
    player = np.ascontiguousarray(player.T)
    # States after the last move played repeat its board.
    moves_out = np.ascontiguousarray(out_moves.T)
    final = (moves_out >= 0).sum(axis=1)[:, None]
    after = np.arange(N_MOVES + 1)[None, :] > final
    for key in ("b", "w"):
        rec[key] = np.where(after, np.take_along_axis(rec[key], final, axis=1), rec[key])
    player = np.where(after, np.take_along_axis(player, final, axis=1), player)
    moves_out = np.ascontiguousarray(out_moves.T)
    return GameRecord(moves_out, rec["b"], rec["w"], player.astype(np.int8), rec["l"], rec["f"])


def _illegal_move_error(game: int, t: int, moves: np.ndarray, legal: np.ndarray, offset: int):
    names = [SQUARE_NAMES[s] for s in np.flatnonzero(unpack(legal[game]))]
    return IllegalMoveError(
        f"Game {offset + game}, move {t} ({SQUARE_NAMES[moves[game, t]]}) is illegal. "
        f"Legal moves there: {', '.join(names) or 'none'}."
    )


def _move_after_end_error(game: int, t: int):
    return IllegalMoveError(
        f"Game {game} has a move after its end at move {t}: neither player could move, "
        "or the sequence had already stopped with -1."
    )


def parse_moves(games) -> Int[np.ndarray, "game move"]:
    """Turn games given as lists of square names or indices into a padded index array.

    Accepts one game (``["F5", "D6", ...]``) or a list of games, or an int array already.
    Anything else (a float, a string for a game, a square out of range) raises a
    ``MoveTypeError`` or ``SquareError`` naming it.
    """
    if isinstance(games, np.ndarray):
        games = integer_array(games, "Moves")
        if games.ndim > 2:
            raise ValueError(f"Moves must be one game or (game, move), got shape {games.shape}.")
        return np.atleast_2d(games)
    if isinstance(games, str):
        raise MoveTypeError(f"Give a game as a list of squares like ['F5', 'D6'], not {games!r}.")
    try:
        games = list(games)
    except TypeError as err:
        raise MoveTypeError(f"Give games as lists of squares, not {games!r}.") from err
    if games and (isinstance(games[0], str | int | np.integer)):
        games = [games]
    for i, game in enumerate(games):
        if isinstance(game, str) or not _sized(game):
            raise MoveTypeError(
                f"Game {i} must be a list of squares (names like 'F5' or indices 0..63), "
                f"got {game!r}."
            )
    width = max((len(g) for g in games), default=0)
    if width > N_MOVES:
        raise ValueError(f"A game has at most {N_MOVES} moves, got {width}.")
    out = np.full((len(games), width), -1, dtype=np.int64)
    for i, game in enumerate(games):
        for j, square in enumerate(game):
            out[i, j] = square_index(square)
    return out


def _sized(value) -> bool:
    try:
        len(value)
    except TypeError:
        return False
    return True


def replay(games) -> GameRecord:
    """Replay games given as square names or indices, checking every move."""
    return play_games(parse_moves(games))


__all__ = [
    "BLACK",
    "EMPTY",
    "WHITE",
    "GameRecord",
    "IllegalMoveError",
    "legal_moves",
    "flips",
    "play_games",
    "replay",
    "parse_moves",
    "pack",
    "unpack",
]
