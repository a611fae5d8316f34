"""Execute a notebook from a fresh kernel, with a progress bar and optional parameters.

1. Read the notebook; append ``NAME = value`` overrides to its cell tagged ``parameters``
   (only for names that cell already assigns: an unknown name is an error, not a no-op).
2. Start a fresh kernel whose plotly renderer is ``plotly_mimetype``, so every figure is
   saved as plotly JSON (the site turns it into HTML; JupyterLab users are unaffected).
3. Run every cell top to bottom with nbclient, one progress-bar step per code cell, and
   keep the widget state in the notebook's metadata.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from tqdm.auto import tqdm


class ParameterError(ValueError):
    """An override names a parameter the notebook does not have."""


def parameter_names(nb: nbformat.NotebookNode) -> list[str]:
    """Names assigned at the top level of the cell tagged ``parameters``."""
    cell = _parameters_cell(nb)
    if cell is None:
        return []
    names = []
    for line in cell.source.splitlines():
        head = line.split("#", 1)[0]
        if "=" in head and not line.startswith((" ", "\t")):
            names.append(head.split("=", 1)[0].strip())
    return names


def _parameters_cell(nb: nbformat.NotebookNode):
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    return tagged[0] if tagged else None


def inject_parameters(nb: nbformat.NotebookNode, overrides: dict[str, Any]) -> list[str]:
    """Append overrides the notebook declares to its parameters cell; returns those applied.

    Overrides for names the notebook does not declare are skipped (one dict serves every
    notebook); ``execute_notebook(strict=True)`` turns them into an error instead.
    """
    cell = _parameters_cell(nb)
    applied = [k for k in overrides if k in parameter_names(nb)]
    if applied:
        lines = "\n".join(f"{k} = {overrides[k]!r}" for k in applied)
        cell.source += f"\n# overrides\n{lines}"
    return applied


@dataclass
class Executed:
    """A notebook after execution, with how long it took and the overrides used."""

    path: Path
    notebook: nbformat.NotebookNode
    seconds: float
    parameters: dict[str, Any]


def execute_notebook(
    path: str | Path,
    *,
    parameters: dict[str, Any] | None = None,
    strict: bool = False,
    timeout: int = 900,
    kernel_name: str = "python3",
    progress: bool = True,
) -> Executed:
    """Run ``path`` top to bottom on a fresh kernel; a failing cell raises with its traceback."""
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    parameters = dict(parameters or {})
    applied = inject_parameters(nb, parameters)
    unknown = sorted(set(parameters) - set(applied))
    if strict and unknown:
        raise ParameterError(
            f"{path.name} has no parameter(s) {unknown}; it declares {parameter_names(nb)}."
        )
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    bar = tqdm(total=n_code, desc=path.name, unit="cell", disable=not progress, leave=True)

    def on_cell_executed(cell, **_):
        if cell.cell_type == "code":
            bar.update(1)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=True,
        on_cell_executed=on_cell_executed,
    )
    env = {**os.environ, "PLOTLY_RENDERER": "plotly_mimetype"}
    start = time.perf_counter()
    try:
        client.execute(env=env)
    finally:
        bar.close()
    return Executed(path, nb, time.perf_counter() - start, {k: parameters[k] for k in applied})
