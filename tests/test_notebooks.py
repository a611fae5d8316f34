"""Every notebook is committed without outputs and takes parameters for small CI runs.

That every notebook executes top to bottom on a fresh kernel is checked by rendering
the site (``tests/render``), which executes each one once.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from workbench.render.execute import parameter_names

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_a_parameters_cell(path):
    assert parameter_names(nbformat.read(path, as_version=4)), f"{path.name}: no parameters cell"
