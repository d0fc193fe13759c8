"""Grade submissions: solution cells run in the sandbox, outcomes judged here, reports written.

Each submission becomes one row (see :class:`Submission`) whatever it contains. The output
folder is a gradebook that accumulates across batches, keyed by (student id, chapter, SHA-256):
a later batch adds rows and never drops earlier ones, a re-run skips a notebook graded with the
same settings, and every rewrite is atomic, after every submission, so an interrupted run keeps
what it graded. Which row counts (an older version of a file, two submissions of one student
for one chapter), the roster and the due date are decided when the reports are written
(:func:`resolve`), so they can change without regrading.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from queue import Queue
from typing import Any

import vitlearn
from vitlearn.checks import EXERCISES
from vitlearn.checks.core import Case, Exercise
from vitlearn.checks.feedback import judge_all, report
from vitlearn.classroom.notebooks import (
    Answer,
    Chapter,
    NotebookCode,
    SubmissionError,
    chapters,
    grade_ids,
    load_submission,
    nbgrader,
)
from vitlearn.classroom.own_exercises import ExercisesError, load_exercises, merge
from vitlearn.classroom.sandbox import HARNESS_FAILED, Limits, Run, Worker

SCORING = ("all-or-nothing", "proportional")  # full points iff every case passes (nbgrader), or per case


@dataclass
class ExerciseGrade:
    """One exercise of one submission: points out of ``max_points``, a status and the feedback."""

    name: str
    points: float
    max_points: float
    status: str  # passed, failed, error, timeout or missing
    message: str
    reason: str = ""  # why it is not passed, in one short line ("" when passed)


@dataclass
class Submission:
    """One submitted notebook's row: who, which chapter, its exercises, and why if it failed whole.

    The fields from ``status`` on are not facts about the notebook: :func:`resolve` sets them for
    the whole gradebook before the reports are written.
    """

    id: str
    path: str
    sha256: str
    chapter: str
    exercises: list[ExerciseGrade] = field(default_factory=list)
    reason: str = ""  # set when the notebook itself could not be used
    seconds: float = 0.0
    submitted: str = ""  # the file's modification time when graded (ISO 8601, UTC)
    settings: dict[str, Any] = field(default_factory=dict)  # what it was graded with (Grader.settings)
    status: str = "graded"  # graded, error, duplicate or superseded
    counts: bool = True
    note: str = ""  # why it does not count
    flags: list[str] = field(default_factory=list)
    late: bool | None = None  # None without a due date

    @property
    def key(self) -> tuple[str, str, str]:
        """The row's place in the gradebook: (student id, chapter, SHA-256)."""
        return self.id, self.chapter, self.sha256

    @property
    def total(self) -> float:
        return round(sum(e.points for e in self.exercises), 2)

    @property
    def max_points(self) -> float:
        return round(sum(e.max_points for e in self.exercises), 2)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "total": self.total, "max": self.max_points}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Submission:
        """A stored row (what :func:`resolve` sets is decided again)."""
        fields = {k: data[k] for k in ("id", "path", "sha256", "chapter", "reason", "seconds")}
        fields.update({k: data[k] for k in ("submitted", "settings") if k in data})
        return cls(**fields, exercises=[ExerciseGrade(**e) for e in data["exercises"]])


def student_id(path: Path, chapter_names: Iterable[str]) -> str:
    """The file's stem, or its folder's name when the stem is a chapter's, as given (Unicode NFC).

    Report files are named by :func:`report_name`, never by the id itself.
    """
    stem = path.absolute().parent.name if path.stem in set(chapter_names) else path.stem
    return unicodedata.normalize("NFC", stem).strip() or "submission"


def report_name(student: str) -> str:
    """A file name for ``student``'s reports, distinct for distinct ids on any file system.

    A lowercase name made of ``a-z 0-9 _ . -`` is used as it is; any other id becomes an ASCII
    slug plus ``~`` and a hash of the exact id (``alice@uni.edu`` -> ``alice_uni.edu~1b2c3d4e``),
    so neither ``alice_uni.edu`` nor ``Alice`` (on a case-insensitive disk) can take its place.
    """
    if re.fullmatch(r"[a-z0-9_][a-z0-9_.-]{0,98}[a-z0-9_]|[a-z0-9_]", student):
        return student
    ascii_name = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", ascii_name).strip("._-")[:60] or "student"
    return f"{slug}~{hashlib.sha256(student.encode()).hexdigest()[:8]}"


def file_time(path: Path) -> str:
    """The file's modification time, ISO 8601 in UTC ('' when it cannot be read)."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    except OSError:
        return ""


def sha256(path: Path) -> str:
    """The file's SHA-256 ('' when it cannot be read)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(2**20), b""):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def which_chapter(path: Path, cells: list | None, course: dict[str, Chapter], forced: str | None) -> str | None:
    """The chapter a submission answers: ``forced``, its file's stem, or the one its grade_ids name."""
    if forced:
        return forced
    if path.stem in course:
        return path.stem
    ids = grade_ids(cells or [])
    named = [c.name for c in course.values() if ids & ({*c.points} | {f"check_{n}" for n in c.points})]
    return named[0] if len(named) == 1 else None


def unknown_solutions(cells: list, known: Mapping[str, Exercise]) -> list[str]:
    """The grade_ids of the solution cells that name no exercise in ``known``, in notebook order."""
    ids = [str(nbgrader(c)["grade_id"]) for c in cells if nbgrader(c).get("solution") and nbgrader(c).get("grade_id")]
    return [grade_id for grade_id in dict.fromkeys(ids) if grade_id not in known]


def unrecognised(cells: list | None, known: Mapping[str, Exercise]) -> str:
    """Why no chapter could be told for a notebook, naming its solution cells that no exercise matches."""
    unknown = unknown_solutions(cells or [], known)
    if not unknown:
        return "cannot tell which chapter this notebook answers (name it like the chapter, or give --chapter)"
    return (f"cannot tell which chapter this notebook answers: its solution cells {', '.join(map(repr, unknown))} "
            "name no exercise vitlearn knows (for your own exercise, give its notebook with --chapter and its "
            "exercises module beside it or with --exercises)")


class Grader:
    """Grades submissions of the course's chapters with ``jobs`` sandbox workers in parallel.

    ``chapter``, when given, is the chapter every submission answers, with its own points (an
    edited copy of a chapter counts with the points written in it); ``exercises``, an instructor's
    exercises module, adds its exercises to the course's (see :mod:`vitlearn.classroom.own_exercises`;
    :class:`ExercisesError` when it cannot be used or the chapter names an exercise nobody defines);
    ``scoring`` is one of :data:`SCORING`.
    """

    def __init__(self, limits: Limits, *, jobs: int = 1, prewarmed: bool = True, chapter: Chapter | None = None,
                 scoring: str = "all-or-nothing", exercises: Path | None = None) -> None:
        if scoring not in SCORING:
            raise ValueError(f"scoring must be one of {', '.join(SCORING)}, not {scoring!r}")
        self.limits, self.jobs, self.prewarmed, self.scoring = limits, max(1, jobs), prewarmed, scoring
        self.exercises_file = exercises
        self.exercises = dict(EXERCISES) if exercises is None else merge(EXERCISES, load_exercises(exercises),
                                                                          exercises)
        self.course = chapters()
        if chapter is not None:
            self._require_known(chapter)
            self.course[chapter.name] = chapter
        self.forced = chapter.name if chapter is not None else None
        # the sandbox may not read the instructor's files: a notebook with solutions, the references
        self.hidden = [path for path in (exercises, chapter.path if chapter else None) if path is not None]
        self._cases = {name: exercise.make_cases() for name, exercise in self.exercises.items()}

    def _require_known(self, chapter: Chapter) -> None:
        """Every exercise of ``chapter`` is defined, by the course or the exercises module."""
        unknown = [name for name in chapter.points if name not in self.exercises]
        if unknown:
            where = f"in {self.exercises_file}" if self.exercises_file else "(none beside it, no --exercises)"
            raise ExercisesError(f"{chapter.path}: its solution cells {', '.join(map(repr, unknown))} name no exercise "
                                 f"of the course nor of an exercises module {where}; see 'Your own exercise' in "
                                 "the README")

    def settings(self, chapter: str) -> dict[str, Any]:
        """What a row of ``chapter`` is graded with: a row graded otherwise is stale."""
        points = self.course[chapter].points if chapter in self.course else {}
        settings = {"timeout": self.limits.timeout, "memory_mb": self.limits.memory // 2**20,
                    "scoring": self.scoring, "points": dict(points), "vitlearn": vitlearn.__version__}
        if self.exercises_file is not None:  # an edited exercises module grades again
            settings["exercises"] = sha256(self.exercises_file)[:12]
        return settings

    def grade(self, paths: list[Path], *, done: Mapping[tuple[str, str, str], Submission] | None = None,
              force: bool = False, on_result: Callable[[Submission], None] | None = None) -> list[Submission]:
        """Grade every path; rows in input order.

        A notebook whose row is in ``done`` (keyed by :attr:`Submission.key`) with the same
        settings is not graded again, unless ``force``; ``on_result`` is called with each newly
        graded row as soon as it is ready.
        """
        done = done or {}
        workers: Queue[Worker] = Queue()
        for _ in range(self.jobs):
            workers.put(Worker(self.limits, prewarmed=self.prewarmed, hidden=self.hidden))

        def one(path: Path) -> Submission:
            row, cells = self.identify(path)
            old = done.get(row.key)
            if row.sha256 and old is not None and old.settings == row.settings and not force:
                return old
            worker = workers.get()
            try:
                self._fill(row, cells, worker)
            except Exception as exc:  # noqa: BLE001 - a grader bug must still leave this submission a row
                row.exercises, row.reason = [], f"the grader failed on this notebook: {type(exc).__name__}: {exc}"
            finally:
                workers.put(worker)
            if on_result:
                on_result(row)
            return row

        try:
            with ThreadPoolExecutor(self.jobs) as pool:
                return list(pool.map(one, paths))
        finally:
            while not workers.empty():
                workers.get().remove()

    def identify(self, path: Path) -> tuple[Submission, list | None]:
        """The row of ``path`` before grading (who, which chapter, its hash and time, the settings)
        and the notebook's cells (None when it is not a usable notebook, with the reason in the row)."""
        row = Submission(student_id(path, self.course), str(path.resolve()), sha256(path), "",
                         submitted=file_time(path))
        try:
            cells = load_submission(path)
        except SubmissionError as exc:
            cells, row.reason = None, str(exc)
        except OSError as exc:
            cells, row.reason = None, f"cannot read the file: {exc.strerror}"
        chapter = which_chapter(path, cells, self.course, self.forced)
        if chapter in self.course:
            row.chapter = chapter
        else:
            row.reason = row.reason or unrecognised(cells, self.exercises)
        row.settings = self.settings(row.chapter)
        return row, cells

    def _fill(self, row: Submission, cells: list | None, worker: Worker) -> None:
        """Grade the row's exercises (every one an error when the notebook is unusable)."""
        start = time.perf_counter()
        points = self.course[row.chapter].points if row.chapter else {}
        if cells is None:
            row.exercises = [self._failed(name, points[name], "error", row.reason) for name in points]
        else:
            row.exercises = self._grade_cells(cells, points, worker)
        row.seconds = round(time.perf_counter() - start, 3)

    def _grade_cells(self, cells: list, points: dict[str, float], worker: Worker) -> list[ExerciseGrade]:
        """Each exercise's answer (its solution cell with what it needs from the cells above it) run
        in the sandbox and judged; the feedback says where a name it lacks is in the notebook."""
        code = NotebookCode(cells)
        answers = code.answers(list(points))
        runnable = {name: (answer.code, self._cases[name], self.exercises[name].grad_args)
                    for name, answer in answers.items() if isinstance(answer, Answer)}
        try:
            runs = worker.run(runnable) if runnable else {}
        except RuntimeError as exc:
            runs = {name: Run(end="error", seconds=0.0, unreadable=str(exc)) for name in runnable}
        grades = []
        for name, max_points in points.items():
            answer = answers.get(name)
            if answer is None:
                grades.append(self._failed(name, max_points, "missing", f"no solution cell with grade_id {name!r} "
                                           "(keep the exercise cell and its nbgrader metadata as released)"))
            elif isinstance(answer, SubmissionError):
                grades.append(self._failed(name, max_points, "error", str(answer)))
            else:
                grades.append(self._judge(name, max_points, runs[name], answer.source))
                grades[-1].message = code.explain(answer, grades[-1].message)
        return grades

    def _judge(self, name: str, max_points: float, run: Run, source: str = "") -> ExerciseGrade:
        """Turn a sandbox run into points: the same judging and feedback as the notebook checks."""
        timeout = self.limits.timeout
        if run.end == "timeout":
            return self._failed(name, max_points, "timeout",
                                f"did not finish within {timeout:g} s (an endless loop or a very slow solution?)")
        if run.end == "signal":
            reason = (f"used more than {timeout:g} s of CPU time" if run.signal == "SIGXCPU"
                      else f"your code crashed the process ({run.signal})")
            return self._failed(name, max_points, "error", reason)
        if run.end != "exit":  # the worker itself failed
            return self._failed(name, max_points, "error", run.unreadable)
        if run.code == HARNESS_FAILED:
            return self._failed(name, max_points, "error", "the sandbox could not save what your function "
                                "returned: is it far larger than the exercise asks for?")
        if run.code != 0 or "wrote no outcomes" in run.unreadable:
            return self._failed(name, max_points, "error", "your code ended the process before the checks "
                                "finished: remove exit(), sys.exit() and os._exit() from the cell")
        if run.unreadable:
            return self._failed(name, max_points, "error", run.unreadable)
        if run.cell_error is not None:
            return self._failed(name, max_points, "error", f"the exercise cell raised {run.cell_error}")
        exercise = self.exercises[name]
        cases: list[Case] = self._cases[name]
        result = report(exercise, judge_all(exercise, cases, run.outcomes, source),
                        warning_lines=[w for o in run.outcomes for w in o.warnings])
        return ExerciseGrade(name, result.grade(max_points, self.scoring), max_points,
                             "passed" if result.passed else "failed", result.message, _failure(result))

    def _failed(self, name: str, max_points: float, status: str, reason: str) -> ExerciseGrade:
        return ExerciseGrade(name, 0.0, max_points, status, report(self.exercises[name], [], error=reason).message,
                             one_line(reason))


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters (for grades.csv)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _failure(result: Any) -> str:
    """Why a judged exercise is not passed, in one line ('' when it is): cases passed, first problem."""
    if result.passed:
        return ""
    shown = result.shown
    first = f"; {shown.label}: {shown.problem}" if shown is not None else ""
    return one_line(f"{sum(c.passed for c in result.cases)} of {len(result.cases)} cases pass{first}")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


Gradebook = dict[tuple[str, str, str], Submission]  # Submission.key -> row, in the order last seen


class GradebookError(ValueError):
    """Bad input for the gradebook: an unreadable grades.json or roster (one line, for the user)."""


@dataclass
class Policy:
    """How the whole gradebook is reported; given again at every run, it never needs a regrade."""

    keep: str | None = None  # "latest" or "best"; None: two submissions of a student for a chapter are an error
    roster: dict[str, dict[str, str]] | None = None  # id -> {"name", "email", "lms_id"}
    due: datetime | None = None  # timezone-aware
    gradescope: bool = False  # also write gradescope/<name>/results.json


def load_gradebook(out: Path) -> Gradebook:
    """The rows earlier runs left in ``out`` ({} when it has no grades.json yet).

    Raises :class:`GradebookError` rather than start afresh over rows it cannot read.
    """
    path = out / "grades.json"
    if not path.exists():
        return {}
    try:
        rows = [Submission.from_json(r) for r in json.loads(path.read_text(encoding="utf-8"))["submissions"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GradebookError(f"{path} is not a gradebook vitlearn can read ({type(exc).__name__}: {exc}); "
                             "move it away or choose another --out") from None
    return {row.key: row for row in rows}


def add(book: Gradebook, row: Submission) -> None:
    """Put ``row`` in the gradebook as the last one seen, in place of any row with its key."""
    book.pop(row.key, None)
    book[row.key] = row


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """The roster CSV (columns ``id`` and optionally ``name``, ``email``, ``lms_id``): id -> the others."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            lines = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GradebookError(f"cannot read the roster {path}: {exc}") from None
    if not lines or "id" not in lines[0]:
        raise GradebookError(f"the roster {path} needs a header line with an 'id' column (and name, email, lms_id)")
    roster: dict[str, dict[str, str]] = {}
    for number, line in enumerate(lines, start=2):
        student = unicodedata.normalize("NFC", (line["id"] or "").strip())
        if not student or student in roster:
            problem = f"the id {student!r} again" if student else "no id"
            raise GradebookError(f"the roster {path}, line {number}: {problem}")
        roster[student] = {k: (line.get(k) or "").strip() for k in ("name", "email", "lms_id")}
    return roster


def resolve(rows: list[Submission], policy: Policy) -> list[str]:
    """Decide which rows count, and their flags and lateness; return one line per duplicate error.

    Of the versions of one file, the last seen counts. Of a student's submissions for one chapter
    in different files, ``policy.keep`` picks the one that counts (``latest`` by file time,
    ``best`` by points); without it none counts and each gets status ``duplicate``.
    """
    for row in rows:
        row.status, row.counts, row.note = ("error" if row.reason else "graded"), True, ""
        row.flags = ["unknown_student"] if policy.roster is not None and row.id not in policy.roster else []
        row.late = datetime.fromisoformat(row.submitted) > policy.due if policy.due and row.submitted else None
    current = {row.path: row for row in rows}
    groups: dict[tuple[str, str], list[tuple[int, Submission]]] = {}
    for index, row in enumerate(rows):
        if current[row.path] is not row:
            _set_aside(row, "superseded", "an older version of the same file")
        elif row.chapter:
            groups.setdefault((row.id, row.chapter), []).append((index, row))
    errors = []
    for (student, chapter), group in groups.items():
        if len(group) < 2:
            continue
        paths = " and ".join(row.path for _, row in group)
        if policy.keep is None:
            errors.append(f"{student!r} has {len(group)} submissions for {chapter}: {paths}; "
                          "remove all but one, or pass --keep latest or --keep best")
            for _, row in group:
                _set_aside(row, "duplicate", f"{len(group)} submissions for {chapter}: {paths}")
            continue
        winner = max(group, key=lambda item: _rank(policy.keep, *item))[1]
        for _, row in group:
            if row is not winner:
                _set_aside(row, "superseded", f"--keep {policy.keep} counts {winner.path}")
    return errors


def _rank(keep: str, index: int, row: Submission) -> tuple:
    """What ``--keep`` maximises: the file time, or the points then the file time; then the last seen."""
    return (row.submitted, index) if keep == "latest" else (row.total, row.submitted, index)


def _set_aside(row: Submission, status: str, note: str) -> None:
    row.status, row.counts, row.note = status, False, note


def missing(rows: list[Submission], roster: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(student, chapter) for each roster student with no submission in a chapter the gradebook holds."""
    held = {(row.id, row.chapter) for row in rows}
    chapter_names = dict.fromkeys(row.chapter for row in rows if row.chapter)
    return [(student, chapter) for chapter in chapter_names for student in roster if (student, chapter) not in held]


def feedback(rows: list[Submission]) -> str:
    """The Markdown feedback for one student's rows."""
    lines = [f"# Feedback for {rows[0].id}"]
    for row in rows:
        lines += ["", f"## {row.chapter or Path(row.path).name}: {row.total:g} / {row.max_points:g} points"]
        if row.status == "duplicate":
            lines += ["", f"**Not counted:** {row.note}; your instructor decides which one counts."]
        if row.late:
            lines += ["", "Submitted after the due date."]
        if row.reason:
            lines += ["", f"**This notebook could not be graded as it is:** {row.reason}"]
        for grade in row.exercises:
            lines += ["", f"### {grade.name}: {grade.points:g} / {grade.max_points:g} ({grade.status})",
                      "", "```", grade.message, "```"]
    return "\n".join(lines) + "\n"


def gradescope(rows: list[Submission]) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one student's rows (the score from the rows that count)."""
    counted = [row for row in rows if row.counts]
    tests = [{"name": f"{row.chapter}: {g.name}", "score": g.points, "max_score": g.max_points,
              "status": "passed" if g.status == "passed" else "failed", "output": g.message,
              "visibility": "visible"} for row in counted for g in row.exercises]
    reasons = [f"{Path(row.path).name}: {row.note or row.reason}" for row in rows if row.note or row.reason]
    return {"score": round(sum(r.total for r in counted), 2),
            "execution_time": round(sum(r.seconds for r in counted), 3),
            "output": "\n".join(reasons) or "Graded by vitlearn in a sandbox.", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def row_reason(row: Submission) -> str:
    """grades.csv's reason: why the row does not count, then why the notebook or each exercise lost points."""
    lost = row.reason or "; ".join(f"{g.name}: {g.status} ({g.reason})" if g.reason else f"{g.name}: {g.status}"
                                   for g in row.exercises if g.status != "passed")
    return "; ".join(part for part in (row.note, lost) if part)


def grades_csv(rows: list[Submission], policy: Policy) -> str:
    """One line per submission (and, with a roster, per missing one): who, chapter, points per
    exercise, total, max, status, counts, [late,] flags, file time, path, reason."""
    graded = dict.fromkeys(g.name for row in rows for g in row.exercises)
    names = [n for n in EXERCISES if n in graded] + [n for n in graded if n not in EXERCISES]  # own ones last
    roster_columns = ["name", "email", "lms_id"] if policy.roster is not None else []
    late_column = ["late"] if policy.due else []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", *roster_columns, "chapter", *names, "total", "max", "status", "counts", *late_column,
                     "flags", "submitted", "path", "reason"])
    people = policy.roster or {}
    for row in rows:
        earned = {g.name: f"{g.points:g}" for g in row.exercises}
        who = [people.get(row.id, {}).get(k, "") for k in roster_columns]
        late = [] if not policy.due else ["" if row.late is None else str(row.late).lower()]
        writer.writerow([row.id, *who, row.chapter, *(earned.get(n, "") for n in names), f"{row.total:g}",
                         f"{row.max_points:g}", row.status, str(row.counts).lower(), *late, " ".join(row.flags),
                         row.submitted, row.path, row_reason(row)])
    for student, chapter in (missing(rows, people) if policy.roster is not None else []):
        who = [people[student][k] for k in roster_columns]
        writer.writerow([student, *who, chapter, *([""] * len(names)), "", "", "no submission", "true",
                         *([""] * len(late_column)), "", "", "", ""])
    return buffer.getvalue()


def write_reports(out: Path, book: Gradebook, policy: Policy, ids: Iterable[str] | None = None) -> list[str]:
    """Resolve the gradebook, then write grades.json, grades.csv and, for the students ``ids``
    (every student when None), feedback and Gradescope results; return the duplicate errors."""
    rows = list(book.values())
    errors = resolve(rows, policy)
    absent = missing(rows, policy.roster) if policy.roster is not None else []
    write_atomic(out / "grades.json", json.dumps({"submissions": [r.to_json() for r in rows], "missing": [
        {"id": student, "chapter": chapter} for student, chapter in absent]}, indent=1, ensure_ascii=False))
    write_atomic(out / "grades.csv", grades_csv(rows, policy))
    for student in dict.fromkeys(row.id for row in rows) if ids is None else set(ids):
        mine = [r for r in rows if r.id == student and r.status != "superseded"]
        if not mine:
            continue
        write_atomic(out / "feedback" / f"{report_name(student)}.md", feedback(mine))
        if policy.gradescope:
            write_atomic(out / "gradescope" / report_name(student) / "results.json",
                         json.dumps(gradescope(mine), indent=1, ensure_ascii=False))
    return errors
