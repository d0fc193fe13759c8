"""The chapters as nbgrader source notebooks, and submitted notebooks read safely.

The course's chapters are :data:`CHAPTERS_DIR`: the copy an installed wheel carries, else ``chapters/``
of the checkout an editable install runs from; a command's ``--chapters DIR`` reads an instructor's
edited copy instead. A chapter's exercises are its solution cells' ``grade_id``s, their points those
of the check cells ``check_<exercise>``. Notebooks are read as plain JSON here (no nbformat
validation) because submissions are untrusted: anything malformed becomes a :class:`SubmissionError`
with a reason, never a crash. Messages number cells from 1, from the top of the notebook, markdown
cells included.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PACKAGED_CHAPTERS = Path(__file__).resolve().parents[1] / "chapters"  # in a wheel: the book it carries (setup.py)
CHECKOUT_CHAPTERS = Path(__file__).resolve().parents[2] / "chapters"  # in a checkout: the book beside the package
CHAPTERS_DIR = PACKAGED_CHAPTERS if PACKAGED_CHAPTERS.is_dir() else CHECKOUT_CHAPTERS


MAX_NOTEBOOK_BYTES = 20 * 2**20


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
    solutions = [nbgrader(c)["grade_id"] for c in cells if nbgrader(c).get("solution") and nbgrader(c).get("grade_id")]
    checks = {nbgrader(c)["grade_id"]: float(nbgrader(c).get("points", 0)) for c in cells
              if nbgrader(c).get("grade") and nbgrader(c).get("grade_id")}
    return Chapter(path.stem, path, {name: checks.get(f"check_{name}", 0.0) for name in solutions})


def chapter_paths(directory: Path = CHAPTERS_DIR) -> list[Path]:
    """The chapter notebooks (``NN_name.ipynb``) in ``directory``, in order."""
    return sorted(directory.glob("[0-9][0-9]_*.ipynb"))


def chapters(directory: Path = CHAPTERS_DIR) -> dict[str, Chapter]:
    """Chapter name (the file stem, e.g. ``01_image_to_patches``) -> :class:`Chapter`, in order."""
    return {path.stem: read_chapter(path) for path in chapter_paths(directory)}


def no_chapters(directory: Path) -> str:
    """Why ``directory`` has no chapter to work on, in words for a command's one-line error."""
    if directory == CHAPTERS_DIR and not directory.is_dir():
        return (f"this vitlearn carries no chapters ({PACKAGED_CHAPTERS}) and runs from no checkout "
                f"({CHECKOUT_CHAPTERS}): reinstall it, or give --chapters DIR")
    if not directory.is_dir():
        return f"no folder {directory}"
    return f"no chapter notebooks (NN_name.ipynb) in {directory}"


def find_chapter(key: str, directory: Path = CHAPTERS_DIR) -> Path:
    """A chapter by number (``3``, ``03``), name (``03_cls_token``) or path; ValueError, in one
    line naming the chapters there are (or why there are none), when there is no such chapter."""
    path = Path(key)
    if path.suffix == ".ipynb" and path.is_file():
        return path
    prefix = f"{int(key):02d}_" if key.isdigit() else path.stem
    found = [p for p in chapter_paths(directory) if prefix and p.stem.startswith(prefix)]
    if not found:
        names = ", ".join(p.stem for p in chapter_paths(directory))
        raise ValueError(f"no chapter {key!r}; " + (f"the chapters are: {names}" if names else no_chapters(directory)))
    return found[0]


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


def grade_ids(cells: list[dict[str, Any]]) -> set[str]:
    """Every nbgrader ``grade_id`` in the notebook (used to tell which chapter it is)."""
    return {str(nbgrader(c).get("grade_id")) for c in cells if nbgrader(c).get("grade_id")}


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) beside ``path``, then rename it over ``path``: a reader sees the old file or
    the new one, never half of one (a link at ``path`` is replaced, not followed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(part, 0o644)
        os.replace(part, path)
    except BaseException:
        os.unlink(part)
        raise
