"""Neurons grouped by what their rules say, and counted per layer and model.

1. A neuron is explained when its held-out R² exceeds ``threshold`` (0.7, Singh et al.'s).
2. Its rule "fires" in its tree's highest leaf (MLP neurons mostly signal by firing);
   the conditions that hold on the way there are what the rule says (``"played C4 &
   C5 theirs"``); conditions that fail on the way are kept apart (``"not B4 empty"``).
3. Its group is the kinds of those conditions, squares left out (``"played + theirs"``),
   so the same rule on different squares falls in one group; a rule whose way to its
   highest leaf has only failing conditions is grouped by those (``"not empty"``).
4. A neuron its rule does not explain but move number does (|correlation| >= 0.8 on the
   games given) is ``"clock"``; the rest are ``"unexplained"``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from jaxtyping import Float, Int

from workbench.rules.features import KINDS
from workbench.rules.trees import LayerRules, NeuronRule, Tree, conditions, leaves

CLOCK_CORRELATION = 0.8  # |corr(activation, move number)| at or above this: a clock neuron


@dataclass(frozen=True)
class Entry:
    neuron: int
    r2: float
    group: str  # "played + theirs", "legal", "clock", "unexplained", ...
    fires: tuple[str, ...]  # conditions that hold on the way to the highest leaf
    unless: tuple[str, ...]  # conditions that fail on the way there ("not X")
    mentions: tuple[str, ...]  # every condition the tree tests

    @property
    def rule(self) -> str:
        """The rule in one line: ``"played C4 & C5 theirs (not B4 empty)"``."""
        text = " & ".join(self.fires) or "-"
        return text + (f" ({', '.join(self.unless)})" if self.unless else "")


def _kind(condition: str) -> str:
    return "played" if condition.startswith("played ") else condition.split()[1]


def firing_path(tree: Tree) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The conditions that hold, and those that fail, on the way to the highest leaf."""
    path, _ = max(leaves(tree), key=lambda leaf: leaf[1])
    holds = tuple(c for c in path if not c.startswith("not "))
    fails = tuple(c for c in path if c.startswith("not "))
    return holds, fails


def group_of(holds: tuple[str, ...], fails: tuple[str, ...]) -> str:
    order = {k: i for i, k in enumerate(KINDS)}
    if holds:
        kinds = sorted({_kind(c) for c in holds}, key=order.get)
        return " + ".join(kinds)
    if fails:
        kinds = sorted({_kind(c[4:]) for c in fails}, key=order.get)
        return "not " + " + not ".join(kinds)
    return "constant"


def entry(rule: NeuronRule, *, threshold: float = 0.7, clock: bool = False) -> Entry:
    holds, fails = firing_path(rule.tree)
    if rule.r2 > threshold:
        group = group_of(holds, fails)
    else:
        group = "clock" if clock else "unexplained"
    return Entry(rule.neuron, rule.r2, group, holds, fails, tuple(conditions(rule.tree)))


def clock_neurons(
    activations: Float[np.ndarray, "n neuron"], move_number: Int[np.ndarray, " n"]
) -> Float[np.ndarray, " neuron"]:
    """Each neuron's correlation with the move number (0 for a constant neuron)."""
    a = activations - activations.mean(axis=0)
    m = (move_number - move_number.mean()).astype(np.float64)
    norm = np.sqrt((a**2).sum(axis=0) * (m**2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(norm > 0, (a * m[:, None]).sum(axis=0) / norm, 0.0)


def catalogue(
    rules: LayerRules,
    *,
    threshold: float = 0.7,
    clock_correlation: Float[np.ndarray, " neuron"] | None = None,
) -> list[Entry]:
    """One entry per neuron of the layer (``clock_correlation`` from ``clock_neurons``:
    without it no neuron is called a clock)."""
    is_clock = (
        np.zeros(len(rules.neurons), bool)
        if clock_correlation is None
        else np.abs(clock_correlation) >= CLOCK_CORRELATION
    )
    return [entry(r, threshold=threshold, clock=bool(is_clock[r.neuron])) for r in rules.neurons]


def group_counts(entries: list[Entry]) -> Counter:
    return Counter(e.group for e in entries)


def search(entries: list[Entry], query: str, *, explained_only: bool = True) -> list[Entry]:
    """The neurons whose rule mentions ``query`` (a condition like ``"C4 flipped"``, or a
    part of one: ``"C4"``, ``"flipped"``), best R² first."""
    words = query.split()
    hits = [
        e
        for e in entries
        if (not explained_only or e.group not in ("unexplained", "clock"))
        and any(all(w in c.split() for w in words) for c in e.mentions)
    ]
    return sorted(hits, key=lambda e: -e.r2)


def top_conditions(entries: list[Entry], n: int = 10) -> list[tuple[str, int]]:
    """The conditions that explained neurons' rules fire on most often."""
    counts = Counter(c for e in entries if e.group not in ("unexplained", "clock") for c in e.fires)
    return counts.most_common(n)
