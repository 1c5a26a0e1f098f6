"""Every notebook in notebooks/ runs end to end at small sizes.

A notebook keeps its parameters in the first cell tagged ``parameters``; the
small sizes for this run live in ``metadata.tfprune.test_parameters`` and are
injected as a new cell right after the parameters cell.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def _inject(nb):
    params = nb.metadata.get("tfprune", {}).get("test_parameters", {})
    idx = next((i for i, c in enumerate(nb.cells)
                if "parameters" in c.get("metadata", {}).get("tags", [])),
               None)
    assert idx is not None, "notebook has no cell tagged 'parameters'"
    src = "\n".join(f"{k} = {v!r}" for k, v in params.items())
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell(
        "# injected by the test suite\n" + src))
    return params


def _public_imports_only(nb):
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for n in names:
                assert not any(p.startswith("_") for p in n.split(".")), (
                    f"notebook imports private module {n}")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    _public_imports_only(nb)
    params = _inject(nb)
    assert params, f"{path.name} has no metadata.tfprune.test_parameters"
    env_cwd = tmp_path
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3",
        resources={"metadata": {"path": str(env_cwd)}})
    os.environ.setdefault("MPLBACKEND", "Agg")
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
