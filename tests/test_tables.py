from dataclasses import dataclass

import pytest

from workbench.tables import table


@dataclass
class Metrics:
    top1: float
    n: int


def test_rows_of_dataclasses_and_dicts_are_rounded():
    t = table({"random": Metrics(0.9909812165186139, 500), "greedy": {"top1": 0.98509, "n": 7}})
    assert list(t.index) == ["random", "greedy"] and list(t.columns) == ["top1", "n"]
    assert t.loc["random", "top1"] == 0.991 and t.loc["greedy", "n"] == 7
    assert "0.9909812" not in t.to_string()


def test_a_sequence_gives_numbered_rows_and_digits_is_kept():
    t = table([{"a": 1 / 3}, {"a": 2 / 3}], digits=2)
    assert t["a"].tolist() == [0.33, 0.67]


def test_anything_else_is_refused():
    with pytest.raises(TypeError, match="dataclass or a mapping"):
        table([1.5])
