"""Grade submissions: answers run in the sandbox, outcomes judged here, one gradebook row each.

Each submitted notebook becomes one :class:`~vitlearn.classroom.gradebook.Submission` row
whatever it contains: who (:func:`student_id`), which chapter (:func:`which_chapter`), and per
exercise the points, status and the same feedback the notebook's check cell prints. Rows go
into the gradebook (:mod:`vitlearn.classroom.gradebook`), which writes the reports.
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from queue import Queue
from typing import Any

import vitlearn
from vitlearn.checks import EXERCISES
from vitlearn.checks.core import SCORING, Case, Exercise
from vitlearn.checks.feedback import judge_all, report
from vitlearn.classroom.answers import Answer, NotebookCode
from vitlearn.classroom.gradebook import ExerciseGrade, Submission, one_line
from vitlearn.classroom.notebooks import Chapter, SubmissionError, chapters, grade_ids, load_submission, nbgrader
from vitlearn.classroom.own_exercises import ExercisesError, load_exercises, merge
from vitlearn.classroom.sandbox import HARNESS_FAILED, Limits, Run, Worker


def student_id(path: Path, chapter_names: Iterable[str]) -> str:
    """The file's stem, or its folder's name when the stem is a chapter's, as given (Unicode NFC).

    Report files are named by :func:`report_name`, never by the id itself.
    """
    stem = path.absolute().parent.name if path.stem in set(chapter_names) else path.stem
    return unicodedata.normalize("NFC", stem).strip() or "submission"


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
    ``scoring`` is one of :data:`SCORING`. ``course``, a folder of chapter notebooks (an instructor's
    edited copy of the book), replaces the chapters vitlearn carries: their exercises and points count.
    ``sandbox`` is the worker's sandbox: ``"process"`` or ``"bwrap"`` (see ``sandbox.choose_sandbox``).
    """

    def __init__(self, limits: Limits, *, jobs: int = 1, prewarmed: bool = True, chapter: Chapter | None = None,
                 scoring: str = "all-or-nothing", exercises: Path | None = None, course: Path | None = None,
                 sandbox: str = "process") -> None:
        if scoring not in SCORING:
            raise ValueError(f"scoring must be one of {', '.join(SCORING)}, not {scoring!r}")
        self.limits, self.jobs, self.prewarmed, self.scoring = limits, max(1, jobs), prewarmed, scoring
        self.sandbox = sandbox
        self.exercises_file = exercises
        self.exercises = dict(EXERCISES) if exercises is None else merge(EXERCISES, load_exercises(exercises),
                                                                          exercises)
        self.course = chapters() if course is None else chapters(course)
        if chapter is not None:
            self.course[chapter.name] = chapter
        for known in self.course.values():
            self._require_known(known)
        self.forced = chapter.name if chapter is not None else None
        # the sandbox may not read the instructor's files: notebooks with solutions, the references
        self.hidden = [path for path in (exercises, chapter.path if chapter else None, course) if path is not None]
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
                    "scoring": self.scoring, "points": dict(points), "vitlearn": vitlearn.__version__,
                    "sandbox": self.sandbox}
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
            workers.put(Worker(self.limits, prewarmed=self.prewarmed, hidden=self.hidden, sandbox=self.sandbox))

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
        runs = self._run(runnable, worker)
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

    def _run(self, runnable: dict[str, tuple], worker: Worker) -> dict[str, Run]:
        """The exercises run by ``worker``; when the worker fails (an answer killed it), each runs again
        alone in a fresh one, so only the exercise that killed it loses its points."""
        try:
            return worker.run(runnable) if runnable else {}
        except RuntimeError as exc:
            if len(runnable) == 1:
                return {name: Run(end="error", seconds=0.0, unreadable=str(exc)) for name in runnable}
        return {name: self._run({name: exercise}, worker)[name] for name, exercise in runnable.items()}

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


def _failure(result: Any) -> str:
    """Why a judged exercise is not passed, in one line ('' when it is): cases passed, first problem."""
    if result.passed:
        return ""
    shown = result.shown
    first = f"; {shown.label}: {shown.problem}" if shown is not None else ""
    return one_line(f"{sum(c.passed for c in result.cases)} of {len(result.cases)} cases pass{first}")
