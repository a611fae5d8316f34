"""Every notebook runs top to bottom on a fresh kernel and is committed without outputs."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
# Smaller settings for CI, injected into each notebook's "parameters" cell.
CI_PARAMETERS = {"N_EVAL_GAMES": 100}


def inject_parameters(nb, overrides: dict) -> None:
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            lines = [f"{k} = {v!r}" for k, v in overrides.items() if f"{k} =" in cell.source]
            cell.source += "\n# CI overrides\n" + "\n".join(lines)
            return


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_top_to_bottom(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, CI_PARAMETERS)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    elapsed = time.perf_counter() - start
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    print(f"{path.name}: executed in {elapsed:.1f} s")
