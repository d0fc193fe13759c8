"""The chapters are nbgrader source notebooks: checked with the real nbgrader where it is installed.

In a temporary course, `nbgrader generate_assignment` accepts every chapter; `nbgrader autograde`
gives the unchanged solutions full marks and `vitlearn release`'s stubs zero for each exercise.
nbgrader scores a grade cell zero when it writes anything to stderr, so the executed chapters'
check cells must have none (that part needs no nbgrader).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapters
from vitlearn.classroom.release import release

CHAPTER = "02_conv2d_equivalence"


@pytest.mark.parametrize("chapter", sorted(chapters()))
def test_check_cells_write_nothing_to_stderr(chapter):
    notebook = nbformat.read(CHAPTERS_DIR / f"{chapter}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            assert cell.outputs, "the chapter must be executed"
            assert not [o for o in cell.outputs if o.get("name") == "stderr" or o.output_type == "error"]


def nbgrader(course: Path, *args: str) -> None:
    """Run an nbgrader command in ``course`` (its helpers, e.g. alembic, come from this environment)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                         cwd=course, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0 and "ERROR" not in run.stderr, run.stderr[-3000:]


def test_nbgrader_generates_and_autogrades_the_chapters(tmp_path):
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    for chapter in chapters().values():
        (tmp_path / "source" / "course").mkdir(parents=True, exist_ok=True)
        shutil.copy(chapter.path, tmp_path / "source" / "course")
    nbgrader(tmp_path, "generate_assignment", "course")
    assert sorted(p.stem for p in (tmp_path / "release" / "course").glob("*.ipynb")) == sorted(chapters())

    (tmp_path / "source" / "ch02").mkdir()
    shutil.copy(CHAPTERS_DIR / f"{CHAPTER}.ipynb", tmp_path / "source" / "ch02")
    nbgrader(tmp_path, "generate_assignment", "ch02")
    shutil.copytree(tmp_path / "source" / "ch02", tmp_path / "submitted" / "alice" / "ch02")  # the solutions
    release(CHAPTERS_DIR / f"{CHAPTER}.ipynb", tmp_path / "submitted" / "bob" / "ch02")  # untouched stubs
    nbgrader(tmp_path, "autograde", "ch02", "--create")

    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gradebook:
        scores = {student: {g.name: (g.score, g.max_score) for g in
                            gradebook.find_submission_notebook(CHAPTER, "ch02", student).grades}
                  for student in ("alice", "bob")}
    assert scores["alice"] == {"check_weight_to_kernel": (1, 1), "check_image2emb_conv": (2, 2)}
    assert scores["bob"] == {"check_weight_to_kernel": (0, 1), "check_image2emb_conv": (0, 2)}
