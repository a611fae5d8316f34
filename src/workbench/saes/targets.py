"""Read the shipped comparison tables against the SAE target: which SAE, at which layer,
is faithful enough and beats both baselines on every board measure?

The tables are ``workbench sae-table``'s ``evaluation.json`` (one per residual site, rows
as ``saes.evaluate.comparison_table`` writes them). An SAE **meets** the target when it is
faithful (explained variance, loss recovered, L0 within ``SAETarget``) and each board
measure is above the same layer's MLP neurons *and* every SAE trained on a random-init
model in the table (one per architecture, where several are). The margins say by how
much, so a narrow win reads as narrow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.activations import hook_layer
from workbench.saes.evaluate import NEURONS_ROW, RANDOM_INIT_ROW
from workbench.saes.loading import list_saes, site_dir

BOARD_MEASURES = (
    "coverage mine/theirs/empty",
    "coverage legal",
    "coverage flipped",
    "reconstruction",
    "reconstruction F1",
)


@dataclass(frozen=True)
class SAETarget:
    """Fidelity an SAE must have before its board scores count (issue 5's figures)."""

    min_explained_variance: float = 0.9
    max_l0: float = 64.0
    min_loss_recovered: float = 0.9


def shipped_tables(model: str) -> list[dict]:
    """Every row of every shipped residual-site table of ``model``, with its ``hook``, in
    layer order."""
    hooks = sorted(
        {e.hook for e in list_saes(model) if e.hook.endswith(".hook_resid_post")},
        key=hook_layer,
    )
    rows = []
    for hook in hooks:
        path = site_dir(model, hook) / "evaluation.json"
        if path.exists():
            rows += [{"hook": hook, **row} for row in json.loads(path.read_text())["rows"]]
    return rows


def against_target(rows: list[dict], target: SAETarget = SAETarget()) -> list[dict]:
    """One row per SAE (per hook): its fidelity, each board measure's margin over the best
    baseline (the neurons or a random-init SAE; > 0 is above all of them), and whether it
    meets the whole target.

    ``rows``: table rows with a ``hook`` each (``shipped_tables``); a hook without both
    kinds of baseline is refused, since "above the baselines" would then mean nothing.
    """
    out = []
    for hook in dict.fromkeys(r["hook"] for r in rows):
        at = [r for r in rows if r["hook"] == hook]
        baselines = _baselines(at, hook)
        for row in at:
            if not _is_sae(row):
                continue
            faithful = (
                row["explained_variance"] >= target.min_explained_variance
                and row["l0"] <= target.max_l0
                and row["loss_recovered"] >= target.min_loss_recovered
            )
            margins = {m: row[m] - max(b[m] for b in baselines) for m in BOARD_MEASURES}
            out.append({
                "hook": hook, "features": row["features"], "l0": row["l0"],
                "explained_variance": row["explained_variance"],
                "loss_recovered": row["loss_recovered"], "faithful": faithful,
                **{f"margin {m}": v for m, v in margins.items()},
                "meets target": faithful and all(v > 0 for v in margins.values()),
            })  # fmt: skip
    return out


def _is_sae(row: dict) -> bool:
    return "explained_variance" in row and not row["features"].startswith(RANDOM_INIT_ROW)


def _baselines(rows: list[dict], hook: str) -> list[dict]:
    neurons = [r for r in rows if r["features"].startswith(NEURONS_ROW)]
    randoms = [r for r in rows if r["features"].startswith(RANDOM_INIT_ROW)]
    if len(neurons) != 1 or not randoms:
        raise ValueError(
            f"The table at {hook} needs one {NEURONS_ROW!r} row and at least one "
            f"{RANDOM_INIT_ROW!r} row to compare against; it has {len(neurons)} and "
            f"{len(randoms)}. Rows: {[r['features'] for r in rows]}."
        )
    return neurons + randoms
