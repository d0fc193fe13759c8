"""``vitlearn release``, ``vitlearn check`` and ``vitlearn grade`` (torch is imported only when they run).

    vitlearn release [CHAPTER ...] --out DIR      student versions of the chapters
    vitlearn check NOTEBOOK                       grade one notebook in the sandbox, print feedback
    vitlearn grade --out DIR SUBMISSION ...       grade a class: grades.csv/json, feedback, Gradescope
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    """Add the three classroom subcommands to the ``vitlearn`` parser."""
    release = commands.add_parser("release", help="write student versions of the chapters (solutions stubbed)")
    release.add_argument("chapters", nargs="*", metavar="CHAPTER", help="number (03), name or path; default all")
    release.add_argument("--out", type=Path, required=True, help="folder to write the student notebooks to")
    release.set_defaults(run=_release)

    check = commands.add_parser("check", help="grade one notebook in the sandbox and print the feedback")
    check.add_argument("notebook", type=Path)
    _sandbox_options(check)
    check.set_defaults(run=_check)

    grade = commands.add_parser("grade", help="grade submissions in a sandbox: grades.csv/json, feedback")
    grade.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION", help="submitted notebooks")
    grade.add_argument("--out", type=Path, required=True, help="folder for grades.csv, grades.json, feedback/")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded in parallel (default 1)")
    grade.add_argument("--gradescope", action="store_true", help="also write gradescope/<id>/results.json")
    grade.add_argument("--fresh-interpreter", action="store_true",
                       help="start a new Python per submission instead of forking a pre-warmed one (slower)")
    _sandbox_options(grade)
    grade.set_defaults(run=_grade)


def _sandbox_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds per exercise (default 30)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory an exercise may add (default 2048)")
    parser.add_argument("--chapter", help="the chapter every submission answers (default: from names and cells)")


def _release(args: argparse.Namespace) -> int:
    from vitlearn.classroom.notebooks import chapters, find_chapter, release

    paths = [find_chapter(key) for key in args.chapters] or [c.path for c in chapters().values()]
    for path in paths:
        print(release(path, args.out))
    return 0


def _grader(args: argparse.Namespace, jobs: int = 1, prewarmed: bool = True):
    from vitlearn.classroom.grader import Grader
    from vitlearn.classroom.notebooks import find_chapter
    from vitlearn.classroom.sandbox import Limits

    chapter = find_chapter(args.chapter).stem if args.chapter else None
    return Grader(Limits(timeout=args.timeout, memory=args.memory_mb * 2**20), jobs=jobs, prewarmed=prewarmed,
                  chapter=chapter)


def _check(args: argparse.Namespace) -> int:
    from vitlearn.classroom.grader import feedback

    row = _grader(args).grade([args.notebook])[0]
    print(feedback([row]), end="")
    return 0 if row.max_points and row.total == row.max_points else 1


def _grade(args: argparse.Namespace) -> int:
    import threading

    from vitlearn.classroom.grader import load_done, write_reports

    done = load_done(args.out)
    batch = {str(path.resolve()) for path in args.submissions}
    lock, rows = threading.Lock(), {row.path: row for row in done.values() if row.path in batch}
    start = time.perf_counter()

    def save(row) -> None:  # after every submission: an interrupted run keeps what it graded
        with lock:
            rows[row.path] = row
            write_reports(args.out, list(rows.values()), gradescope_results=args.gradescope, ids=[row.id])
            print(f"{row.id}: {row.total:g}/{row.max_points:g} {row.reason}".rstrip(), flush=True)

    graded = _grader(args, args.jobs, not args.fresh_interpreter).grade(args.submissions, done=done, on_result=save)
    write_reports(args.out, graded, gradescope_results=args.gradescope, ids=[row.id for row in graded])
    seconds = time.perf_counter() - start
    print(f"{len(graded)} submissions in {seconds:.1f} s ({len(graded) / seconds:.2f}/s) -> {args.out}",
          file=sys.stderr)
    return 0 if len(graded) == len(args.submissions) else 1
