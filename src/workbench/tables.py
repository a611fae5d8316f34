"""Results as tables for a notebook: one row per result, numbers rounded.

``table({"random": metrics, "greedy": other})`` shows two result dataclasses (or dicts) as
two rows of a ``pandas.DataFrame``, which Jupyter draws as an HTML table, instead of a
dataclass repr with 16-digit floats or a JSON dump.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any


def _row(item: Any) -> dict:
    if is_dataclass(item) and not isinstance(item, type):
        return asdict(item)
    if isinstance(item, Mapping):
        return dict(item)
    raise TypeError(f"a table row is a dataclass or a mapping, not {type(item).__name__}")


def table(rows: Mapping[str, Any] | Sequence[Any], *, digits: int = 3, index: str = ""):
    """A ``pandas.DataFrame`` of ``rows``, floats rounded to ``digits`` places.

    ``rows``: a mapping of row name to a dataclass or dict (the names become the index,
    titled ``index``), or a sequence of dataclasses or dicts (numbered rows).
    """
    import pandas as pd  # only when a table is drawn: pandas takes a while to import

    if isinstance(rows, Mapping):
        frame = pd.DataFrame.from_records(
            [_row(v) for v in rows.values()], index=pd.Index(list(rows), name=index or None)
        )
    else:
        frame = pd.DataFrame.from_records([_row(v) for v in rows])
    return frame.round(digits)
