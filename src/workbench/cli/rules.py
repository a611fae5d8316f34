"""``workbench rules``: a decision-tree rule per MLP neuron, written to data/rules/;
``workbench rules-validate``: the record that checks them (catalogue, ablation, boards)."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.flags import add_layers, non_negative_int, positive_int, recorded_command


def _rules(args: argparse.Namespace) -> None:
    import numpy as np

    from workbench.models import load_model
    from workbench.models.config import require_othello_model
    from workbench.rules.fit import RuleConfig, fit_layer, mlp_hook, rules_dir

    out = rules_dir(args.model)  # an unknown model fails before any work
    model = load_model(args.model)
    require_othello_model(model)
    layers = range(model.cfg.n_layers) if args.layers is None else args.layers
    for layer in layers:
        mlp_hook(model, layer)  # every layer checked before the first is fitted
    config = RuleConfig(
        games=args.games,
        positions=args.positions,
        test_games=args.test_games,
        candidates=args.candidates or None,
        seed=args.seed,
        jobs=args.jobs,
    )
    for layer in layers:
        rules = fit_layer(model, layer, config=config, progress=not args.quiet)
        command = recorded_command(args, drop=("--jobs", "--layers"), drop_flags=("--quiet",))
        rules.record["command"] = f"{command} --layers {layer}"
        path = rules.save(out / f"blocks.{layer}.json")
        r2 = rules.r2
        summary = {
            "layer": layer,
            "neurons": len(r2),
            "r2_above_0.7": int((r2 > 0.7).sum()),
            "median_r2": round(float(np.median(r2)), 3),
            "seconds": rules.record["seconds"],
            "file": str(path),
        }
        sys.stdout.write(json.dumps(summary) + "\n")


def _validate(args: argparse.Namespace) -> None:
    from workbench.rules.validate import save_validation, validate_model

    record = validate_model(
        args.model,
        games=args.games,
        neurons=args.neurons,
        seed=args.seed,
        layers=args.layers,
        progress=not args.quiet,
    )
    record["command"] = recorded_command(args, drop_flags=("--quiet",))
    path = save_validation(record)
    for row in record["layers"]:
        ablation = row["ablation"]
        summary = {
            "layer": row["layer"],
            "explained": row["explained"],
            "of": row["neurons"],
            "ablation_median_ratio": ablation["median_ratio"],
            "ablated": len(ablation["neurons"]),
            "r2_fresh_within_0.05": row["r2_fresh_within_0.05"],
        }
        sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.write(json.dumps({"file": str(path), "seconds": record["seconds"]}) + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rules", help="fit a depth-4 decision-tree rule per MLP neuron (data/rules/MODEL)"
    )
    p.add_argument("model", nargs="?", default="othello")
    add_layers(p, "all")
    p.add_argument("--games", type=positive_int, default=400, help="training games")
    p.add_argument("--positions", type=positive_int, default=8_000, help="training positions kept")
    p.add_argument(
        "--candidates",
        type=non_negative_int,
        default=16,
        help="features screened per neuron before its tree is fitted (0: all 384)",
    )
    p.add_argument("--test-games", type=positive_int, default=300, help="held-out games for R²")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--jobs", type=positive_int, default=1, help="trees fitted at a time")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_rules)

    p = sub.add_parser(
        "rules-validate",
        help="catalogue, fresh-game R², ablation and heuristic-board record of shipped rules",
    )
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--games", type=positive_int, default=100, help="fresh games")
    p.add_argument("--neurons", type=positive_int, default=16, help="explained neurons ablated")
    add_layers(p, "every shipped layer")
    p.add_argument("--seed", type=non_negative_int, default=0, help="which neurons are ablated")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_validate)
