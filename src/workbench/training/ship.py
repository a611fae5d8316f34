"""Turn a finished training run into a shipped model under ``data/models``.

1. Load the run's ``best/`` model.
2. Round its weights through the shipped dtype, so the figures are those of the model
   ``load_model`` will return. Evaluate it on 2,000 held-out random games and 2,000 games
   of a greedy player (a shifted distribution the model never trained on).
3. Write weights, config and a card (architecture, games seen, wall time, hardware,
   throughput, learning curve, the figures and the commands that produced them).
"""

from __future__ import annotations

import fnmatch
import json
import shlex
import time
from pathlib import Path

import torch

from workbench.evaluation import evaluate_legal_moves, held_out_games
from workbench.models.io import (
    load_model_folder,
    read_card,
    read_config,
    round_through,
    save_model,
    shown_path,
)
from workbench.outputs import check_output_dir, output_dir, plain_name
from workbench.paths import models_dir as shipped_models_dir


def ship(
    run_dir: str | Path,
    name: str,
    *,
    train_command: str,
    n_games: int = 2000,
    dtype: str = "float32",
    max_shard_bytes: int | None = 15 * 2**20,
    models_dir: Path | None = None,
    overwrite: bool = False,
) -> dict:
    """Evaluate the run's ``best/`` model as shipped and write it to ``models_dir/name``
    (a plain folder name), replacing a model shipped there before; ``overwrite`` replaces
    a folder that holds other files too (``workbench.outputs``). ``models_dir`` defaults
    to the data folder's ``models/`` (``workbench.paths``)."""
    plain_name(name, what="--name")
    folder = Path(models_dir or shipped_models_dir()) / name
    check_output_dir(folder, overwrite=overwrite, recognise=older_model_folder)
    run = Path(run_dir)
    model = round_through(load_model_folder(run / "best"), getattr(torch, dtype))
    card = read_card(run / "best")
    evaluation = {}
    for policy in ("random", "greedy"):
        start = time.perf_counter()
        metrics = evaluate_legal_moves(model, held_out_games(n_games, policy=policy))
        evaluation[policy] = {**metrics.to_dict(), "seconds": round(time.perf_counter() - start, 1)}
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    ship_argv = ["workbench", "ship", shown_path(run), "--name", name, "--dtype", dtype,
                 "--games", str(n_games), "--train-command", train_command]  # fmt: skip
    card.update(
        {
            "name": name,
            "evaluation": evaluation,
            "evaluation_command": f"workbench eval --path {shown_path(folder)} --games {n_games} "
            "--policy random|greedy",
            "train_command": train_command,
            "ship_command": shlex.join(ship_argv),
            "tokens_per_s_median": sorted(r["tokens_per_s"] for r in records)[len(records) // 2],
            "learning_curve": [
                {k: r[k] for k in ("step", "games_seen", "wall_s", "loss", "eval_top1_legal")}
                for r in records
            ],
            "weights_dtype": dtype,
        }
    )
    where = output_dir(
        folder, writer="workbench ship", overwrite=overwrite, recognise=older_model_folder
    )
    with where as tmp:
        save_model(
            model,
            read_config(run / "best"),
            tmp,
            card=card,
            dtype=getattr(torch, dtype),
            max_shard_bytes=max_shard_bytes,
        )
    return card


#: The files of a model folder shipped before folders carried the workbench's marker.
MODEL_FILES = ("card.json", "config.json", "model*.safetensors*", "tokenizer*.json")


def older_model_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a shipped model's files and nothing else (``MODEL_FILES``)."""
    names = [p.name for p in folder.iterdir()]
    return "config.json" in names and all(
        any(fnmatch.fnmatch(n, pattern) for pattern in MODEL_FILES) for n in names
    )
