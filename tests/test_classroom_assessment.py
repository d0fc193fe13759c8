"""`vitlearn release --assessment`: no released notebook gives an exercise's answer away.

Every chapter is released for assessment, and each notebook is searched for the code lines of its
exercises' references and of its own solutions, for the references' names, and for the fallback
to them; the notebooks stay valid, parse, keep their nbgrader metadata, and chapter 02 with its
solutions put back runs top to bottom with every check passing. The checks' assessment feedback
says what is wrong and never how to fix it.
"""

import ast
import inspect
import io
import json
import re
import textwrap
import tokenize

import nbformat
import pytest
import torch
from IPython.core.inputtransformer2 import TransformerManager
from nbclient import NotebookClient

from vitlearn.checks import EXERCISES, feedback, set_feedback
from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapters
from vitlearn.classroom.release import ReleaseError, assessment_mark, release_chapters, student_version
from vitlearn.cli import main

CHAPTERS = chapters()
MIN_CHARS = 12  # shorter lines (``x.shape``, ``rollout``) are too common to give anything away
NOTE = "removed in the assessment version"
SIZES = re.compile(r"[\w.]+\.shape(\[[^\]]*\])?")  # ``b, t, width = x.shape``: reading sizes gives nothing away


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("assessment")
    assert main(["release", "--assessment", "--out", str(out)]) == 0
    return out


@pytest.fixture
def assessment_feedback():
    set_feedback("assessment")
    yield
    set_feedback("practice")


def normalized(line: str) -> str:
    """``line`` without ``return``, an assignment's target and whitespace: what an answer shares."""
    line = re.sub(r"^\s*return\b", "", line)
    line = re.sub(r"^\s*[\w\s,.\[\]]+=(?!=)", "", line)
    return re.sub(r"\s+", "", line)


def answer_like(line: str) -> bool:
    """Whether a normalized line could give an answer away: not short, not sizes read off a shape
    (``b, t, width = x.shape``), not a statement header (``if mask is not None:``)."""
    return len(line) >= MIN_CHARS and not SIZES.fullmatch(line) and not line.endswith(":")


def without_comments(source: str) -> list[str]:
    """The lines of Python ``source`` with their comments blanked."""
    lines = source.split("\n")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            row, column = token.start
            lines[row - 1] = lines[row - 1][:column]
    return lines


def validation(node: ast.AST) -> bool:
    """A statement that checks the inputs: ``raise``, ``if ...: raise``, a ``require_*``/``_check_*`` call."""
    if isinstance(node, ast.Raise) or isinstance(node, ast.If) and isinstance(node.body[-1], ast.Raise):
        return True
    return (isinstance(node, (ast.Assign, ast.Expr)) and isinstance(node.value, ast.Call)
            and bool(re.match(r"_?(require|check)", ast.unparse(node.value.func))))


def reference_lines(function) -> set[str]:
    """The lines of a reference that compute its answer: not its ``def`` line, docstring, input
    validation (``require_*``/``_check_*`` calls, ``if ...: raise``), statement headers or short lines."""
    source = textwrap.dedent(inspect.getsource(function))
    skipped: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            skipped |= set(range(1, node.body[0].lineno))
            if isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                skipped |= set(range(node.body[0].lineno, node.body[0].end_lineno + 1))
        elif validation(node):
            skipped |= set(range(node.lineno, node.end_lineno + 1))
    lines = [normalized(line) for number, line in enumerate(without_comments(source), start=1) if number not in skipped]
    return {line for line in lines if answer_like(line)}


def solution_lines(notebook) -> set[str]:
    """The lines between the solution markers of ``notebook``'s solution cells, normalized."""
    lines = set()
    for cell in notebook.cells:
        for block in re.findall(r"### BEGIN SOLUTION\n(.*?)\n[ \t]*### END SOLUTION", cell.source, re.DOTALL):
            lines |= {normalized(line) for line in without_comments(textwrap.dedent(block))}
    return {line for line in lines if answer_like(line)}


def reference_names(exercise: str) -> list[str]:
    """Patterns that name an exercise's reference: ``vitlearn.tokens.prepend_cls``, ``tokens.prepend_cls``,
    ``from vitlearn.tokens import prepend_cls``."""
    module = EXERCISES[exercise].reference.__module__
    return [rf"\b{re.escape(module)}\.{exercise}\b", rf"\b{module.rsplit('.', 1)[1]}\.{exercise}\b",
            rf"from\s+{re.escape(module)}\s+import\s[^\n]*\b{exercise}\b"]


def read(path):
    return nbformat.read(path, as_version=4)


def test_every_chapter_is_released_as_a_valid_notebook(released):
    assert sorted(p.name for p in released.glob("*.ipynb")) == sorted(c.path.name for c in CHAPTERS.values())
    for path in released.glob("*.ipynb"):
        nbformat.validate(read(path))


def answers_shown(chapter: str, cells) -> list[str]:
    """The answer lines, names of references and fallbacks to them that ``cells`` show."""
    source = read(CHAPTERS_DIR / f"{chapter}.ipynb")
    text = "\n".join(cell.source for cell in cells)
    compact = re.sub(r"\s+", "", text)
    answers = solution_lines(source).union(*(reference_lines(EXERCISES[name].reference)
                                             for name in CHAPTERS[chapter].points))
    assert answers, "no answer lines to look for"
    names = [pattern for name in CHAPTERS[chapter].points for pattern in reference_names(name)]
    return ([line for line in sorted(answers) if line in compact] + [p for p in names if re.search(p, text)]
            + ["solution_or_reference"] * ("solution_or_reference" in text))


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_no_answer_is_left_in_the_notebook(released, chapter):
    assert answers_shown(chapter, read(released / f"{chapter}.ipynb").cells) == []


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_the_search_finds_the_answers_the_practice_release_shows(chapter):
    practice = nbformat.from_dict(student_version(read(CHAPTERS_DIR / f"{chapter}.ipynb")))
    assert answers_shown(chapter, practice.cells)


def test_reference_lines_keep_the_computation_only():
    lines = reference_lines(EXERCISES["prepend_cls"].reference)
    assert lines == {"cls_token.expand(batch,1,width)", "torch.cat([cls_rows,patch_embedding],dim=1)"}


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_cells_parse_keep_their_order_and_nbgrader_metadata(released, chapter):
    source = read(CHAPTERS_DIR / f"{chapter}.ipynb")
    practice = {cell.id: cell for cell in nbformat.from_dict(student_version(source)).cells}
    cells = read(released / f"{chapter}.ipynb").cells
    assert [c.id for c in cells if c.id != "assessment-feedback"] == [c.id for c in source.cells]
    assert cells[[c.cell_type for c in cells].index("code") + 1].id == "assessment-feedback"
    marked = {c.id for c in source.cells if assessment_mark(c)}
    for cell, original in zip([c for c in cells if c.id != "assessment-feedback"], source.cells):
        if cell.cell_type == "code":
            ast.parse(TransformerManager().transform_cell(cell.source))
        if original.id in marked:
            assert cell.cell_type == "markdown" and NOTE in cell.source and cell.metadata == {}
            continue
        assert cell.metadata == original.metadata  # nbgrader metadata included
        if "nbgrader" in original.metadata:
            assert cell.source == practice[cell.id].source  # so nbgrader's checksums agree
    assert sum(NOTE in c.source for c in cells) == len(marked)


def test_chapter_02_with_its_solutions_runs_and_passes_every_check(released):
    source = {cell.id: cell for cell in read(CHAPTERS_DIR / "02_conv2d_equivalence.ipynb").cells}
    notebook = read(released / "02_conv2d_equivalence.ipynb")
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = source[cell.id].source  # the answers put back
    probe = nbformat.v4.new_code_cell("from vitlearn.checks import feedback\nprint(feedback.feedback_mode)")
    notebook.cells.append(probe)
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(released)}})
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    printed = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    assert not [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    for exercise in CHAPTERS["02_conv2d_equivalence"].points:
        assert re.search(rf"^✅ {exercise}: all \d+ cases pass", printed, re.MULTILINE)
    assert probe.outputs[0]["text"] == "assessment\n"


def test_assessment_feedback_says_what_is_wrong_not_how_to_fix_it(assessment_feedback):
    no_transpose = checks_result("weight_to_kernel", lambda weight, c, p: weight.reshape(-1, c, p, p))
    assert "Problem: values differ" in no_transpose.message and no_transpose.shown.hint == ""
    assert "Hint" not in no_transpose.message and "Expected" not in no_transpose.message
    cat_2d = checks_result("prepend_cls", lambda patches, cls: torch.cat([cls, patches], dim=1))
    assert "Problem: your function raised RuntimeError: Tensors must have same number of dimensions" in cat_2d.message
    assert "unsqueeze" not in cat_2d.message and "PyTorch said" not in cat_2d.message
    assert feedback.NOT_ATTEMPTED in checks_result("prepend_cls", _stub).message  # no fix in it, kept


def test_practice_feedback_is_unchanged():
    no_transpose = checks_result("weight_to_kernel", lambda weight, c, p: weight.reshape(-1, c, p, p))
    assert "Hint:" in no_transpose.message and no_transpose.shown.hint
    cat_2d = checks_result("prepend_cls", lambda patches, cls: torch.cat([cls, patches], dim=1))
    assert "unsqueeze" in cat_2d.message and "PyTorch said" in cat_2d.message


def test_set_feedback_refuses_an_unknown_mode():
    with pytest.raises(ValueError, match="'practice', 'assessment'"):
        set_feedback("exam")
    assert feedback.feedback_mode == "practice"


def checks_result(exercise, fn):
    return EXERCISES[exercise].check(fn, verbose=False)


def _stub(patch_embedding, cls_token):
    raise NotImplementedError()


def _mark(notebook: dict, snippet: str, mark) -> None:
    """Give the cell whose source contains ``snippet`` the assessment ``mark``."""
    cell = next(c for c in notebook["cells"] if snippet in "".join(c["source"]))
    cell["metadata"]["vitlearn"] = mark


@pytest.mark.parametrize("spoil, problem", [
    (lambda nb: _mark(nb, "import time", {"states_answer": ["prepend_cls"]}),
     "states_answer names 'prepend_cls', not an exercise of this notebook"),
    (lambda nb: _mark(nb, "import time", {"states_answer": ["weight_to_kernel"], "keep_from": "import"}),
     "keep_from in a code cell"),
    (lambda nb: _mark(nb, "## 1. Exercise", {"states_answer": ["weight_to_kernel"], "keep_from": "Nowhere"}),
     "keep_from 'Nowhere' begins no line of the cell"),
    (lambda nb: _mark(nb, "result = checks.weight_to_kernel", {"states_answer": ["weight_to_kernel"]}),
     "a cell with nbgrader metadata is marked for removal"),
    (lambda nb: _mark(nb, "import time", {"state_answer": ["weight_to_kernel"]}),
     "unknown key 'state_answer'"),
    (lambda nb: _mark(nb, "import time", {"needs_removed": "yes"}), "needs_removed must be true"),
    (lambda nb: _mark(nb, "import time", {"states_answer": "weight_to_kernel"}),
     "states_answer must be a non-empty list"),
    (lambda nb: _mark(nb, "import time", ["weight_to_kernel"]), "its vitlearn metadata is not a mapping"),
    (lambda nb: next(c for c in nb["cells"] if "to_kernel = checks" in "".join(c["source"]))["source"].insert(
        0, "name = 'weight_to_kernel'\nfn = checks.solution_or_reference(name, weight_to_kernel)\n"),
     "a solution_or_reference call the assessment release cannot rewrite"),
])
def test_unsound_marks_are_refused_and_nothing_is_written(tmp_path, spoil, problem):
    notebook = json.loads((CHAPTERS_DIR / "02_conv2d_equivalence.ipynb").read_text())
    spoil(notebook)
    path = tmp_path / "02_conv2d_equivalence.ipynb"
    path.write_text(json.dumps(notebook))
    with pytest.raises(ReleaseError, match=re.escape(problem)) as refused:
        release_chapters([path], tmp_path / "out", assessment=True)
    assert all(line.startswith("02_conv2d_equivalence.ipynb: cell ") for line in refused.value.problems)
    assert not (tmp_path / "out").exists()
    assert release_chapters([path], tmp_path / "practice") == [tmp_path / "practice" / path.name]  # as today
