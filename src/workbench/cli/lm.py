"""``workbench train-lm / ship-lm / lm-eval``: the small language models."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.flags import config_arguments, overrides
from workbench.training.lm import LMTrainConfig


def _train_lm(args: argparse.Namespace) -> None:
    from workbench.training.lm import LMTrainConfig, train_lm
    from workbench.training.presets import LM_PRESETS

    if args.preset not in LM_PRESETS:
        raise SystemExit(f"Unknown preset {args.preset!r}; choose from {sorted(LM_PRESETS)}.")
    changes = overrides(args, LMTrainConfig)
    best = train_lm(LMTrainConfig(model=LM_PRESETS[args.preset], out_dir=args.out, **changes))
    sys.stdout.write(f"best model: {best}\n")


def _ship_lm(args: argparse.Namespace) -> None:
    from workbench.training.lm import ship_lm

    card = ship_lm(args.run, args.name, train_command=args.train_command)
    sys.stdout.write(json.dumps(card["evaluation"], indent=2) + "\n")


def _lm_eval(args: argparse.Namespace) -> None:
    from workbench.models import load_model
    from workbench.text.induction import induction_test
    from workbench.training.lm import held_out_loss

    model = load_model(args.model)
    record = {"model": args.model, "held_out_loss": held_out_loss(model)}
    record |= induction_test(model, half_len=50, n_seqs=64, seed=1).to_dict()
    sys.stdout.write(json.dumps(record) + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-lm", help="train (or resume) a small language model on the corpus")
    p.add_argument("--preset", default="attn-only-2l")
    p.add_argument("--out", required=True, help="run folder; an existing run is resumed")
    config_arguments(p, LMTrainConfig)
    p.set_defaults(func=_train_lm)

    p = sub.add_parser("ship-lm", help="evaluate a language-model run's best model and ship it")
    p.add_argument("run", help="run folder (holds best/ and metrics.jsonl)")
    p.add_argument("--name", required=True, help="folder name under data/models")
    p.add_argument("--train-command", required=True, help="the command that trained it")
    p.set_defaults(func=_ship_lm)

    p = sub.add_parser("lm-eval", help="held-out loss and induction test of a language model")
    p.add_argument("model", nargs="?", default="tiny-lm")
    p.set_defaults(func=_lm_eval)
