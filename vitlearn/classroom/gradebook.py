"""The gradebook: one row per submitted notebook, kept across batches, and the reports written from it.

``--out`` accumulates rows keyed by (student id, chapter, SHA-256): a later batch adds rows and
never drops earlier ones. Which row counts (an older version of a file, two submissions of one
student for one chapter), the roster and the due date are decided when the reports are written
(:func:`resolve`), so they can change without regrading. Every file is rewritten atomically.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vitlearn.checks import EXERCISES
from vitlearn.classroom.notebooks import write_atomic


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


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, cut to ``limit`` characters (for grades.csv)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
