"""`vitlearn grade --out` as a gradebook: batches accumulate, ids are kept as given, duplicates,
--keep, --roster, --due, --scoring, --force, and --chapter's points and errors.

One class of chapter-02 submissions is graded by a few runs of `vitlearn grade` into one folder,
each building on the one before (in process, so torch is imported once).
"""

import csv
import io
import json
import os
import unicodedata
from contextlib import redirect_stderr, redirect_stdout
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch

from vitlearn.checks import EXERCISES
from vitlearn.classroom.gradebook import ExerciseGrade, Policy, Submission, report_name, resolve
from vitlearn.classroom.grader import student_id
from vitlearn.classroom.notebooks import CHAPTERS_DIR
from vitlearn.classroom.release import STUB
from vitlearn.cli import main

CHAPTER = CHAPTERS_DIR / "02_conv2d_equivalence.ipynb"
TARGET = "weight_to_kernel"  # 1 point; image2emb_conv (2 points) stays right in every submission
SIGNATURE = "def weight_to_kernel(weight, in_channels, patch_size):\n"
STUBBED = SIGNATURE + "    " + STUB.replace("\n", "\n    ") + "\n"
CHANNEL_LAST = SIGNATURE + (
    "    return weight.T.reshape(-1, patch_size, patch_size, in_channels).permute(0, 3, 1, 2)\n")
DUE = datetime(2026, 12, 24, 23, 59, tzinfo=timezone.utc)


def channel_last_passes() -> tuple[int, int]:
    """(cases CHANNEL_LAST passes, cases): it is right only where the layout cannot show (C == 1 or P == 1)."""
    exercise = EXERCISES[TARGET]
    cases = exercise.make_cases()
    passed = sum(torch.equal(weight.T.reshape(-1, p, p, c).permute(0, 3, 1, 2), exercise.reference(weight, c, p))
                 for weight, c, p in (case.args for case in cases))
    assert 0 < passed < len(cases)
    return passed, len(cases)


def with_cell(notebook: dict, source: str | None) -> dict:
    """A copy of ``notebook`` with weight_to_kernel's solution cell replaced (or removed when None)."""
    copy = json.loads(json.dumps(notebook))
    def is_target(cell: dict) -> bool:
        return cell["metadata"].get("nbgrader", {}).get("grade_id") == TARGET

    copy["cells"] = [cell for cell in copy["cells"] if source is not None or not is_target(cell)]
    for cell in filter(is_target, copy["cells"]):
        cell["source"] = source
    return copy


def write(path: Path, notebook: dict, when: datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook))
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def grade(out: Path, paths: list[Path], *options: str) -> dict:
    """Run `vitlearn grade` in process; its exit status, output and the gradebook it left."""
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(["grade", "--out", str(out), "--timeout", "10", "--gradescope", *options, *map(str, paths)])
    rows = json.loads((out / "grades.json").read_text(encoding="utf-8"))["submissions"]
    table = list(csv.DictReader(io.StringIO((out / "grades.csv").read_text(encoding="utf-8"))))
    return {"code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "rows": rows, "csv": table}


def by_path(run: dict, path: Path) -> dict:
    return next(row for row in run["rows"] if row["path"] == str(path.resolve()))


def csv_row(run: dict, path: Path) -> dict:
    return next(row for row in run["csv"] if row["path"] == str(path.resolve()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Batch 1 (six students, before the due date), then batch 2 (a late alice and carol) with
    the options each scenario needs, all into one --out."""
    root = tmp_path_factory.mktemp("gradebook")
    out, solution = root / "out", json.loads(CHAPTER.read_text())
    early, late = DUE - timedelta(days=1), DUE + timedelta(hours=1)
    first = {name: write(root / "batch1" / f"{name}.ipynb", notebook, early) for name, notebook in {
        "alice": solution, "Jörg Müller": solution, "alice@uni.edu": with_cell(solution, STUBBED),
        "alice_uni.edu": solution, "partial": with_cell(solution, CHANNEL_LAST), "deleted": with_cell(solution, None),
    }.items()}
    second = {"late alice": write(root / "batch2" / "alice.ipynb", with_cell(solution, STUBBED), late),
              "carol": write(root / "batch2" / "carol" / "02_conv2d_equivalence.ipynb", solution, late)}
    roster = root / "roster.csv"
    roster.write_text("id,name,email,lms_id\nalice,Alice A.,alice@uni.edu,101\n"
                      "Jörg Müller,Jörg Müller,jm@uni.edu,102\ncarol,Carol C.,carol@uni.edu,103\n"
                      "dave,Dave D.,dave@uni.edu,104\n")
    batch1, batch2 = list(first.values()), list(second.values())
    return {
        "files": {**first, **second}, "out": out,
        "first": grade(out, batch1),
        "second": grade(out, batch2),
        "policies": grade(out, batch2, "--keep", "latest", "--roster", str(roster), "--due", DUE.isoformat()),
        "settings": grade(out, batch1, "--timeout", "11", "--scoring", "proportional", "--keep", "best"),
        "force": grade(out, [second["carol"]], "--force", "--keep", "best"),
    }


def test_a_later_batch_keeps_every_earlier_row(runs):
    first, second = runs["first"], runs["second"]
    assert first["code"] == 0 and "6 submissions" in first["stderr"] and "6 graded" in first["stderr"]
    assert len(first["rows"]) == 6 and len(second["rows"]) == 8 and len(second["csv"]) == 8
    for path in runs["files"].values():
        if path.parent.name == "batch1":
            assert by_path(second, path)["exercises"] == by_path(first, path)["exercises"]
    passed, cases = channel_last_passes()  # the last run regraded batch 1 proportionally: its reports followed
    assert json.loads((runs["out"] / "gradescope" / "partial" / "results.json").read_text())["score"] == round(
        round(passed / cases, 2) + 2, 2)


def test_an_unchanged_rerun_says_it_skipped(runs):
    run = runs["policies"]
    assert run["code"] == 0 and run["stdout"] == ""
    assert "2 submissions" in run["stderr"] and "0 graded, 2 skipped (unchanged), 0 failed" in run["stderr"]


def test_force_regrades(runs):
    run = runs["force"]
    assert "1 graded (1 again: --force)" in run["stderr"] and run["stdout"].startswith("carol: 3/3")


def test_a_changed_setting_regrades_and_reports_what_it_kept(runs):
    run = runs["settings"]
    assert "6 graded (6 again: timeout 10 -> 11, scoring all-or-nothing -> proportional)" in run["stderr"]
    assert "kept 2 rows of earlier batches graded with other settings" in run["stderr"]
    assert "alice, carol" in run["stderr"]
    regraded = by_path(run, runs["files"]["alice"])["settings"]
    assert (regraded["timeout"], regraded["scoring"], regraded["points"]) == (
        11, "proportional", {"weight_to_kernel": 1, "image2emb_conv": 2})
    assert by_path(run, runs["files"]["carol"])["settings"]["timeout"] == 10  # kept, and said so


def test_ids_keep_unicode_and_report_files_never_collide(runs):
    out, rows = runs["out"], runs["first"]["rows"]
    assert {row["id"] for row in rows} == {"alice", "Jörg Müller", "alice@uni.edu", "alice_uni.edu", "partial",
                                           "deleted"}
    assert "Jörg Müller,02_conv2d_equivalence" in (out / "grades.csv").read_text(encoding="utf-8")
    plain, email = out / "feedback" / "alice_uni.edu.md", out / "feedback" / f"{report_name('alice@uni.edu')}.md"
    assert plain != email and "3 / 3 points" in plain.read_text() and "2 / 3 points" in email.read_text()
    assert email.read_text().startswith("# Feedback for alice@uni.edu\n")
    assert json.loads((out / "gradescope" / report_name("alice@uni.edu") / "results.json").read_text())["score"] == 2
    assert "# Feedback for Jörg Müller" in (out / "feedback" / f"{report_name('Jörg Müller')}.md").read_text()


@pytest.mark.parametrize("given, expected", [
    ("alice", "alice"), ("alice_uni.edu", "alice_uni.edu"), ("alice@uni.edu", "alice_uni.edu~"),
    ("Alice", "Alice~"), ("Jörg Müller", "Jorg_Muller~"), ("../x", "x~"), ("漢字", "student~")])
def test_report_names_are_safe_and_distinct(given, expected):
    name = report_name(given)
    if expected.endswith("~"):  # a slug plus a hash of the exact id
        assert name.startswith(expected) and len(name) == len(expected) + 8
    else:
        assert name == expected
    ids = ("alice", "Alice", "alice@uni.edu", "alice_uni.edu", "alice_uni.edu~x", "Jörg Müller", "jörg müller")
    names = [report_name(student) for student in ids]
    assert len({n.casefold() for n in names}) == len(names)


def test_student_id_keeps_the_name_as_given():
    assert student_id(Path("subs/Jörg Müller.ipynb"), []) == "Jörg Müller"
    nfd = unicodedata.normalize("NFD", "Jörg Müller")
    assert student_id(Path(f"{nfd}/01_image_to_patches.ipynb"), ["01_image_to_patches"]) == "Jörg Müller"


def test_two_submissions_for_one_chapter_are_an_error_naming_both(runs):
    run, files = runs["second"], runs["files"]
    ontime, late = str(files["alice"].resolve()), str(files["late alice"].resolve())
    assert run["code"] == 1 and ontime in run["stderr"] and late in run["stderr"] and "--keep" in run["stderr"]
    for path in (files["alice"], files["late alice"]):
        row = csv_row(run, path)
        assert (row["status"], row["counts"]) == ("duplicate", "false")
        assert ontime in row["reason"] and late in row["reason"]
    assert by_path(run, files["carol"])["counts"] is True


def test_keep_latest_and_keep_best(runs):
    files = runs["files"]
    latest, best = runs["policies"], runs["settings"]
    counts = {name: (csv_row(latest, files[name])["counts"], csv_row(best, files[name])["counts"])
              for name in ("alice", "late alice")}
    assert counts == {"alice": ("false", "true"), "late alice": ("true", "false")}
    assert csv_row(latest, files["alice"])["status"] == "superseded"
    assert str(files["late alice"].resolve()) in csv_row(latest, files["alice"])["reason"]


def test_resolve_supersedes_older_versions_and_applies_keep():
    def row(path: str, sha: str, submitted: str, stub: bool) -> Submission:
        grades = [ExerciseGrade("weight_to_kernel", 0.0 if stub else 1.0, 1.0, "failed" if stub else "passed", "")]
        return Submission("bob", path, sha, "02_conv2d_equivalence", grades, submitted=submitted)

    old = row("/a/bob.ipynb", "1", "2026-01-01T00:00:00+00:00", False)
    new = row("/a/bob.ipynb", "2", "2026-01-02T00:00:00+00:00", True)
    assert resolve([old, new], Policy()) == [] and (old.status, new.status) == ("superseded", "graded")
    other = row("/b/bob.ipynb", "3", "2026-01-03T00:00:00+00:00", True)
    errors = resolve([old, other, new], Policy())
    assert len(errors) == 1 and "/a/bob.ipynb" in errors[0] and "/b/bob.ipynb" in errors[0]
    first, last = row("/c/bob.ipynb", "4", "2026-01-01T00:00:00+00:00", False), other
    assert resolve([first, last], Policy(keep="latest")) == [] and (first.counts, last.counts) == (False, True)
    assert resolve([first, last], Policy(keep="best")) == [] and (first.counts, last.counts) == (True, False)


def test_roster_columns_unknown_students_and_missing_ones(runs):
    run = runs["policies"]
    assert list(run["csv"][0])[:5] == ["id", "name", "email", "lms_id", "chapter"]
    joerg = csv_row(run, runs["files"]["Jörg Müller"])
    assert [joerg[k] for k in ("name", "email", "lms_id", "flags")] == ["Jörg Müller", "jm@uni.edu", "102", ""]
    assert csv_row(run, runs["files"]["partial"])["flags"] == "unknown_student"
    dave = [row for row in run["csv"] if row["id"] == "dave"]
    assert [(row["status"], row["chapter"], row["total"]) for row in dave] == [
        ("no submission", "02_conv2d_equivalence", "")]
    assert "no submission for 02_conv2d_equivalence" in run["stderr"] and "dave" in run["stderr"]
    assert "not in the roster" in run["stderr"] and "alice@uni.edu" in run["stderr"]


def test_due_marks_late_submissions(runs):
    run, files = runs["policies"], runs["files"]
    assert [csv_row(run, files[name])["late"] for name in ("late alice", "carol", "alice", "partial")] == [
        "true", "true", "false", "false"]
    assert "late" not in runs["second"]["csv"][0]  # no --due, no late column


def test_all_or_nothing_by_default_and_proportional_on_request(runs):
    files = runs["files"]
    strict, proportional = csv_row(runs["first"], files["partial"]), csv_row(runs["settings"], files["partial"])
    passed, cases = channel_last_passes()
    assert (strict[TARGET], strict["total"]) == ("0", "2")
    assert (float(proportional[TARGET]), float(proportional["total"])) == (round(passed / cases, 2),
                                                                         round(passed / cases, 2) + 2)


def test_reason_names_each_exercise_that_lost_points(runs):
    first, files = runs["first"], runs["files"]
    assert csv_row(first, files["deleted"])["reason"].startswith("weight_to_kernel: missing (no solution cell")
    passed, cases = channel_last_passes()
    partial, stub = csv_row(first, files["partial"])["reason"], csv_row(first, files["alice@uni.edu"])["reason"]
    assert partial.startswith(f"weight_to_kernel: failed ({passed} of {cases} cases pass;")
    assert stub.startswith(f"weight_to_kernel: failed (0 of {cases} cases")
    assert "NotImplementedError" in stub
    assert csv_row(first, files["alice"])["reason"] == ""


def test_an_edited_chapter_counts_with_its_own_points(tmp_path, capsys):
    chapter = json.loads(CHAPTER.read_text())
    for cell in chapter["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            meta["points"] = {"check_weight_to_kernel": 5, "check_image2emb_conv": 7}[meta["grade_id"]]
    edited = write(tmp_path / "edited" / "02_conv2d_equivalence.ipynb", chapter, DUE)
    partial = write(tmp_path / "partial.ipynb", with_cell(json.loads(CHAPTER.read_text()), CHANNEL_LAST), DUE)
    assert main(["check", "--chapter", str(edited), "--scoring", "proportional", str(partial)]) == 1
    passed, cases = channel_last_passes()
    points = round(round(5 * passed / cases, 2) + 7, 2)
    assert f"02_conv2d_equivalence: {points:g} / 12 points" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["grade", "check"])
def test_a_mistyped_chapter_is_one_line_and_exit_2(command, tmp_path, capsys):
    options = ["--out", str(tmp_path / "out")] if command == "grade" else []
    assert main([command, *options, "--chapter", "2x", str(tmp_path / "alice.ipynb")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "no chapter '2x'" in captured.err and "02_conv2d_equivalence" in captured.err


@pytest.mark.parametrize("option, words", [("--due", "not an ISO 8601"), ("--roster", "cannot read the roster")])
def test_bad_due_or_roster_is_one_line_and_exit_2(option, words, tmp_path, capsys):
    value = "24/12/2026" if option == "--due" else str(tmp_path / "absent.csv")
    assert main(["grade", "--out", str(tmp_path), option, value, str(tmp_path / "alice.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err


def test_an_unreadable_gradebook_is_never_overwritten(tmp_path, capsys):
    (tmp_path / "grades.json").write_text("{not json")
    assert main(["grade", "--out", str(tmp_path), str(tmp_path / "alice.ipynb")]) == 2
    assert "is not a gradebook" in capsys.readouterr().err
    assert (tmp_path / "grades.json").read_text() == "{not json"
