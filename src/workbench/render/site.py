"""Render notebooks to a static site that stays interactive with no kernel and no network.

1. Execute each notebook on a fresh kernel (``execute.execute_notebook``).
2. Make every view kernel-free: a workbench widget's static form
   (``STATIC_FIGURE_MIME``) or a plotly figure becomes an HTML ``div`` drawn by the site's
   single copy of plotly.js (sliders, buttons and frames run in the browser). A widget with
   no static form keeps its embedded state, drawn by the widget manager the site bundles.
3. Export each notebook to HTML with the ``workbench`` template (the lab template with
   every script served from ``_static/``).
4. Write ``_static/`` (plotly.js from the plotly package; require.js and the widget
   manager from the npm registry, fetched at set-up by ``js/fetch.sh``, only when a page
   needs them), ``index.html`` and ``manifest.json`` (timings and sizes).

The site is built next to ``out`` and swapped into place at the end (``workbench.outputs``):
a failed render leaves the previous site as it was, and a folder the workbench did not
write is never replaced without ``overwrite``.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import plotly.io as pio
from nbconvert import HTMLExporter
from plotly.offline import get_plotlyjs

from workbench.outputs import output_dir
from workbench.render.execute import execute_notebook
from workbench.widgets.static import STATIC_FIGURE_MIME

PLOTLY_MIME = "application/vnd.plotly.v1+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_JS_DIR = Path(sys.prefix) / "share" / "workbench-js"
STATIC = "_static"
HTML_MANAGER = "@jupyter-widgets/html-manager"


class MissingAssetsError(FileNotFoundError):
    """The bundled JavaScript a page needs was not fetched at set-up."""


@dataclass
class Page:
    """One rendered notebook."""

    notebook: str
    page: str
    title: str
    summary: str
    seconds: float
    bytes: int
    figures: int  # plotly figures drawn kernel-free
    widgets: int  # widget views left to the bundled widget manager
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class SiteReport:
    """What was rendered, how long it took and how large it is (also ``manifest.json``)."""

    out: str
    pages: list[Page]
    static_bytes: int  # _static/, shared by every page
    total_bytes: int  # the whole site
    seconds: float

    @property
    def mean_page_bytes(self) -> float:
        """The site's size per notebook page, shared files included."""
        return self.total_bytes / len(self.pages)

    def to_dict(self) -> dict:
        return {**asdict(self), "mean_page_bytes": self.mean_page_bytes}


def figure_html(figure: dict, div_id: str) -> str:
    """A plotly figure (as JSON) as a ``div`` that draws itself with the page's plotly.js."""
    figure = dict(figure)
    config = {"displaylogo": False, **figure.pop("config", {})}
    return pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        auto_play=False,
        validate=False,
        config=config,
    )


def make_kernel_free(nb: nbformat.NotebookNode, prefix: str) -> tuple[int, int]:
    """Replace figures and widgets that have a static form by HTML, in place.

    Returns (figures converted, widget views left). Widget state is dropped from the
    metadata when no widget view is left, so the page loads no widget manager.
    """
    figures, views = 0, []
    for c, cell in enumerate(nb.cells):
        for o, output in enumerate(cell.get("outputs", [])):
            data = output.get("data", {})
            figure = data.get(STATIC_FIGURE_MIME, data.get(PLOTLY_MIME))
            if figure is not None:
                output["data"] = {"text/html": figure_html(figure, f"fig-{prefix}-{c}-{o}")}
                output["metadata"] = {}
                figures += 1
            elif WIDGET_VIEW_MIME in data:
                model_id = data[WIDGET_VIEW_MIME]["model_id"]
                text = _progress_bar_text(_widget_state(nb), model_id)
                if text is None:
                    views.append(model_id)
                else:  # a finished progress bar needs no widget manager to be read
                    output["data"] = {"text/plain": text}
    _prune_widget_state(nb, views)
    return figures, len(views)


def _widget_state(nb: nbformat.NotebookNode) -> dict:
    return nb.metadata.get("widgets", {}).get(WIDGET_STATE_MIME, {}).get("state", {})


def _progress_bar_text(state: dict, model_id: str) -> str | None:
    """The final text of a tqdm-style bar (a box of labels and a progress bar), or None."""
    box = state.get(model_id, {}).get("state", {})
    children = [
        state.get(ref.removeprefix("IPY_MODEL_"), {}).get("state", {})
        for ref in box.get("children", [])
    ]
    if not any(c.get("_view_name") == "ProgressView" for c in children):
        return None
    labels = [c.get("value") for c in children if c.get("_view_name") == "HTMLView"]
    return html.unescape(" ".join(re.sub(r"<[^>]*>", "", v) for v in labels if v))


def _prune_widget_state(nb: nbformat.NotebookNode, roots: list[str]) -> None:
    """Keep only the widget models the remaining views reach (e.g. a progress bar's parts).

    A live figure widget's model holds its whole figure; once its view is replaced by the
    static form, nothing needs it and it would only weigh the page down.
    """
    state = _widget_state(nb)
    keep, todo = set(), list(roots)
    while todo:
        model_id = todo.pop()
        if model_id in keep or model_id not in state:
            continue
        keep.add(model_id)
        todo.extend(re.findall(r"IPY_MODEL_([0-9a-f]+)", json.dumps(state[model_id])))
    if not keep:
        nb.metadata.pop("widgets", None)
        return
    for model_id in set(state) - keep:
        del state[model_id]


def _title_and_summary(nb: nbformat.NotebookNode, fallback: str) -> tuple[str, str]:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            lines = [line.strip() for line in cell.source.splitlines()]
            title = next((line.lstrip("# ") for line in lines if line.startswith("#")), fallback)
            body = [line for line in lines if line and not line.startswith("#")]
            return title, body[0] if body else ""
    return fallback, ""


def _exporter() -> HTMLExporter:
    return HTMLExporter(
        template_name="workbench",
        extra_template_basedirs=[str(TEMPLATES)],
        require_js_url=f"{STATIC}/require.js",
        widget_renderer_url=f"{STATIC}/html-manager/embed-amd.js",
    )


def write_static(out: Path, *, widgets: bool, js_dir: Path = DEFAULT_JS_DIR) -> int:
    """Write ``out/_static``: plotly.js always, the widget manager if ``widgets``; bytes."""
    static = out / STATIC
    static.mkdir(parents=True, exist_ok=True)
    (static / "plotly.min.js").write_text(get_plotlyjs(), encoding="utf-8")
    if widgets:
        manager = js_dir / HTML_MANAGER / "dist"
        require = js_dir / "requirejs" / "require.js"
        missing = [str(p) for p in (manager / "embed-amd.js", require) if not p.exists()]
        if missing:
            raise MissingAssetsError(
                f"Pages embed widgets but the bundled JavaScript is missing: {missing}. "
                f"Fetch it with `js/fetch.sh {js_dir}` (or `make env`)."
            )
        # The AMD bundle and its web fonts; browsers that run it never ask for eot/ttf/svg.
        (static / "html-manager").mkdir()
        for f in [manager / "embed-amd.js", *manager.glob("*.woff2"), *manager.glob("*.woff")]:
            shutil.copy(f, static / "html-manager" / f.name)
        shutil.copy(require, static / "require.js")
    return sum(f.stat().st_size for f in static.rglob("*") if f.is_file())


def _index_html(pages: list[Page]) -> str:
    rows = "\n".join(
        f'<li><a href="{html.escape(p.page)}">{html.escape(p.title)}</a>'
        f"<p>{html.escape(p.summary)}</p>"
        f'<p class="meta">{html.escape(p.notebook)} · executed in {p.seconds:.0f} s · '
        f"{p.bytes / 1e6:.2f} MB · {p.figures} interactive figures</p></li>"
        for p in pages
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>workbench notebooks</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em;
  color: #222; }}
li {{ margin-bottom: 1.2em; }} p {{ margin: 0.2em 0; }} .meta {{ color: #666; font-size: 90%; }}
</style></head>
<body><h1>workbench notebooks</h1>
<p>Executed notebooks. Figures, sliders and buttons work in the browser with no kernel and
no network; open the notebooks in JupyterLab (<code>make lab</code>) for the live widgets.</p>
<ol>
{rows}
</ol></body></html>
"""


def _older_site(folder: Path) -> bool:
    """A site ``render_site`` wrote before output folders carried the workbench's marker:
    ``index.html``, ``manifest.json`` and ``_static/``, and besides them only pages."""
    names = {p.name for p in folder.iterdir()}
    pages = {n for n in names if n.endswith(".html")}
    known = {"index.html", "manifest.json", STATIC}
    return known <= names and names <= pages | known


def render_site(
    notebooks: list[str | Path],
    out: str | Path,
    *,
    parameters: dict[str, Any] | None = None,
    js_dir: str | Path = DEFAULT_JS_DIR,
    timeout: int = 900,
    progress: bool = True,
    overwrite: bool = False,
) -> SiteReport:
    """Execute ``notebooks`` and write the static site to ``out`` (see the module docstring).

    ``parameters`` override each notebook's ``parameters`` cell where it declares them.
    ``out`` is replaced whole, so it must be new, empty or a site the workbench rendered;
    ``overwrite`` replaces any other folder (never the notebooks', nor the repository:
    ``workbench.outputs``).
    """
    if not notebooks:
        raise ValueError("No notebooks to render.")
    paths = [Path(p) for p in notebooks]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Notebooks not found: {missing}")
    out = Path(out)
    where = output_dir(
        out,
        writer="workbench render",
        overwrite=overwrite,
        recognise=_older_site,
        protect=[p.parent for p in paths],
        recognised="(A site rendered before the marker counts as the workbench's: index.html, "
        "manifest.json, _static/ and pages only.)",
    )
    with where as partial:
        return _render_into(partial, out, paths, parameters, js_dir, timeout, progress)


def _render_into(
    partial: Path,
    out: Path,
    paths: list[Path],
    parameters: dict[str, Any] | None,
    js_dir: str | Path,
    timeout: int,
    progress: bool,
) -> SiteReport:
    """Render ``paths`` into the folder ``partial`` (to become ``out``)."""
    start = time.perf_counter()
    exporter = _exporter()
    pages, any_widgets = [], False
    note = time.strftime("rendered %Y-%m-%d; live widgets: open the notebook in JupyterLab")
    for path in paths:
        run = execute_notebook(path, parameters=parameters, timeout=timeout, progress=progress)
        figures, widgets = make_kernel_free(run.notebook, prefix=path.stem)
        any_widgets |= widgets > 0
        body, _ = exporter.from_notebook_node(
            run.notebook, resources={"workbench_static": STATIC, "workbench_note": note}
        )
        page = partial / f"{path.stem}.html"
        page.write_text(body, encoding="utf-8")
        title, summary = _title_and_summary(run.notebook, path.stem)
        pages.append(
            Page(
                notebook=path.name,
                page=page.name,
                title=title,
                summary=summary,
                seconds=round(run.seconds, 1),
                bytes=page.stat().st_size,
                figures=figures,
                widgets=widgets,
                parameters=run.parameters,
            )
        )
    static_bytes = write_static(partial, widgets=any_widgets, js_dir=Path(js_dir))
    (partial / "index.html").write_text(_index_html(pages), encoding="utf-8")
    total = sum(f.stat().st_size for f in partial.rglob("*") if f.is_file())
    seconds = round(time.perf_counter() - start, 1)
    report = SiteReport(str(out), pages, static_bytes, total, seconds)
    (partial / "manifest.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return report
