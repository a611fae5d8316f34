"""What the commands share: the training commands' flags (a preset, a run folder, one
optional flag per field of the training config dataclass), the argparse types every
numeric flag is checked by (``positive_int``, ``non_negative_int``, ``positive_float``,
``non_negative_float``, ``fraction``: a bad value is refused where it is parsed, naming
the flag and what is valid), and the command line that artefacts record."""

from __future__ import annotations

import argparse
import math
import shlex
from collections.abc import Callable
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


def _number(kind: type, valid: str, ok: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: ``text`` read as ``kind`` and kept when ``ok``, else refused with
    ``valid`` (argparse names the flag in front: ``argument --games: ...``)."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {valid}, got {text!r}")
        return value

    parse.__name__ = valid  # argparse's fallback wording
    return parse


positive_int = _number(int, "a whole number >= 1", lambda v: v >= 1)
non_negative_int = _number(int, "a whole number >= 0", lambda v: v >= 0)
positive_float = _number(float, "a number > 0", lambda v: v > 0)
non_negative_float = _number(float, "a number >= 0", lambda v: v >= 0)
fraction = _number(float, "a fraction between 0 and 1", lambda v: 0 <= v <= 1)


def comma_separated(item: Callable[[str], object]) -> Callable[[str], tuple]:
    """An argparse type: a comma-separated list, each value checked by ``item``."""

    def parse(text: str) -> tuple:
        try:
            return tuple(item(part.strip()) for part in text.split(","))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated values, each {item.__name__}, got {text!r}"
            ) from None

    return parse


def add_layers(parser: argparse.ArgumentParser, default: str) -> None:
    """``--layers``: which layers, comma-separated; ``default`` says what leaving it out means."""
    parser.add_argument(
        "--layers",
        type=comma_separated(non_negative_int),
        default=None,
        help=f"comma-separated layers (default: {default})",
    )


def config_field_type(name: str, kind: type) -> Callable[[str], object]:
    """The check for a training config's numeric field, by its name: seeds, warm-up steps,
    worker counts and weight decay may be 0; fractions and ratios lie in [0, 1];
    every other count, interval and rate (steps, games, batch sizes, lr, minutes,
    threads) is positive."""
    if kind is int:
        return (
            non_negative_int if name in ("seed", "warmup_steps", "data_workers") else positive_int
        )
    if kind is float:
        if name.endswith(("_fraction", "_ratio")):
            return fraction
        return non_negative_float if name == "weight_decay" else positive_float
    return kind


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
        kind = config_field_type(f.name, none_default_types.get(f.name, type(f.default)))
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind)
