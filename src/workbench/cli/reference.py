"""``workbench cli-table / manifest / data-readme / fetch``: the generated references and
the data folder.

``cli_table(parser)`` renders every subcommand of the parser and its help line as a markdown
table; the README holds it between ``<!-- cli-table -->`` markers, and a test checks that
it matches the parser.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

START, END = "<!-- cli-table -->", "<!-- /cli-table -->"


def cli_table(parser: argparse.ArgumentParser | argparse._SubParsersAction) -> str:
    """Every subcommand of ``parser`` (``workbench.cli.build_parser()``, or its subcommands
    action), one markdown row each: the command and its help."""
    sub = parser
    if isinstance(parser, argparse.ArgumentParser):
        (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    rows = ["| command | what it does |", "| --- | --- |"]
    for action in sub._choices_actions:
        help_line = " ".join((action.help or "").split()).replace("|", "\\|")
        rows.append(f"| `workbench {action.dest}` | {help_line} |")
    return "\n".join(rows) + "\n"


def table_in(text: str) -> str:
    """The table between the markers of a document (``ValueError`` if they are missing)."""
    if START not in text or END not in text:
        raise ValueError(f"No {START} ... {END} block in the document.")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def with_table(text: str, table: str) -> str:
    """``text`` with the block between the markers replaced by ``table``."""
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    return f"{before}{START}\n{table}{END}{after}"


def _cli_table(args: argparse.Namespace) -> None:
    table = cli_table(args.subcommands)  # every command registered, this one's siblings
    if args.update is None:
        sys.stdout.write(table)
        return
    path = Path(args.update)
    path.write_text(with_table(path.read_text(), table))
    sys.stdout.write(f"updated the table of commands in {path}\n")


def _manifest(args: argparse.Namespace) -> None:
    from workbench.manifest import check_manifest, write_manifest

    if args.check:
        lines = check_manifest()
        sys.stdout.write("".join(f"{line}\n" for line in lines) or "manifest up to date\n")
        if lines:
            raise SystemExit(1)
        return
    sys.stdout.write(f"wrote {write_manifest()}\n")


def _data_readme(args: argparse.Namespace) -> None:
    from workbench import catalogue, paths

    if args.check:
        current = (paths.data_dir() / catalogue.README).read_text()
        if current != catalogue.render():
            sys.stdout.write("data/README.md is out of date: run `workbench data-readme`\n")
            raise SystemExit(1)
        sys.stdout.write("data/README.md up to date\n")
        return
    sys.stdout.write(f"wrote {catalogue.write()}\n")


def _fetch(args: argparse.Namespace) -> None:
    from workbench.fetch import fetch

    report = fetch(
        args.paths,
        repo=args.repo,
        revision=args.revision,
        repo_type=args.repo_type,
        data_dir=args.data,
        overwrite=args.overwrite,
        dry_run=args.dry_run,
    )
    if args.dry_run:
        sys.stdout.write("".join(f"would fetch {p}\n" for p in report.fetched))
    sys.stdout.write(report.summary())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cli-table", help="print this table of every command (markdown)")
    p.add_argument("--update", metavar="FILE", help="rewrite the table inside FILE's markers")
    p.set_defaults(func=_cli_table, subcommands=sub)

    p = sub.add_parser(
        "manifest", help="write data/manifest.json: every shipped file's size and SHA-256"
    )
    p.add_argument("--check", action="store_true", help="compare instead; exit 1 on a change")
    p.set_defaults(func=_manifest)

    p = sub.add_parser(
        "data-readme", help="write data/README.md: every shipped artefact, its size, what made it"
    )
    p.add_argument("--check", action="store_true", help="compare instead; exit 1 if stale")
    p.set_defaults(func=_data_readme)

    p = sub.add_parser(
        "fetch",
        help="download shipped artefacts from the Hugging Face Hub repository the manifest "
        "names (or --repo), each checked against its SHA-256",
    )
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folders, files or globs of the manifest, e.g. models/othello-gpt-cpu-6l "
        "(default: every file)",
    )
    p.add_argument("--repo", metavar="OWNER/NAME", help="the Hub repository (default: manifest's)")
    p.add_argument("--revision", help="branch, tag or commit (default: the manifest's, or main)")
    p.add_argument("--repo-type", choices=("model", "dataset"), help="default: model")
    p.add_argument(
        "--data",
        metavar="DIR",
        help="the folder to fill, made if missing (default: the data "
        "folder: WORKBENCH_DATA or the clone's)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace files that differ from the Hub's"
    )
    p.add_argument("--dry-run", action="store_true", help="list what would be downloaded")
    p.set_defaults(func=_fetch)
