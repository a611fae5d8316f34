import json
import re
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from render.conftest import NOTEBOOKS

from workbench.outputs import OutputFolderError
from workbench.render import make_kernel_free, render_site
from workbench.render.site import PLOTLY_MIME, WIDGET_STATE_MIME, WIDGET_VIEW_MIME
from workbench.widgets.static import STATIC_FIGURE_MIME

from helpers import write_notebook

CDN = re.compile(r"""<(?:script|link)[^>]+(?:src|href)=["']?(?:https?:)?//""")


def _output(data: dict) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data=data)


def test_static_form_wins_over_the_live_widget_and_plotly_json_becomes_html():
    fig = go.Figure(go.Scatter(y=[1, 2])).to_plotly_json()
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {WIDGET_STATE_MIME: {"state": {"abc": {"state": {}}}}}
    cell = nbformat.v4.new_code_cell("")
    widget = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    cell.outputs = [
        _output({"text/plain": "W", WIDGET_VIEW_MIME: widget, STATIC_FIGURE_MIME: fig}),
        _output({"text/plain": "F", PLOTLY_MIME: fig}),
        _output({"text/plain": "just text"}),
    ]
    nb.cells = [cell]
    assert make_kernel_free(nb, prefix="nb") == (2, 0)
    first, second, third = cell.outputs
    assert list(first.data) == ["text/html"] and 'id="fig-nb-0-0"' in first.data["text/html"]
    assert "Plotly.newPlot" in second.data["text/html"]
    assert third.data == {"text/plain": "just text"}
    assert "widgets" not in nb.metadata  # nothing left for a widget manager to draw


def test_a_widget_without_static_form_keeps_only_the_state_it_needs():
    nb = nbformat.v4.new_notebook()
    state = {
        "a1": {"state": {"children": ["IPY_MODEL_b2"]}},
        "b2": {"state": {"value": 3}},
        "c3": {"state": {"figure": "a live figure widget whose view was replaced"}},
    }
    nb.metadata["widgets"] = {WIDGET_STATE_MIME: {"state": state}}
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [_output({WIDGET_VIEW_MIME: {"model_id": "a1"}})]
    nb.cells = [cell]
    assert make_kernel_free(nb, prefix="nb") == (0, 1)
    assert sorted(nb.metadata["widgets"][WIDGET_STATE_MIME]["state"]) == ["a1", "b2"]


def test_site_has_every_notebook_and_plotly_once(site):
    out, report = site
    assert [p.notebook for p in report.pages] == [p.name for p in NOTEBOOKS]
    index = (out / "index.html").read_text()
    for page in report.pages:
        html = (out / page.page).read_text()
        assert f'href="{page.page}"' in index
        assert page.figures > 0
        assert html.count('src="_static/plotly.min.js"') == 1
        assert "plotly.js v" not in html  # the library itself is not inlined
        assert not CDN.findall(html), "a page loads a script or stylesheet from the network"
    assert (out / "_static" / "plotly.min.js").stat().st_size > 1_000_000
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["total_bytes"] == report.total_bytes
    print(
        f"site: {len(report.pages)} pages, {report.total_bytes / 1e6:.2f} MB, "
        f"{report.mean_page_bytes / 1e6:.2f} MB per page, rendered in {report.seconds:.0f} s"
    )


def test_widget_manager_is_bundled_not_fetched(widget_site):
    out, report = widget_site
    (page,) = report.pages
    assert page.widgets == 1
    html = (out / page.page).read_text()
    assert (
        "_static/html-manager/embed-amd.js" in html
        and "application/vnd.jupyter.widget-state" in html
    )
    assert (out / "_static" / "html-manager" / "embed-amd.js").exists()
    assert (out / "_static" / "require.js").exists()
    assert not CDN.findall(html)


def test_failed_render_leaves_the_previous_site(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "1 + 1")
    out = tmp_path / "site"
    render_site([good], out, progress=False)
    before = sorted(p.name for p in out.iterdir())
    broken = write_notebook(tmp_path / "broken.ipynb", "raise RuntimeError('boom')")
    with pytest.raises(Exception, match="boom"):
        render_site([good, broken], out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == before
    with pytest.raises(FileNotFoundError, match="missing.ipynb"):
        render_site([tmp_path / "missing.ipynb"], out, progress=False)


def test_a_finished_progress_bar_becomes_its_text():
    nb = nbformat.v4.new_notebook()
    state = {
        "box": {"state": {"_view_name": "HBoxView", "children": ["IPY_MODEL_l", "IPY_MODEL_p"]}},
        "l": {"state": {"_view_name": "HTMLView", "value": "harvest: 100%"}},
        "p": {"state": {"_view_name": "ProgressView", "value": 2.0, "max": 2.0}},
    }
    nb.metadata["widgets"] = {WIDGET_STATE_MIME: {"state": state}}
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [_output({"text/plain": "0%", WIDGET_VIEW_MIME: {"model_id": "box"}})]
    nb.cells = [cell]
    assert make_kernel_free(nb, prefix="nb") == (0, 0)
    assert cell.outputs[0].data == {"text/plain": "harvest: 100%"}
    assert "widgets" not in nb.metadata


def test_a_users_file_in_the_out_folder_survives_and_the_error_names_the_folder(tmp_path, capsys):
    from workbench.cli import main

    good = write_notebook(tmp_path / "good.ipynb", "1 + 1")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match=rf"'{out}' .*notes.txt.*--overwrite"):
        render_site([good], out, progress=False)
    with pytest.raises(SystemExit) as stop:
        main(["render", str(good), "--out", str(out)])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench render: error: ") and str(out) in err and "notes.txt" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.ipynb", "mine"]
    assert (out / "notes.txt").read_text() == "mine"


def test_the_notebooks_folder_and_the_repository_are_refused_even_with_overwrite(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "1 + 1")
    repo = Path(__file__).parents[2]
    for out in (repo / "notebooks", repo, tmp_path):  # tmp_path: the notebook's own folder
        with pytest.raises(OutputFolderError, match="never replaces"):
            render_site([good], out, progress=False, overwrite=True)
    assert (repo / "notebooks").is_dir() and good.exists()


def test_a_site_rendered_before_the_marker_is_replaced(tmp_path):
    good = write_notebook(tmp_path / "good.ipynb", "1 + 1")
    out = tmp_path / "site"
    (out / "_static").mkdir(parents=True)
    for name in ("index.html", "manifest.json", "old.html"):
        (out / name).write_text("old")
    render_site([good], out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == [
        ".workbench-output", "_static", "good.html", "index.html", "manifest.json"
    ]  # fmt: skip


def unfinished_bars(html: str) -> list[str]:
    """tqdm bars in a page's text that did not reach 100% (a red one, a closed one left at
    its first redraw such as sae-lens's "1/20", or a total that was wrong). A carriage
    return overwrites what came before it on the line, as in a terminal."""
    lines = (line.removesuffix("\r").rsplit("\r", 1)[-1] for line in html.split("\n"))
    text = "\n".join(lines)  # linear in the page's size (pages hold megabytes of plot data)
    return [m[0] for m in re.finditer(r"\b(\d{1,3})%\|[^\n<]{0,80}", text) if m[1] != "100"]


def test_unfinished_bars_are_found():
    assert unfinished_bars("a: 100%|##| 20/20 [00:01]\nb:   5%|  | 1/20 [00:00]") == [
        "5%|  | 1/20 [00:00]"
    ]
    assert unfinished_bars("c:  50%|# | 1/2\rc: 100%|##| 2/2\n") == []


def test_no_page_shows_an_unfinished_progress_bar(site):
    out, report = site
    left = {p.page: unfinished_bars((out / p.page).read_text()) for p in report.pages}
    assert not any(left.values()), {page: bars for page, bars in left.items() if bars}
