"""``workbench sae / sae-table / sae-split / superposition / transcoders``: sparse dictionaries
with sae-lens, and the records that score them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from workbench import paths
from workbench.cli.flags import (
    add_layers,
    comma_separated,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    recorded_command,
)

if TYPE_CHECKING:
    from workbench.provenance import RunRecord

#: ``workbench.saes.train.ARCHITECTURES``'s keys, without importing sae-lens to parse flags.
SAE_ARCHITECTURES = ["topk", "batchtopk", "standard", "gated", "jumprelu", "matryoshka"]
SAE_EXPANSION = 8  # ``SAETrainConfig.expansion``, likewise: ``--expansion``'s default


def _sae(args: argparse.Namespace) -> None:
    from pathlib import Path

    import torch

    from workbench.models import load_model
    from workbench.models.config import random_init_twin
    from workbench.saes.loading import sae_dir
    from workbench.saes.pipeline import othello_sae_inputs, train_and_ship
    from workbench.saes.train import SAETrainConfig, TrainingStopped
    from workbench.text.saes import TEXT_SAE_SETTINGS, text_sae_inputs

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.model)
    text = model.tokenizer is not None  # a language model: activations from the corpus
    if text and (args.random_init or args.activation_cache):
        raise SystemExit("--random-init and --activation-cache are for OthelloGPTs only.")
    if args.random_init:  # same architecture, random weights: the baseline
        model = random_init_twin(model)
    if args.device != "cpu" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: no CUDA device here; valid here: cpu.")
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
        extra={} if args.device == "cpu" else {"device": args.device},
        **(TEXT_SAE_SETTINGS if text else {}),
    )
    if text:
        inputs = text_sae_inputs(model, cfg, eval_windows=args.eval_games)
    else:
        inputs = othello_sae_inputs(
            model, cfg, eval_games_n=args.eval_games, activation_cache=args.activation_cache
        )
    folder = Path(
        args.out or sae_dir(args.model, args.hook, args.architecture, random_init=args.random_init)
    )
    # the same SAE either way: cached or not, checkpointed or not, resumed or not
    command = recorded_command(
        args,
        drop=("--activation-cache", "--checkpoints"),
        drop_flags=("--restart", "--overwrite"),
    )
    try:
        info = train_and_ship(
            model,
            cfg,
            folder,
            inputs,
            command=command,
            device=args.device,
            save_dtype=args.save_dtype,
            overwrite=args.overwrite,
            n_checkpoints=args.checkpoints,
            restart=args.restart,
        )
    except TrainingStopped as stopped:  # the same command resumes
        sys.stderr.write(f"{stopped}\n")
        raise SystemExit(130) from None
    sys.stdout.write(json.dumps({"saved": str(folder), **info}) + "\n")


def _sae_table(args: argparse.Namespace) -> None:
    from workbench.probes.suite import load_probes
    from workbench.provenance import RunRecord
    from workbench.saes.evaluate import comparison_table, eval_games
    from workbench.saes.loading import site_dir

    record = RunRecord(note=args.note)
    model, saes, random_init = _saes_at_hook(args, record)
    rows = comparison_table(
        model,
        args.hook,
        saes,
        eval_games(args.games, args.seed),
        suite=load_probes(args.model),
        random_init=random_init,
    )
    _finish(args, record, rows, out=args.out or site_dir(args.model, args.hook) / "evaluation.json")


def _sae_split(args: argparse.Namespace) -> None:
    from workbench.provenance import RunRecord
    from workbench.saes.evaluate import eval_games, split_comparison

    record = RunRecord(note=args.note)
    model, saes, random_init = _saes_at_hook(args, record)
    games = eval_games(args.games, args.seed)
    rows = split_comparison(
        model,
        args.hook,
        saes,
        games,
        sizes=args.sizes,
        candidates=args.candidates,
        random_init=random_init,
    )
    _finish(args, record, rows, out=args.out)


SUPERPOSITION_RECORD = "sweeps/superposition_by_layer.json"  # under the data folder


def _superposition(args: argparse.Namespace) -> None:
    from workbench.models import load_model
    from workbench.models.registry import canonical_name
    from workbench.provenance import RunRecord
    from workbench.saes.evaluate import eval_games, shipped_coverage_by_layer

    record = RunRecord(note=args.note)
    # each model once, in the order given, by its own name (an alias may move later)
    names = list(dict.fromkeys(canonical_name(name) for name in args.models))
    models = {name: load_model(name) for name in names}  # a bad name fails before any work
    games = eval_games(args.games, args.seed)
    rows = []
    for name, model in models.items():
        record.add_weights(f"model {name}", model)
        rows += shipped_coverage_by_layer(name, games, model=model, record=record)
    _finish(args, record, rows, out=args.out or paths.data_dir() / SUPERPOSITION_RECORD)


def _finish(args: argparse.Namespace, record: RunRecord, rows: list[dict], *, out) -> None:
    """Write the sweep's record to ``out`` (if any): the command (its note apart) and its
    provenance, then the games and rows; and print the rows, one JSON line each."""
    from workbench.models.io import write_json

    if out:
        command = recorded_command(args, drop=("--note",))
        write_json(out, {"command": command, **record.fields(), "games": args.games, "rows": rows})
    for row in rows:
        sys.stdout.write(json.dumps(row) + "\n")


def _saes_at_hook(args: argparse.Namespace, record: RunRecord):
    """``saes.pipeline.saes_at_site`` for the flags ``MODEL --hook --extra
    --extra-random-init``."""
    from workbench.saes.pipeline import saes_at_site

    return saes_at_site(
        args.model,
        args.hook,
        record,
        extra=_named_folders(args.extra, "--extra"),
        extra_random_init=_named_folders(args.extra_random_init, "--extra-random-init"),
    )


def _named_folders(specs: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for spec in specs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise SystemExit(f"{option} takes NAME=FOLDER (an SAE saved by sae-lens), got {spec!r}")
        pairs.append((name, folder))
    return pairs


def _transcoders(args: argparse.Namespace) -> None:
    from workbench.circuits.transcoders import (
        TranscoderTrainConfig,
        train_transcoder,
        transcoder_dir,
    )
    from workbench.models import load_model
    from workbench.saes.loading import save_sae

    model = load_model(args.model)
    layers = range(model.cfg.n_layers) if args.layers is None else args.layers
    outside = [layer for layer in layers if layer >= model.cfg.n_layers]
    if outside:
        raise SystemExit(
            f"--layers {outside}: {args.model!r} has layers 0..{model.cfg.n_layers - 1}."
        )
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
        info = {"command": recorded_command(args), **trained.summary()}
        folder = save_sae(trained.transcoder, transcoder_dir(args.model, layer), info)
        sys.stdout.write(json.dumps({"saved": str(folder), **info}) + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sae", help="train an SAE with sae-lens, evaluate it and ship it")
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--hook", required=True, help="e.g. blocks.2.hook_resid_post")
    p.add_argument(
        "--architecture",
        default="topk",
        choices=SAE_ARCHITECTURES,
    )
    p.add_argument("--expansion", type=positive_int, default=SAE_EXPANSION, help="d_sae / d_in")
    p.add_argument(
        "--k", type=positive_int, default=32, help="topk/batchtopk/matryoshka: active features"
    )
    p.add_argument(
        "--levels",
        type=positive_int,
        default=4,
        help="matryoshka: nested sizes d_sae / 2**i, i < levels",
    )
    p.add_argument(
        "--l1", type=non_negative_float, default=5.0, help="standard/gated: L1 coefficient"
    )
    p.add_argument("--l0", type=non_negative_float, default=2.0, help="jumprelu: L0 coefficient")
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--tokens", type=positive_int, default=3_000_000, help="activations to train on")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--random-init", action="store_true", help="train on a random-init model")
    p.add_argument(
        "--eval-games",
        type=positive_int,
        default=300,
        help="evaluation games (language models: windows)",
    )
    p.add_argument(
        "--threads", type=non_negative_int, default=0, help="torch threads (0: torch's default)"
    )
    p.add_argument(
        "--device", choices=["cpu", "cuda"], default="cpu", help="where to harvest and train"
    )
    p.add_argument(
        "--out",
        default=None,
        help="save here (a sweep) instead of data/saes/MODEL/HOOK/ARCH; replaced whole, so it "
        "must be new, empty or an SAE folder (see --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the SAE folder even if it holds files the workbench did not write",
    )
    p.add_argument(
        "--save-dtype",
        default="float32",
        choices=["float32", "float16"],
        help="store the weights in this dtype (float16: half the file; the SAE still loads as "
        "float32, and the evaluation scores the rounded weights)",
    )
    p.add_argument(
        "--activation-cache",
        default=None,
        metavar="DIR",
        help="keep the model's activations (every hook_resid_post) here and reuse them: SAEs "
        "on one model then run it once; same result, not recorded (workbench.saes.cache)",
    )
    p.add_argument(
        "--checkpoints",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="checkpoint N times over the run (and on SIGINT/SIGTERM) into OUT.checkpoints/, "
        "which the same command resumes from and deletes once the SAE is saved; 0: none",
    )
    p.add_argument(
        "--restart", action="store_true", help="delete OUT.checkpoints/ first: start afresh"
    )
    p.set_defaults(func=_sae)

    p = sub.add_parser("sae-table", help="shipped SAEs vs neurons, probes and random init")
    _site_arguments(p)
    p.add_argument("--out", default=None, help="table file (default: the shipped evaluation.json)")
    p.set_defaults(func=_sae_table)

    p = sub.add_parser(
        "sae-split",
        help="coverage when a square may take the union of up to m features: split or absent?",
    )
    _site_arguments(p)
    p.add_argument(
        "--sizes",
        type=comma_separated(positive_int),
        default=(1, 2, 4, 8),
        help="feature counts m: 1,2,4,8",
    )
    p.add_argument(
        "--candidates",
        type=positive_int,
        default=128,
        help="features tried per property (best by F1)",
    )
    p.add_argument("--out", default=None, help="also write the rows here (JSON)")
    p.set_defaults(func=_sae_split)

    p = sub.add_parser(
        "superposition",
        help="best single neuron vs SAE feature per board property, by layer and width",
    )
    p.add_argument(
        "models",
        nargs="*",
        default=["othello-gpt-cpu", "othello-gpt-cpu-6l", "othello-gpt-8l"],
        help="shipped OthelloGPTs (default: the three widths with SAEs shipped; the rows "
        "name each by its own name, not an alias)",
    )
    p.add_argument("--games", type=positive_int, default=200, help="evaluation games")
    p.add_argument("--seed", type=non_negative_int, default=None, help="as sae-table's --seed")
    p.add_argument(
        "--out",
        default=None,
        help="the record (JSON; default: the one in the workbench's data/sweeps/)",
    )
    _note_argument(p)
    p.set_defaults(func=_superposition)

    p = sub.add_parser("transcoders", help="train per-layer (skip) transcoders and ship them")
    p.add_argument("model", nargs="?", default="othello")
    add_layers(p, "all")
    p.add_argument("--expansion", type=positive_int, default=8)
    p.add_argument("--l1", type=non_negative_float, default=3e-3)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--tokens", type=positive_int, default=2_000_000)
    p.add_argument("--no-skip", action="store_true", help="plain transcoders, no skip path")
    p.set_defaults(func=_transcoders)


def _site_arguments(p: argparse.ArgumentParser) -> None:
    """sae-table and sae-split: the model, the hook, the games and the SAEs scored there."""
    p.add_argument("model", nargs="?", default="othello")
    p.add_argument("--hook", required=True)
    p.add_argument("--games", type=positive_int, default=1000, help="evaluation games")
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=None,
        help="the evaluation games' seed (default: the fixed held-out set; another one: an "
        "independent set of games)",
    )
    _note_argument(p)
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="also score this SAE folder (e.g. a sweep's; repeatable), at the hook it records",
    )
    p.add_argument(
        "--extra-random-init",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="also score this SAE, trained on the random-init twin (sae --random-init), on "
        "the twin's activations: a baseline row (repeatable)",
    )


def _note_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--note",
        default=None,
        help="why this run was made, written into the record beside its date, hardware "
        "and the fingerprints of the weights it scored",
    )
