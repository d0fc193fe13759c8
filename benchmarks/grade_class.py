"""Grade a synthetic class with `vitlearn grade`: pre-warmed worker vs a fresh interpreter per submission.

    python benchmarks/grade_class.py [--students 10] [--jobs 2] [--timeout 5]
    python benchmarks/grade_class.py --students 300 --chapter 02 --in-time --sandbox process bwrap --no-fresh

Writes STUDENTS submissions of every chapter (01-06) under a temporary folder, as
``sNN/<chapter>.ipynb``: most right, some wrong (the released stub, a catalogued mistake), some
hostile (``sys.exit()``, an object whose ``__eq__`` is always True, importing the reference, an
endless loop). Grades them with ``vitlearn grade --jobs N`` twice, forking from a pre-warmed
worker and with ``--fresh-interpreter``, and prints submissions/s for both and their ratio.
Where nbgrader is installed, ``nbgrader autograde`` (one notebook at a time, no ``--jobs``)
grades the first NBGRADER_SAMPLE students' chapter 02 (right answers and one stub, so no
endless loop meets its 30 s cell timeout) in a temporary course, for its submissions/s.
``--chapter`` keeps one chapter, ``--in-time`` leaves out the endless loops (a class whose
answers finish in time), ``--sandbox`` grades once per sandbox named (process, bwrap: the
namespace sandbox's overhead), ``--no-fresh`` skips the slow fresh-interpreter baseline.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vitlearn.classroom.notebooks import chapters
from vitlearn.classroom.release import student_version
from vitlearn.measure import machine

HOSTILE = {
    "exit": "import sys\nsys.exit()\n",
    "always_equal": "class Yes:\n    def __eq__(self, other):\n        return True\n\n{signature}    return Yes()\n",
    "import_reference": "{signature}    import vitlearn\n    return None\n",
    "endless_loop": "{signature}    while True:\n        pass\n",
}


def variant(notebook: dict, student: int, in_time: bool = False) -> dict:
    """Student ``student``'s version: right for most, wrong or hostile for some (same for every run)."""
    kinds = ["right"] * 5 + ["stub", "always_equal", "exit", "import_reference", "endless_loop"]
    if in_time:
        kinds = kinds[:-1]
    kind = kinds[student % len(kinds)]
    if kind == "right":
        return notebook
    if kind == "stub":
        return student_version(notebook)
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            source = "".join(cell["source"])
            signature = source.splitlines()[0] + "\n"  # the def line
            cell["source"] = HOSTILE[kind].format(signature=signature)
            break
    return copy


def write_class(root: Path, students: int, chapter_names: list[str], in_time: bool) -> list[Path]:
    """Every student's submission of every chapter named; their paths."""
    paths = []
    for chapter in (chapters()[name] for name in chapter_names):
        notebook = json.loads(chapter.path.read_text())
        for student in range(students):
            path = root / f"s{student:02d}" / chapter.path.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(variant(notebook, student, in_time)))
            paths.append(path)
    return paths


def grade(paths: list[Path], out: Path, jobs: int, timeout: float, *extra: str) -> float:
    """Seconds `vitlearn grade` takes on ``paths`` (a fresh output folder, so nothing is resumed)."""
    shutil.rmtree(out, ignore_errors=True)
    command = [sys.executable, "-m", "vitlearn", "grade", "--out", str(out), "--jobs", str(jobs),
               "--timeout", str(timeout), *extra, *map(str, paths)]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def nbgrader_seconds(paths: list[Path], course: Path) -> float:
    """Seconds ``nbgrader autograde`` takes on ``paths`` (one chapter's notebooks, one per student)."""
    chapter = paths[0]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    def nbgrader(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"], cwd=course,
                       env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    (course / "source" / "a").mkdir(parents=True)
    shutil.copy(chapters()[chapter.stem].path, course / "source" / "a")
    nbgrader("generate_assignment", "a")
    for path in paths:
        (course / "submitted" / path.parent.name / "a").mkdir(parents=True)
        shutil.copy(path, course / "submitted" / path.parent.name / "a")
    start = time.perf_counter()
    nbgrader("autograde", "a", "--create")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--nbgrader-sample", type=int, default=6, help="chapter-02 submissions nbgrader grades")
    parser.add_argument("--chapter", default="all", help="one chapter (01_image_to_patches or 01), or all (default)")
    parser.add_argument("--in-time", action="store_true", help="no endless loops: every answer finishes in time")
    parser.add_argument("--sandbox", nargs="+", default=["auto"], choices=["auto", "bwrap", "process"])
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh-interpreter-per-submission run")
    args = parser.parse_args()
    names = [n for n in chapters() if args.chapter == "all" or n.startswith(args.chapter)]
    has_nbgrader = importlib.util.find_spec("nbgrader") is not None and args.nbgrader_sample > 0
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_class(Path(tmp) / "class", args.students, names, args.in_time)
        out = Path(tmp) / "out"
        warm = {sandbox: grade(paths, out, args.jobs, args.timeout, "--sandbox", sandbox) for sandbox in args.sandbox}
        rows = json.loads((out / "grades.json").read_text())["submissions"]
        full = sum(r["total"] == r["max"] for r in rows)
        fresh = None if args.no_fresh else grade(paths, out, args.jobs, args.timeout, "--fresh-interpreter")
        sample = [p for p in paths if p.stem == "02_conv2d_equivalence"][: args.nbgrader_sample]
        nbgrader = nbgrader_seconds(sample, Path(tmp) / "course") if has_nbgrader and sample else None
    n = len(paths)
    print(f"{n} submissions ({full} with full marks) of {len(names)} chapter(s), --jobs {args.jobs}, "
          f"--timeout {args.timeout:g} s{', no endless loops' if args.in_time else ''}")
    for sandbox, seconds in warm.items():
        print(f"pre-warmed worker, {sandbox + ' sandbox:':17s} {seconds:6.1f} s  {n / seconds:5.2f} submissions/s")
    if "process" in warm and "bwrap" in warm:
        print(f"bwrap overhead: {warm['bwrap'] / warm['process'] - 1:+.0%}")
    first = next(iter(warm.values()))
    if fresh is not None:
        print(f"fresh interpreter per submission:     {fresh:6.1f} s  {n / fresh:5.2f} submissions/s")
        print(f"ratio pre-warmed / fresh: {fresh / first:.1f}x")
    if nbgrader is None:
        print("nbgrader: not compared (not installed, or --nbgrader-sample 0)")
    else:
        rate = len(sample) / nbgrader
        print(f"nbgrader autograde ({len(sample)} of them):  {nbgrader:6.1f} s  {rate:5.2f} submissions/s")
        print(f"ratio vitlearn grade / nbgrader autograde: {n / first / rate:.1f}x")


if __name__ == "__main__":
    main()
