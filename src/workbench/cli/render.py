"""``workbench render``: execute notebooks into a kernel-free static site."""

from __future__ import annotations

import argparse
import sys

from workbench.cli.flags import positive_int


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
    report = render_site(
        notebooks,
        args.out,
        parameters=dict(args.param),
        timeout=args.timeout,
        overwrite=args.overwrite,
    )
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("render", help="execute notebooks and write a kernel-free static site")
    p.add_argument("notebooks", nargs="*", help="default: notebooks/*.ipynb")
    p.add_argument(
        "--out",
        default="site",
        help="the site's folder, replaced whole once the render succeeds: new, empty or a site "
        "the workbench rendered (see --overwrite)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out even if it holds files the workbench did not write (never the "
        "notebooks' folder, the repository or your home)",
    )
    p.add_argument(
        "--param",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a notebook parameter (where the notebook declares it); repeatable",
    )
    p.add_argument("--timeout", type=positive_int, default=900, help="seconds per cell")
    p.set_defaults(func=_render)
