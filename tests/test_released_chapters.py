"""The student version as a learner meets it: released, Run All, then every check cell run again.

A check cell must report the learner's stub as not attempted, on the first run and on any re-run
after Run All: no later cell may rebind an exercise's name (the reference fallback has names of
its own), and deliberately wrong answers are checked under their own names.
"""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from vitlearn.classroom.notebooks import chapters
from vitlearn.cli import main

CHAPTERS = chapters()


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("released")
    assert main(["release", "--out", str(out)]) == 0
    return out


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs)


def _check_cells(notebook) -> dict[int, str]:
    """Index of each check cell -> the exercise it checks."""
    cells = {}
    for index, cell in enumerate(notebook.cells):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.metadata.get("nbgrader", {}).get("grade") and grade_id.startswith("check_"):
            cells[index] = grade_id.removeprefix("check_")
    return cells


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_released_chapter_runs_and_its_checks_report_the_stub_even_after_run_all(released, chapter):
    notebook = nbformat.read(released / f"{chapter}.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(released)}})
    check_cells = _check_cells(notebook)
    assert set(check_cells.values()) == set(CHAPTERS[chapter].points)
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
        everything = "".join(_printed(c) for c in notebook.cells if c.cell_type == "code")
        for index, exercise in check_cells.items():
            first = _printed(notebook.cells[index])
            client.execute_cell(notebook.cells[index], index)  # run again, after Run All
            again = _printed(notebook.cells[index])
            for printed in (first, again):
                assert f"❌ {exercise}: 0 of" in printed and "not attempted yet" in printed
                assert f"✅ {exercise}" not in printed
    assert not re.search(r"^✅ .*: all \d+ cases pass", everything, re.MULTILINE)  # no check passes anywhere
    assert "Traceback" not in everything
    assert "does not pass its check yet, so the cells below use vitlearn's reference" in everything
