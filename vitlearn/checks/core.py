"""The check framework: one definition per exercise, used by notebooks and the grader alike.

An :class:`Exercise` holds the reference, the cases it is checked on and a catalogue of
plausible wrong answers (:class:`Mistake`). Checking is split in two so the grader can run
the learner's code in a sandbox and judge it outside:

* :func:`run_case` calls the learner's function on one case (the only step that runs their
  code) and returns an :class:`Outcome` made only of plain tensors and strings;
* :func:`judge` compares an outcome with the reference and, on a mismatch, looks the answer
  up in the mistake catalogue to name the likely mistake.

The learner's output is never trusted: it is converted to a plain ``torch.Tensor`` (anything
else is reported as a wrong type) and compared here, so an object whose ``__eq__`` always
returns True cannot pass.
"""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import torch

PASS, FAIL = "✅", "❌"


@dataclass(frozen=True)
class Case:
    """One input to an exercise: positional ``args`` and a readable ``label``."""

    label: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: ``answer`` has the exercise's signature and makes the mistake."""

    name: str
    hint: str
    answer: Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Exercise:
    """An exercise: the function a learner writes, its reference, cases and mistake catalogue."""

    name: str
    signature: str
    reference: Callable[..., torch.Tensor]
    make_cases: Callable[[], list[Case]]
    mistakes: tuple[Mistake, ...] = ()
    grad_args: tuple[int, ...] = ()  # positions of the arguments that gradients must reach

    def check(self, fn: Callable[..., Any], *, verbose: bool = True) -> CheckResult:
        """Run ``fn`` on every case, print the verdict and return the :class:`CheckResult`."""
        result = check_function(self, fn)
        if verbose:
            print(result.message)
        return result

    def solution_or_reference(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` if it passes its check, else the reference, with a visible note.

        Lets a learner skip an exercise and keep running the chapter.
        """
        if check_function(self, fn).passed:
            return fn
        print(f"Note: your {self.name} does not pass its check yet, so the cells below use "
              f"vitlearn's reference {self.reference.__module__}.{self.name}.")
        return self.reference


@dataclass
class Outcome:
    """What the learner's function did on one case, as plain data (safe to send between processes)."""

    output: torch.Tensor | None = None
    error: str | None = None  # "TypeError: ..." when the function raised or returned a non-tensor
    raised: bool = False  # True when ``error`` comes from an exception in the learner's code
    inputs_modified: bool = False
    warnings: list[str] = field(default_factory=list)
    grads: list[torch.Tensor | None] = field(default_factory=list)  # one per ``Exercise.grad_args``


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one case."""

    label: str
    passed: bool
    problem: str = ""
    hint: str = ""


@dataclass
class CheckResult:
    """Truthy iff every case passed; ``score`` is the fraction of cases passed."""

    name: str
    cases: list[CaseResult]
    message: str

    @property
    def passed(self) -> bool:
        return all(case.passed for case in self.cases)

    @property
    def score(self) -> float:
        return sum(case.passed for case in self.cases) / len(self.cases)

    def grade(self, points: float) -> float:
        """Points earned out of ``points`` (partial credit by fraction of cases)."""
        return round(self.score * points, 2)

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        passed = sum(case.passed for case in self.cases)
        return f"<CheckResult {self.name}: {passed}/{len(self.cases)} cases passed>"


def as_plain_tensor(value: object) -> torch.Tensor:
    """Detach ``value`` into a plain CPU ``torch.Tensor``; raise ``TypeError`` for anything else.

    Only ``torch.Tensor`` and ``nn.Parameter`` are accepted: a tensor subclass could override
    comparisons, so it is refused rather than unwrapped.
    """
    if type(value) not in (torch.Tensor, torch.nn.Parameter):
        kind = "a tensor subclass" if isinstance(value, torch.Tensor) else "not a tensor"
        raise TypeError(f"expected a torch.Tensor, got {type(value).__name__} ({kind})")
    return torch.Tensor.detach(value).cpu().clone()


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float64`` -> ``"float64"``, for case labels."""
    return str(dtype).removeprefix("torch.")


def _clone_args(args: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(a.detach().clone() if isinstance(a, torch.Tensor) else a for a in args)


def _probe(like: torch.Tensor) -> torch.Tensor:
    """A fixed random tensor shaped like the output: ``(output * probe).sum()`` is the loss whose
    gradients are compared, so every output entry matters and nothing cancels by symmetry."""
    generator = torch.Generator().manual_seed(1234)
    return torch.randn(like.shape, generator=generator, dtype=torch.float64).to(like.dtype)


def run_case(fn: Callable[..., Any], case: Case, grad_args: Sequence[int] = ()) -> Outcome:
    """Call ``fn`` on fresh copies of ``case.args``; never raises.

    The arguments at positions ``grad_args`` require grad; when the output is a tensor the
    gradients of ``(output * probe).sum()`` with respect to them are recorded (``None`` where
    no gradient arrives).
    """
    args = _clone_args(case.args)
    for i in grad_args:
        args[i].requires_grad_(True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn(*args)
        except Exception as exc:  # the learner's bug is feedback, not a crash
            return Outcome(error=f"{type(exc).__name__}: {exc}", raised=True)
        outcome = Outcome(warnings=[f"{w.category.__name__}: {w.message}" for w in caught])
        try:
            outcome.output = as_plain_tensor(value)
        except TypeError as exc:
            outcome.error = f"your function returned {type(value).__name__}: {exc}"
            return outcome
        if grad_args:
            outcome.grads = _gradients(value, [args[i] for i in grad_args])
    outcome.inputs_modified = any(
        isinstance(a, torch.Tensor) and not torch.equal(a.detach(), original)
        for a, original in zip(args, case.args)
    )
    return outcome


def _gradients(value: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """d(sum(value * probe))/d(input) for each input, ``None`` where the graph does not reach it."""
    if not value.requires_grad or not value.is_floating_point():
        return [None] * len(inputs)
    try:
        grads = torch.autograd.grad((value * _probe(value)).sum(), inputs, allow_unused=True)
    except RuntimeError:
        return [None] * len(inputs)
    return [None if g is None else g.detach().cpu().clone() for g in grads]


def tolerance(dtype: torch.dtype) -> tuple[float, float]:
    """(rtol, atol) for comparing results in ``dtype``; atol is scaled by the reference's size."""
    return (1e-9, 1e-9) if dtype == torch.float64 else (1e-4, 1e-5)


def close(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """Same shape and values within the dtype's tolerance (dtype itself is judged separately)."""
    if actual.shape != expected.shape:
        return False
    if expected.dtype == torch.bool or actual.dtype == torch.bool:
        return torch.equal(actual, expected)
    rtol, atol = tolerance(expected.dtype)
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    return torch.allclose(actual.to(expected.dtype), expected, rtol=rtol, atol=atol * scale, equal_nan=False)


def _grads_close(actual: list[torch.Tensor | None], expected: list[torch.Tensor | None]) -> bool:
    return len(actual) == len(expected) and all(
        (a is None) == (e is None) and (a is None or close(a, e)) for a, e in zip(actual, expected)
    )


def same_outcome(a: Outcome, b: Outcome) -> bool:
    """Two outcomes agree: the same error, or close outputs with the same gradients."""
    if a.error is not None or b.error is not None:
        return a.raised and b.raised and a.error == b.error
    assert a.output is not None and b.output is not None
    return close(a.output, b.output) and _grads_close(a.grads, b.grads)


def diagnose(exercise: Exercise, case: Case, outcome: Outcome) -> str:
    """The hint of the catalogued mistake that reproduces the learner's answer exactly, or ''."""
    for mistake in exercise.mistakes:
        if same_outcome(run_case(mistake.answer, case, exercise.grad_args), outcome):
            return mistake.hint
    return ""


def _same_rows_reordered(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """True when ``actual`` holds the reference's rows along dim -2, in another order."""
    if actual.shape != expected.shape or actual.ndim < 2 or not expected.is_floating_point():
        return False
    a = actual.to(expected.dtype).flatten(0, -3) if actual.ndim > 2 else actual.to(expected.dtype)[None]
    e = expected.flatten(0, -3) if expected.ndim > 2 else expected[None]
    rtol, atol = tolerance(expected.dtype)
    for a_rows, e_rows in zip(a, e):  # each (N, D)
        matches = torch.isclose(a_rows[:, None, :], e_rows[None, :, :], rtol=rtol, atol=atol).all(-1)
        if not matches.any(1).all():
            return False
    return True


def _value_problem(actual: torch.Tensor, expected: torch.Tensor) -> str:
    """How the values of ``actual`` differ from ``expected`` (same shape and dtype), or ''."""
    if close(actual, expected):
        return ""
    if expected.dtype == torch.bool or not expected.is_floating_point():
        return "values differ from the reference"
    if torch.isnan(actual).any() and not torch.isnan(expected).any():
        return "output contains NaN"
    diff = (actual - expected).abs()
    where = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    if _same_rows_reordered(actual, expected):
        return f"the right rows come out in the wrong order (first difference at index {where})"
    return f"values differ from the reference: max |difference| {diff.max().item():.3g} at index {where}"


def _grad_problem(exercise: Exercise, actual: list, expected: list) -> str:
    """Which input gets no gradient, or a wrong one ('' when gradients agree)."""
    names = list(inspect.signature(exercise.reference).parameters)
    for position, a, e in zip(exercise.grad_args, actual, expected):
        if e is not None and a is None:
            return (f"no gradient reaches `{names[position]}`: it must stay in the autograd graph "
                    "(no .detach(), .data, torch.tensor(...) copies or torch.no_grad())")
        if e is not None and not close(a, e):
            return f"the gradient reaching `{names[position]}` is wrong"
    return ""


def _problem(exercise: Exercise, outcome: Outcome, expected: Outcome) -> str:
    """What is wrong with ``outcome`` compared with the reference's, in one sentence ('' if right)."""
    if outcome.error is not None:
        return outcome.error if not outcome.raised else f"your function raised {outcome.error}"
    actual, reference = outcome.output, expected.output
    assert actual is not None and reference is not None
    if actual.shape != reference.shape:
        return f"output shape {tuple(actual.shape)}, expected {tuple(reference.shape)}"
    if actual.dtype != reference.dtype:
        why = " (the inputs' dtype): don't convert" if reference.is_floating_point() else ""
        return f"output dtype {actual.dtype}, expected {reference.dtype}{why}"
    if outcome.inputs_modified:
        return "your function changed its input in place; compute a new tensor instead"
    return _value_problem(actual, reference) or _grad_problem(exercise, outcome.grads, expected.grads)


def judge(exercise: Exercise, case: Case, outcome: Outcome) -> CaseResult:
    """Compare the learner's ``outcome`` on ``case`` with the reference's (no hint yet)."""
    expected = run_case(exercise.reference, case, exercise.grad_args)
    if expected.error is not None:  # a bug in the exercise definition, not in the learner's code
        raise RuntimeError(f"reference {exercise.name} failed on case {case.label!r}: {expected.error}")
    problem = _problem(exercise, outcome, expected)
    return CaseResult(case.label, not problem, problem)


def judge_all(exercise: Exercise, cases: Sequence[Case], outcomes: Sequence[Outcome]) -> list[CaseResult]:
    """Judge every case; the first failing one also gets the catalogue's hint (the one shown)."""
    results = [judge(exercise, case, outcome) for case, outcome in zip(cases, outcomes)]
    for i, result in enumerate(results):
        if not result.passed:
            results[i] = replace(result, hint=diagnose(exercise, cases[i], outcomes[i]))
            break
    return results


_HARD_CODED_HINT = (
    "It works on some cases but fails on others: read sizes from the inputs (`image.shape`, "
    "`weight.shape`, the arguments) instead of hard-coding the post's 1x3x8x8 example."
)
_ORDER_HINT = (
    "Patches must be in reading order: left to right along a row, then the next row down "
    "(row-major, like `F.unfold`)."
)


def summarize(exercise: Exercise, results: list[CaseResult], warning_lines: Sequence[str] = ()) -> str:
    """The learner-facing message: a verdict, one line per case and, on failure, a hint."""
    passed = sum(r.passed for r in results)
    if passed == len(results):
        lines = [f"{PASS} {exercise.name}: all {len(results)} cases pass."]
    else:
        lines = [f"{FAIL} {exercise.name}: {passed} of {len(results)} cases pass."]
    lines += [f"   {PASS if r.passed else FAIL} {r.label}" for r in results]
    failed = [r for r in results if not r.passed]
    if failed:
        first = failed[0]
        hint = first.hint
        if not hint and "wrong order" in first.problem:
            hint = _ORDER_HINT
        if not hint and passed and first.problem.startswith("your function raised"):
            hint = _HARD_CODED_HINT
        lines += ["", f"First failing case: {first.label}", f"   Problem: {first.problem}"]
        lines += [f"   Hint: {hint}"] if hint else [f"   Expected: {exercise.signature}"]
    for warning_line in dict.fromkeys(warning_lines):
        lines.append(f"   Note: your code warned {warning_line}")
    return "\n".join(lines)


def check_function(exercise: Exercise, fn: Callable[..., Any]) -> CheckResult:
    """Run and judge ``fn`` on every case of ``exercise``; never raises on a wrong answer."""
    if not callable(fn):
        return report(exercise, [], error=f"pass the function itself, e.g. checks.{exercise.name}"
                                          f"({exercise.name}), not a {type(fn).__name__}")
    cases = exercise.make_cases()
    outcomes = [run_case(fn, case, exercise.grad_args) for case in cases]
    return report(exercise, judge_all(exercise, cases, outcomes),
                  warning_lines=[w for o in outcomes for w in o.warnings])


def report(
    exercise: Exercise, results: list[CaseResult], *, error: str = "", warning_lines: Sequence[str] = ()
) -> CheckResult:
    """Build the :class:`CheckResult`; ``error`` fails every case with one reason."""
    if error:
        results = [CaseResult(case.label, False, error) for case in exercise.make_cases()]
        return CheckResult(exercise.name, results, f"{FAIL} {exercise.name}: {error}")
    return CheckResult(exercise.name, results, summarize(exercise, results, warning_lines))
