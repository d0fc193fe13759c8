"""The chapters as nbgrader source notebooks: exercises, points, student versions, submissions.

Notebooks are read as plain JSON here (no nbformat validation) because submissions are
untrusted: anything malformed becomes a :class:`SubmissionError` with a reason, never a crash.
Messages number cells from 1, from the top of the notebook, markdown cells included.

What the grader runs for an exercise is its solution cell plus what that cell needs from the
cells above it (see :class:`NotebookCode`): found by reading the code with :mod:`ast`, never by
running the rest of the notebook.

The assessment release (:func:`assessment_version`) also leaves out every cell that states an
exercise's answer, marked in the chapter by its cell metadata::

    "vitlearn": {"states_answer": ["prepend_cls"]}    the cell states or nearly states this answer
    "vitlearn": {"needs_removed": true}               the cell cannot run without a removed cell
    "vitlearn": {"states_answer": [...], "keep_from": "### Exercise: `prepend_cls`"}

A cell states an answer when it shows it, or a near miss one edit away, as code (a demonstration
of a wrong answer, explanatory code with the exact lines, a later cell re-implementing it, a
markdown formula in code), or names the exercise's reference in vitlearn. Prose that explains the
idea, and the definition an exercise needs, stay. ``keep_from`` (markdown only) keeps the cell's
lines from the first that begins with it on, e.g. an exercise's statement after the answer.
"""

from __future__ import annotations

import ast
import copy
import difflib
import functools
import json
import os
import re
import symtable
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHAPTERS_DIR = Path(__file__).resolve().parents[2] / "chapters"
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_CODE_CHARS = 2**18  # code read from a submission to find what its answers need (a chapter has ~15 000)
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
TAKEN = ("import", "def", "literal")  # the kinds of statement an answer may take from the cells above it
CODE_CELL_MAGICS = ("time", "capture")  # cell magics whose body runs as code in the notebook's namespace


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


def find_chapter(key: str, directory: Path = CHAPTERS_DIR) -> Path:
    """A chapter by number (``3``, ``03``), name (``03_cls_token``) or path; ValueError, in one
    line naming the chapters there are, when there is no such chapter."""
    path = Path(key)
    if path.suffix == ".ipynb" and path.is_file():
        return path
    prefix = f"{int(key):02d}_" if key.isdigit() else path.stem
    found = [p for p in chapter_paths(directory) if prefix and p.stem.startswith(prefix)]
    if not found:
        names = ", ".join(p.stem for p in chapter_paths(directory)) or "none"
        raise ValueError(f"no chapter {key!r}; the chapters are: {names}")
    return found[0]


class ReleaseError(ValueError):
    """Why a release was refused: one problem a line, each naming the notebook and, where it
    lies in one, the cell (from 1) and line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def student_version(notebook: dict[str, Any]) -> dict[str, Any]:
    """The released notebook: solutions stubbed, hidden tests removed, outputs cleared.

    The cells' sources are what nbgrader's ``generate_assignment`` makes of them, byte for byte
    (so their nbgrader checksums agree): each solution region becomes the stub, indented like its
    ``### BEGIN SOLUTION`` line, so a stubbed exercise keeps its ``def`` line and docstring, and
    each hidden-test region is removed with its markers. nbgrader metadata is kept as it is.
    Only :func:`release_problems` says whether the markers are sound: release through
    :func:`release_chapters`.
    """
    released = copy.deepcopy(notebook)
    for cell in released["cells"]:
        if cell.get("cell_type") != "code":
            continue
        source = _replace_regions(cell_source(cell), "SOLUTION", STUB.split("\n"))
        cell["source"] = _replace_regions(source, "HIDDEN TESTS", [])
        cell["outputs"], cell["execution_count"] = [], None
    return released


def _replace_regions(source: str, region: str, stub: list[str]) -> str:
    """nbgrader's rule: the lines from one containing ``BEGIN <region>`` to one containing
    ``END <region>``, both included, become ``stub`` indented like the first of them."""
    lines, inside = [], False
    for line in source.split("\n"):
        if f"BEGIN {region}" in line:
            inside = True
            lines += [line[: len(line) - len(line.lstrip())] + stub_line for stub_line in stub]
        elif f"END {region}" in line:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def release_problems(name: str, notebook: dict[str, Any]) -> list[str]:
    """Why ``notebook`` (named ``name`` in messages) must not be released; [] when it may be.

    Every marker is exact and balanced, in the kind of cell it belongs to; every solution and
    check cell has a unique ``grade_id``; every check cell ``check_<exercise>`` has its solution
    cell; and every code cell of the student version parses.
    """
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        return [f"{name}: not a notebook (no list of cells)"]
    problems = []
    for index, cell in enumerate(cells):
        problems += [f"{name}: cell {index + 1}: {problem}" for problem in _cell_problems(cell)]
    problems += [f"{name}: {problem}" for problem in _grade_id_problems(cells)]
    if not problems:
        for index, cell in enumerate(student_version(notebook)["cells"]):
            if cell.get("cell_type") == "code":
                try:
                    to_python(cell_source(cell))
                except SyntaxError as exc:
                    problems.append(f"{name}: cell {index + 1}: the released cell does not parse: "
                                    f"{exc.msg} (line {exc.lineno})")
    return problems


def _cell_problems(cell: dict[str, Any]) -> list[str]:
    """What is wrong with one cell's markers and nbgrader metadata."""
    try:
        source = cell_source(cell)
    except SubmissionError as exc:
        return [str(exc)]
    meta, code = nbgrader(cell), cell.get("cell_type") == "code"
    problems, regions = _marker_problems(source, code)
    if (meta.get("solution") or meta.get("grade") or meta.get("locked")) and not re.fullmatch(
            r"[A-Za-z0-9_-]+", str(meta.get("grade_id", ""))):
        problems.append(f"its nbgrader metadata has no valid grade_id (letters, digits, _ and -): "
                        f"{meta.get('grade_id')!r}")
    if meta.get("grade") and (type(meta.get("points")) not in (int, float) or meta["points"] < 0):
        problems.append(f"a check cell without a number of points: {meta.get('points')!r}")
    if regions and not code:
        problems.append("markers in a markdown cell: only code cells are released with their markers handled")
    if "SOLUTION" in regions and code and not meta.get("solution"):
        problems.append("solution markers in a cell that is not a solution cell (nbgrader metadata solution: true)")
    if "HIDDEN TESTS" in regions and code and not meta.get("grade"):
        problems.append("hidden-test markers in a cell that is not a check cell (nbgrader metadata grade: true)")
    if meta.get("solution") and not code:
        problems.append("a markdown solution cell: only code cells are stubbed")
    elif meta.get("solution") and "SOLUTION" not in regions and not problems:
        problems.append("a solution cell without ### BEGIN SOLUTION ... ### END SOLUTION: nothing would be stubbed")
    return problems


def _marker_problems(source: str, code: bool) -> tuple[list[str], set[str]]:
    """(problems with the markers of ``source``, the kinds of region it holds: SOLUTION, HIDDEN TESTS).

    A marker is a line that is exactly one of :data:`MARKERS` (indentation aside). nbgrader takes
    any line containing ``BEGIN SOLUTION`` & co. for one, so such a line in another form is a
    problem, and so is, in a code cell, a comment that looks like a misspelt marker (nbgrader
    would miss it; its partner would then be unbalanced anyway, this only names the cause).
    """
    problems: list[str] = []
    regions: set[str] = set()
    open_region: tuple[str, int] | None = None
    for number, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text in MARKERS:
            begin, region = text.startswith("### BEGIN"), text.split(" ", 2)[2]
            regions.add(region)
            if begin and open_region:
                problems.append(f"line {number}: {text} inside the ### BEGIN {open_region[0]} of line "
                                f"{open_region[1]} (nested markers)")
            elif begin:
                open_region = (region, number)
            elif open_region is None or open_region[0] != region:
                problems.append(f"line {number}: {text} without a ### BEGIN {region} before it")
            else:
                open_region = None
        elif any(marker[4:] in line for marker in MARKERS):
            problems.append(f"line {number}: {text!r} is read as a marker by nbgrader; a marker line must be "
                            f"exactly one of: {', '.join(MARKERS)}")
        elif code and _misspelt_marker(text):
            problems.append(f"line {number}: {text!r} looks like a misspelt marker ({', '.join(MARKERS)})")
        if problems:
            return problems, regions
    if open_region:
        problems.append(f"line {open_region[1]}: ### BEGIN {open_region[0]} has no ### END {open_region[0]}")
    return problems, regions


def _misspelt_marker(text: str) -> bool:
    """A ``##`` comment close to a marker: ``### END SOLTUION``, ``## End Solution``, ``### ENDSOLUTION``."""
    if not text.startswith("##"):
        return False
    words = re.findall(r"[A-Z]+", text.upper())
    joined = "".join(words)
    if any(difflib.SequenceMatcher(None, joined, marker[4:].replace(" ", "")).ratio() >= 0.9 for marker in MARKERS):
        return True
    return bool(words) and bool(difflib.get_close_matches(words[0], ["BEGIN", "END"], cutoff=0.6)) and bool(
        difflib.get_close_matches("".join(words[1:]), ["SOLUTION", "HIDDENTESTS"], cutoff=0.75))


def _grade_id_problems(cells: list[dict[str, Any]]) -> list[str]:
    """Duplicate grade_ids, and check cells whose exercise has no solution cell."""
    problems, first = [], {}
    for index, cell in enumerate(cells):
        grade_id = nbgrader(cell).get("grade_id")
        if isinstance(grade_id, str) and grade_id:
            if grade_id in first:
                problems.append(f"cell {index + 1}: grade_id {grade_id!r} is the grade_id of cell "
                                f"{first[grade_id] + 1} too (each must be unique)")
            first.setdefault(grade_id, index)
    solutions = {nbgrader(c).get("grade_id") for c in cells if nbgrader(c).get("solution")}
    for index, cell in enumerate(cells):
        grade_id = str(nbgrader(cell).get("grade_id", ""))
        exercise = grade_id.removeprefix("check_")
        if nbgrader(cell).get("grade") and (exercise == grade_id or exercise not in solutions):
            problems.append(f"cell {index + 1}: check cell {grade_id!r} has no solution cell with grade_id "
                            f"{exercise!r} (a check cell is named check_<exercise>)")
    return problems


ASSESSMENT_KEYS = ("states_answer", "needs_removed", "keep_from")
ASSESSMENT_FEEDBACK = ('from vitlearn import checks\n\n'
                       'checks.set_feedback("assessment")  # the checks say what is wrong, never how to fix it')
FALLBACK = re.compile(r"""checks\.solution_or_reference\(\s*(["'])\w+\1\s*,\s*(\w+)\s*\)""")


def assessment_mark(cell: dict[str, Any]) -> dict[str, Any]:
    """A cell's assessment marks, its ``vitlearn`` metadata ({} when it has none or it is malformed)."""
    metadata = cell.get("metadata")
    mark = metadata.get("vitlearn") if isinstance(metadata, dict) else None
    return mark if isinstance(mark, dict) else {}


def assessment_version(notebook: dict[str, Any]) -> dict[str, Any]:
    """The assessment release: the student version (:func:`student_version`) minus what gives an answer away.

    Each cell marked ``states_answer`` or ``needs_removed`` becomes a markdown note with the same id
    (a markdown cell keeps its headings, and its lines from ``keep_from`` on);
    ``checks.solution_or_reference("name", fn)`` becomes ``fn``; and a new code cell after the first
    one (the imports) switches the checks to assessment feedback. Only :func:`assessment_problems`
    says whether the marks are sound: release through :func:`release_chapters`.
    """
    released = student_version(notebook)
    cells = [_assessment_cell(cell) for cell in released["cells"]]
    after_imports = next((i + 1 for i, cell in enumerate(cells) if cell.get("cell_type") == "code"), 0)
    feedback = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                "source": ASSESSMENT_FEEDBACK}
    if any("id" in cell for cell in cells):  # nbformat 4.5 and later
        feedback["id"] = "assessment-feedback"
    cells.insert(after_imports, feedback)
    released["cells"] = cells
    return released


def _assessment_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """One cell of the student version as the assessment release has it (see :func:`assessment_version`)."""
    mark = assessment_mark(cell)
    if mark.get("states_answer") or mark.get("needs_removed"):
        return {"cell_type": "markdown", **({"id": cell["id"]} if "id" in cell else {}), "metadata": {},
                "source": _removal_note(cell, mark)}
    if cell.get("cell_type") == "code":
        cell["source"] = FALLBACK.sub(r"\2", cell_source(cell))
    return cell


def _removal_note(cell: dict[str, Any], mark: dict[str, Any]) -> str:
    """What stands in for a removed cell: its headings, the note, and its lines from ``keep_from`` on."""
    exercises = [f"`{name}`" for name in mark.get("states_answer") or []]
    why = (f"it shows the answer to {' and '.join(exercises)}" if exercises
           else "it needs a cell removed above")
    lines = cell_source(cell).split("\n") if cell.get("cell_type") == "markdown" else []
    kept = _keep_from(lines, mark.get("keep_from"))
    parts = ["\n".join(_headings(lines[:kept])), f"*(removed in the assessment version: {why})*",
             "\n".join(lines[kept:])]
    return "\n\n".join(part for part in parts if part.strip())


def _keep_from(lines: list[str], start: object) -> int:
    """The index of the first line that begins with ``start`` (``len(lines)`` when none does or no ``start``)."""
    if not isinstance(start, str) or not start:
        return len(lines)
    return next((i for i, line in enumerate(lines) if line.strip().startswith(start)), len(lines))


def _headings(lines: list[str]) -> list[str]:
    """The markdown headings among ``lines`` (``# ...`` to ``###### ...``, outside fenced code)."""
    headings, fenced = [], False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            headings.append(line)
    return headings


def assessment_problems(name: str, notebook: dict[str, Any]) -> list[str]:
    """Why the assessment version of ``notebook`` (sound by :func:`release_problems`) must not be
    released; [] when it may be.

    Every mark is well formed: only :data:`ASSESSMENT_KEYS`, ``states_answer`` a list of the
    notebook's exercises, ``needs_removed`` true, ``keep_from`` the start of a line of the marked
    markdown cell; no solution or check cell is marked; and every code cell of the assessment
    version parses and calls no ``solution_or_reference`` any more.
    """
    exercises = {nbgrader(c).get("grade_id") for c in notebook["cells"] if nbgrader(c).get("solution")}
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        problems += [f"{name}: cell {index + 1}: {problem}" for problem in _mark_problems(cell, exercises)]
    if problems:
        return problems
    for index, cell in enumerate(student_version(notebook)["cells"]):
        cell = _assessment_cell(cell)
        if cell.get("cell_type") != "code":
            continue
        if "solution_or_reference" in cell_source(cell):
            problems.append(f"{name}: cell {index + 1}: a solution_or_reference call the assessment release cannot "
                            "rewrite: write it as checks.solution_or_reference(\"exercise\", function)")
        try:
            to_python(cell_source(cell))
        except SyntaxError as exc:
            problems.append(f"{name}: cell {index + 1}: the assessment cell does not parse: {exc.msg} "
                            f"(line {exc.lineno})")
    return problems


def _mark_problems(cell: dict[str, Any], exercises: set[str]) -> list[str]:
    """What is wrong with one cell's assessment marks (its ``vitlearn`` metadata)."""
    metadata = cell.get("metadata")
    if not isinstance(metadata, dict) or "vitlearn" not in metadata:
        return []
    mark, problems = metadata["vitlearn"], []
    if not isinstance(mark, dict):
        return [f"its vitlearn metadata is not a mapping: {mark!r}"]
    problems += [f"unknown key {key!r} in its vitlearn metadata (known: {', '.join(ASSESSMENT_KEYS)})"
                 for key in mark if key not in ASSESSMENT_KEYS]
    answers = mark.get("states_answer", [])
    if not isinstance(answers, list) or ("states_answer" in mark and not answers):
        problems.append(f"states_answer must be a non-empty list of exercise names, got {answers!r}")
    elif unknown := [a for a in answers if not isinstance(a, str) or a not in exercises]:
        problems.append(f"states_answer names {', '.join(map(repr, unknown))}, not an exercise of this notebook "
                        f"(its exercises: {', '.join(sorted(exercises)) or 'none'})")
    if mark.get("needs_removed", True) is not True:
        problems.append(f"needs_removed must be true when given, got {mark['needs_removed']!r}")
    if not answers and "needs_removed" not in mark:
        problems.append("vitlearn metadata without states_answer or needs_removed: nothing says to remove the cell")
    if nbgrader(cell):
        problems.append("a cell with nbgrader metadata is marked for removal: solution and check cells must stay")
    if "keep_from" in mark:
        start = mark["keep_from"]
        lines = cell_source(cell).split("\n") if cell.get("cell_type") == "markdown" else []
        if not lines:
            problems.append("keep_from in a code cell: only a markdown cell keeps part of itself")
        elif _keep_from(lines, start) == len(lines):
            problems.append(f"keep_from {start!r} begins no line of the cell")
    return problems


def release_chapters(paths: list[Path], out: Path, *, force: bool = False, assessment: bool = False) -> list[Path]:
    """Write the student versions of the notebooks ``paths`` into ``out`` (same file names), or with
    ``assessment`` their assessment versions (:func:`assessment_version`).

    Everything is checked before anything is written: every notebook (:func:`release_problems`,
    with ``assessment`` :func:`assessment_problems` too) and every target, which must not be its
    own source, nor an existing file unless ``force``.
    :class:`ReleaseError` lists every problem; each file is written whole or not at all.
    """
    import nbformat

    problems, released = [], {}
    version = assessment_version if assessment else student_version
    if out.exists() and not out.is_dir():
        problems.append(f"{out}: not a folder")
    for path in paths:
        try:
            notebook = nbformat.reads(path.read_text(), as_version=4)
        except Exception as exc:  # noqa: BLE001 - unreadable or not a notebook, in whatever way
            problems.append(f"{path.name}: not a readable notebook ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        target = out / path.name
        found = release_problems(path.name, notebook)
        if assessment and not found:
            found = assessment_problems(path.name, notebook)
        found = found or _schema_problems(path.name, version(notebook))
        if target in released:
            found.append(f"{path.name}: two notebooks to release are named {path.name}")
        elif target.exists() and os.path.samefile(target, path):
            found.append(f"{path.name}: the release would write over its source {path}")
        elif target.exists() and not force:
            found.append(f"{target}: exists already (use --force to replace it)")
        problems += found
        released[target] = None if found else nbformat.from_dict(version(notebook))
    if problems:
        raise ReleaseError(problems)
    out.mkdir(parents=True, exist_ok=True)
    for target, notebook in released.items():
        text = nbformat.writes(notebook)
        _write_atomic(target, text if text.endswith("\n") else text + "\n")  # as nbformat.write
    return list(released)


def _schema_problems(name: str, released: dict[str, Any]) -> list[str]:
    """The ``released`` version of a notebook against the nbformat schema: [] or its first error."""
    import nbformat

    try:
        nbformat.validate(nbformat.from_dict(released))
    except nbformat.ValidationError as exc:
        return [f"{name}: the student version is not a valid notebook: {str(exc.message)[:200]}"]
    return []


def release(chapter: Path, out: Path, *, force: bool = False, assessment: bool = False) -> Path:
    """Write the student (or assessment) version of ``chapter`` into ``out`` (see :func:`release_chapters`);
    its path."""
    return release_chapters([chapter], out, force=force, assessment=assessment)[0]


def _write_atomic(target: Path, text: str) -> None:
    """Write ``text`` beside ``target``, then rename it over ``target`` (a link there is replaced, not followed)."""
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(text)
        os.chmod(part, 0o644)
        os.replace(part, target)
    except BaseException:
        os.unlink(part)
        raise


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


def to_python(source: str) -> str:
    """A cell's source as plain Python: what IPython would run, minus what only IPython can do.

    IPython's own input transformer turns magics and shell escapes into ``get_ipython()`` calls;
    then a ``%%time`` or ``%%capture`` cell becomes its body and a ``%time`` line its statement,
    while any other magic, shell escape or ``get_ipython()`` call becomes ``None`` (so a cell in
    another language, e.g. ``%%bash``, does nothing). SyntaxError when the result is not Python.
    """
    text = _ipython_to_python(source)
    tree = _parse(text)
    if not any(_magic(node) or _is_get_ipython(node) for node in ast.walk(tree)):
        return text  # unchanged, so line numbers stay the learner's
    try:
        return ast.unparse(_WithoutIPython().visit(tree))
    except RecursionError:
        raise SyntaxError("too deeply nested to read") from None


def _ipython_to_python(source: str) -> str:
    """``source`` through IPython's input transformer (as it is when IPython is missing or fails)."""
    try:
        return _transformer().transform_cell(source)
    except Exception:  # noqa: BLE001 - ImportError, or a tokenizer error: the source then does not parse
        return source


@functools.cache
def _transformer():
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager()


def _parse(text: str) -> ast.Module:
    """``ast.parse`` whose every failure is a SyntaxError (null bytes, nesting too deep)."""
    try:
        return ast.parse(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SyntaxError(f"not readable as Python ({type(exc).__name__})") from None


def _is_get_ipython(node: ast.AST) -> bool:
    """``get_ipython()``."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython"


def _magic(node: ast.AST) -> tuple[str, list[Any]] | None:
    """(method, literal arguments) of a ``get_ipython().<method>(...)`` call; None for anything else."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_get_ipython(node.func.value):
        return node.func.attr, [arg.value if isinstance(arg, ast.Constant) else None for arg in node.args]
    return None


class _WithoutIPython(ast.NodeTransformer):
    """Replaces the ``get_ipython()`` calls IPython's transformer wrote (see :func:`to_python`)."""

    def visit_Expr(self, node: ast.Expr) -> Any:
        method, args = _magic(node.value) or ("", [])
        code = (args[2] if method == "run_cell_magic" and len(args) == 3 and args[0] in CODE_CELL_MAGICS else
                args[1] if method == "run_line_magic" and len(args) == 2 and args[0] == "time" else None)
        if isinstance(code, str):
            return _parse(to_python(code)).body or ast.Pass()
        return self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> Any:
        if _magic(node) or _is_get_ipython(node):
            return ast.Constant(None)
        return self.generic_visit(node)


@dataclass(eq=False)
class Statement:
    """One top-level statement of a code cell and what the grader may do with it; its source and
    the names it reads are worked out only for the few statements an answer may take."""

    cell: int  # the cell's index in the notebook, from 0
    node: ast.stmt
    kind: str  # one of TAKEN, "vitlearn" (an import of vitlearn: never taken) or "other"
    binds: frozenset[str]  # names it binds in the notebook's namespace

    @functools.cached_property
    def code(self) -> str:
        """The statement as Python source."""
        return ast.unparse(self.node)

    @functools.cached_property
    def reads(self) -> frozenset[str] | None:
        """The global names it reads, in any of its scopes; None when Python refuses to compile it."""
        try:
            return _reads(self.code)
        except (SyntaxError, RecursionError):
            return None


@dataclass(frozen=True)
class Answer:
    """What the sandbox runs for one exercise: ``code``, the answer with what it needs from the
    notebook before it; ``source``, the answer alone; the ``cell`` it is in (from 0); ``flag``,
    why a person should look at it ("" when there is no reason)."""

    code: str
    source: str
    cell: int
    flag: str = ""


def _reads(code: str) -> frozenset[str]:
    """The global names ``code`` reads, in any of its scopes; SyntaxError for code Python refuses
    to compile (e.g. ``return`` or ``await`` at top level)."""
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SyntaxError(f"not readable as Python ({type(exc).__name__})") from None
    reads, scopes = set(), [table]
    while scopes:
        scope = scopes.pop()
        reads |= {s.get_name() for s in scope.get_symbols() if s.is_referenced() and (scope is table or s.is_global())}
        scopes += scope.get_children()
    return frozenset(reads)


def _kind(node: ast.stmt) -> str:
    """How a top-level statement may be used: "import", "def", "literal", "vitlearn" or "other"."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        return "vitlearn" if any(m == "vitlearn" or m.startswith("vitlearn.") for m in modules) else "import"
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return "def"
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
    names = [name for t in targets for name in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])]
    if names and all(isinstance(n, ast.Name) for n in names) and node.value is not None and _literal(node.value):
        return "literal"  # e.g. ``P, C = 16, 3``
    return "other"


def _literal(node: ast.expr) -> bool:
    """Whether ``node`` is a literal (numbers, strings, tuples, lists, dicts, sets of them, None)."""
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _binds(node: ast.stmt) -> frozenset[str]:
    """The names a top-level statement binds in the notebook's namespace (not those bound inside
    the functions, classes, lambdas and comprehensions it holds)."""
    names, todo = set(), [node]
    while todo:
        item = todo.pop()
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(item.name)
        elif isinstance(item, ast.Name) and isinstance(item.ctx, (ast.Store, ast.Del)):
            names.add(item.id)
        elif isinstance(item, ast.alias) and item.name != "*":
            names.add(item.asname or item.name.split(".")[0])
        elif isinstance(item, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and item.name:
            names.add(item.name)
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
                                 ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            todo += ast.iter_child_nodes(item)
    return frozenset(names)


class NotebookCode:
    """A submission's code cells, read once: each exercise's answer and what it needs from them.

    An exercise's answer is its solution cell, run whole. What the grader runs before it is what
    the notebook would have defined when the cell ran, as far as reading the code can tell: for
    each global name the answer reads (and, in turn, what that reads), the last statement above
    the solution cell that binds it, when that is an import, a ``def``/``class`` or a name set to
    a literal. Nothing else is run: not calls, not loops, not imports of vitlearn, and no
    statement that binds the exercise's own name. A cell that is not Python is skipped.
    """

    def __init__(self, cells: list[dict[str, Any]]) -> None:
        self.cells = cells
        self.statements: list[Statement] = []
        self.python: dict[int, str] = {}  # code cell index -> its source as Python (or as given, when it is not)
        self.skipped: dict[int, str] = {}  # code cell index -> why it was not read
        budget = MAX_CODE_CHARS
        for index, cell in enumerate(cells):
            if cell.get("cell_type") == "code":
                budget = self._read(index, cell, budget)

    def _read(self, index: int, cell: dict[str, Any], budget: int) -> int:
        """Read one code cell into :attr:`statements`; the budget of characters left."""
        try:
            source = cell_source(cell)
        except SubmissionError as exc:
            self.skipped[index] = str(exc)
            return budget
        self.python[index] = source
        if len(source) > budget:
            self.skipped[index] = f"it would take the code read past {MAX_CODE_CHARS} characters"
            return budget
        try:
            self.python[index] = to_python(source)
            nodes = _parse(self.python[index]).body
        except SyntaxError as exc:
            self.python[index] = _ipython_to_python(source)
            self.skipped[index] = f"it is not Python: {exc.msg}" + (f" (line {exc.lineno})" if exc.lineno else "")
            return budget - len(source)
        self.statements += [Statement(index, node, _kind(node), _binds(node)) for node in nodes]
        return budget - len(source)

    def answers(self, exercises: list[str]) -> dict[str, Answer | SubmissionError]:
        """Exercise -> what to run for it, or why it cannot be graded; an exercise with no answer is left out.

        The answer is the code cell marked ``solution`` with the exercise as ``grade_id``. When there
        is none, a ``def`` of the exercise's name in another code cell (the last one above its check
        cell) is graded instead, flagged for a person to review.
        """
        found: dict[str, Answer | SubmissionError] = {}
        for name in exercises:
            cells = [i for i, c in enumerate(self.cells) if c.get("cell_type") == "code"
                     and nbgrader(c).get("solution") is True and nbgrader(c).get("grade_id") == name]
            if len(cells) > 1:
                found[name] = SubmissionError(f"{len(cells)} solution cells have grade_id {name!r}; keep exactly one")
            elif cells and cells[0] not in self.python:
                found[name] = SubmissionError(f"its solution cell (cell {cells[0] + 1}): {self.skipped[cells[0]]}")
            elif cells:
                found[name] = self._answer(name, cells[0], self.python[cells[0]], "")
            elif (definition := self._definition_elsewhere(name)) is not None:
                found[name] = self._answer(name, definition.cell, definition.code, f"solution cell missing, found "
                                           f"in cell {definition.cell + 1} — review by hand")
        return found

    def _definition_elsewhere(self, name: str) -> Statement | None:
        """The last top-level ``def``/``class`` of ``name`` above its check cell (anywhere without one)."""
        checks = [i for i, c in enumerate(self.cells) if nbgrader(c).get("grade_id") == f"check_{name}"]
        above = checks[0] if checks else len(self.cells)
        found = [s for s in self.statements if s.kind == "def" and name in s.binds and s.cell < above]
        return found[-1] if found else None

    def _context(self, cell: int, flagged: bool) -> list[Statement]:
        """The statements an answer in ``cell`` may draw on: those above it (and, for an answer
        found outside a solution cell, the rest of its cell)."""
        return [s for s in self.statements if s.cell < cell or (flagged and s.cell == cell)]

    def _answer(self, name: str, cell: int, source: str, flag: str) -> Answer:
        """``source`` (in ``cell``) with the statements it needs from :meth:`_context` before it."""
        if cell in self.skipped:  # not Python, or too long: the sandbox reports it
            return Answer(source, source, cell, flag)
        try:
            needed = self._needed(name, set(_reads(source)), self._context(cell, bool(flag)))
        except (SyntaxError, RecursionError):  # e.g. ``return`` outside a function: the sandbox reports it
            needed = []
        return Answer("\n".join([*needed, source]), source, cell, flag)

    @staticmethod
    def _needed(name: str, reads: set[str], context: list[Statement]) -> list[str]:
        """The code of the statements of ``context`` that bind what ``reads`` names, and in turn what
        they read: for each name the last statement binding it, if it is one of :data:`TAKEN`; star
        imports always; never a statement binding the exercise's ``name``. In notebook order."""
        context = [s for s in context if name not in s.binds]
        latest = {bound: position for position, statement in enumerate(context) for bound in statement.binds}
        taken: set[int] = set()
        while reads:
            position = latest.get(reads.pop())
            if position is None or position in taken or context[position].kind not in TAKEN:
                continue
            if context[position].reads is not None:  # one Python refuses to compile failed in the notebook too
                taken.add(position)
                reads |= context[position].reads
        return [s.code for i, s in enumerate(context) if i in taken or (s.kind == "import" and not s.binds)]

    def explain(self, answer: Answer, message: str) -> str:
        """The feedback ``message`` on ``answer``, with its flag first and, after a NameError, where
        the notebook defines the name (or that it does not)."""
        undefined = re.search(r"name '(\w+)' is not defined", message)
        return "\n".join([*filter(None, [answer.flag, message]),
                          *([self._undefined(undefined[1], answer)] if undefined else [])])

    def _undefined(self, name: str, answer: Answer) -> str:
        """Why ``name`` was not defined when the answer ran, in the notebook's terms."""
        above = [s for s in self._context(answer.cell, bool(answer.flag)) if name in s.binds]
        below = [s for s in self.statements if name in s.binds and s.cell > answer.cell]
        if above and above[-1].kind == "vitlearn":
            return (f"`{name}` comes from vitlearn (cell {above[-1].cell + 1}), which is not available while "
                    "grading: write that part yourself")
        if above and above[-1].kind == "other":
            return (f"`{name}` is defined in cell {above[-1].cell + 1} by code that is not an import, def, class or "
                    "literal constant, so it is not run while grading: move it into your solution cell")
        if above:
            return f"`{name}` is defined in cell {above[-1].cell + 1}, but not when your code needs it"
        if below:
            return (f"`{name}` is defined only in cell {below[0].cell + 1}, below the exercise: move it into "
                    "your solution cell")
        if any(name in s.binds for s in self.statements if s.cell == answer.cell):
            return f"`{name}` is defined in your solution cell, but not before your code needs it"
        unread = [f"cell {i + 1} ({why})" for i, why in self.skipped.items() if i < answer.cell]
        return f"`{name}` is not defined anywhere in your notebook" + (
            f" (not read: {'; '.join(unread)})" if unread else "")


def grade_ids(cells: list[dict[str, Any]]) -> set[str]:
    """Every nbgrader ``grade_id`` in the notebook (used to tell which chapter it is)."""
    return {str(nbgrader(c).get("grade_id")) for c in cells if nbgrader(c).get("grade_id")}
