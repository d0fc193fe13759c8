"""`vitlearn release` never carries an answer and never writes where it should not.

Every chapter is edited in each way an author slips (an END marker deleted or misspelt, regions
nested, a grade_id duplicated or removed, a check cell left without its exercise): the release
refuses with one line naming the notebook, the cell and the problem, and writes nothing. What it
does write matches nbgrader's `generate_assignment` cell for cell, byte for byte.
"""

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths
from vitlearn.classroom.release import release_chapters
from vitlearn.cli import main

CHAPTERS = [path.stem for path in chapter_paths()]


def first(notebook: dict, kind: str) -> int:
    """Index of the first cell whose nbgrader metadata has ``kind`` (solution or grade) set."""
    return next(i for i, c in enumerate(notebook["cells"]) if c["metadata"].get("nbgrader", {}).get(kind))


def lines_of(cell: dict) -> list[str]:
    return "".join(cell["source"]).split("\n")


def marker_line(cell: dict, marker: str) -> int:
    """The number (from 1) of the line of ``cell`` that is ``marker``."""
    return next(n for n, line in enumerate(lines_of(cell), start=1) if line.strip() == marker)


def with_lines(cell: dict, lines: list[str]) -> None:
    cell["source"] = "\n".join(lines)


def delete_end(notebook: dict) -> tuple[int, str]:
    cell = notebook["cells"][first(notebook, "solution")]
    begin = marker_line(cell, "### BEGIN SOLUTION")
    with_lines(cell, [line for line in lines_of(cell) if line.strip() != "### END SOLUTION"])
    return first(notebook, "solution"), f"line {begin}: ### BEGIN SOLUTION has no ### END SOLUTION"


def misspell_end(notebook: dict) -> tuple[int, str]:
    cell = notebook["cells"][first(notebook, "solution")]
    end = marker_line(cell, "### END SOLUTION")
    with_lines(cell, [line.replace("END SOLUTION", "END SOLTUION") for line in lines_of(cell)])
    return first(notebook, "solution"), f"line {end}: '### END SOLTUION' looks like a misspelt marker"


def nest(notebook: dict) -> tuple[int, str]:
    cell = notebook["cells"][first(notebook, "solution")]
    begin = marker_line(cell, "### BEGIN SOLUTION")
    lines = lines_of(cell)
    with_lines(cell, lines[:begin] + ["    ### BEGIN HIDDEN TESTS", "    ### END HIDDEN TESTS"] + lines[begin:])
    return first(notebook, "solution"), (f"line {begin + 1}: ### BEGIN HIDDEN TESTS inside the ### BEGIN SOLUTION "
                                         f"of line {begin} (nested markers)")


def duplicate_grade_id(notebook: dict) -> tuple[int, str]:
    check = notebook["cells"][first(notebook, "grade")]
    notebook["cells"].append({**json.loads(json.dumps(check)), "id": "copy-of-a-check-cell"})
    grade_id, original = check["metadata"]["nbgrader"]["grade_id"], first(notebook, "grade")
    return len(notebook["cells"]) - 1, f"grade_id {grade_id!r} is the grade_id of cell {original + 1} too"


def remove_grade_id(notebook: dict) -> tuple[int, str]:
    del notebook["cells"][first(notebook, "solution")]["metadata"]["nbgrader"]["grade_id"]
    return first(notebook, "solution"), "its nbgrader metadata has no valid grade_id"


def orphan_check(notebook: dict) -> tuple[int, str]:
    exercise = notebook["cells"].pop(first(notebook, "solution"))["metadata"]["nbgrader"]["grade_id"]
    return first(notebook, "grade"), f"check cell 'check_{exercise}' has no solution cell with grade_id {exercise!r}"


EDITS = [delete_end, misspell_end, nest, duplicate_grade_id, remove_grade_id, orphan_check]


@pytest.mark.parametrize("edit", EDITS, ids=[edit.__name__ for edit in EDITS])
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_a_slip_in_any_chapter_is_refused_and_nothing_is_written(tmp_path, capsys, chapter, edit):
    notebook = json.loads((CHAPTERS_DIR / f"{chapter}.ipynb").read_text())
    cell, problem = edit(notebook)
    source = tmp_path / f"{chapter}.ipynb"
    source.write_text(json.dumps(notebook))
    out = tmp_path / "out"

    assert main(["release", str(source), "--out", str(out)]) == 1
    printed = capsys.readouterr()
    assert f"{chapter}.ipynb: cell {cell + 1}: {problem}" in printed.err, printed.err
    assert "vitlearn release: nothing written" in printed.err
    assert printed.out == "" and not out.exists()


def test_one_broken_chapter_stops_the_whole_release(tmp_path, capsys):
    broken = json.loads((CHAPTERS_DIR / f"{CHAPTERS[-1]}.ipynb").read_text())
    delete_end(broken)
    (tmp_path / f"{CHAPTERS[-1]}.ipynb").write_text(json.dumps(broken))
    good = [str(path) for path in chapter_paths()[:-1]]

    assert main(["release", *good, str(tmp_path / f"{CHAPTERS[-1]}.ipynb"), "--out", str(tmp_path / "out")]) == 1
    assert "has no ### END SOLUTION" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_release_never_writes_over_its_source(tmp_path, capsys):
    source = tmp_path / f"{CHAPTERS[2]}.ipynb"
    shutil.copy(CHAPTERS_DIR / source.name, source)
    before = source.read_bytes()
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / source.name).symlink_to(source)

    for out in (tmp_path, tmp_path / "link"):
        assert main(["release", str(source), "--out", str(out), "--force"]) == 1
        assert "would write over its source" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_an_existing_file_is_replaced_only_with_force(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["release", "02", "--out", str(out)]) == 0
    target = out / f"{CHAPTERS[2]}.ipynb"
    target.write_text("the instructor's edits")

    assert main(["release", "02", "--out", str(out)]) == 1
    assert f"{target}: exists already (use --force to replace it)" in capsys.readouterr().err
    assert target.read_text() == "the instructor's edits"
    assert main(["release", "02", "--out", str(out), "--force"]) == 0
    assert "### BEGIN" not in target.read_text() and nbformat.read(target, as_version=4).cells


def test_a_mistyped_chapter_is_one_line_naming_the_chapters(tmp_path):
    run = subprocess.run([sys.executable, "-m", "vitlearn", "release", "2x", "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "no chapter '2x'" in run.stderr and all(chapter in run.stderr for chapter in CHAPTERS)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("released")
    release_chapters(chapter_paths(), out)
    return out


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_released_code_cell_parses(released, chapter):
    from IPython.core.inputtransformer2 import TransformerManager

    for cell in nbformat.read(released / f"{chapter}.ipynb", as_version=4).cells:
        if cell.cell_type == "code":
            ast.parse(TransformerManager().transform_cell(cell.source))


@pytest.fixture(scope="module")
def nbgrader_course(tmp_path_factory) -> Path:
    """A course whose assignment ``course`` holds every chapter, generated by the real nbgrader."""
    pytest.importorskip("nbgrader")
    course = tmp_path_factory.mktemp("course")
    (course / "source" / "course").mkdir(parents=True)
    for path in chapter_paths():
        shutil.copy(path, course / "source" / "course")
    nbgrader(course, "generate_assignment", "course")
    return course


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    """Run an nbgrader command in ``course`` (its helpers, e.g. alembic, come from this environment)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"],
                         cwd=course, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0 and "ERROR" not in run.stderr, run.stderr[-3000:]
    return run


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_released_cells_are_nbgrader_s_byte_for_byte(released, nbgrader_course, chapter):
    from nbgrader.utils import compute_checksum

    theirs = nbformat.read(nbgrader_course / "release" / "course" / f"{chapter}.ipynb", as_version=4).cells
    ours = nbformat.read(released / f"{chapter}.ipynb", as_version=4).cells
    assert [cell.source for cell in ours] == [cell.source for cell in theirs]
    for mine, generated in zip(ours, theirs):
        if "checksum" in generated.metadata.get("nbgrader", {}):
            assert compute_checksum(mine) == generated.metadata.nbgrader.checksum


def test_autograde_warns_about_the_release_only_as_about_nbgrader_s_own(released, nbgrader_course):
    """nbgrader stores a check cell's checksum with its hidden tests in, so it warns "checksum has
    changed" for every check cell with hidden tests in its own release too (jupyter/nbgrader#1961)."""
    chapter = f"{CHAPTERS[2]}.ipynb"
    for student, folder in (("ours", released), ("theirs", nbgrader_course / "release" / "course")):
        (nbgrader_course / "submitted" / student / "course").mkdir(parents=True)
        shutil.copy(folder / chapter, nbgrader_course / "submitted" / student / "course")
    run = nbgrader(nbgrader_course, "autograde", "course", "--create")

    warnings, pending = {}, []
    for line in run.stderr.splitlines():  # a notebook's warnings come just before "Autograding <its path>"
        if "has changed" in line:
            pending.append(line.split("(should be")[0])
        elif "Autograding" in line:
            warnings[Path(line.split()[-1]).parts[-3]], pending = sorted(pending), []
    assert warnings["ours"] == warnings["theirs"]
    assert all("Attribute 'checksum' for cell check_" in line for line in warnings["ours"])
