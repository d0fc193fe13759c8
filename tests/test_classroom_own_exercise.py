"""An instructor's own exercise (examples/own_exercise): its module beside the notebook or given with
--exercises, graded with the course's sandbox and feedback; unrecognised notebooks and clashes are errors.

Every run is in process (torch is imported once); three of them start a sandbox worker.
"""

import csv
import io
import json
from pathlib import Path

import pytest

from vitlearn.checks import EXERCISES as COURSE
from vitlearn.classroom.own_exercises import ExercisesError, load_exercises, merge
from vitlearn.cli import main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_exercise"
NOTEBOOK, MODULE = EXAMPLE / "mean_pool.ipynb", EXAMPLE / "exercises.py"
RIGHT, WRONG = EXAMPLE / "submissions" / "alice.ipynb", EXAMPLE / "submissions" / "bob.ipynb"
HINT = "You averaged the CLS token too"  # the catalogued mistake bob makes


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cheat(tmp_path: Path) -> Path:
    """alice's notebook whose answer reads the exercises module (the references) from the sandbox."""
    notebook = json.loads(RIGHT.read_text())
    cell = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "mean_pool")
    cell["source"] = f"def mean_pool(tokens):\n    return open({str(MODULE)!r}).read()\n"
    path = tmp_path / "mallory.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def test_check_finds_the_module_beside_the_notebook_and_gives_full_marks(capsys):
    code, out, _ = run(capsys, "check", "--chapter", str(NOTEBOOK), str(RIGHT))
    assert code == 0 and "## mean_pool: 2 / 2 points" in out and "all 4 cases pass" in out


def test_check_gives_the_mistakes_hint_to_a_wrong_answer(capsys):
    code, out, _ = run(capsys, "check", "--chapter", str(NOTEBOOK), "--exercises", str(MODULE), str(WRONG))
    assert code == 1 and "mean_pool: 0 / 2 (failed)" in out and HINT in out


def test_grade_a_batch_with_exercises_in_the_same_sandbox(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, "grade", "--out", str(out), "--chapter", str(NOTEBOOK), "--exercises", str(MODULE),
                       "--timeout", "10", str(RIGHT), str(WRONG), str(cheat(tmp_path)))
    assert code == 0, err
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO((out / "grades.csv").read_text()))}
    assert {name: (row["chapter"], row["mean_pool"]) for name, row in rows.items()} == {
        "alice": ("mean_pool", "2"), "bob": ("mean_pool", "0"), "mallory": ("mean_pool", "0")}
    assert HINT in (out / "feedback" / "bob.md").read_text()
    assert "is not readable while grading" in (out / "feedback" / "mallory.md").read_text()


def test_a_notebook_nobody_recognises_is_an_error_with_the_reason(tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, "grade", "--out", str(out), str(RIGHT))
    row = next(csv.DictReader(io.StringIO((out / "grades.csv").read_text())))
    assert code == 1 and row["chapter"] == "" and row["status"] == "error"
    assert "solution cells 'mean_pool' name no exercise vitlearn knows" in row["reason"]
    assert "1 notebook answering no chapter vitlearn knows" in err and "alice" in err
    code, printed, _ = run(capsys, "check", str(RIGHT))
    assert code == 1 and "'mean_pool' name no exercise vitlearn knows" in printed


def write_module(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "exercises.py"
    path.write_text("import dataclasses\nfrom vitlearn.checks import EXERCISES as COURSE\n" + text)
    return path


@pytest.mark.parametrize("module, words", [
    ("EXERCISES = {'prepend_cls': dataclasses.replace(COURSE['prepend_cls'])}",
     "exercise 'prepend_cls' clashes with the course's exercise 'prepend_cls'"),
    ("EXERCISES = {'mean_pool': 1 +}", "cannot load it: SyntaxError"),
    ("EXERCISES = {'mean_pool': COURSE['prepend_cls']}", "must be an Exercise named 'mean_pool'"),
    (None, "--exercises needs --chapter"),
    ("", "'mean_pool' name no exercise of the course nor of an exercises module"),
])
def test_bad_exercises_are_one_line_and_exit_2(module, words, tmp_path, capsys):
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "mean_pool.ipynb").write_text(NOTEBOOK.read_text())
    if module is None:  # --exercises without --chapter
        argv = ["--exercises", str(MODULE)]
    elif module:
        argv = ["--chapter", str(folder / "mean_pool.ipynb"), "--exercises", str(write_module(tmp_path, module))]
    else:  # no module beside the notebook, none given
        argv = ["--chapter", str(folder / "mean_pool.ipynb")]
    code, out, err = run(capsys, "check", *argv, str(RIGHT))
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert words in err
    if module and "clashes" in words:
        assert str(tmp_path / "exercises.py") in err  # both named: the module and the course's exercise


def test_a_course_exercise_given_again_as_the_same_object_is_no_clash(tmp_path):
    path = write_module(tmp_path, "EXERCISES = {'prepend_cls': COURSE['prepend_cls']}")
    assert merge(COURSE, load_exercises(path), path)["prepend_cls"] is COURSE["prepend_cls"]
    with pytest.raises(ExercisesError, match="clashes"):
        merge(COURSE, {"prepend_cls": load_exercises(MODULE)["mean_pool"]}, MODULE)
