"""``vitlearn autograder CHAPTER ... --out autograder.zip``: a Gradescope autograder, and what it runs.

Gradescope unpacks the zip into ``/autograder/source/``, runs ``setup.sh`` once when it builds the
image, then ``run_autograder`` for each submission (the student's files in ``/autograder/submission/``)
and reads ``/autograder/results/results.json``. The zip holds:

* ``setup.sh``: a Python 3.11+ and a virtual environment, torch from PyTorch's CPU index and the
  other pinned dependencies (``requirements``), then the vitlearn wheel the zip carries;
* ``run_autograder``: ``python -m vitlearn.classroom.autograder``, which grades the submitted notebooks
  with ``vitlearn grade`` and writes the results with :func:`~vitlearn.classroom.gradebook.gradescope`;
  a submission with no notebook, or none vitlearn can grade, gets score 0 and the reason;
* ``chapters/``: the chapters given (an edited chapter file too), whose exercises and points count;
  ``autograder.json``: which chapter, the sandbox and its limits.

``VITLEARN_AUTOGRADER_ROOT`` moves ``/autograder`` and ``VITLEARN_VENV`` the environment (the tests lay
Gradescope's folders out under a temporary root); ``setup.sh`` also honours ``VITLEARN_PYTHON`` and
``VITLEARN_SKIP_DEPENDENCIES=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import vitlearn
from vitlearn.classroom.notebooks import CHAPTERS_DIR, find_chapter, read_chapter, write_atomic

CONFIG = "autograder.json"
DEFAULT_ROOT = "/autograder"
# What grading needs, pinned as in requirements.txt (ipython, which it does not pin: the version tested);
# torch comes from PyTorch's CPU index, not from this list.
TORCH = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
PINS = ("einops==0.8.2", "numpy==2.4.6", "matplotlib==3.11.2", "scikit-learn==1.9.1", "tqdm==4.70.1",
        "nbformat==5.11.1", "ipython==9.18.1")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image.
#   VITLEARN_PYTHON               the Python to build the environment from (default: python3.13, 3.12 or 3.11)
#   VITLEARN_VENV                 the environment (default: $VITLEARN_AUTOGRADER_ROOT/vitlearn-venv)
#   VITLEARN_SKIP_DEPENDENCIES=1  install vitlearn alone, with no dependency (the tests borrow theirs)
set -euo pipefail
SOURCE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
ROOT="${{VITLEARN_AUTOGRADER_ROOT:-/autograder}}"
VENV="${{VITLEARN_VENV:-$ROOT/vitlearn-venv}}"

find_python() {{
  local version
  for version in 3.13 3.12 3.11; do
    if command -v "python$version" >/dev/null; then command -v "python$version"; return; fi
  done
  return 1
}}

if [ -z "${{VITLEARN_PYTHON:-}}" ] && ! find_python >/dev/null && command -v apt-get >/dev/null; then
  apt-get update -q >&2 && apt-get install -y -q python3 python3-venv >&2
fi
PYTHON="${{VITLEARN_PYTHON:-$(find_python || true)}}"
if [ -z "$PYTHON" ]; then
  echo "setup.sh: vitlearn needs Python 3.11 or newer: choose Gradescope's Ubuntu 24.04 image" >&2
  exit 1
fi
if ! "$PYTHON" -m venv "$VENV"; then  # Debian and Ubuntu keep venv's pip in python3.X-venv
  apt-get install -y -q "$(basename "$PYTHON")-venv" >&2
  "$PYTHON" -m venv "$VENV"
fi
if [ "${{VITLEARN_SKIP_DEPENDENCIES:-}}" != 1 ]; then
  "$VENV/bin/python" -m pip install --quiet --index-url {torch_index} {torch}
  "$VENV/bin/python" -m pip install --quiet -r "$SOURCE/requirements"
fi
"$VENV/bin/python" -m pip install --quiet --no-deps --no-index "$SOURCE/{wheel}"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission: grade /autograder/submission/, write /autograder/results/results.json
ROOT="${VITLEARN_AUTOGRADER_ROOT:-/autograder}"
VENV="${VITLEARN_VENV:-$ROOT/vitlearn-venv}"
exec "$VENV/bin/python" -m vitlearn.classroom.autograder "$ROOT"
"""


class AutograderError(ValueError):
    """Bad input for ``vitlearn autograder``: one line on stderr and exit status 2."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``vitlearn autograder`` to the ``vitlearn`` parser."""
    parser = commands.add_parser("autograder", help="write a Gradescope autograder (zip) for chapters")
    parser.add_argument("chapters", nargs="+", metavar="CHAPTER", help="number (02), name or an edited chapter file")
    parser.add_argument("--out", type=Path, required=True, help="the zip to write, e.g. autograder.zip")
    parser.add_argument("--wheel", type=Path, help="the vitlearn wheel to carry (default: built from this checkout)")
    parser.add_argument("--chapters", dest="course", type=Path, metavar="DIR",
                        help="find CHAPTER in this folder of chapter notebooks (default: the chapters vitlearn carries)")
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds per exercise (default 30)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory an exercise may add (default 2048)")
    parser.add_argument("--scoring", choices=("all-or-nothing", "proportional"), default="all-or-nothing",
                        help="an exercise's points: all only when every case passes (default), or per case")
    parser.add_argument("--sandbox", choices=("auto", "bwrap", "process"), default="auto",
                        help="the sandbox vitlearn grade uses in Gradescope's container (default auto: bwrap when "
                        "it works there, else the process sandbox)")
    parser.set_defaults(run=_autograder)


def _autograder(args: argparse.Namespace) -> int:
    """Write the zip; exit 2 for bad input, 1 when the wheel cannot be built or the zip written."""
    try:
        paths = chapter_files(args.chapters, args.course or CHAPTERS_DIR)
        config = {"chapter": paths[0].name if len(paths) == 1 else None, "timeout": args.timeout,
                  "memory_mb": args.memory_mb, "scoring": args.scoring, "sandbox": args.sandbox}
        with tempfile.TemporaryDirectory() as tmp:
            wheel = args.wheel or checkout_wheel(Path(tmp))
            write_zip(args.out, require_wheel(wheel), paths, config)
    except AutograderError as exc:
        print(f"vitlearn autograder: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"vitlearn autograder: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # the checkout's wheel did not build
        print(f"vitlearn autograder: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {', '.join(p.stem for p in paths)}; upload it as the Gradescope autograder")
    return 0


def chapter_files(keys: list[str], directory: Path) -> list[Path]:
    """The chapter notebooks ``keys`` name, each with graded exercises and a distinct file name."""
    paths = []
    for key in keys:
        try:
            path = find_chapter(key, directory)
            points = read_chapter(path).points
        except ValueError as exc:
            raise AutograderError(str(exc)) from None
        except (OSError, KeyError, TypeError, AttributeError) as exc:
            raise AutograderError(f"cannot read the chapter {key}: {type(exc).__name__}: {exc}") from None
        if not points:
            raise AutograderError(f"{path} has no graded exercises (solution cells with nbgrader metadata)")
        paths.append(path)
    names = [path.name for path in paths]
    if len(set(names)) < len(names):
        raise AutograderError(f"two chapters share a file name: {', '.join(names)}")
    if len(paths) > 1 and not all(name[:2].isdigit() and name[2:3] == "_" for name in names):
        raise AutograderError("with several chapters, name each chapter file NN_name.ipynb (e.g. 02_conv2d.ipynb)")
    return paths


def checkout_wheel(folder: Path) -> Path:
    """The wheel of the checkout this vitlearn runs from, built into ``folder`` with pip."""
    root = Path(vitlearn.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise AutograderError("this vitlearn runs from no checkout to build its wheel from: give --wheel PATH")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                           "--wheel-dir", str(folder), str(root)], capture_output=True, text=True, check=False)
    wheels = sorted(folder.glob("vitlearn-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"could not build the wheel of {root}: {done.stderr.strip()[-500:]}")
    return wheels[0]


def require_wheel(path: Path) -> Path:
    """``path`` if it is a vitlearn wheel file."""
    if not (path.is_file() and path.name.startswith("vitlearn-") and path.suffix == ".whl"):
        raise AutograderError(f"--wheel {path} is not a vitlearn wheel file (vitlearn-VERSION-...whl)")
    return path


def write_zip(out: Path, wheel: Path, chapters: list[Path], config: dict[str, Any]) -> None:
    """The autograder zip: the scripts (executable), pins, settings, chapters and wheel, at its top."""
    setup = SETUP_SH.format(torch_index=TORCH_INDEX, torch=TORCH, wheel=wheel.name)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        _add(archive, "setup.sh", setup, executable=True)
        _add(archive, "run_autograder", RUN_AUTOGRADER, executable=True)
        _add(archive, "requirements", "\n".join(PINS) + "\n")
        _add(archive, CONFIG, json.dumps(config, indent=1) + "\n")
        for path in chapters:
            archive.write(path, f"chapters/{path.name}")
        archive.write(wheel, wheel.name)


def _add(archive: zipfile.ZipFile, name: str, text: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 if executable else 0o100644) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, text)


# What run_autograder runs, inside Gradescope's container.

def submitted(folder: Path) -> list[Path]:
    """The notebooks in the submission folder, at any depth (Jupyter's checkpoints left out)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and p.is_file())


def zero(reason: str) -> dict[str, Any]:
    """Gradescope's results for a submission that could not be graded: score 0 and the reason."""
    return {"score": 0.0, "execution_time": 0.0, "output": reason, "visibility": "visible",
            "stdout_visibility": "hidden", "tests": []}


def grade_command(source: Path, out: Path, notebooks: list[Path], config: dict[str, Any]) -> list[str]:
    """``vitlearn grade`` of ``notebooks`` against the chapters the zip carries, into ``out``."""
    chapters = source / "chapters"
    forced = ["--chapter", str(chapters / config["chapter"])] if config["chapter"] else []
    return [sys.executable, "-m", "vitlearn", "grade", "--out", str(out), "--keep", "latest",
            "--chapters", str(chapters), *forced, "--timeout", str(config["timeout"]),
            "--memory-mb", str(config["memory_mb"]), "--scoring", config["scoring"], "--sandbox", config["sandbox"],
            *map(str, notebooks)]


def graded(source: Path, notebooks: list[Path], config: dict[str, Any]) -> dict[str, Any]:
    """Grade the notebooks, all one student's, and return their Gradescope results."""
    from vitlearn.classroom.gradebook import Policy, gradescope, load_gradebook, resolve

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "grades"
        done = subprocess.run(grade_command(source, out, notebooks, config), capture_output=True, text=True,
                              check=False)
        if not (out / "grades.json").is_file():
            return zero(f"vitlearn could not grade this submission: {done.stderr.strip()[-1000:]}")
        rows = list(load_gradebook(out).values())
    for row in rows:  # one student: of several notebooks for a chapter, the latest counts
        row.id = "submission"
    resolve(rows, Policy(keep="latest"))
    return gradescope(rows)


def autograde(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` with the settings in ``root/source`` and write ``root/results/results.json``."""
    source = root / "source"
    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    notebooks = submitted(root / "submission")
    chapters = ", ".join(p.stem for p in sorted((source / "chapters").glob("*.ipynb")))
    results = graded(source, notebooks, config) if notebooks else \
        zero(f"Your submission holds no Jupyter notebook (.ipynb); this assignment grades {chapters}.")
    write_atomic(root / "results" / "results.json", json.dumps(results, indent=1, ensure_ascii=False))
    return results


def main() -> int:
    """``python -m vitlearn.classroom.autograder [ROOT]`` (default ``$VITLEARN_AUTOGRADER_ROOT`` or /autograder)."""
    root = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("VITLEARN_AUTOGRADER_ROOT", DEFAULT_ROOT))
    results = autograde(root)
    print(f"score {results['score']:g}: {results['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
