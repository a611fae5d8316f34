"""Square naming for the 8x8 Othello board.

Squares are numbered row-major 0..63: ``A1 = 0, B1 = 1, ..., H1 = 7, A2 = 8, ..., H8 = 63``.
The letter is the column (A..H), the digit is the row (1..8). Both names and indices are
accepted wherever a square is expected.
"""

from __future__ import annotations

import numpy as np

N_SQUARES = 64
BOARD_SIZE = 8
COLUMNS = "ABCDEFGH"
SQUARE_NAMES: tuple[str, ...] = tuple(f"{COLUMNS[i % 8]}{i // 8 + 1}" for i in range(N_SQUARES))
_NAME_TO_INDEX = {name: i for i, name in enumerate(SQUARE_NAMES)}

#: The four centre squares, occupied at the start (D4, E4, D5, E5).
CENTRE_SQUARES: tuple[int, ...] = (27, 28, 35, 36)

# Absolute frame (who owns a stone).
EMPTY, BLACK, WHITE = 0, 1, 2
ABSOLUTE_LABELS = ("empty", "black", "white")
# Relative frame, seen from the player to move.
MINE, THEIRS = 1, 2
RELATIVE_LABELS = ("empty", "mine", "theirs")


class SquareError(ValueError):
    """A square, move or token outside the valid range, or a name that is no square."""


class MoveTypeError(TypeError):
    """Squares, moves or tokens given as something other than whole numbers."""


def integer_array(values, what: str) -> np.ndarray:
    """``values`` as an int64 array, refusing anything that is not whole numbers (a float
    such as 1.7 would otherwise be truncated to 1 without a word) or not rectangular."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as err:  # ragged nesting, unconvertible objects
        raise MoveTypeError(f"{what} must be a rectangular array of whole numbers: {err}") from err
    if array.size == 0:
        return array.astype(np.int64)  # np.asarray([]) is float64: no value to truncate
    if array.dtype.kind not in "iu":
        first = array.flat[0]
        first = first.item() if isinstance(first, np.generic) else first
        raise MoveTypeError(
            f"{what} must be whole numbers (an integer array), got {array.dtype} values such "
            f"as {first!r}: a float is never rounded or truncated into a square."
        )
    if array.dtype.kind == "u" and array.max() > np.iinfo(np.int64).max:
        raise SquareError(f"{what} hold {array.max()}, far out of range.")
    return array.astype(np.int64)


def square_index(square: int | str | np.integer) -> int:
    """Return the index 0..63 of a square given as an index or a name like ``"C4"``."""
    if isinstance(square, str):
        key = square.strip().upper()
        if key not in _NAME_TO_INDEX:
            raise SquareError(
                f"Unknown square name {square!r}: valid names are A1..H8 "
                "(column letter A-H, then row digit 1-8)."
            )
        return _NAME_TO_INDEX[key]
    if isinstance(square, bool) or not isinstance(square, int | np.integer):
        raise MoveTypeError(f"A square is an int 0..63 or a name like 'C4', got {square!r}.")
    if not 0 <= int(square) < N_SQUARES:
        raise SquareError(f"Square index {square} is out of range: valid indices are 0..63.")
    return int(square)


def square_name(square: int | str | np.integer) -> str:
    """Return the name (``"A1"``..``"H8"``) of a square given as an index or a name."""
    return SQUARE_NAMES[square_index(square)]


def row_col(square: int | str) -> tuple[int, int]:
    """Return (row, col), both 0..7, of a square."""
    index = square_index(square)
    return divmod(index, BOARD_SIZE)
