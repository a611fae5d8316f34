"""``workbench probes / interventions / artefacts``: what is trained on a model's weights."""

from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.flags import (
    comma_separated,
    non_negative_int,
    positive_float,
    positive_int,
    recorded_command,
)


def _probes(args: argparse.Namespace) -> None:
    from pathlib import Path

    from workbench.probes.probe import ProbeConfig
    from workbench.probes.suite import build_probe_suite

    suite = build_probe_suite(
        args.model,
        n_games=args.games,
        properties=tuple(args.properties.split(",")),
        baseline_properties=tuple(p for p in args.baseline.split(",") if p),
        config=ProbeConfig(steps=args.steps, device=args.device),
        out=None if args.out is None else Path(args.out),
    )
    for key in suite.accuracy:
        prop, hook = key.split("|")
        base = suite.mean_accuracy(prop, hook, "baseline") if key in suite.baseline else None
        sys.stdout.write(
            json.dumps(
                {
                    "probe": key,
                    "accuracy": suite.mean_accuracy(prop, hook),
                    "random_init": base,
                    "majority": suite.mean_accuracy(prop, hook, "majority"),
                }
            )
            + "\n"
        )


def _interventions(args: argparse.Namespace) -> None:
    import numpy as np

    from workbench.models import load_model
    from workbench.models.io import write_json
    from workbench.othello import play_games
    from workbench.probes.interventions import intervention_sweep
    from workbench.probes.suite import load_probes, probe_dir

    model, suite = load_model(args.model), load_probes(args.model)
    games = play_games(n_games=args.games, rng=np.random.default_rng(args.seed))
    results = [
        r.to_dict()
        for r in intervention_sweep(
            model,
            suite,
            games,
            n_edits=args.edits,
            scales=args.scales,
            modes=tuple(args.modes.split(",")),
            seed=args.seed,
        )
    ]
    best = min(results, key=lambda r: r["errors_after"])
    summary = {
        "command": recorded_command(args),
        "best": best,
        "ratio": best["errors_after"] / best["errors_before"],
        "results": results,
    }
    write_json(probe_dir(args.model) / "interventions.json", summary)
    for r in results:
        sys.stdout.write(json.dumps(r) + "\n")
    sys.stdout.write(json.dumps({"best": best, "ratio": summary["ratio"]}) + "\n")


def _artefacts(args: argparse.Namespace) -> None:
    from workbench import artefacts
    from workbench.models import load_model
    from workbench.models.config import require_othello_model
    from workbench.probes.suite import list_probe_suites, load_probes

    model = load_model(args.model)
    require_othello_model(model)
    n_layers = model.cfg.n_layers
    first = artefacts.probe_steps(args.model)
    total = len(first) + len(artefacts.sae_steps(args.model, n_layers, 0, model.cfg.d_model))
    if not 1 <= args.start <= total:
        raise SystemExit(f"--start {args.start}: the plan has steps 1..{total} (see --dry-run).")
    options = {
        "dry_run": args.dry_run,
        "jobs": args.jobs,
        "activation_cache": args.activation_cache,
    }
    artefacts.run(first[args.start - 1 :], first=args.start, **options)
    layer = args.best_layer
    if layer is None and args.dry_run and args.model not in list_probe_suites():
        sys.stdout.write(
            f"[{len(first) + 1}-{total}] the SAE, table and transcoder steps: where the SAEs go "
            f"depends on the best layer of the probes step 1 trains ({args.model!r} has none "
            "shipped yet); --best-layer L lists them for layer L.\n"
        )
        return
    if layer is None:  # the probes just trained (or, on a dry run, the shipped ones)
        layer = artefacts.best_layer(load_probes(args.model), n_layers)
    rest = artefacts.sae_steps(args.model, n_layers, layer, model.cfg.d_model)
    skip = max(0, args.start - 1 - len(first))
    artefacts.run(rest[skip:], first=len(first) + 1 + skip, **options)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("probes", help="train, score and ship the probe suite of a model")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--games", type=positive_int, default=3000)
    p.add_argument("--steps", type=positive_int, default=600, help="Adam steps per probe")
    p.add_argument("--properties", default="relative,absolute,flipped,legal")
    p.add_argument(
        "--baseline",
        default="relative,absolute,flipped,legal",
        help="properties that also get the random-init baseline ('' for none)",
    )
    p.add_argument("--device", default="cpu", help="where to harvest and fit (cuda on a GPU)")
    p.add_argument("--out", default=None, help="suite folder (default: data/probes/MODEL)")
    p.set_defaults(func=_probes)

    p = sub.add_parser("interventions", help="Li et al.'s intervention sweep with shipped probes")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--games", type=positive_int, default=500)
    p.add_argument("--edits", type=positive_int, default=500)
    p.add_argument("--scales", type=comma_separated(positive_float), default=(1.0, 3.0, 10.0, 30.0))
    p.add_argument("--modes", default="single,from")
    p.add_argument("--seed", type=non_negative_int, default=7)
    p.set_defaults(func=_interventions)

    p = sub.add_parser("artefacts", help="re-derive a model's probes, SAEs, tables, transcoders")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--dry-run", action="store_true", help="print the numbered steps only")
    p.add_argument("--start", type=positive_int, default=1, help="resume at this step number")
    p.add_argument(
        "--best-layer", type=non_negative_int, default=None, help="default: the probes' best"
    )
    p.add_argument("--jobs", type=positive_int, default=1, help="SAE steps run this many at a time")
    p.add_argument(
        "--activation-cache",
        default=None,
        metavar="DIR",
        help="SAE steps share the model's activations here (GBs: workbench.saes.cache); "
        "removed when they are done",
    )
    p.set_defaults(func=_artefacts)
