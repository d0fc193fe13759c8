"""`vitlearn grade` and `vitlearn check`: honest and hostile submissions graded in one sandboxed batch.

Every hostile submission is chapter 02's solution notebook with one thing changed: it must lose
only its own exercise's points, with a stated reason, while honest ones keep full marks and
nothing outside the grader's output folder changes.
"""

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

import vitlearn
from vitlearn.classroom.grader import student_id
from vitlearn.classroom.notebooks import CHAPTERS_DIR
from vitlearn.classroom.release import STUB
from vitlearn.classroom.sandbox import bwrap_problem

CHAPTER = CHAPTERS_DIR / "02_conv2d_equivalence.ipynb"
TARGET = "weight_to_kernel"  # the exercise hostile cells replace (1 point); image2emb_conv (2 points) stays honest
SIGNATURE = "def weight_to_kernel(weight, in_channels, patch_size):\n"
ZEROS = "    return torch.zeros(weight.shape[1], in_channels, patch_size, patch_size, dtype=weight.dtype)\n"
TIMEOUT = 5


class Evil:
    """Unpickling this runs a shell command: the grader must never unpickle what a child wrote."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def hostile_cells(out: Path, outside: Path) -> dict[str, tuple[str, str, str]]:
    """Submission id -> (solution cell source, expected status, words the reason must contain)."""
    pickled = pickle.dumps(Evil(f"touch {outside / 'pickle_ran'}"))
    return {
        "infinite_loop": (SIGNATURE + "    while True:\n        pass\n", "timeout", "did not finish"),
        "sleep": ("import time\ntime.sleep(120)\n", "timeout", "did not finish"),
        "os_exit": ("import os\nos._exit(0)\n", "error", "ended the process"),
        "sys_exit": ("import sys\nsys.exit()\n", "error", "SystemExit"),
        "segfault": ("import ctypes\nctypes.string_at(0)\n", "error", "SIGSEGV"),
        "memory_bomb": ("blocks = []\nwhile True:\n    blocks.append(bytearray(2**26))\n", "error", "MemoryError"),
        "print_flood": (SIGNATURE + "    while True:\n        print('x' * 2**20)\n", "timeout", "did not finish"),
        "always_equal": ("class Yes:\n    def __eq__(self, other):\n        return True\n\n"
                         "    def __bool__(self):\n        return True\n\n"
                         + SIGNATURE + "    return Yes()\n", "failed", "not a tensor"),
        "lying_subclass": ("class Liar(torch.Tensor):\n    def __eq__(self, other):\n        return True\n\n"
                           + SIGNATURE + ZEROS.replace("dtype=weight.dtype)", "dtype=weight.dtype).as_subclass(Liar)"),
                           "failed", "tensor subclass"),
        "monkeypatch": ("torch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                        "torch.testing.assert_close = lambda *a, **k: None\n" + SIGNATURE + ZEROS,
                        "failed", "values differ"),
        "import_reference": (SIGNATURE + f"    import sys\n    sys.path.insert(0, {str(CHAPTERS_DIR.parent)!r})\n"
                             "    from vitlearn.patches import weight_to_kernel as reference\n"
                             "    return reference(weight, in_channels, patch_size)\n",
                             "failed", "not available while grading"),
        "read_reference": (f"source = open({vitlearn.patches.__file__!r}).read()\n", "error",
                           "not readable while grading"),
        "malicious_pickle": ((f"import os\nfor name in ('weight_to_kernel.pt', 'image2emb_conv.pt'):\n"
                              f"    open(name, 'wb').write({pickled!r})\nos._exit(0)\n"), "error", "not plain tensors"),
        "overwrite_grades": ("for target in ({!r}, {!r}, {!r}):\n    try:\n        open(target, 'w').write('PWNED')\n"
                             "    except OSError:\n        pass\n".format(str(out / "grades.json"), str(out / "feedback" / "alice.md"),
                                                                      str(outside / "precious.txt")),
                             "error", "does not define a function"),
        "huge_output": (SIGNATURE + "    return torch.zeros(5_000_000)\n", "error", "could not save"),
        "kill_the_worker": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", "error",
                            # as root the process sandbox's child is nobody; in bwrap (auto) it has the worker's uid
                            "PermissionError" if os.geteuid() == 0 and bwrap_problem() else "worker failed"),
        "outliving_child": (("import subprocess, time\nsubprocess.Popen(['sleep', '4242'], start_new_session=True)\n"
                             "time.sleep(120)\n"), "timeout", "did not finish"),
    }


def with_cell(notebook: dict, grade_id: str, source: str | None) -> dict:
    """A copy of ``notebook`` with the solution cell ``grade_id`` replaced (or removed when None)."""
    copy = json.loads(json.dumps(notebook))
    cells = []
    for cell in copy["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            if source is None:
                continue
            cell["source"] = source
        cells.append(cell)
    copy["cells"] = cells
    return copy


def broken_notebooks(notebook: dict) -> dict[str, tuple[object, str, str]]:
    """Submission id -> (file content, expected status of weight_to_kernel, words of its reason)."""
    renamed = json.loads(json.dumps(notebook))
    duplicated = json.loads(json.dumps(notebook))
    for cell in renamed["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == TARGET:
            duplicated["cells"].append(json.loads(json.dumps(cell)))
            cell["metadata"]["nbgrader"]["grade_id"] = "my_weight_to_kernel"
    huge = json.loads(json.dumps(notebook))
    huge["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * 50 * 2**20})
    return {
        "not_json": (b"this is { not a notebook", "error", "invalid JSON"),
        "empty": (b"", "error", "empty"),
        "cells_deleted": (with_cell(notebook, TARGET, None), "missing", "no solution cell"),
        "cells_renamed": (renamed, "passed", "solution cell missing, found in cell"),
        "cells_duplicated": (duplicated, "error", "2 solution cells"),
        "fifty_megabytes": (huge, "error", "over the 20 MB limit"),
    }


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` except under ``skip``: path -> (size, mtime)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and skip not in p.parents}


def processes(marker: bytes) -> list[str]:
    """Pids of the processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """The whole corpus graded by one `vitlearn grade --jobs 2` run."""
    root = tmp_path_factory.mktemp("classroom")
    out, corpus, outside = root / "out", root / "corpus", root / "outside"
    corpus.mkdir()
    outside.mkdir()
    (outside / "precious.txt").write_text("untouched")
    solution = json.loads(CHAPTER.read_text())
    files = {"alice": solution, "bob/02_conv2d_equivalence": solution,
             "carol": with_cell(solution, TARGET, SIGNATURE + '    """..."""\n    ' + STUB.replace("\n", "\n    "))}
    expected = {}
    for name, (source, status, words) in hostile_cells(out, outside).items():
        files[name], expected[name] = with_cell(solution, TARGET, source), (status, words)
    for name, (content, status, words) in broken_notebooks(solution).items():
        files[name], expected[name] = content, (status, words)
    paths = []
    for name, content in files.items():
        path = corpus / f"{name}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        paths.append(path)
    before = snapshot(root, out)
    command = [sys.executable, "-m", "vitlearn", "grade", "--out", str(out), "--jobs", "2", "--timeout",
               str(TIMEOUT), "--memory-mb", "512", "--chapter", "02", "--gradescope", *map(str, paths)]
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    seconds = time.perf_counter() - start
    print(f"hostile batch: {len(paths)} submissions in {seconds:.1f} s")
    rows = {row["id"]: row for row in json.loads((out / "grades.json").read_text())["submissions"]}
    return {"out": out, "outside": outside, "run": run, "rows": rows, "expected": expected,
            "before": before, "after": snapshot(root, out), "paths": paths, "command": command, "seconds": seconds}


def grade_of(row: dict, name: str) -> dict:
    return next(e for e in row["exercises"] if e["name"] == name)


def test_every_submission_gets_a_row_and_the_batch_exits_0(batch):
    assert batch["run"].returncode == 0, batch["run"].stderr[-3000:]
    assert len(batch["rows"]) == len(batch["paths"])


def test_honest_submissions_keep_full_marks_and_stubs_get_zero(batch):
    for student in ("alice", "bob"):
        row = batch["rows"][student]
        assert (row["total"], row["max"]) == (3, 3), row
        assert all(e["status"] == "passed" for e in row["exercises"])
    carol = batch["rows"]["carol"]
    assert carol["total"] == 2 and grade_of(carol, TARGET)["status"] == "failed"
    assert "NotImplementedError" in grade_of(carol, TARGET)["message"]


def test_a_solution_in_a_renamed_cell_is_graded_and_flagged_for_review(batch):
    target = grade_of(batch["rows"]["cells_renamed"], TARGET)
    assert (target["points"], target["status"]) == (1, "passed")
    assert target["message"].startswith("solution cell missing, found in cell") and "review by hand" in target["message"]


@pytest.mark.parametrize("case", [*hostile_cells(Path("."), Path(".")),
                                  *(c for c in broken_notebooks({"cells": []}) if c != "cells_renamed")])
def test_a_hostile_submission_costs_only_its_own_exercise(batch, case):
    status, words = batch["expected"][case]
    row = batch["rows"][case]
    target = grade_of(row, TARGET)
    assert (target["points"], target["status"]) == (0, status), target
    assert words in target["message"] + row["reason"]
    other = grade_of(row, "image2emb_conv")
    if case in ("not_json", "empty", "fifty_megabytes"):  # the notebook itself is unusable
        assert other["points"] == 0 and row["reason"]
    else:
        assert (other["points"], other["status"]) == (2, "passed"), other


def test_nothing_outside_the_output_folder_changes(batch):
    assert batch["after"] == batch["before"]
    assert (batch["outside"] / "precious.txt").read_text() == "untouched"
    assert not (batch["outside"] / "pickle_ran").exists()
    for path in batch["out"].rglob("*"):
        assert not path.is_file() or b"PWNED" not in path.read_bytes()
    assert processes(b"4242") == []  # the outliving child was killed


def test_print_flood_is_capped(batch):
    sizes = sum(p.stat().st_size for p in batch["out"].rglob("*") if p.is_file())
    assert sizes < 2**20  # the flood was written only to the child's capped log, now deleted


def test_reports_csv_feedback_and_gradescope(batch):
    out = batch["out"]
    header, *lines = (out / "grades.csv").read_text().splitlines()
    assert header == "id,chapter,weight_to_kernel,image2emb_conv,total,max,status,counts,flags,submitted,path,reason"
    assert any(line.startswith("alice,02_conv2d_equivalence,1,2,3,3,graded,true,,") and line.endswith(",")
               for line in lines)
    assert "✅ image2emb_conv: all 7 cases pass." in (out / "feedback" / "alice.md").read_text()
    assert "did not finish within 5 s" in (out / "feedback" / "infinite_loop.md").read_text()
    results = json.loads((out / "gradescope" / "segfault" / "results.json").read_text())
    assert results["score"] == 2 and {"score", "execution_time", "output", "visibility", "tests"} <= set(results)
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in results["tests"]] == [
        ("02_conv2d_equivalence: weight_to_kernel", 0, 1, "failed"),
        ("02_conv2d_equivalence: image2emb_conv", 2, 2, "passed")]


def test_a_rerun_resumes_and_skips_what_is_graded(batch):
    grades = (batch["out"] / "grades.json").read_text()
    start = time.perf_counter()
    run = subprocess.run(batch["command"], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0 and run.stdout == ""  # no submission graded again
    assert time.perf_counter() - start < batch["seconds"]
    assert json.loads((batch["out"] / "grades.json").read_text()) == json.loads(grades)


def test_check_prints_feedback_for_one_notebook(capsys):
    from vitlearn.cli import main

    assert main(["check", str(CHAPTER)]) == 0
    printed = capsys.readouterr().out
    assert "02_conv2d_equivalence: 3 / 3 points" in printed and "✅ weight_to_kernel" in printed


@pytest.mark.parametrize("path, expected", [
    ("alice.ipynb", "alice"), ("alice/01_image_to_patches.ipynb", "alice"),
    ("subs/bob smith.ipynb", "bob smith"), ("../.hidden.ipynb", ".hidden")])
def test_student_id(path, expected):
    assert student_id(Path(path), ["01_image_to_patches"]) == expected


def test_an_interrupted_run_keeps_what_it_graded_and_a_rerun_finishes(tmp_path):
    solution = json.loads(CHAPTER.read_text())
    slow = with_cell(solution, TARGET, "import time\ntime.sleep(120)\n")
    paths = []
    for name, notebook in (("alice", solution), ("slow", slow), ("bob", solution)):
        paths.append(tmp_path / f"{name}.ipynb")
        paths[-1].write_text(json.dumps(notebook))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vitlearn", "grade", "--out", str(out), "--timeout", "30", *map(str, paths)]
    grading = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert grading.stdout.readline().startswith("alice: 3/3")  # alice is graded and saved; slow is running
    grading.kill()
    grading.wait()
    for _ in range(50):  # the worker notices its grader is gone and stops the running child at once
        if not processes(b"sandbox_worker.py"):
            break
        time.sleep(0.1)
    assert processes(b"sandbox_worker.py") == []
    saved = json.loads((out / "grades.json").read_text())["submissions"]
    assert [row["id"] for row in saved] == ["alice"]
    paths[1].write_text(json.dumps(with_cell(solution, TARGET, "import time\ntime.sleep(0.1)\n")))  # slow no more
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert rerun.returncode == 0 and "alice" not in rerun.stdout  # resumed, not regraded
    assert "1 skipped (unchanged)" in rerun.stderr
    rows = json.loads((out / "grades.json").read_text())["submissions"]
    assert [(row["id"], row["total"]) for row in rows] == [("alice", 3), ("slow", 2), ("bob", 3)]
