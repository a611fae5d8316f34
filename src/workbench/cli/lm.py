"""``workbench train-lm / ship-lm / lm-eval``: the small language models."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.flags import add_training_command, training_config
from workbench.cli.othello import OVERWRITE_HELP
from workbench.training.lm import LMTrainConfig


def _train_lm(args: argparse.Namespace) -> None:
    from workbench.signals import exit_if_interrupted
    from workbench.training.lm import LMTrainer
    from workbench.training.presets import LM_PRESETS

    trainer = LMTrainer(training_config(args, LMTrainConfig, LM_PRESETS))
    trainer.run()
    sys.stdout.write(f"best model: {trainer.out / 'best'}\n")
    exit_if_interrupted(trainer.interrupted, trainer.state.step, trainer.out)


def _ship_lm(args: argparse.Namespace) -> None:
    from workbench.training.lm import ship_lm

    overwrite = {"overwrite": True} if args.overwrite else {}
    card = ship_lm(args.run, args.name, train_command=args.train_command, **overwrite)
    sys.stdout.write(json.dumps(card["evaluation"], indent=2) + "\n")


def _lm_eval(args: argparse.Namespace) -> None:
    from workbench.models import load_model
    from workbench.text.induction import induction_test
    from workbench.training.lm import held_out_loss

    model = load_model(args.model, path=args.path)
    record = {"model": args.path or args.model, "held_out_loss": held_out_loss(model)}
    record |= induction_test(model, half_len=50, n_seqs=64, seed=1).to_dict()
    sys.stdout.write(json.dumps(record) + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    add_training_command(
        sub,
        "train-lm",
        "train (or resume) a small language model on the corpus",
        preset="attn-only-2l",
        config_class=LMTrainConfig,
        func=_train_lm,
    )

    p = sub.add_parser("ship-lm", help="evaluate a language-model run's best model and ship it")
    p.add_argument("run", help="run folder (holds best/ and metrics.jsonl)")
    p.add_argument("--name", required=True, help="folder name under data/models (a plain name)")
    p.add_argument("--train-command", required=True, help="the command that trained it")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=_ship_lm)

    p = sub.add_parser("lm-eval", help="held-out loss and induction test of a language model")
    p.add_argument("model", nargs="?", default="tiny-lm")
    p.add_argument("--path", default=None, help="a saved model folder (data/models/NAME)")
    p.set_defaults(func=_lm_eval)
