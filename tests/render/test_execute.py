import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

from workbench.render import ParameterError, execute_notebook, inject_parameters
from workbench.render.execute import parameter_names

from helpers import write_notebook


def _with_parameters(source: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    return nb


def test_parameter_names_reads_top_level_assignments():
    nb = _with_parameters("A = 1  # comment\nB = (1, 2)\n# C = 3\nif A:\n    D = 4")
    assert parameter_names(nb) == ["A", "B"]


def test_inject_parameters_overrides_only_declared_names():
    nb = _with_parameters("A = 1\nB = 2")
    assert inject_parameters(nb, {"B": 5, "Z": 9}) == ["B"]
    namespace: dict = {}
    exec(nb.cells[1].source, namespace)
    assert namespace["A"] == 1 and namespace["B"] == 5 and "Z" not in namespace


def test_execute_applies_parameters_and_fails_loudly(tmp_path):
    path = tmp_path / "nb.ipynb"
    nb = _with_parameters("N = 3")
    nb.cells.append(nbformat.v4.new_code_cell("print(N * 2)"))
    nbformat.write(nb, path)
    run = execute_notebook(path, parameters={"N": 21}, progress=False)
    assert run.parameters == {"N": 21}
    assert run.notebook.cells[-1].outputs[0]["text"].strip() == "42"

    with pytest.raises(ParameterError, match="declares \\['N'\\]"):
        execute_notebook(path, parameters={"M": 1}, strict=True, progress=False)

    broken = write_notebook(tmp_path / "broken.ipynb", "1 / 0")
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        execute_notebook(broken, progress=False)


def test_figures_are_saved_as_plotly_json(tmp_path):
    path = write_notebook(tmp_path / "fig.ipynb", "import plotly.express as px\npx.line(y=[1, 2])")
    outputs = execute_notebook(path, progress=False).notebook.cells[-1].outputs
    assert "application/vnd.plotly.v1+json" in outputs[0]["data"]
    assert "text/html" not in outputs[0]["data"]  # no plotly.js inlined in the notebook
