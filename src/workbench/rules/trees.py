"""Rule trees as JSON, and the layer files that hold them.

``TREE := {"value": float} | {"if": COND, "then": TREE, "else": TREE}``: ``then`` is taken
where the condition (``workbench.rules.features``) holds; a leaf's value is the predicted
activation. A layer's file ``data/rules/<model>/blocks.<L>.json`` holds

    {"model": ..., "hook": "blocks.L.mlp.hook_post", "games": N,
     "neurons": [{"neuron": i, "r2": float, "tree": TREE}, ...], ...}

(the model under its registry name; the keys after ``neurons`` record how it was made).
Files are written one neuron per line, so they stay small and diff well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from jaxtyping import Float, UInt8

from workbench.models.io import atomic_write, read_json
from workbench.rules.features import FEATURE_NAMES, feature_index

Tree = dict  # {"value": v} or {"if": cond, "then": Tree, "else": Tree}
DECIMALS = 4  # leaf values and R² are rounded to this many decimals in the files


class RuleFileError(ValueError):
    """A rules file or tree that does not have the documented form."""


def from_sklearn(fitted, *, columns=None, decimals: int = DECIMALS) -> Tree:
    """A fitted ``sklearn.tree.DecisionTreeRegressor`` as JSON. It was fitted on the 384
    feature columns, or on the subset ``columns`` (their indices, in the order given).
    Leaves are rounded to ``decimals``; a split whose two leaves round to the same value
    is merged into one leaf (it predicts the same everywhere)."""
    t = fitted.tree_
    names = FEATURE_NAMES if columns is None else [FEATURE_NAMES[c] for c in columns]

    def node(i: int) -> Tree:
        if t.children_left[i] == -1:
            return {"value": round(float(t.value[i].ravel()[0]), decimals)}
        # sklearn sends x <= 0.5 (the feature is 0: the condition fails) to the left child.
        then, other = node(t.children_right[i]), node(t.children_left[i])
        if "value" in then and then == other:
            return then
        return {"if": names[t.feature[i]], "then": then, "else": other}

    return node(0)


def evaluate(tree: Tree, X: UInt8[np.ndarray, "n 384"]) -> Float[np.ndarray, " n"]:
    """The tree's prediction at every row of ``X``."""
    out = np.empty(X.shape[0], dtype=np.float64)

    def walk(node: Tree, rows: np.ndarray) -> None:
        if "value" in node:
            out[rows] = node["value"]
            return
        holds = X[rows, feature_index(node["if"])].astype(bool)
        walk(node["then"], rows[holds])
        walk(node["else"], rows[~holds])

    walk(tree, np.arange(X.shape[0]))
    return out


def conditions(tree: Tree) -> list[str]:
    """Every condition the tree tests, root first (depth-first)."""
    if "value" in tree:
        return []
    return [tree["if"], *conditions(tree["then"]), *conditions(tree["else"])]


def depth(tree: Tree) -> int:
    return 0 if "value" in tree else 1 + max(depth(tree["then"]), depth(tree["else"]))


def leaves(tree: Tree, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], float]]:
    """Each leaf with the conditions on its path (``"not X"`` where X fails)."""
    if "value" in tree:
        return [(path, tree["value"])]
    return leaves(tree["then"], (*path, tree["if"])) + leaves(
        tree["else"], (*path, f"not {tree['if']}")
    )


def tree_text(tree: Tree, indent: str = "") -> str:
    """The tree as indented if/else text."""
    if "value" in tree:
        return f"{indent}-> {tree['value']:g}"
    return "\n".join(
        [
            f"{indent}if {tree['if']}:",
            tree_text(tree["then"], indent + "    "),
            f"{indent}else:",
            tree_text(tree["else"], indent + "    "),
        ]
    )


def check_tree(tree, where: str = "tree") -> None:
    """Raise ``RuleFileError`` unless ``tree`` has the documented form."""
    if not isinstance(tree, dict):
        raise RuleFileError(f"{where} is {type(tree).__name__}, not an object.")
    if set(tree) == {"value"} and isinstance(tree["value"], int | float):
        return
    if set(tree) != {"if", "then", "else"}:
        raise RuleFileError(f"{where} has keys {sorted(tree)}: expected 'value' or if/then/else.")
    try:
        feature_index(tree["if"])
    except (ValueError, AttributeError) as err:
        raise RuleFileError(f"{where}: {err}") from err
    check_tree(tree["then"], f"{where}.then")
    check_tree(tree["else"], f"{where}.else")


def r2_score(y: Float[np.ndarray, " n"], pred: Float[np.ndarray, " n"]) -> float:
    """``1 - SSE / SST`` (0 for a constant ``y``: nothing to explain)."""
    y, pred = np.asarray(y, np.float64), np.asarray(pred, np.float64)
    total = ((y - y.mean()) ** 2).sum()
    if total <= 1e-12 * max(len(y), 1):
        return 0.0
    return float(1.0 - ((y - pred) ** 2).sum() / total)


@dataclass
class NeuronRule:
    neuron: int
    r2: float  # held-out R² of the tree as stored (rounded leaves)
    tree: Tree

    def to_dict(self) -> dict:
        return {"neuron": self.neuron, "r2": self.r2, "tree": self.tree}


@dataclass
class LayerRules:
    """Every neuron's rule at one MLP layer, as one file holds them."""

    model: str  # the registry name (an alias resolved)
    hook: str  # blocks.L.mlp.hook_post
    games: int  # games the trees were fitted on
    neurons: list[NeuronRule]
    record: dict = field(default_factory=dict)  # how it was made: held-out games, seed, command

    @property
    def layer(self) -> int:
        return int(self.hook.split(".")[1])

    @property
    def r2(self) -> Float[np.ndarray, " neuron"]:
        return np.array([n.r2 for n in self.neurons])

    def explained(self, threshold: float = 0.7) -> list[NeuronRule]:
        """The neurons whose held-out R² exceeds ``threshold``."""
        return [n for n in self.neurons if n.r2 > threshold]

    def __getitem__(self, neuron: int) -> NeuronRule:
        rule = self.neurons[int(neuron)]
        if rule.neuron != int(neuron):  # files hold every neuron in order; be safe anyway
            rule = next(n for n in self.neurons if n.neuron == int(neuron))
        return rule

    def to_json(self) -> str:
        head = {"model": self.model, "hook": self.hook, "games": self.games}
        lines = [json.dumps(n.to_dict(), separators=(",", ":")) for n in self.neurons]
        tail = json.dumps(self.record, separators=(", ", ": "))[1:-1]
        text = json.dumps(head)[:-1] + ', "neurons": [\n' + ",\n".join(lines) + "\n]"
        return text + (", " + tail if tail else "") + "}\n"

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        text = self.to_json()
        atomic_write(path, lambda p: p.write_text(text))
        return path

    @classmethod
    def from_dict(cls, data: dict, where: str = "rules") -> LayerRules:
        missing = [k for k in ("model", "hook", "games", "neurons") if k not in data]
        if missing:
            raise RuleFileError(f"{where} lacks {missing}.")
        neurons = []
        for i, entry in enumerate(data["neurons"]):
            if not isinstance(entry, dict) or set(entry) != {"neuron", "r2", "tree"}:
                raise RuleFileError(f"{where}: neuron entry {i} needs exactly neuron, r2, tree.")
            check_tree(entry["tree"], f"{where}: neuron {entry['neuron']}'s tree")
            neurons.append(NeuronRule(int(entry["neuron"]), float(entry["r2"]), entry["tree"]))
        record = {k: v for k, v in data.items() if k not in ("model", "hook", "games", "neurons")}
        return cls(data["model"], data["hook"], int(data["games"]), neurons, record)

    @classmethod
    def load(cls, path: str | Path) -> LayerRules:
        data = read_json(Path(path), error=RuleFileError, what="Rules file")
        return cls.from_dict(data, str(path))
