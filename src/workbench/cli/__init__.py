"""``workbench`` command line: train, evaluate, analyse and ship models, render notebooks.

workbench train --preset small --out runs/small --max-minutes 120
workbench train-lm --preset 2l --out runs/lm-2l --max-minutes 600
workbench eval othello --games 2000 --policy random
workbench artefacts othello --dry-run
workbench render --out site --param N_GAMES=200
workbench models

One module per area registers its subcommands, each handler next to its flags.
"""

from __future__ import annotations

import argparse

from workbench.cli import lm, othello, probes, render, saes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for area in (othello, lm, probes, saes, render):
        area.register(sub)
    args = parser.parse_args(argv)
    args.func(args)
