"""What the grader runs for an exercise: its solution cell plus what it needs from the cells above.

Found by reading the code with :mod:`ast` (see :class:`NotebookCode`), never by running the rest
of the notebook; IPython magics and shell escapes are turned into Python by IPython's own input
transformer first.
"""

from __future__ import annotations

import ast
import functools
import re
import symtable
from dataclasses import dataclass
from typing import Any

from vitlearn.classroom.notebooks import SubmissionError, cell_source, nbgrader

MAX_CODE_CHARS = 2**18  # code read from a submission to find what its answers need (a chapter has ~15 000)


TAKEN = ("import", "def", "literal")  # the kinds of statement an answer may take from the cells above it


CODE_CELL_MAGICS = ("time", "capture")  # cell magics whose body runs as code in the notebook's namespace


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
