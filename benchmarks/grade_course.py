"""A whole course through `vitlearn grade`: batches, a late batch, resubmissions, a roster; every row accounted for.

    python benchmarks/grade_course.py [--students 150] [--jobs 2] [--timeout 5]

Simulates one assignment (chapter 02) for a class of STUDENTS on a roster. Ids are what LMS
exports contain: plain names, e-mail addresses (``alice@uni.edu`` and ``alice_uni.edu`` are two
people), accents (``Jörg Müller``). Each student's answer is one of: right, the released stub, a
catalogued mistake in one exercise, a helper imported in an earlier cell, a hostile ``sys.exit()``.
The class hands in over three runs of ``vitlearn grade`` into one gradebook: two on-time batches
and a late batch after the due date that also holds resubmissions (``--keep latest``). Four
roster students never submit; two people not on the roster do. Afterwards every roster student
must have exactly one counting row with the points their answer deserves (or a ``no submission``
row), every file must be a row, late files must be marked late and strangers flagged.
Prints the time per batch and the accounting; exits 1 if anything is unaccounted for.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from vitlearn.classroom.notebooks import CHAPTERS_DIR
from vitlearn.classroom.release import student_version
from vitlearn.cli import main as vitlearn
from vitlearn.measure import machine

CHAPTER = CHAPTERS_DIR / "02_conv2d_equivalence.ipynb"
DUE = datetime(2026, 12, 24, 23, 59)
WEIGHT_TO_KERNEL_WRONG = ("def weight_to_kernel(weight, in_channels, patch_size):\n"
                          "    return weight.reshape(-1, in_channels, patch_size, patch_size)\n")
WITH_NUMPY_HELPER = ("def weight_to_kernel(weight, in_channels, patch_size):\n"
                     "    d = np.prod(weight.shape) // (in_channels * patch_size * patch_size)\n"
                     "    return weight.T.reshape(int(d), in_channels, patch_size, patch_size)\n")
EXIT = "import sys\nsys.exit()\n"

# answer kind -> (what replaces the weight_to_kernel solution, or None; points out of 3)
ANSWERS = {"right": (None, 3), "stub": ("stub", 0), "mistake": (WEIGHT_TO_KERNEL_WRONG, 2),
           "numpy_helper": (WITH_NUMPY_HELPER, 3), "hostile": (EXIT, 2)}


def student_ids(n: int) -> list[str]:
    """``n`` ids the way exports spell them: names, e-mails, accents; two that differ only by '@' vs '_'."""
    special = ["alice@uni.edu", "alice_uni.edu", "Jörg Müller", "Zoë Ng", "bob smith", "O'Brien"]
    return special[:n] + [f"student{i:03d}" for i in range(len(special), n)]


def submission(kind: str) -> dict:
    """Chapter 02's solution notebook answered the ``kind`` way."""
    notebook = json.loads(CHAPTER.read_text())
    replacement, _ = ANSWERS[kind]
    if replacement == "stub":
        return student_version(notebook)
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if replacement and meta.get("grade_id") == "weight_to_kernel":
            cell["source"] = replacement
    if kind == "numpy_helper":  # the import sits in the first code cell, as learners put it
        first = next(c for c in notebook["cells"] if c["cell_type"] == "code")
        first["source"] = "import numpy as np\n" + "".join(first["source"])
    return notebook


def hand_in(folder: Path, student: str, kind: str, when: datetime) -> Path:
    """Write ``student``'s notebook as ``folder/<student>/02_conv2d_equivalence.ipynb``, dated ``when``."""
    path = folder / student / CHAPTER.name
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(submission(kind)))
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def grade(paths: list[Path], out: Path, roster: Path, args: argparse.Namespace) -> float:
    start = time.perf_counter()
    status = vitlearn(["grade", *map(str, paths), "--out", str(out), "--jobs", str(args.jobs), "--timeout",
                       str(args.timeout), "--roster", str(roster), "--due", DUE.isoformat(), "--keep", "latest"])
    print(f"  exit status {status}")
    return time.perf_counter() - start


def account(out: Path, expected: dict[str, int], late: set[str], strangers: set[str], files: int,
            absent: set[str]) -> list[str]:
    """Every way the gradebook could disagree with what was handed in; [] when all is accounted for."""
    rows = json.loads((out / "grades.json").read_text())["submissions"]
    problems = [] if len(rows) == files else [f"{len(rows)} rows for {files} files"]
    counting: dict[str, list[dict]] = {}
    for row in rows:
        if row["counts"]:
            counting.setdefault(row["id"], []).append(row)
    for student, points in expected.items():
        mine = counting.get(student, [])
        if len(mine) != 1:
            problems.append(f"{student}: {len(mine)} counting rows")
        elif mine[0]["total"] != points:
            problems.append(f"{student}: {mine[0]['total']} points, expected {points}")
        elif bool(mine[0].get("late")) != (student in late):
            problems.append(f"{student}: late is {mine[0].get('late')}")
        if student in strangers and "unknown_student" not in mine[0]["flags"]:
            problems.append(f"{student}: not flagged as unknown")
    with open(out / "grades.csv", newline="", encoding="utf-8") as file:
        no_submission = {r["id"] for r in csv.DictReader(file) if r["status"] == "no submission"}
    if no_submission != absent:
        problems.append(f"no-submission rows for {sorted(no_submission)}, expected {sorted(absent)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=150)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    print(machine())
    roster_ids = student_ids(args.students)
    kinds = list(ANSWERS)
    answer = {s: kinds[i % len(kinds)] for i, s in enumerate(roster_ids)}
    absent = set(roster_ids[-4:])
    strangers = {"not.on.roster@uni.edu", "visitor"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        roster = root / "roster.csv"
        roster.write_text("id,name,email,lms_id\n" + "".join(f'"{s}",{s},{s}@example.org,{i}\n'
                                                              for i, s in enumerate(roster_ids)), encoding="utf-8")
        present = [s for s in roster_ids if s not in absent]
        on_time, late_ones = present[: -len(present) // 10], present[-len(present) // 10:]  # a tenth hand in late
        half = len(on_time) // 2
        batches = {"batch 1": on_time[:half], "batch 2": on_time[half:] + sorted(strangers), "batch 3 (late)": late_ones}
        resubmitters = [s for s in on_time if answer[s] != "right"][:5]  # again, right this time, after the due date
        expected = {s: ANSWERS[answer.get(s, "right")][1] for s in present + sorted(strangers)}
        late = set(batches["batch 3 (late)"]) | set(resubmitters)
        files = 0
        for number, (name, students) in enumerate(batches.items()):
            folder = root / name.split()[1]
            when = DUE + timedelta(days=number - 1.5)  # two batches before the due date, one after
            paths = [hand_in(folder, s, answer.get(s, "right"), when) for s in students]
            if number == 2:
                paths += [hand_in(folder / "again", s, "right", when + timedelta(hours=1)) for s in resubmitters]
                expected.update({s: 3 for s in resubmitters})
            files += len(paths)
            print(f"{name}: {len(paths)} notebooks")
            print(f"  {len(paths) / grade(paths, root / 'grades', roster, args):.2f} submissions/s")
        problems = account(root / "grades", expected, late, strangers, files, absent)
    print(f"{len(roster_ids)} on the roster, {files} files in 3 runs: {len(expected)} students graded, "
          f"{len(absent)} without a submission, {len(strangers)} strangers, {len(late)} late")
    print("every row accounted for" if not problems else "\n".join(["UNACCOUNTED:", *problems]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
