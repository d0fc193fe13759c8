"""``vitlearn autograder``: the zip, set up and run as Gradescope would, under a temporary root.

Gradescope's folders are laid out under ``tmp/autograder`` (``VITLEARN_AUTOGRADER_ROOT``): the zip is
unpacked into ``source/``, ``setup.sh`` runs for real with ``VITLEARN_SKIP_DEPENDENCIES=1`` (it makes
the virtual environment and installs the wheel the zip carries; it does not look for a system Python
nor download torch and the pins: a ``.pth`` borrows this environment's, as in tests/test_wheel.py),
then ``run_autograder`` grades one submission of chapter 02 at a time into ``results/results.json``.
It grades in the process sandbox: bubblewrap shows the worker only the environment's own site-packages,
not the borrowed ones (in Gradescope's image the dependencies are the environment's own).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from test_wheel import GRADED, clean_env, pasted
from vitlearn.classroom.autograder import PINS, TORCH
from vitlearn.classroom.notebooks import CHAPTERS_DIR, nbgrader

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 5  # seconds per exercise: the endless loop's budget


@dataclass
class Gradescope:
    """Gradescope's folders under ``root``, with the autograder set up in ``venv``."""

    root: Path
    venv: Path
    zip: Path

    def env(self) -> dict[str, str]:
        env = clean_env(self.venv / "bin" / "python")
        return {**env, "VITLEARN_AUTOGRADER_ROOT": str(self.root), "VITLEARN_VENV": str(self.venv)}

    def grade(self, files: dict[str, bytes]) -> dict:
        """Put ``files`` in submission/ (nothing else), run run_autograder, return results.json."""
        shutil.rmtree(self.root / "submission", ignore_errors=True)
        shutil.rmtree(self.root / "results", ignore_errors=True)
        for name, data in files.items():
            (self.root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
            (self.root / "submission" / name).write_bytes(data)
        (self.root / "submission").mkdir(exist_ok=True)
        done = subprocess.run([str(self.root / "source" / "run_autograder")], cwd=self.root, env=self.env(),
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        results = json.loads((self.root / "results" / "results.json").read_text())
        valid(results)
        return results


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def unpack(archive: Path, folder: Path) -> None:
    """Unzip keeping the files' modes, as Gradescope's unzip does."""
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            zipped.extract(info, folder)
            (folder / info.filename).chmod(info.external_attr >> 16 & 0o777)


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory) -> Gradescope:
    tmp = tmp_path_factory.mktemp("gradescope")
    archive = tmp / "autograder.zip"
    run([sys.executable, "-m", "vitlearn", "autograder", "02", "--out", archive, "--timeout", TIMEOUT,
         "--sandbox", "process"], cwd=tmp)
    root, venv = tmp / "autograder", tmp / "autograder" / "vitlearn-venv"
    unpack(archive, root / "source")
    env = {**os.environ, "VITLEARN_AUTOGRADER_ROOT": str(root), "VITLEARN_PYTHON": sys.executable,
           "VITLEARN_SKIP_DEPENDENCIES": "1"}
    run(["bash", root / "source" / "setup.sh"], env=env)
    site = run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]).stdout
    (Path(site.strip()) / "heavy_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return Gradescope(root, venv, archive)


def valid(results: dict) -> None:
    """The fields and types of Gradescope's results.json that vitlearn writes."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["execution_time"], (int, float))
    assert isinstance(results["output"], str) and results["visibility"] == "visible"
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}, test
        assert isinstance(test["score"], (int, float)) and isinstance(test["max_score"], (int, float))
        assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
    assert results["score"] == sum(test["score"] for test in results["tests"])


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> dict[str, bytes]:
    """Chapter 02 handed in four ways: the solutions pasted back, as released, wrong, hostile."""
    out = tmp_path_factory.mktemp("released")
    run([sys.executable, "-m", "vitlearn", "release", "02", "--out", out])
    released = json.loads((out / GRADED).read_text())
    honest = pasted(released, json.loads((CHAPTERS_DIR / GRADED).read_text()))
    wrong = answered(honest, {"weight_to_kernel": "def weight_to_kernel(weight, in_channels, patch_size):\n"
                              "    return weight.reshape(-1, in_channels, patch_size, patch_size)\n"})
    hostile = answered(honest, {"weight_to_kernel": "import sys\nsys.exit(3)\n",
                                "image2emb_conv": "def image2emb_conv(image, kernel, stride):\n"
                                "    while True:\n        pass\n"})
    return {name: json.dumps(notebook).encode() for name, notebook in
            {"honest": honest, "blank": released, "wrong": wrong, "hostile": hostile}.items()}


def answered(notebook: dict, sources: dict[str, str]) -> dict:
    """A copy of ``notebook`` with the solution cells ``sources`` names replaced."""
    copy = json.loads(json.dumps(notebook))
    for cell in copy["cells"]:
        if nbgrader(cell).get("grade_id") in sources:
            cell["source"] = sources[nbgrader(cell)["grade_id"]]
    return copy


def test_the_zip_holds_gradescope_s_files_at_its_top(gradescope):
    with zipfile.ZipFile(gradescope.zip) as zipped:
        modes = {info.filename: info.external_attr >> 16 for info in zipped.infolist()}
    [wheel] = [name for name in modes if name.endswith(".whl")]
    assert set(modes) == {"setup.sh", "run_autograder", "requirements", "autograder.json", wheel,
                          f"chapters/{GRADED}"}
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    setup = (gradescope.root / "source" / "setup.sh").read_text()
    assert f"--index-url https://download.pytorch.org/whl/cpu {TORCH}" in setup and wheel in setup
    assert json.loads((gradescope.root / "source" / "autograder.json").read_text())["chapter"] == GRADED


def test_the_pins_are_the_project_s():
    pinned = {line.partition("==")[0]: line for line in (REPO / "requirements.txt").read_text().splitlines()
              if "==" in line}
    assert pinned["torch"] == TORCH
    assert [pin for pin in PINS if pin.partition("==")[0] in pinned] == \
        [pinned[pin.partition("==")[0]] for pin in PINS if pin.partition("==")[0] in pinned]


def test_setup_installed_the_carried_wheel(gradescope):
    code = "import vitlearn; print(vitlearn.__file__)"
    where = run([gradescope.venv / "bin" / "python", "-c", code], cwd=gradescope.root, env=gradescope.env()).stdout
    assert Path(where.strip()).is_relative_to(gradescope.venv), where


def test_the_solutions_get_full_marks_with_feedback_students_see(gradescope, notebooks):
    results = gradescope.grade({GRADED: notebooks["honest"]})
    assert results["score"] == 3
    assert {test["name"]: (test["score"], test["max_score"], test["status"]) for test in results["tests"]} == {
        "02_conv2d_equivalence: weight_to_kernel": (1, 1, "passed"),
        "02_conv2d_equivalence: image2emb_conv": (2, 2, "passed")}
    assert all(test["output"] for test in results["tests"])


def test_the_release_handed_in_as_it_is_scores_zero(gradescope, notebooks):
    results = gradescope.grade({"my work/anything.ipynb": notebooks["blank"]})
    assert results["score"] == 0 and len(results["tests"]) == 2
    assert all(test["status"] == "failed" and test["max_score"] > 0 for test in results["tests"])


def test_a_wrong_answer_loses_its_points_and_says_why(gradescope, notebooks):
    results = gradescope.grade({GRADED: notebooks["wrong"]})
    tests = {test["name"].partition(": ")[2]: test for test in results["tests"]}
    assert results["score"] == 2 and tests["weight_to_kernel"]["status"] == "failed"
    assert tests["weight_to_kernel"]["score"] == 0 and tests["weight_to_kernel"]["output"]


def test_a_hostile_submission_exits_and_loops_and_still_gets_results(gradescope, notebooks):
    results = gradescope.grade({GRADED: notebooks["hostile"]})
    assert results["score"] == 0 and len(results["tests"]) == 2, results
    assert all(test["status"] == "failed" and test["output"] for test in results["tests"])


def test_no_notebook_or_no_notebook_at_all_scores_zero_with_the_reason(gradescope):
    nothing = gradescope.grade({"answers.py": b"print('hello')\n"})
    assert nothing["score"] == 0 and nothing["tests"] == []
    assert "no Jupyter notebook" in nothing["output"] and "02_conv2d_equivalence" in nothing["output"]
    broken = gradescope.grade({GRADED: b"this is not JSON"})
    assert broken["score"] == 0 and GRADED in broken["output"], broken


def test_a_chapter_that_does_not_exist_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vitlearn", "autograder", "99", "--out", str(tmp_path / "a.zip")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no chapter '99'" in done.stderr
    assert not (tmp_path / "a.zip").exists()
