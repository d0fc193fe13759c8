"""`vitlearn release`: student notebooks keep the exercises and metadata, lose the answers, and run."""

import json
import re

import nbformat
import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapters
from vitlearn.classroom.release import STUB, student_version
from vitlearn.cli import main

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def solution_lines(source: str) -> list[str]:
    """The non-blank lines between the solution markers of a cell."""
    inside = re.findall(r"### BEGIN SOLUTION\n(.*?)\n[ \t]*### END SOLUTION", source, re.DOTALL)
    return [line.strip() for block in inside for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    assert main(["release", "--out", str(out)]) == 0
    return out


def test_every_chapter_is_released_as_a_valid_notebook(released):
    assert sorted(p.name for p in released.glob("*.ipynb")) == sorted(c.path.name for c in chapters().values())
    for path in released.glob("*.ipynb"):
        nbformat.validate(nbformat.read(path, as_version=4))


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_solutions_and_hidden_tests_are_gone_metadata_and_signatures_kept(released, chapter):
    source = nbformat.read(CHAPTERS_DIR / f"{chapter}.ipynb", as_version=4)
    student = nbformat.read(released / f"{chapter}.ipynb", as_version=4)
    assert len(student.cells) == len(source.cells)
    for original, cell in zip(source.cells, student.cells):
        assert cell.metadata == original.metadata  # nbgrader metadata included
        assert not any(marker in cell.source for marker in MARKERS)
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
        if original.metadata.get("nbgrader", {}).get("solution"):
            head = original.source.split("### BEGIN SOLUTION")[0]  # the def line and docstring
            assert cell.source.startswith(head) and cell.source.endswith(STUB.splitlines()[-1])
            assert not any(line in cell.source for line in solution_lines(original.source))
        if original.metadata.get("nbgrader", {}).get("grade"):
            assert "assert result.passed" not in cell.source


def test_release_takes_chapter_numbers(tmp_path):
    assert main(["release", "3", "05", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["03_cls_token.ipynb", "05_transformer_encoder.ipynb"]


def test_student_version_is_idempotent():
    notebook = json.loads((CHAPTERS_DIR / "02_conv2d_equivalence.ipynb").read_text())
    once = student_version(notebook)
    assert student_version(once) == once
