"""The rendered site, built once per test session from every notebook with CI settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.render import render_site

from helpers import write_notebook

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
# Smaller settings for CI, applied to each notebook's "parameters" cell where it has them.
CI_PARAMETERS = {
    "N_EVAL_GAMES": 100,
    "N_GAMES": 200,
    "N_EDITS": 100,
    "LIVE_TOKENS": 200_000,
    "N_LABEL_GAMES": 100,
    "N_WINDOWS": 128,
    "N_SEQS": 16,
    "COMPARE": ("othello-small",),  # notebook 03: one other width (the 8-layer model is slow)
}


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Every notebook of the project, rendered with the CI parameters."""
    out = tmp_path_factory.mktemp("site") / "site"
    report = render_site(NOTEBOOKS, out, parameters=CI_PARAMETERS, progress=False)
    return out, report


@pytest.fixture(scope="session")
def widget_site(tmp_path_factory):
    """A notebook with plain ipywidgets (no static form): drawn by the bundled manager."""
    root = tmp_path_factory.mktemp("widgets")
    nb = write_notebook(
        root / "plain_widgets.ipynb",
        "import ipywidgets as w",
        "w.VBox([w.IntSlider(value=7, description='n'), w.HTML('<b>hi</b>')])",
    )
    out = root / "site"
    return out, render_site([nb], out, progress=False)
