"""The chapters as nbgrader source notebooks: exercises, points, student versions, submissions.

Notebooks are read as plain JSON here (no nbformat validation) because submissions are
untrusted: anything malformed becomes a :class:`SubmissionError` with a reason, never a crash.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHAPTERS_DIR = Path(__file__).resolve().parents[2] / "chapters"
MAX_NOTEBOOK_BYTES = 20 * 2**20
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"

_SOLUTION = re.compile(r"^([ \t]*)### BEGIN SOLUTION[^\n]*\n.*?^[ \t]*### END SOLUTION[^\n]*$", re.DOTALL | re.MULTILINE)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS[^\n]*\n.*?^[ \t]*### END HIDDEN TESTS[^\n]*(\n|\Z)", re.DOTALL | re.MULTILINE)


class SubmissionError(ValueError):
    """A submission that cannot be graded at all (not a notebook, too large, ...)."""


@dataclass(frozen=True)
class Chapter:
    """A chapter notebook and its graded exercises: exercise name -> points (from its check cell)."""

    name: str
    path: Path
    points: dict[str, float]


def nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell's nbgrader metadata ({} when it has none or it is malformed)."""
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def cell_source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (nbformat stores a string or a list of lines)."""
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise SubmissionError("a cell's source is neither text nor a list of lines")


def read_chapter(path: Path) -> Chapter:
    """The chapter at ``path``: every solution cell's exercise with the points of its check cell."""
    cells = json.loads(path.read_text())["cells"]
    solutions = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c).get("solution")]
    checks = {nbgrader(c)["grade_id"]: float(nbgrader(c).get("points", 0)) for c in cells if nbgrader(c).get("grade")}
    return Chapter(path.stem, path, {name: checks.get(f"check_{name}", 0.0) for name in solutions})


def chapters(directory: Path = CHAPTERS_DIR) -> dict[str, Chapter]:
    """Chapter name (the file stem, e.g. ``01_image_to_patches``) -> :class:`Chapter`, in order."""
    return {path.stem: read_chapter(path) for path in sorted(directory.glob("[0-9][0-9]_*.ipynb"))}


def find_chapter(key: str, directory: Path = CHAPTERS_DIR) -> Path:
    """A chapter by number (``3``, ``03``), name (``03_cls_token``) or path."""
    path = Path(key)
    if path.suffix == ".ipynb" and path.exists():
        return path
    prefix = f"{int(key):02d}_" if key.isdigit() else path.stem
    found = [p for p in sorted(directory.glob("[0-9][0-9]_*.ipynb")) if p.stem.startswith(prefix)]
    if not found:
        raise ValueError(f"no chapter {key!r} in {directory}")
    return found[0]


def student_version(notebook: dict[str, Any]) -> dict[str, Any]:
    """The released notebook: solutions stubbed, hidden tests removed, outputs cleared.

    Only what lies between the markers changes, so a stubbed exercise keeps its ``def`` line and
    docstring; nbgrader metadata is kept as it is.
    """
    released = copy.deepcopy(notebook)
    for cell in released["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = _HIDDEN.sub("", cell_source(cell))
        source = _SOLUTION.sub(lambda m: "\n".join(m[1] + line for line in STUB.splitlines()), source)
        cell["source"] = source
        cell["outputs"], cell["execution_count"] = [], None
    return released


def release(chapter: Path, out: Path) -> Path:
    """Write the student version of ``chapter`` into ``out`` (same file name); return its path."""
    import nbformat

    notebook = nbformat.read(chapter, as_version=4)
    released = nbformat.from_dict(student_version(notebook))
    nbformat.validate(released)
    out.mkdir(parents=True, exist_ok=True)
    target = out / chapter.name
    nbformat.write(released, target)
    return target


def load_submission(path: Path) -> list[dict[str, Any]]:
    """The cells of the notebook at ``path``; :class:`SubmissionError` if it is not one."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise SubmissionError(f"cannot read the file: {exc.strerror}") from None
    if not path.is_file():
        raise SubmissionError("not a regular file")
    if size == 0:
        raise SubmissionError("the file is empty")
    if size > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"the notebook is {size / 2**20:.1f} MB, over the "
                              f"{MAX_NOTEBOOK_BYTES / 2**20:.0f} MB limit")
    try:
        notebook = json.loads(path.read_bytes())
    except (ValueError, RecursionError) as exc:
        raise SubmissionError(f"not a notebook (invalid JSON: {str(exc)[:200]})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        raise SubmissionError("not a notebook (no list of cells)")
    return cells


def solution_cells(cells: list[dict[str, Any]], exercises: list[str]) -> dict[str, str | SubmissionError]:
    """Exercise name -> the source of its solution cell, or the reason it cannot be graded.

    Only code cells marked ``solution`` with a ``grade_id`` naming an exercise count; an exercise
    with no such cell is left out (missing), one claimed by several cells is an error.
    """
    found: dict[str, list[str]] = {}
    for cell in cells:
        meta = nbgrader(cell)
        if cell.get("cell_type") == "code" and meta.get("solution") is True and meta.get("grade_id") in exercises:
            found.setdefault(meta["grade_id"], []).append(cell_source(cell))
    return {name: sources[0] if len(sources) == 1 else
            SubmissionError(f"{len(sources)} solution cells have grade_id {name!r}; keep exactly one")
            for name, sources in found.items()}


def grade_ids(cells: list[dict[str, Any]]) -> set[str]:
    """Every nbgrader ``grade_id`` in the notebook (used to tell which chapter it is)."""
    return {str(nbgrader(c).get("grade_id")) for c in cells if nbgrader(c).get("grade_id")}
