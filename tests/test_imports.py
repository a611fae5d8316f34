"""What importing the workbench costs: a notebook's import cell imports no TransformerLens,
sae-lens or transformers (seconds at a cold start); the first cell that loads a model or
an SAE imports them, under a bar (issue 37)."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import nbformat

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
HEAVY = ["transformer_lens", "sae_lens", "transformers"]


def import_cell(path: Path) -> str:
    """The import statements that open a notebook's second code cell (the first holds its
    parameters); later statements of that cell (e.g. the first load_model) are left out."""
    source = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"][1]
    statements = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.Import | ast.ImportFrom):
            break
        statements.append(ast.get_source_segment(source, node))
    return "\n".join(statements)


def test_no_notebook_import_cell_imports_transformer_lens_sae_lens_or_transformers():
    # One fresh interpreter runs every notebook's import cell in turn (about 4 s in all)
    # and reports what each one added of HEAVY.
    cells = {path.name: import_cell(path) for path in NOTEBOOKS}
    script = (
        "import json, sys\n"
        f"heavy, found = {HEAVY!r}, {{}}\n"
        f"for name, cell in {cells!r}.items():\n"
        "    exec(cell, {})\n"
        "    found[name] = [m for m in heavy if m in sys.modules]\n"
        "print(json.dumps(found))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    found = json.loads(result.stdout.splitlines()[-1])
    assert all(cells.values()) and list(found) == list(cells)
    assert {name: heavy for name, heavy in found.items() if heavy} == {}
