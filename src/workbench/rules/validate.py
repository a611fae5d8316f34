"""Everything issue 39 asks of a model's shipped rules, in one record per model.

1. Draw ``games`` fresh games (a seed of their own).
2. Per layer: the catalogue (explained neurons by group, clock neurons, the rest), the
   R² of every tree recomputed on these games from its JSON (the shipped figure must
   reproduce), the ablation of up to ``neurons`` explained neurons (step 3 of
   ``workbench.rules.ablation``) and of the largest group sharing one condition.
3. The probes' board against the exact and heuristic boards at every layer
   (``workbench.rules.heuristic``), when the model has shipped probes.
4. Written to ``data/rules/<model>/validation.json`` (``workbench rules-validate``).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from workbench.models.io import write_json
from workbench.models.registry import canonical_name, load_model
from workbench.othello.engine import play_games
from workbench.probes.suite import list_probe_suites, load_probes
from workbench.rules.ablation import LayerAblator, group_ablation, neuron_ablations
from workbench.rules.catalogue import catalogue, clock_neurons, group_counts, top_conditions
from workbench.rules.fit import load_rules, rules_dir, shipped_layers
from workbench.rules.heuristic import compare_boards
from workbench.rules.trees import evaluate, r2_score

VALIDATION_SEED = 3902  # fresh games: neither the fitting nor the held-out games
THRESHOLD = 0.7


def validate_layer(model, rules, games, *, neurons: int = 16, seed: int = 0, progress=False):
    """Step 2 for one layer: a JSON-ready dict."""
    ablator = LayerAblator(model, games, rules.layer)
    X, acts = ablator.features.X, ablator.activations
    fresh = np.array([r2_score(acts[:, r.neuron], evaluate(r.tree, X)) for r in rules.neurons])
    clock = clock_neurons(acts, ablator.features.move_number)
    entries = catalogue(rules, threshold=THRESHOLD, clock_correlation=clock)
    explained = rules.explained(THRESHOLD)
    rng = np.random.default_rng(seed)
    chosen = [explained[i] for i in sorted(rng.permutation(len(explained))[:neurons])]
    ablations = neuron_ablations(ablator, chosen, progress=progress)
    ratios = np.array([a.ratio for a in ablations])
    top = top_conditions(entries, 1)
    group = None
    if top:
        condition = top[0][0]
        members = [e.neuron for e in entries if condition in e.fires and e.r2 > THRESHOLD]
        g = group_ablation(ablator, condition, members)
        group = {
            "condition": condition,
            "neurons": g.neurons,
            "overall": round(g.overall, 5),
            "rank_of_condition": g.rank(condition),
            "top_patterns": [(f, round(v, 5), c) for f, v, c in g.patterns[:10]],
        }
    return {
        "layer": rules.layer,
        "neurons": len(rules.neurons),
        "explained": len(explained),
        "median_r2": round(float(np.median(rules.r2)), 4),
        "groups": dict(group_counts(entries).most_common()),
        "top_conditions": top_conditions(entries, 10),
        "r2_fresh_max_abs_diff": round(float(np.abs(fresh - rules.r2).max()), 4),
        "r2_fresh_within_0.05": round(float((np.abs(fresh - rules.r2) <= 0.05).mean()), 4),
        "explained_fresh": int((fresh > THRESHOLD).sum()),
        "ablation": {
            "neurons": [
                {
                    "neuron": a.neuron,
                    "r2": a.r2,
                    "firing": a.firing,
                    "fire": round(a.fire_delta, 6),
                    "control": round(a.control_delta, 6),
                }
                for a in ablations
            ],
            "median_ratio": round(float(np.median(ratios)), 3) if len(ratios) else None,
            "share_above_1": round(float((ratios > 1).mean()), 3) if len(ratios) else None,
        },
        "group_ablation": group,
    }


def validate_model(
    model_name: str,
    *,
    games: int = 100,
    neurons: int = 16,
    seed: int = 0,
    layers: list[int] | None = None,
    data_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Steps 1-3 on ``layers`` (default: every shipped layer) of ``model_name``."""
    start = time.perf_counter()
    name = canonical_name(model_name)
    layers = shipped_layers(name, data_dir=data_dir) if layers is None else list(layers)
    for layer in layers or [0]:
        load_rules(name, layer, data_dir=data_dir)  # a missing layer says how to fit it
    model = load_model(name, data_dir=data_dir)
    record_games = play_games(n_games=games, rng=VALIDATION_SEED)
    out = {"model": name, "games": games, "games_seed": VALIDATION_SEED, "threshold": THRESHOLD}
    out["layers"] = [
        validate_layer(
            model,
            load_rules(name, layer, data_dir=data_dir),
            record_games,
            neurons=neurons,
            seed=seed,
            progress=progress,
        )
        for layer in layers
    ]
    if name in list_probe_suites(data_dir):
        boards = compare_boards(model, load_probes(name, data_dir=data_dir), record_games)
        out["boards"] = [b.to_dict() for b in boards]
    out["seconds"] = round(time.perf_counter() - start, 1)
    return out


def save_validation(record: dict, *, data_dir: str | Path | None = None) -> Path:
    path = rules_dir(record["model"], data_dir=data_dir) / "validation.json"
    write_json(path, record)
    return path


def load_validation(model_name: str, *, data_dir: str | Path | None = None) -> dict:
    from workbench.models.io import read_json
    from workbench.rules.fit import RuleLayerError

    path = rules_dir(model_name, data_dir=data_dir) / "validation.json"
    if not path.exists():
        raise RuleLayerError(
            f"No validation record for {model_name!r} ({path}); make it: "
            f"workbench rules-validate {model_name}"
        )
    return read_json(path, what="Rules validation record")
