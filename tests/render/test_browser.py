"""Open the rendered site in headless Chromium with the network blocked.

Every page: no JavaScript error, no request leaving localhost, every plot drawn (an SVG
with content), widgets drawn by the bundled manager; moving a board slider with the mouse
changes the board. Screenshots of each page go to ``runs/screenshots/`` for people.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest

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
def browser_page(base: str):
    """A page that records JS errors and any request that tries to leave ``base``."""
    from playwright.sync_api import sync_playwright

    if CHROMIUM is None:
        pytest.fail("Chromium not found: `make browser` installs it (`make test` runs it).")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=NO_NETWORK)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
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
            assert not page.errors, (entry.page, page.errors)
            assert not page.outside, (entry.page, page.outside)


BOARD = "id => JSON.stringify(document.getElementById(id).data.map(t => [t.x, t.y, t.z]))"


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
