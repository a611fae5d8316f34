"""Open the rendered site in headless Chromium with the network blocked.

Every page: no JavaScript error, no request leaving localhost, every plot drawn (an SVG
with content), widgets drawn by the bundled manager; moving a board slider with the mouse
changes the board. Screenshots of each page go to ``runs/screenshots/`` for people, and one
figure of each to the README's gallery (``tests/gallery.py``: scratch unless asked).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

from gallery import gallery_shot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).parents[2] / "runs" / "screenshots"
# Chromium resolves no host but localhost: nothing can leave the machine.
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


@contextmanager
def serve(root: Path):
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def browser_page(base: str, width: int = 1280):
    """A page that records JS errors and any request that tries to leave ``base``;
    ``width``: of the window."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("Chromium not found: `make browser` installs it (`make test` runs it).")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=NO_NETWORK)
        context = browser.new_context(viewport={"width": width, "height": 900})
        page = context.new_page()
        page.errors, page.outside = [], []

        def route(r):
            if r.request.url.startswith(base):
                r.continue_()
            else:
                page.outside.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        try:
            yield page
        finally:
            browser.close()


DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(g => {
  const svg = g.querySelector('svg.main-svg');
  const box = g.getBoundingClientRect();
  return {id: g.id, drawn: !!svg && svg.childElementCount > 0 && box.width > 0 && box.height > 0,
          marks: g.querySelectorAll('.point, .heatmaplayer image, .trace').length,
          slider: !!(g.layout && g.layout.sliders && g.layout.sliders.length)};
})"""

ALL_DRAWN = """() => Array.from(document.querySelectorAll('.plotly-graph-div'))
  .every(g => g.querySelector('svg.main-svg'))"""


def _open(page, url: str) -> list[dict]:
    page.goto(url, wait_until="load")
    page.wait_for_function(ALL_DRAWN, timeout=60_000)
    return page.evaluate(DRAWN)


def test_every_page_draws_offline_without_errors(site):
    out, report = site
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with serve(out) as base, browser_page(base) as page:
        page.goto(base + "index.html")
        assert page.locator("ol li a").count() == len(report.pages)
        for entry in report.pages:
            plots = _open(page, base + entry.page)
            assert len(plots) == entry.figures, entry.page
            assert all(p["drawn"] and p["marks"] > 0 for p in plots), (entry.page, plots)
            if entry.widgets:
                page.wait_for_selector(".widget-box, .jupyter-widgets", timeout=30_000)
            page.screenshot(path=str(SCREENSHOTS / f"{Path(entry.page).stem}.png"), full_page=True)
            gallery_shot(page, Path(entry.page).stem)
            assert not page.errors, (entry.page, page.errors)
            assert not page.outside, (entry.page, page.outside)


BOARD = "id => JSON.stringify(document.getElementById(id).data.map(t => [t.x, t.y, t.z]))"


COLUMN_PX = 900  # the notebook column every figure and widget must fit

# Figures and widgets wider than the column; widget labels and buttons whose text is cut
# (wider than their box); plot titles that run past the figure's right edge.
TOO_WIDE = """max => Array.from(document.querySelectorAll(
    '.plotly-graph-div, .widget-box, .widget-hbox, .widget-vbox, .jupyter-widgets'))
  .map(e => ({what: e.className.split(' ')[0] + (e.id ? '#' + e.id : ''),
              width: Math.round(Math.max(e.getBoundingClientRect().width, e.scrollWidth))}))
  .filter(e => e.width > max)"""

TRUNCATED = """() => {
  const cut = [];
  for (const e of document.querySelectorAll(
      '.widget-label, .widget-button, .jupyter-button, .widget-inline-hbox label')) {
    if (e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)
      cut.push({text: e.textContent.trim(), box: e.clientWidth, needs: e.scrollWidth});
  }
  for (const g of document.querySelectorAll('.plotly-graph-div')) {
    const right = g.getBoundingClientRect().right;
    for (const t of g.querySelectorAll('.gtitle, .g-xtitle text, .g-ytitle text')) {
      const box = t.getBoundingClientRect();
      if (box.width > 0 && box.right > right + 1)
        cut.push({text: t.textContent.trim(), past_edge_px: Math.round(box.right - right)});
    }
  }
  return cut;
}"""


def fits_the_column(page) -> tuple[list, list]:
    """What is wider than the notebook column, and what text is cut off, on ``page``."""
    return page.evaluate(TOO_WIDE, COLUMN_PX), page.evaluate(TRUNCATED)


def test_every_figure_and_widget_fits_the_column_with_nothing_cut_off(site):
    out, report = site
    problems = {}  # in a 900 px window: what scales to its container fits it
    with serve(out) as base, browser_page(base, width=COLUMN_PX) as page:
        for entry in report.pages:
            _open(page, base + entry.page)
            if entry.widgets:
                page.wait_for_selector(".widget-box, .jupyter-widgets", timeout=30_000)
                page.wait_for_timeout(500)  # fonts and styles
            wide, cut = fits_the_column(page)
            if wide or cut:
                problems[entry.page] = {"wider than 900 px": wide, "cut off": cut}
    assert not problems, problems


def test_the_width_and_truncation_checks_catch_a_wide_widget_and_a_cut_label(tmp_path):
    """The checks above, on a page that breaks both rules (and one that does not)."""
    from workbench.render import render_site

    from helpers import write_notebook

    nb = write_notebook(
        tmp_path / "bad.ipynb",
        "import ipywidgets as w\nimport plotly.graph_objects as go",
        "w.HBox([w.HTML('x', layout=w.Layout(min_width='1000px'))])",
        "go.Figure(go.Scatter(y=[1, 2]), layout={'width': 1200})",
        "w.Button(description='Play the model move and more words', layout=w.Layout(width='60px'))",
        "w.HBox([w.Button(description='ok', layout=w.Layout(width='120px'))])",
    )
    out = tmp_path / "site"
    report = render_site([nb], out, progress=False)
    with serve(out) as base, browser_page(base, width=COLUMN_PX) as page:
        page.goto(base + report.pages[0].page, wait_until="load")
        page.wait_for_selector(".widget-button", timeout=30_000)
        page.wait_for_timeout(500)
        wide, cut = fits_the_column(page)
    # the HTML widget, its box, the figure; the button that fits is not flagged
    assert len(wide) >= 2 and all(w["width"] >= 1000 for w in wide), wide
    assert [c["text"] for c in cut] == ["Play the model move and more words"], cut


def test_moving_a_slider_changes_the_board(site):
    out, report = site
    with serve(out) as base, browser_page(base) as page:
        plots = _open(page, base + report.pages[0].page)
        board = next(p["id"] for p in plots if p["slider"])
        before = page.evaluate(BOARD, board)
        rail = page.locator(f"[id='{board}'] .slider-rail-touch-rect")
        rail.scroll_into_view_if_needed()
        box = rail.bounding_box()
        page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
        active = f"() => document.getElementById('{board}')._fullLayout.sliders[0].active"
        page.wait_for_function(f"() => ({active})() > 0", timeout=10_000)
        page.wait_for_timeout(200)  # the frame's animation has zero duration
        assert page.evaluate(BOARD, board) != before
        page.locator(f"[id='{board}']").screenshot(path=str(SCREENSHOTS / "slider-moved.png"))
        assert not page.errors and not page.outside


def test_plain_widgets_draw_from_the_bundled_manager(widget_site):
    out, report = widget_site
    with serve(out) as base, browser_page(base) as page:
        page.goto(base + report.pages[0].page, wait_until="load")
        slider = page.wait_for_selector(".widget-slider", timeout=30_000)
        assert "7" in page.inner_text(".widget-readout") and slider.is_visible()
        page.wait_for_timeout(500)  # let the fonts and styles load
        assert not page.errors, page.errors
        assert not page.outside, page.outside
