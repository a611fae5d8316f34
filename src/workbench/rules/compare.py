"""One table across model sizes, from the shipped validation records.

Per model and layer: the share of neurons explained (held-out R² > 0.7), the median
ablation specificity, the probe's agreement with the exact board on flipped stones, and
notebook 03's coverage of the same layer's MLP neurons (best single neuron's F1 per
board property, ``data/sweeps/superposition_by_layer.json``), where it has them.
"""

from __future__ import annotations

import json
from pathlib import Path

from workbench import paths
from workbench.rules.validate import load_validation

SIZES = ("othello-gpt-cpu", "othello-gpt-cpu-6l", "othello-gpt-8l")  # 4, 6, 8 layers


def _coverage(data_dir) -> dict[tuple[str, int], dict]:
    path = paths.data_dir(data_dir) / "sweeps" / "superposition_by_layer.json"
    try:
        rows = json.loads(path.read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return {}
    return {
        (r["model"], int(r["layer"])): r
        for r in rows
        if str(r.get("features", "")).startswith("MLP neurons")
    }


def size_table(
    models: tuple[str, ...] = SIZES, *, data_dir: str | Path | None = None
) -> list[dict]:
    """One row per (model, layer) with a validation record; models without one are left
    out (``workbench rules-validate MODEL`` makes it)."""
    coverage = _coverage(data_dir)
    rows = []
    for model in models:
        try:
            record = load_validation(model, data_dir=data_dir)
        except ValueError:
            continue
        boards = {b["layer"]: b for b in record.get("boards", [])}
        for layer in record["layers"]:
            L = layer["layer"]
            cov = coverage.get((model, L), {})
            rows.append(
                {
                    "model": model,
                    "layer": L,
                    "neurons": layer["neurons"],
                    "explained": layer["explained"],
                    "explained share": round(layer["explained"] / layer["neurons"], 3),
                    "median R²": layer["median_r2"],
                    "ablation ratio (median)": layer["ablation"]["median_ratio"],
                    "ablated": len(layer["ablation"]["neurons"]),
                    "probe = exact on flipped": _get(boards.get(L), "agrees_exact"),
                    "probe = placer on flipped": _get(boards.get(L), "agrees_heuristic"),
                    "neuron coverage mine/theirs/empty": _round(cov.get("mine/theirs/empty")),
                    "neuron coverage legal": _round(cov.get("legal")),
                    "neuron coverage flipped": _round(cov.get("flipped")),
                }
            )
    return rows


def _get(row: dict | None, key: str) -> float | None:
    return None if row is None else _round(row.get(key))


def _round(value) -> float | None:
    return None if value is None else round(float(value), 3)
