"""Grade submissions: solution cells run in the sandbox, outcomes judged here, reports written.

Each submission becomes one row (see :class:`Submission`) whatever it contains; rows are saved
atomically after every submission, so an interrupted run keeps what it graded and a re-run
skips submissions whose notebook is unchanged (same path and SHA-256).
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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from queue import Queue
from typing import Any

from vitlearn.checks import EXERCISES
from vitlearn.checks.core import Case, judge_all, report
from vitlearn.classroom.notebooks import (
    Chapter,
    SubmissionError,
    chapters,
    grade_ids,
    load_submission,
    solution_cells,
)
from vitlearn.classroom.sandbox import HARNESS_FAILED, Limits, Run, Worker


@dataclass
class ExerciseGrade:
    """One exercise of one submission: points out of ``max_points``, a status and the feedback."""

    name: str
    points: float
    max_points: float
    status: str  # passed, failed, error, timeout or missing
    message: str


@dataclass
class Submission:
    """One submitted notebook's row: who, which chapter, its exercises, and why if it failed whole."""

    id: str
    path: str
    sha256: str
    chapter: str
    exercises: list[ExerciseGrade] = field(default_factory=list)
    reason: str = ""  # set when the notebook itself could not be used
    seconds: float = 0.0

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
        fields = {k: data[k] for k in ("id", "path", "sha256", "chapter", "reason", "seconds")}
        return cls(**fields, exercises=[ExerciseGrade(**e) for e in data["exercises"]])


def student_id(path: Path, chapter_names: Iterable[str]) -> str:
    """The file's stem, or its folder's name when the stem is a chapter name; filename-safe."""
    stem = path.parent.name if path.stem in set(chapter_names) else path.stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem).lstrip(".") or "submission"


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


class Grader:
    """Grades submissions of the course's chapters with ``jobs`` sandbox workers in parallel."""

    def __init__(self, limits: Limits, *, jobs: int = 1, prewarmed: bool = True, chapter: str | None = None) -> None:
        self.limits, self.jobs, self.prewarmed, self.forced = limits, max(1, jobs), prewarmed, chapter
        self.course = chapters()
        self._cases = {name: exercise.make_cases() for name, exercise in EXERCISES.items()}

    def grade(self, paths: list[Path], *, done: dict[tuple[str, str], Submission] | None = None,
              on_result: Callable[[Submission], None] | None = None) -> list[Submission]:
        """Grade every path (reusing ``done`` rows keyed by (path, sha256)); rows in input order.

        ``on_result`` is called with each newly graded row as soon as it is ready.
        """
        done = done or {}
        workers: Queue[Worker] = Queue()
        for _ in range(self.jobs):
            workers.put(Worker(self.limits, prewarmed=self.prewarmed))

        def one(path: Path) -> Submission:
            key = (str(path.resolve()), sha256(path))
            if key in done:
                return done[key]
            worker = workers.get()
            try:
                row = self.grade_one(path, worker, key[1])
            except Exception as exc:  # noqa: BLE001 - a grader bug must still leave this submission a row
                row = Submission(student_id(path, self.course), key[0], key[1], "",
                                 reason=f"the grader failed on this notebook: {type(exc).__name__}: {exc}")
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

    def grade_one(self, path: Path, worker: Worker, digest: str) -> Submission:
        """One submission's row; never raises for anything the submission contains."""
        start = time.perf_counter()
        row = Submission(student_id(path, self.course), str(path.resolve()), digest, "")
        try:
            cells = load_submission(path)
        except SubmissionError as exc:
            cells, row.reason = None, str(exc)
        chapter = which_chapter(path, cells, self.course, self.forced)
        if chapter not in self.course:
            row.reason = row.reason or "cannot tell which chapter this notebook answers (name it like the chapter)"
            return row
        row.chapter = chapter
        points = self.course[chapter].points
        if cells is None:
            row.exercises = [self._failed(name, points[name], "error", row.reason) for name in points]
        else:
            row.exercises = self._grade_cells(cells, points, worker)
        row.seconds = round(time.perf_counter() - start, 3)
        return row

    def _grade_cells(self, cells: list, points: dict[str, float], worker: Worker) -> list[ExerciseGrade]:
        try:
            sources = solution_cells(cells, list(points))
        except SubmissionError as exc:
            return [self._failed(name, points[name], "error", str(exc)) for name in points]
        runnable = {name: (src, self._cases[name], EXERCISES[name].grad_args)
                    for name, src in sources.items() if isinstance(src, str)}
        try:
            runs = worker.run(runnable) if runnable else {}
        except RuntimeError as exc:
            runs = {name: Run(end="error", seconds=0.0, unreadable=str(exc)) for name in runnable}
        grades = []
        for name, max_points in points.items():
            source = sources.get(name)
            if source is None:
                grades.append(self._failed(name, max_points, "missing", f"no solution cell with grade_id {name!r} "
                                           "(keep the exercise cell and its nbgrader metadata as released)"))
            elif isinstance(source, SubmissionError):
                grades.append(self._failed(name, max_points, "error", str(source)))
            else:
                grades.append(self._judge(name, max_points, runs[name]))
        return grades

    def _judge(self, name: str, max_points: float, run: Run) -> ExerciseGrade:
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
        exercise = EXERCISES[name]
        cases: list[Case] = self._cases[name]
        result = report(exercise, judge_all(exercise, cases, run.outcomes),
                        warning_lines=[w for o in run.outcomes for w in o.warnings])
        return ExerciseGrade(name, result.grade(max_points), max_points,
                             "passed" if result.passed else "failed", result.message)

    @staticmethod
    def _failed(name: str, max_points: float, status: str, reason: str) -> ExerciseGrade:
        return ExerciseGrade(name, 0.0, max_points, status, report(EXERCISES[name], [], error=reason).message)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
    part.write_text(text)
    os.replace(part, path)


def load_done(out: Path) -> dict[tuple[str, str], Submission]:
    """Rows of an earlier run in ``out`` keyed by (path, sha256); {} when there are none or they are unreadable."""
    try:
        rows = json.loads((out / "grades.json").read_text())["submissions"]
        return {(r["path"], r["sha256"]): Submission.from_json(r) for r in rows if r["sha256"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def feedback(rows: list[Submission]) -> str:
    """The Markdown feedback for one student's rows."""
    lines = [f"# Feedback for {rows[0].id}"]
    for row in rows:
        lines += ["", f"## {row.chapter or Path(row.path).name}: {row.total:g} / {row.max_points:g} points"]
        if row.reason:
            lines += ["", f"**This notebook could not be graded as it is:** {row.reason}"]
        for grade in row.exercises:
            lines += ["", f"### {grade.name}: {grade.points:g} / {grade.max_points:g} ({grade.status})",
                      "", "```", grade.message, "```"]
    return "\n".join(lines) + "\n"


def gradescope(rows: list[Submission]) -> dict[str, Any]:
    """Gradescope's ``results.json`` for one student's rows."""
    tests = [{"name": f"{row.chapter}: {g.name}", "score": g.points, "max_score": g.max_points,
              "status": "passed" if g.status == "passed" else "failed", "output": g.message,
              "visibility": "visible"} for row in rows for g in row.exercises]
    reasons = [f"{Path(row.path).name}: {row.reason}" for row in rows if row.reason]
    return {"score": round(sum(r.total for r in rows), 2), "execution_time": round(sum(r.seconds for r in rows), 3),
            "output": "\n".join(reasons) or "Graded by vitlearn in a sandbox.", "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def grades_csv(rows: list[Submission]) -> str:
    """One line per submission: id, chapter, one column per exercise (points), total, max, reason."""
    names = [n for n in EXERCISES if any(g.name == n for row in rows for g in row.exercises)]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "chapter", *names, "total", "max", "reason"])
    for row in rows:
        earned = {g.name: f"{g.points:g}" for g in row.exercises}
        writer.writerow([row.id, row.chapter, *(earned.get(n, "") for n in names),
                         f"{row.total:g}", f"{row.max_points:g}", row.reason])
    return buffer.getvalue()


def write_reports(out: Path, rows: list[Submission], *, gradescope_results: bool, ids: Iterable[str]) -> None:
    """grades.json, grades.csv and, for the students ``ids``, feedback (and Gradescope results)."""
    write_atomic(out / "grades.json", json.dumps({"submissions": [r.to_json() for r in rows]}, indent=1))
    write_atomic(out / "grades.csv", grades_csv(rows))
    for student in set(ids):
        mine = [r for r in rows if r.id == student]
        write_atomic(out / "feedback" / f"{student}.md", feedback(mine))
        if gradescope_results:
            write_atomic(out / "gradescope" / student / "results.json", json.dumps(gradescope(mine), indent=1))
