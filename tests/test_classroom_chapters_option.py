"""`--chapters DIR`: release, check and grade from an instructor's edited copy of the book, whose
points count and which the sandbox may not read; no chapter at all is one line and a non-zero exit."""

import json
from pathlib import Path

import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR, nbgrader
from vitlearn.cli import main

CHAPTER = "02_conv2d_equivalence.ipynb"
EDITED_POINTS = 5.0  # check_image2emb_conv is worth 2 in the course; the instructor's copy says 5


@pytest.fixture
def course(tmp_path) -> Path:
    """An instructor's copy of the book holding only chapter 02, its image2emb_conv check worth 5 points."""
    folder = tmp_path / "my_course"
    folder.mkdir()
    notebook = json.loads((CHAPTERS_DIR / CHAPTER).read_text())
    for cell in notebook["cells"]:
        if nbgrader(cell).get("grade_id") == "check_image2emb_conv":
            cell["metadata"]["nbgrader"]["points"] = EDITED_POINTS
    (folder / CHAPTER).write_text(json.dumps(notebook, indent=1))
    return folder


def with_solution(notebook: dict, grade_id: str, source: str) -> dict:
    """A copy of ``notebook`` whose solution cell ``grade_id`` holds ``source``."""
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        if nbgrader(cell).get("grade_id") == grade_id:
            cell["source"] = source
    return copy


def test_release_takes_the_chapters_of_the_copy_given(course, tmp_path, capsys):
    assert main(["release", "--chapters", str(course), "--out", str(tmp_path / "student")]) == 0
    assert [p.name for p in (tmp_path / "student").glob("*.ipynb")] == [CHAPTER]
    released = json.loads((tmp_path / "student" / CHAPTER).read_text())
    assert EDITED_POINTS in [nbgrader(cell).get("points") for cell in released["cells"]]
    assert main(["release", "2", "--chapters", str(course), "--out", str(tmp_path / "two")]) == 0
    assert main(["release", "3", "--chapters", str(course), "--out", str(tmp_path / "three")]) == 2
    assert f"no chapter '3'; the chapters are: {Path(CHAPTER).stem}" in capsys.readouterr().err


def test_grade_counts_the_copy_s_points_and_the_sandbox_cannot_read_it(course, tmp_path):
    solution = json.loads((course / CHAPTER).read_text())
    peek = f"book = open({str(course / CHAPTER)!r}).read()\n"
    for student, notebook in {"alice": solution, "mallory": with_solution(solution, "weight_to_kernel", peek)}.items():
        (tmp_path / student).mkdir()
        (tmp_path / student / CHAPTER).write_text(json.dumps(notebook))
    out = tmp_path / "grades"
    assert main(["grade", "--chapters", str(course), "--out", str(out), "--timeout", "10",
                 str(tmp_path / "alice" / CHAPTER), str(tmp_path / "mallory" / CHAPTER)]) == 0
    rows = {row["id"]: row for row in json.loads((out / "grades.json").read_text())["submissions"]}
    assert (rows["alice"]["total"], rows["alice"]["max"]) == (1 + EDITED_POINTS, 1 + EDITED_POINTS)
    peeked = next(e for e in rows["mallory"]["exercises"] if e["name"] == "weight_to_kernel")
    assert peeked["status"] == "error" and "not readable while grading" in peeked["message"]


@pytest.mark.parametrize("command", [["release", "--out", "{out}"], ["check", "{notebook}"],
                                     ["grade", "--out", "{out}", "{notebook}"]])
def test_no_chapter_to_work_on_is_one_line_and_exit_2(tmp_path, capsys, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    notebook = tmp_path / "alice.ipynb"
    notebook.write_text((CHAPTERS_DIR / CHAPTER).read_text())
    args = [arg.format(out=tmp_path / "out", notebook=notebook) for arg in command]
    assert main([*args, "--chapters", str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"no chapter notebooks (NN_name.ipynb) in {empty}" in err
    assert not (tmp_path / "out").exists()


def test_a_copy_naming_an_exercise_nobody_defines_is_refused(course, tmp_path, capsys):
    notebook = json.loads((course / CHAPTER).read_text())
    for cell in notebook["cells"]:
        if nbgrader(cell).get("grade_id") == "weight_to_kernel":
            cell["metadata"]["nbgrader"]["grade_id"] = "my_new_exercise"
    (course / CHAPTER).write_text(json.dumps(notebook))
    assert main(["check", "--chapters", str(course), str(course / CHAPTER)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'my_new_exercise' name no exercise" in err
