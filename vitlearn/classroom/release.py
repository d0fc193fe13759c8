"""``vitlearn release``: student versions of the chapters, for practice or for assessment.

Nothing is written unless every notebook is sound (:func:`release_problems`): a release never
carries an answer through a broken marker. The practice version (:func:`student_version`) stubs
the solutions and removes the hidden tests, as nbgrader's ``generate_assignment`` does, byte for
byte. The assessment version (:func:`assessment_version`) also leaves out every cell that states
an exercise's answer, marked in the chapter by its cell metadata::

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

import copy
import difflib
import os
import re
from pathlib import Path
from typing import Any

from vitlearn.classroom.answers import to_python
from vitlearn.classroom.notebooks import SubmissionError, cell_source, nbgrader, write_atomic

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")


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
                problems += _parse_problems(name, index, cell, "released")
    return problems


def _parse_problems(name: str, index: int, cell: dict[str, Any], version: str) -> list[str]:
    """[] when the released code cell parses (magics allowed), else one line naming it."""
    try:
        to_python(cell_source(cell))
    except SyntaxError as exc:
        return [f"{name}: cell {index + 1}: the {version} cell does not parse: {exc.msg} (line {exc.lineno})"]
    return []


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
        problems += _parse_problems(name, index, cell, "assessment")
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
        write_atomic(target, text if text.endswith("\n") else text + "\n")  # as nbformat.write
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
