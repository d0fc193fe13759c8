"""``vitlearn release``, ``vitlearn check`` and ``vitlearn grade`` (torch is imported only when they run).

    vitlearn release [CHAPTER ...] --out DIR [--force]  student versions of the chapters
                     [--assessment]               ... without the cells, fallbacks and hints that give answers
    vitlearn check NOTEBOOK                       grade one notebook in the sandbox, print feedback
    vitlearn grade --out DIR SUBMISSION ...       grade a class: grades.csv/json, feedback, Gradescope

Each reads the chapters vitlearn carries (or the checkout's ``chapters/``), or with ``--chapters DIR``
an instructor's edited copy of the book, whose exercises and points then count.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily where used: they import torch
    from datetime import datetime

    from vitlearn.classroom.gradebook import Gradebook, Policy
    from vitlearn.classroom.grader import Grader
    from vitlearn.classroom.notebooks import Chapter


def register(commands: argparse._SubParsersAction) -> None:
    """Add the three classroom subcommands to the ``vitlearn`` parser."""
    release = commands.add_parser("release", help="write student versions of the chapters (solutions stubbed)")
    release.add_argument("chapters", nargs="*", metavar="CHAPTER", help="number (03), name or path; default all")
    release.add_argument("--out", type=Path, required=True, help="folder to write the student notebooks to")
    release.add_argument("--force", action="store_true", help="replace student notebooks that exist already")
    _course_option(release)
    release.add_argument("--assessment", action="store_true",
                         help="assessment versions: no cells stating an answer, no reference fallback, checks "
                         "that say what is wrong but not how to fix it")
    release.set_defaults(run=_release)

    check = commands.add_parser("check", help="grade one notebook in the sandbox and print the feedback")
    check.add_argument("notebook", type=Path)
    _sandbox_options(check)
    check.set_defaults(run=_check)

    grade = commands.add_parser("grade", help="grade submissions in a sandbox: grades.csv/json, feedback")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION", help="submitted notebooks")
    grade.add_argument("--out", type=Path, required=True, help="folder for grades.csv, grades.json, feedback/")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    grade.add_argument("--gradescope", action="store_true", help="also write gradescope/<name>/results.json")
    grade.add_argument("--fresh-interpreter", action="store_true",
                       help="start a new Python per submission instead of forking a pre-warmed one (slower)")
    grade.add_argument("--force", action="store_true", help="grade again what is graded already, unchanged")
    grade.add_argument("--keep", choices=("latest", "best"),
                       help="which of a student's submissions for one chapter counts (default: several are an error)")
    grade.add_argument("--roster", type=Path, help="CSV with columns id,name,email,lms_id (id required)")
    grade.add_argument("--due", help="due date and time, ISO 8601 (2026-12-24T23:59, local time unless an offset "
                       "is given): later file times are marked late")
    _sandbox_options(grade)
    grade.set_defaults(run=_grade)


def _course_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--chapters", dest="course", type=Path, metavar="DIR",
                        help="the book to work from: a folder of chapter notebooks, e.g. your edited copy, whose "
                        "exercises and points count (default: the chapters vitlearn carries)")


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds per exercise (default 30)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory an exercise may add (default 2048)")
    parser.add_argument("--chapter", help="the chapter every submission answers, by number, name or file, with that "
                        "file's points (default: from names and cells)")
    parser.add_argument("--exercises", type=Path, metavar="PATH", help="your own exercises module, for the notebook "
                        "--chapter names (default: exercises.py beside that notebook, if there is one)")
    parser.add_argument("--scoring", choices=("all-or-nothing", "proportional"), default="all-or-nothing",
                        help="an exercise's points: all only when every case passes (default, as nbgrader), "
                        "or by the fraction of cases passed")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "process"), default="auto",
                        help="bwrap: the worker in new namespaces (bubblewrap), seeing only the interpreter, no "
                        "network; process: limits and an audit hook only; auto (default): bwrap when it works")
    _course_option(parser)


def _release(args: argparse.Namespace) -> int:
    """Every chapter is checked, and every target, before any file is written; exit 1 and write
    nothing when something is wrong, 2 for a chapter that does not exist or no chapter at all."""
    from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths, find_chapter, no_chapters
    from vitlearn.classroom.release import ReleaseError, release_chapters

    directory = args.course or CHAPTERS_DIR
    try:
        paths = [find_chapter(key, directory) for key in args.chapters] or chapter_paths(directory)
    except ValueError as exc:
        return _usage_error(args, exc)
    if not paths:
        return _usage_error(args, ValueError(f"nothing to release: {no_chapters(directory)}"))
    try:
        written = release_chapters(paths, args.out, force=args.force, assessment=args.assessment)
    except ReleaseError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        print(f"vitlearn release: nothing written ({len(exc.problems)} problem{'s' * (len(exc.problems) != 1)})",
              file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vitlearn release: cannot write to {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


class UsageError(ValueError):
    """Bad input on the command line: one line on stderr and exit status 2, never a traceback."""


def _usage_error(args: argparse.Namespace, error: Exception) -> int:
    print(f"vitlearn {args.command}: error: {error}", file=sys.stderr)
    return 2


def _chapter(key: str | None, directory: Path) -> Chapter | None:
    """The chapter ``--chapter`` names (among those in ``directory``, or a file), with the points
    written in its file (None without it)."""
    from vitlearn.classroom.notebooks import chapters, find_chapter, no_chapters, read_chapter

    if not key:
        return None
    try:
        path = find_chapter(key, directory)
    except ValueError:
        known = ", ".join(chapters(directory)) or f"none ({no_chapters(directory)})"
        raise UsageError(f"no chapter {key!r}; give a number, a name or a chapter file: {known}") from None
    try:
        chapter = read_chapter(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"cannot read the chapter {path}: {type(exc).__name__}: {exc}") from None
    if not chapter.points:
        raise UsageError(f"{path} has no graded exercises (solution cells with nbgrader metadata)")
    return chapter


def _due(text: str | None) -> datetime | None:
    """``--due`` as a timezone-aware datetime (local time when it names no offset); None without it."""
    from datetime import datetime

    if text is None:
        return None
    try:
        due = datetime.fromisoformat(text)
    except ValueError:
        due = None
    if due is None or not any(sep in text for sep in "T "):
        raise UsageError(f"--due {text!r} is not an ISO 8601 date and time, e.g. 2026-12-24T23:59 "
                         "or 2026-12-24T23:59+01:00")
    return due if due.tzinfo else due.astimezone()


def _exercises_file(given: Path | None, chapter: Chapter | None) -> Path | None:
    """The instructor's exercises module: ``--exercises``, else ``exercises.py`` beside the chapter's notebook."""
    from vitlearn.classroom.own_exercises import beside

    if chapter is None:
        if given is not None:
            raise UsageError("--exercises needs --chapter NOTEBOOK: the notebook whose check cells give the points")
        return None
    return given if given is not None else beside(chapter.path)


def _grader(args: argparse.Namespace, jobs: int = 1, prewarmed: bool = True) -> Grader:
    from vitlearn.classroom.grader import Grader
    from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths, no_chapters
    from vitlearn.classroom.own_exercises import ExercisesError
    from vitlearn.classroom.sandbox import Limits, SandboxError, choose_sandbox

    try:
        sandbox, warning = choose_sandbox(args.sandbox)
    except SandboxError as exc:
        raise UsageError(str(exc)) from None
    if warning:
        print(warning, file=sys.stderr)
    directory = args.course or CHAPTERS_DIR
    chapter = _chapter(args.chapter, directory)
    if chapter is None and not chapter_paths(directory):
        raise UsageError(f"no chapter to grade against: {no_chapters(directory)}")
    try:
        return Grader(Limits(timeout=args.timeout, memory=args.memory_mb * 2**20), jobs=jobs, prewarmed=prewarmed,
                      chapter=chapter, scoring=args.scoring, exercises=_exercises_file(args.exercises, chapter),
                      course=args.course, sandbox=sandbox)
    except ExercisesError as exc:
        raise UsageError(str(exc)) from None


def _check(args: argparse.Namespace) -> int:
    from vitlearn.classroom.gradebook import feedback

    try:
        grader = _grader(args)
    except UsageError as exc:
        return _usage_error(args, exc)
    row = grader.grade([args.notebook])[0]
    print(feedback([row]), end="")
    return 0 if row.max_points and row.total == row.max_points else 1


def _grade(args: argparse.Namespace) -> int:
    import threading

    from vitlearn.classroom.gradebook import GradebookError, Policy, add, load_gradebook, read_roster, write_reports

    try:
        grader = _grader(args, args.jobs, not args.fresh_interpreter)
        book = load_gradebook(args.out)
        policy = Policy(args.keep, read_roster(args.roster) if args.roster else None, _due(args.due), args.gradescope)
    except (UsageError, GradebookError) as exc:
        return _usage_error(args, exc)
    lock, graded, again = threading.Lock(), [], []
    start = time.perf_counter()

    def save(row) -> None:  # after every submission: an interrupted run keeps what it graded
        with lock:
            old = book.get(row.key)
            if old is not None and old.sha256:
                again.append(_change(old.settings, row.settings) or "--force")
            graded.append(row)
            add(book, row)
            write_reports(args.out, book, policy, ids=[row.id])
            print(f"{row.id}: {row.total:g}/{row.max_points:g} {row.reason}".rstrip(), flush=True)

    rows = grader.grade(args.submissions, done=book, force=args.force, on_result=save)
    for row in rows:  # the batch is the last seen, in the order given (the newest version of a file counts)
        add(book, row)
    errors = write_reports(args.out, book, policy)
    seconds = time.perf_counter() - start
    failed = sum(bool(row.reason) for row in graded)
    regraded = f" ({len(again)} again: {', '.join(dict.fromkeys(again))})" if again else ""
    print(f"{_count(len(rows), 'submission')} in {seconds:.1f} s: {len(graded) - failed} graded{regraded}, "
          f"{len(rows) - len(graded)} skipped (unchanged), {failed} failed (reason in grades.csv), "
          f"{grader.sandbox} sandbox -> {args.out}", file=sys.stderr)
    unknown = [row.id for row in rows if not row.chapter]
    if unknown:
        errors.append(f"{_count(len(unknown), 'notebook')} answering no chapter vitlearn knows (reason in "
                      f"grades.csv): {', '.join(unknown)}")
    for line in _notes(grader, book, {row.key for row in rows}, policy) + errors:
        print(line, file=sys.stderr)
    return 1 if errors else 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _change(old: dict[str, object], new: dict[str, object]) -> str:
    """What differs between two grading settings, e.g. ``timeout 30 -> 5`` ('' when nothing does)."""
    if not old:
        return "settings not recorded"

    def shown(value: object) -> str:
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join("points changed" if key == "points" else f"{key} {shown(old.get(key))} -> {shown(new[key])}"
                     for key in new if old.get(key) != new[key])


def _notes(grader: Grader, book: Gradebook, batch: set[tuple[str, str, str]], policy: Policy) -> list[str]:
    """What the instructor should know about rows outside this batch: stale settings, the roster."""
    from vitlearn.classroom.gradebook import missing

    rows = list(book.values())
    notes = []
    stale = [row for row in rows if row.key not in batch and row.settings != grader.settings(row.chapter)]
    if stale:
        change = _change(stale[0].settings, grader.settings(stale[0].chapter))
        notes.append(f"kept {_count(len(stale), 'row')} of earlier batches graded with other settings ({change}): "
                     f"{', '.join(dict.fromkeys(row.id for row in stale))}; give their notebooks again to regrade them")
    if policy.roster is not None:
        unknown = dict.fromkeys(row.id for row in rows if "unknown_student" in row.flags)
        if unknown:
            notes.append(f"not in the roster (flagged unknown_student): {', '.join(unknown)}")
        absent: dict[str, list[str]] = {}
        for student, chapter in missing(rows, policy.roster):
            absent.setdefault(chapter, []).append(student)
        notes += [f"no submission for {chapter} (status 'no submission' in grades.csv): {', '.join(students)}"
                  for chapter, students in absent.items()]
    return notes
