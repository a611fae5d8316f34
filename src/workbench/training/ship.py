"""Turn a finished training run into a shipped model under ``data/models``.

1. Load the run's ``best/`` model.
2. Round its weights through the shipped dtype, so the figures are those of the model
   ``load_model`` will return. Evaluate it on 2,000 held-out random games and 2,000 games
   of a greedy player (a shifted distribution the model never trained on).
3. Write weights, config and a card (architecture, games seen, wall time, hardware,
   throughput, learning curve, the figures and the commands that produced them).
"""

from __future__ import annotations

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
from workbench.models.registry import MODELS_DIR


def ship(
    run_dir: str | Path,
    name: str,
    *,
    train_command: str,
    n_games: int = 2000,
    dtype: str = "float32",
    max_shard_bytes: int | None = 15 * 2**20,
    models_dir: Path = MODELS_DIR,
) -> dict:
    run = Path(run_dir)
    model = round_through(load_model_folder(run / "best"), getattr(torch, dtype))
    card = read_card(run / "best")
    evaluation = {}
    for policy in ("random", "greedy"):
        start = time.perf_counter()
        metrics = evaluate_legal_moves(model, held_out_games(n_games, policy=policy))
        evaluation[policy] = {**metrics.to_dict(), "seconds": round(time.perf_counter() - start, 1)}
    folder = models_dir / name
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
    save_model(
        model,
        read_config(run / "best"),
        folder,
        card=card,
        dtype=getattr(torch, dtype),
        max_shard_bytes=max_shard_bytes,
    )
    return card
