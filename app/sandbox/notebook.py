"""A session's executed cells as an .ipynb file."""

from __future__ import annotations

from collections.abc import Iterable

import nbformat
from nbformat import v4

from app.sandbox.kernel import Cell


def notebook_from_cells(cells: Iterable[Cell]) -> bytes:
    nb = v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for cell in cells:
        outputs = [v4.new_output(out.output_type, **out.content) for out in cell.result.outputs]
        if cell.result.error and cell.result.status != "error":
            outputs.append(v4.new_output("stream", name="stderr", text=f"[{cell.result.error}]\n"))
        nb.cells.append(
            v4.new_code_cell(cell.code, execution_count=cell.result.execution_count, outputs=outputs)
        )
    nbformat.validate(nb)
    return nbformat.writes(nb).encode()
