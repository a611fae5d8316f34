"""What the commands share: the training commands' flags (a preset, a run folder, one
optional flag per field of the training config dataclass), and the command line that
artefacts record."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import fields

from workbench.models.registry import canonical_name


def recorded_command(
    args: argparse.Namespace, *, drop: tuple[str, ...] = (), drop_flags: tuple[str, ...] = ()
) -> str:
    """This command line (``args.argv``, the words ``workbench.cli.main`` parsed) as an
    artefact records it: ``workbench ARGS`` however it was started (``.venv/bin/workbench``,
    ``python -m workbench``, ``main([...])``), less the options in ``drop`` and their values
    and the value-less options in ``drop_flags`` (options that change how long it takes or
    how it is run, not what it makes), and with a model alias after the verb replaced by
    the model it names now (``othello`` may name another model later; the record must
    still say which one made the artefact)."""
    words = list(args.argv)
    if len(words) > 1 and not words[1].startswith("-"):
        words = [words[0], canonical_name(words[1]), *words[2:]]
    kept, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in drop:
            skip = True
        elif word in drop_flags:
            continue
        elif not word.startswith(tuple(f"{option}=" for option in drop)):
            kept.append(word)
    return "workbench " + shlex.join(kept)


def add_training_command(
    sub: argparse._SubParsersAction, name: str, help: str, *, preset: str, config_class, func
) -> None:
    """``workbench NAME --preset P --out RUN [--<config field> VALUE ...]``."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--preset", default=preset)
    p.add_argument("--out", required=True, help="run folder; an existing run is resumed")
    config_arguments(p, config_class)
    p.set_defaults(func=func)


def training_config(args: argparse.Namespace, config_class, presets: dict):
    """The config the flags describe: the preset's model, the run folder, the flags given."""
    if args.preset not in presets:
        raise SystemExit(f"Unknown preset {args.preset!r}; choose from {sorted(presets)}.")
    changes = {
        f.name: getattr(args, f.name)
        for f in fields(config_class)
        if f.name != "model" and getattr(args, f.name, None) is not None
    }
    return config_class(model=presets[args.preset], out_dir=args.out, **changes)


def config_arguments(
    p: argparse.ArgumentParser, config_class, *, skip: tuple[str, ...] = ()
) -> None:
    """One optional flag per field of a training config (None: keep the default), less the
    fields in ``skip`` (which the command sets itself)."""
    none_default_types = {"max_minutes": float, "threads": int, "init_from": str}
    for f in fields(config_class):
        if f.name in ("model", "out_dir", *skip):
            continue
        if f.name == "compile":
            p.add_argument("--compile", action="store_true", default=None)
            continue
        kind = none_default_types.get(f.name, type(f.default))
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind)
