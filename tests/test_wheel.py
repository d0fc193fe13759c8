"""The wheel, as a user gets it: built, checked, installed in a fresh virtual environment, and used
from a folder outside the repository, where only the chapters it carries can be read.

The fresh environment has nothing but the wheel (``pip install --no-deps --no-index``); a ``.pth``
file puts this environment's site-packages after its own for the heavy dependencies (torch, Jupyter),
without running this environment's ``.pth`` files, so the editable vitlearn of the checkout stays out
(the first test proves which vitlearn and which chapters the commands see).
"""

import json
import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths, nbgrader

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = [path.name for path in chapter_paths(CHAPTERS_DIR)]
GRADED = "02_conv2d_equivalence.ipynb"  # the chapter checked and graded: 3 points, two exercises


@dataclass
class Installed:
    """The wheel installed in a fresh environment, and a working folder outside the repository."""

    wheel: Path
    sdist: Path
    python: Path
    site: Path
    work: Path
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``vitlearn ARGS`` from the fresh environment, in the working folder, timed."""
        start = time.perf_counter()
        done = subprocess.run([str(self.python.parent / "vitlearn"), *args], cwd=self.work, env=clean_env(self.python),
                              capture_output=True, text=True, timeout=timeout, check=False)
        self.seconds[args[0]] = self.seconds.get(args[0], 0) + time.perf_counter() - start
        return done


def clean_env(python: Path) -> dict[str, str]:
    """The environment of a user who activated the fresh virtual environment and nothing else."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONNOUSERSITE"] = "1"
    return env


def check(command: list[str], timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=timeout,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    tmp = tmp_path_factory.mktemp("wheel")
    start = time.perf_counter()
    check([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", tmp / "dist", ROOT])
    built = time.perf_counter()
    [wheel], [sdist] = (tmp / "dist").glob("*.whl"), (tmp / "dist").glob("*.tar.gz")
    check([sys.executable, "-m", "twine", "check", "--strict", wheel, sdist])
    check([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"])
    python = tmp / "venv" / "bin" / "python"
    site = Path(check([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout.strip())
    (site / "heavy_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    check([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel])
    work = tmp / "work"
    work.mkdir()
    seconds = {"build": built - start, "install": time.perf_counter() - built}
    print(f"wheel {wheel.stat().st_size / 2**20:.1f} MB, sdist {sdist.stat().st_size / 2**20:.1f} MB; "
          f"build {seconds['build']:.1f} s, check and install {seconds['install']:.1f} s")
    return Installed(wheel, sdist, python, site, work, seconds)


def test_the_wheel_carries_the_book_and_the_sdist_can_rebuild_it(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    assert sorted(n.removeprefix("vitlearn/chapters/") for n in names if n.startswith("vitlearn/chapters/")) == \
        sorted([*CHAPTERS, "sanitize.cfg"])
    assert not any(n.startswith(("tests/", "chapters/", "benchmarks/")) for n in names)
    assert f"{installed.sdist.name.removesuffix('.tar.gz')}/chapters/{GRADED}" in \
        subprocess.run(["tar", "tzf", installed.sdist], capture_output=True, text=True, check=True).stdout


def test_the_installed_vitlearn_is_the_wheel_reading_its_own_chapters(installed):
    code = "import vitlearn, vitlearn.classroom.notebooks as n; print(vitlearn.__file__); print(n.CHAPTERS_DIR)"
    where = check([installed.python, "-c", code], cwd=installed.work, env=clean_env(installed.python)).stdout.split()
    assert Path(where[0]) == installed.site / "vitlearn" / "__init__.py"
    assert Path(where[1]) == installed.site / "vitlearn" / "chapters"
    assert not any(Path(path).is_relative_to(ROOT) for path in where)


def test_chapters_writes_the_learner_s_copy(installed):
    done = installed.run("chapters", "--out", "book")
    assert done.returncode == 0, done.stderr
    for name in CHAPTERS:
        assert (installed.work / "book" / name).read_bytes() == (CHAPTERS_DIR / name).read_bytes()


def pasted(released: dict, solution: dict) -> dict:
    """The released notebook with every solution cell's source pasted back from the solution notebook."""
    answers = {nbgrader(c)["grade_id"]: c["source"] for c in solution["cells"] if nbgrader(c).get("solution")}
    copy = json.loads(json.dumps(released))
    for cell in copy["cells"]:
        if nbgrader(cell).get("solution"):
            cell["source"] = answers[nbgrader(cell)["grade_id"]]
    return copy


@pytest.fixture(scope="module")
def submissions(installed) -> dict[str, Path]:
    """``vitlearn release`` of the whole book; of chapter 02, alice pastes the solutions back, bob hands it
    in as released, and mallory's weight_to_kernel reads the chapter the wheel carries, answers included."""
    done = installed.run("release", "--out", "student")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (installed.work / "student").glob("*.ipynb")) == CHAPTERS
    released = json.loads((installed.work / "student" / GRADED).read_text())
    alice = pasted(released, json.loads((CHAPTERS_DIR / GRADED).read_text()))
    peek = f"book = open({str(installed.site / 'vitlearn' / 'chapters' / GRADED)!r}).read()\n"
    mallory = json.loads(json.dumps(alice))
    for cell in mallory["cells"]:
        if nbgrader(cell).get("grade_id") == "weight_to_kernel":
            cell["source"] = peek
    paths = {}
    for student, notebook in {"alice": alice, "bob": released, "mallory": mallory}.items():
        paths[student] = installed.work / student / GRADED
        paths[student].parent.mkdir()
        paths[student].write_text(json.dumps(notebook))
    return paths


def test_check_gives_full_marks_to_the_pasted_solutions_and_zero_to_the_release(installed, submissions):
    full = installed.run("check", str(submissions["alice"]))
    assert full.returncode == 0 and "02_conv2d_equivalence: 3 / 3 points" in full.stdout, full.stdout + full.stderr
    zero = installed.run("check", str(submissions["bob"]))
    assert zero.returncode == 1 and "02_conv2d_equivalence: 0 / 3 points" in zero.stdout, zero.stdout + zero.stderr


def test_grade_grades_the_class_and_the_sandbox_cannot_read_the_packaged_chapters(installed, submissions):
    done = installed.run("grade", "--out", "grades", *map(str, submissions.values()))
    assert done.returncode == 0, done.stderr
    rows = {row["id"]: row for row in json.loads((installed.work / "grades" / "grades.json").read_text())["submissions"]}
    assert {student: (row["total"], row["max"]) for student, row in rows.items()} == \
        {"alice": (3, 3), "bob": (0, 3), "mallory": (2, 3)}
    peeked = next(e for e in rows["mallory"]["exercises"] if e["name"] == "weight_to_kernel")
    assert peeked["status"] == "error" and "not readable while grading" in peeked["message"], peeked


def test_figures_renders_the_set_and_the_handout(installed):
    done = installed.run("figures", "--out", "figures")
    assert done.returncode == 0, done.stderr
    assert (installed.work / "figures" / "course_figures.pdf").stat().st_size > 0
    assert (installed.work / "figures" / "01_patch_grid.png").is_file()


def test_train_for_five_seconds_writes_a_checkpoint(installed):
    done = installed.run("train", "--budget", "5", "--out", "run")
    assert done.returncode == 0, done.stderr
    assert (installed.work / "run" / "model.pt").is_file() and (installed.work / "run" / "metrics.json").is_file()
    print("seconds per command from the wheel:", {k: round(v, 1) for k, v in installed.seconds.items()})
