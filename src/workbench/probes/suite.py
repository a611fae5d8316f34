"""Train, score and ship the probe suite of a model (``workbench probes``).

1. Draw ``n_games`` fresh random games (a seed of their own, not the training stream).
2. Harvest every residual-stream site of the model and of a randomly initialised model of
   the same architecture.
3. Train probes for the chosen properties at every site; the random-init baseline for the
   chosen baseline properties; score all on held-out games.
4. Save to ``data/probes/<model>/`` (safetensors + JSON), where ``load_probes`` finds them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from workbench import paths
from workbench.activations import PROPERTIES, harvest, resid_sites
from workbench.models.config import random_init_twin
from workbench.models.registry import canonical_name, load_model
from workbench.othello.engine import play_games
from workbench.probes.probe import ProbeConfig, ProbeSuite, train_probes
from workbench.provenance import hardware

PROBE_GAMES_SEED = 424242


def probes_root(data_dir: str | Path | None = None) -> Path:
    """``data/probes`` of the data folder (``workbench.paths.data_dir``)."""
    return paths.data_dir(data_dir) / "probes"


def __getattr__(name: str) -> Path:
    # PROBES_DIR stays importable, resolved when read (workbench.paths).
    if name == "PROBES_DIR":
        return probes_root()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def probe_dir(model_name: str, *, data_dir: str | Path | None = None) -> Path:
    """Where a model's probe suite and intervention sweep are shipped (an alias finds the
    folder of the model it names)."""
    return probes_root(data_dir) / canonical_name(model_name)


def load_probes(model_name: str = "othello", *, data_dir: str | Path | None = None) -> ProbeSuite:
    """The shipped probe suite of a shipped model (``data_dir``: another data folder)."""
    folder = probe_dir(model_name, data_dir=data_dir)
    if not (folder / "probes.json").exists():
        raise FileNotFoundError(
            f"No shipped probes for {model_name!r}; shipped: {list_probe_suites(data_dir)}. "
            f"Train them: workbench probes {model_name}"
        )
    return ProbeSuite.load(folder)


def build_probe_suite(
    model_name: str,
    *,
    n_games: int = 3000,
    properties: tuple[str, ...] = tuple(PROPERTIES),
    baseline_properties: tuple[str, ...] = tuple(PROPERTIES),
    config: ProbeConfig | None = None,
    out: Path | None = None,
) -> ProbeSuite:
    start = time.perf_counter()
    model_name = canonical_name(model_name)
    config = config or ProbeConfig()
    model = load_model(model_name).to(config.device)
    games = play_games(n_games=n_games, rng=np.random.default_rng(PROBE_GAMES_SEED))
    sites = resid_sites(model)
    acts = harvest(model, games, sites)
    suite = train_probes(acts, properties=list(properties), hooks=sites, config=config)
    del acts
    if baseline_properties:
        random_model = random_init_twin(model)
        random_model = random_model.to(config.device)
        random_acts = harvest(random_model, games, sites)
        base = train_probes(
            random_acts, properties=list(baseline_properties), hooks=sites, config=config
        )
        suite.baseline = base.accuracy
    suite.config = {
        **suite.config,
        "model": model_name,
        "n_games": n_games,
        "games_seed": PROBE_GAMES_SEED,
        "seconds": round(time.perf_counter() - start),
        "torch_threads": torch.get_num_threads(),
        "hardware": hardware(config.device),
    }
    suite.save(out or probe_dir(model_name))
    return suite


def list_probe_suites(data_dir: str | Path | None = None) -> list[str]:
    """Names of the models that have shipped probes."""
    root = probes_root(data_dir)
    return sorted(p.name for p in root.glob("*") if (p / "probes.json").exists())
