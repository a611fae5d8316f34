"""``workbench train / eval / ship / models``: OthelloGPTs, trained, scored and shipped."""

from __future__ import annotations

import argparse
import json
import math
import sys

from workbench.cli.flags import add_training_command, positive_int, training_config
from workbench.training.train import TrainConfig


def _train(args: argparse.Namespace) -> None:
    from workbench.signals import exit_if_interrupted
    from workbench.training import PRESETS, Trainer

    trainer = Trainer(training_config(args, TrainConfig, PRESETS))
    state = trainer.run()
    # no evaluation yet: no best score (None, not -Infinity, which is no JSON)
    best = state.best_score if math.isfinite(state.best_score) else None
    sys.stdout.write(json.dumps({"step": state.step, "best_score": best}) + "\n")
    exit_if_interrupted(trainer.interrupted, trainer.state.step, trainer.out)


def _eval(args: argparse.Namespace) -> None:
    from workbench.evaluation import evaluate_legal_moves, held_out_games
    from workbench.models import load_model

    model = load_model(args.model, path=args.path)
    games = held_out_games(args.games, policy=args.policy)
    metrics = evaluate_legal_moves(model, games).to_dict()
    record = {"model": args.path or args.model, "policy": args.policy, **metrics}
    sys.stdout.write(json.dumps(record) + "\n")


def _ship(args: argparse.Namespace) -> None:
    from workbench.training.ship import ship

    card = ship(
        args.run,
        args.name,
        train_command=args.train_command,
        dtype=args.dtype,
        n_games=args.games,
        **({"overwrite": True} if args.overwrite else {}),
    )
    sys.stdout.write(json.dumps(card["evaluation"], indent=2) + "\n")


OVERWRITE_HELP = "replace data/models/NAME even if it holds files that are not a model's"


def _models(args: argparse.Namespace) -> None:
    from workbench.models import list_models

    entries = list_models()
    name_width = max(len(e.label) for e in entries)
    status_width = max(len(e.status) for e in entries)
    for e in entries:
        sys.stdout.write(f"{e.label:{name_width}s}  {e.status:{status_width}s}  {e.description}\n")


def register(sub: argparse._SubParsersAction) -> None:
    add_training_command(
        sub,
        "train",
        "train (or resume) an OthelloGPT",
        preset="default",
        config_class=TrainConfig,
        func=_train,
    )

    p = sub.add_parser("eval", help="legal-move accuracy of a model on held-out games")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument(
        "--path",
        default=None,
        help="a saved model folder (data/models/NAME), or a local weights file for the published "
        "OthelloGPT",
    )
    p.add_argument("--games", type=positive_int, default=2000)
    p.add_argument("--policy", choices=["random", "greedy"], default="random")
    p.set_defaults(func=_eval)

    p = sub.add_parser("ship", help="evaluate a run's best model and ship it under data/models")
    p.add_argument("run", help="run folder (holds best/ and metrics.jsonl)")
    p.add_argument("--name", required=True, help="folder name under data/models (a plain name)")
    p.add_argument("--train-command", required=True, help="the command that trained it")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--games", type=positive_int, default=2000, help="held-out games per policy")
    p.set_defaults(func=_ship)

    p = sub.add_parser("models", help="list the models the workbench knows")
    p.set_defaults(func=_models)
