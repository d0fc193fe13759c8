"""Judging and feedback: the verdict on every case, and a hint only when it is true of the learner's code.

A hint comes from one of four places, tried in this order for the failing case that is shown:

1. the **mistake catalogue**, replayed on every case: a mistake is named only when it
   reproduces the learner's outcome (output, dtype, gradients or error) on a case where it
   differs from the reference, and never gets wrong a case the learner gets right;
2. **PyTorch's own error**, translated into the check's words (PyTorch's line is kept below),
   with a clue from the learner's source where the error alone cannot tell (``F.linear``,
   ``F.one_hot``);
3. the **pattern of passing and failing cases**: only the 1-channel cases pass, only a batch of
   one fails, only ``mask=None`` fails (:class:`~vitlearn.checks.core.Pattern`);
4. the **values** themselves: float64 results off by float32's rounding error, the reference
   times a constant, the right rows in another order.

Nothing is guessed: when none applies the message shows the signature instead of a hint.

In the ``"assessment"`` feedback mode (:func:`set_feedback`, switched on by the notebooks of
``vitlearn release --assessment``) a failing check says what is wrong and not how to fix it: the
verdict, the case lines and the problem only, with PyTorch's own error instead of a translation
(which often names the code that fixes it), and no hint or signature.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import torch

from vitlearn.checks.core import (
    FAIL,
    PASS,
    Case,
    CaseResult,
    CheckResult,
    Exercise,
    Outcome,
    Pattern,
    close,
    run_case,
    same_outcome,
    tolerance,
)

NOT_ATTEMPTED = "not attempted yet: replace `raise NotImplementedError()` with your code"
FEEDBACK_MODES = ("practice", "assessment")
feedback_mode = "practice"  # one of FEEDBACK_MODES; set with set_feedback


def set_feedback(mode: str) -> None:
    """How much every check says from now on: ``"practice"`` (hints, the default) or ``"assessment"``
    (what is wrong only: no hint, no signature, PyTorch's errors untranslated)."""
    global feedback_mode
    if mode not in FEEDBACK_MODES:
        raise ValueError(f"feedback mode must be one of {', '.join(map(repr, FEEDBACK_MODES))}, got {mode!r}")
    feedback_mode = mode


# Patterns every exercise gets, after its own: they read the traits that most cases carry.
GENERIC_PATTERNS = (
    Pattern("batch", 1, fails=True, hint=(
        "Only the cases with a batch of one image fail. A batch of one is where `.squeeze()` without a dim "
        "also removes the batch axis: squeeze (or index) a named dim instead, and keep B in the output.")),
    Pattern("batch", 1, hint=(
        "Only the cases with a batch of one pass: with several images your code mixes them up or uses only "
        "the first. Keep the batch dim through every step (sizes from `x.shape[0]`, never `[0]` or 1).")),
)


# ---- judging ---------------------------------------------------------------------------------------


def judge(exercise: Exercise, outcome: Outcome, expected: Outcome) -> str:
    """What is wrong with ``outcome`` compared with the reference's, in one sentence ('' if right)."""
    if outcome.error is not None:
        return outcome.error if not outcome.raised else f"your function raised {outcome.error}"
    actual, reference = outcome.output, expected.output
    assert actual is not None and reference is not None
    if actual.shape != reference.shape:
        return f"output shape {tuple(actual.shape)}, expected {tuple(reference.shape)}"
    if actual.dtype != reference.dtype:
        why = " (the inputs' dtype)" if reference.is_floating_point() else ""
        return f"output dtype {actual.dtype}, expected {reference.dtype}{why}"
    if outcome.inputs_modified:
        return "your function changed its input in place; compute a new tensor instead"
    return _value_problem(actual, reference) or _grad_problem(exercise, outcome.grads, expected.grads)


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


def _same_rows_reordered(actual: torch.Tensor, expected: torch.Tensor) -> bool:
    """True when ``actual`` holds the reference's rows along dim -2, in another order."""
    if actual.ndim < 2:
        return False
    a = actual.flatten(0, -3) if actual.ndim > 2 else actual[None]  # (batch, N, D)
    e = expected.flatten(0, -3) if expected.ndim > 2 else expected[None]
    rtol, atol = tolerance(expected.dtype)
    for a_rows, e_rows in zip(a, e):  # each (N, D)
        matches = torch.isclose(a_rows[:, None, :], e_rows[None, :, :], rtol=rtol, atol=atol).all(-1)
        if not matches.any(1).all():
            return False
    return True


def _parameter_names(exercise: Exercise) -> list[str]:
    return list(inspect.signature(exercise.reference).parameters)


def _grad_problem(exercise: Exercise, actual: list, expected: list) -> str:
    """Which input gets no gradient, or a wrong one ('' when gradients agree)."""
    names = _parameter_names(exercise)
    for position, a, e in zip(exercise.grad_args, actual, expected):
        if e is not None and a is None:
            return (f"no gradient reaches `{names[position]}`, which is trained (or carries gradients) in the "
                    "model: keep it in the autograd graph (no .detach(), .data, .numpy() round trips, "
                    "torch.tensor(...) copies, new nn.Parameter/nn.Linear weights or torch.no_grad())")
        if e is not None and not close(a, e):
            return f"the gradient reaching `{names[position]}` is wrong"
        if e is None and a is not None and a.abs().max() > 0:
            return (f"a gradient reaches `{names[position]}`, which is a fixed target here, not something to "
                    f"train: `.detach()` it before using it")
    return ""


# ---- PyTorch's errors, in the check's words -------------------------------------------------------


@dataclass(frozen=True)
class Translation:
    """A known error: ``pattern`` is searched in the error text; ``words`` replace it (``{0}`` = group 1)."""

    pattern: str
    words: str


TRANSLATIONS = (
    Translation(r"^NotImplementedError", NOT_ATTEMPTED),
    Translation(r"a leaf Variable that requires grad is being used in an in-place operation",
                "your function changed an input in place (`x += ...`, `q /= ...`, `x.add_(...)`, `x[...] = ...`). "
                "Inputs that carry gradients cannot be changed: compute a new tensor, e.g. `q = q / math.sqrt(d)`"),
    Translation(r"modified by an inplace operation",
                "an in-place operation (`+=`, `/=`, `.add_()`, `x[...] = ...`) overwrote a tensor that autograd "
                "still needs: write it out of place, e.g. `x = x + y`"),
    Translation(r"view size is not compatible with input tensor's size and stride",
                "`.view` needs the tensor's memory in order, and after `transpose`/`permute` it is not: "
                "use `.reshape(...)` (or `.contiguous().view(...)`)"),
    Translation(r"must be tuple of ints,\s*but (?:got|found element of type) float|type must be tuple of ints,but got float|"
                r"(?:reshape|view)\(\) takes 1 positional argument but \d+ were given",
                "a size you passed is not an int: in Python 3 `D / h` is a float (4 / 2 == 2.0). "
                "Use integer division, `D // h`"),
    Translation(r"Can't call numpy\(\) on Tensor that requires grad",
                "`.numpy()` leaves PyTorch, and autograd cannot follow a tensor through numpy: this input is "
                "trained in the model, so write the step with torch operations (`@`, `torch.einsum`, `.reshape`)"),
    Translation(r"Tensors must have same number of dimensions: got (\d+) and (\d+)",
                "`torch.cat` joins tensors with the same number of dims, and yours have {0} and {1}: give the "
                "smaller one its missing dims first (`x[None]`, `.unsqueeze(0)`, `.expand(B, 1, D)`)"),
    Translation(r"Sizes of tensors must match except in dimension 0",
                "`torch.cat` joined along dim 0, and the tensors differ in another dim. For (B, N, D) tokens dim 0 "
                "is the batch: a new token joins the sequence, `dim=1`"),
    Translation(r"Sizes of tensors must match except in dimension (\d+)",
                "`torch.cat` needs the tensors to agree in every dim except the one you join (dim {0}): print "
                "the shapes of the pieces (does every image have its own copy, `.expand(B, ...)`?)"),
    Translation(r"expected m1 and m2 to have the same dtype|expected scalar type (?:Double|Float)|"
                r"must have the same dtype|expected both vectors to have same dtype|"
                r"Expected object of scalar type (?:Double|Float)",
                "your code mixes float32 and float64 tensors: a tensor you made (`torch.zeros(...)`, "
                "`torch.tensor(...)`, `torch.eye(...)`, `.float()`) has another dtype than the inputs. "
                "Create it with `dtype=x.dtype` (or `torch.zeros_like(x)`)"),
    Translation(r"mat1 and mat2 shapes cannot be multiplied \((\w+) and (\w+)\)|"
                r"Expected size for first two dimensions of batch2 tensor",
                "a matrix product got operands whose inner sizes do not match: print the shapes of both "
                "operands of that line"),
    Translation(r"The size of tensor a \((\d+)\) must match the size of tensor b \((\d+)\) at non-singleton "
                r"dimension (\d+)",
                "two tensors combined elementwise have different sizes ({0} and {1} in dim {2}): print the "
                "shapes of both operands of that line"),
    Translation(r"shape '(\[[\d, -]*\])' is invalid for input of size (\d+)",
                "you reshaped {1} numbers to {0}, and those sizes hold a different number of values: print "
                "the tensor's shape just before that line"),
    Translation(r"Dimension out of range \(expected to be in range of \[(-?\d+), (-?\d+)\], but got (-?\d+)\)",
                "you used dim {2} of a tensor that has only dims {0}..{1}: count dims from 0, or from the end "
                "with negative numbers (-1 is the last)"),
    Translation(r"einsum\(\)",
                "the einsum equation does not fit the operands' shapes: one letter per dim, in the order of each "
                "operand's dims, and a shared letter must have the same size"),
    Translation(r"bad operand type for unary ~: 'NoneType'|'NoneType' object has no attribute|"
                r"got \(NoneType, float\)|argument 'mask' .* NoneType",
                "your code used `None` as a tensor: an optional argument was not given on this case"),
    Translation(r"^your function returned tuple",
                "your function returned a tuple: return one tensor. Pieces from `chunk`/`split` are joined with "
                "`torch.stack` or `torch.cat`; of two results (`return out, weights`) return only the output"),
    Translation(r"^your function returned (?:float|int)\b",
                "your function returned a Python number (`.item()`, `float(...)`): return the tensor itself, which "
                "autograd can follow back to the inputs"),
)


def translate(error: str) -> str:
    """The check's words for a known PyTorch error ('' when unknown)."""
    for translation in TRANSLATIONS:
        found = re.search(translation.pattern, error)
        if found:
            return translation.words.format(*(g or "" for g in found.groups()))
    return ""


def source_clue(problem: str, source: str) -> str:
    """A hint from the learner's source where the problem alone cannot name the cause ('' if none)."""
    if re.search(r"\bnn\.(Conv2d|Linear)\(", source) and problem.startswith("no gradient reaches"):
        return ("A new `nn.Conv2d`/`nn.Linear` has weights of its own: copying the input into them cuts the "
                "graph. Use the input itself, through the functional form: `F.conv2d(image, kernel, stride=...)`, "
                "`x @ weight` (or `torch.func.functional_call` on the module).")
    if re.search(r"\bnn\.Conv2d\(", source) and "bias=False" not in source and problem.startswith("values differ"):
        return "`nn.Conv2d` adds a learned bias by default: the patch embedding here has none, pass `bias=False`."
    if ".squeeze()" in source and "must match the size" in problem:
        return ("`.squeeze()` drops every size-1 dim, and broadcasting needs them (a (B, 1, 1, S) mask lines up "
                "with (B, h, T, S) scores through its 1s): keep the dims, or squeeze a named one.")
    if re.search(r"\.(?:reshape|view)\(\s*\d+(?:\s*,\s*\d+)+\s*\)", source) and "is invalid for input of size" in problem:
        return ("Your reshape uses fixed numbers, which fit one case only: compute the sizes from the inputs "
                "(`B, T, D = x.shape`) or let one be inferred with -1.")
    if re.search(r"\blinear\(", source) and "cannot be multiplied" in problem:
        return ("`F.linear(x, w)` computes `x @ w.T`: it wants `w` as (out, in). This exercise's weight is "
                "(in, out), so write `x @ weight` (or `F.linear(x, weight.T)`).")
    if re.search(r"one_hot\(\s*[^,()]+\)", source) and "must match the size" in problem:
        return ("`F.one_hot(labels)` makes max(labels) + 1 columns, fewer than K when a batch lacks the last "
                "class: pass `num_classes=logits.shape[-1]`.")
    return ""


def source_of(fn: Callable[..., Any]) -> str:
    """The learner's source for ``fn`` ('' when Python cannot find it)."""
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return ""


# ---- the mistake catalogue, replayed ---------------------------------------------------------------


@dataclass(frozen=True)
class Diagnosis:
    """A catalogued mistake that explains the learner's failures on the cases ``explained`` (the case to
    show first: one that no other candidate explains)."""

    hint: str
    explained: tuple[int, ...]


def diagnose(exercise: Exercise, cases: Sequence[Case], outcomes: Sequence[Outcome],
             expected: Sequence[Outcome], passed: Sequence[bool]) -> Diagnosis | None:
    """The catalogued mistake that best explains the learner's outcomes, or None.

    A mistake is a candidate when it reproduces the learner's outcome on at least one failing
    case where it differs from the reference, and gets right every case the learner gets right.
    The best explains the most cases; a tie between different hints names neither.
    """
    candidates = []
    for mistake in exercise.mistakes:
        replayed = [run_case(mistake.answer, case, exercise.grad_args) for case in cases]
        wrong = [bool(judge(exercise, r, e)) for r, e in zip(replayed, expected)]
        if any(w and p for w, p in zip(wrong, passed)):
            continue
        explained = tuple(i for i, (w, p) in enumerate(zip(wrong, passed))
                          if w and not p and same_outcome(replayed[i], outcomes[i]))
        if explained:
            candidates.append(Diagnosis(mistake.hint, explained))
    if not candidates:
        return None
    best = max(candidates, key=lambda d: len(d.explained))  # the first in catalogue order on a tie
    others = [d for d in candidates if d.hint != best.hint]
    if any(len(d.explained) == len(best.explained) for d in others):
        return None
    alone = [i for i in best.explained if not any(i in d.explained for d in others)]  # only this mistake fits
    return replace(best, explained=tuple(alone + [i for i in best.explained if i not in alone]))


# ---- hints from the pattern of cases and from the values ------------------------------------------


def pattern_hint(exercise: Exercise, cases: Sequence[Case], passed: Sequence[bool]) -> str:
    """The hint of the first pattern (the exercise's own, then the generic ones) the results follow."""
    for pattern in (*exercise.patterns, *GENERIC_PATTERNS):
        if pattern.matches(cases, passed):
            return pattern.hint
    return ""


def float32_hint(outcomes: Sequence[Outcome], expected: Sequence[Outcome], passed: Sequence[bool]) -> str:
    """A hint when every float32 case passes and every float64 failure is only float32's rounding error."""
    dtypes = [e.output.dtype for e in expected]
    failed = [i for i, p in enumerate(passed) if not p]
    if not failed or torch.float32 not in dtypes or any(dtypes[i] != torch.float64 for i in failed):
        return ""
    for i in failed:
        actual = outcomes[i].output
        if actual is None or actual.shape != expected[i].output.shape or actual.dtype != torch.float64:
            return ""
        if not close(actual.float(), expected[i].output.float()):
            return ""
    return ("The float32 cases pass and the float64 ones differ by about float32's rounding error (1e-7): "
            "somewhere your code computes in float32 (`.float()`, a tensor made without `dtype=`, numpy's "
            "float32) and converts back. Compute in the inputs' dtype throughout.")


def scale_hint(actual: torch.Tensor, expected: torch.Tensor, sizes: dict[str, int]) -> str:
    """A hint when ``actual`` is ``expected`` times a constant, naming the constant from ``sizes``."""
    if not expected.is_floating_point() or expected.abs().max() == 0:
        return ""
    e, a = expected.flatten().double(), actual.flatten().double()
    factor = float((a @ e) / (e @ e))
    if not math.isfinite(factor) or abs(factor - 1) < 1e-6 or abs(factor) < 1e-12:
        return ""
    if not close(actual, (factor * expected).to(expected.dtype)):
        return ""
    name = _name_factor(factor, sizes)
    if expected.numel() < 4 and not name:  # a few numbers are always a multiple of each other
        return ""
    return (f"Your output is the reference times {factor:.4g}{name}: look for a scale "
            "factor your code adds or leaves out (a division, a mean instead of a sum, or the other way round).")


def _name_factor(factor: float, sizes: dict[str, int]) -> str:
    """`` = 1/sqrt(d) with d=4`` when the factor is a simple function of a named size, else ''."""
    named = {"255": 255, **sizes}
    for name, n in named.items():
        for text, value in ((name, n), (f"1/{name}", 1 / n), (f"sqrt({name})", math.sqrt(n)),
                            (f"1/sqrt({name})", 1 / math.sqrt(n))):
            if n > 1 and math.isclose(factor, value, rel_tol=1e-4):
                where = "" if name == "255" else f" with {name}={n}"
                return f" = {text}{where}"
    return ""


def _dim(i: int, ndim: int) -> str:
    return "dim -1 (the last)" if i == ndim - 1 else f"dim {i}"


def shape_hint(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """A hint read off a wrong shape: an extra dim, dims swapped, one dim off ('' when none fits)."""
    if actual == (1, *expected):
        return "Your output has an extra dim of size 1 in front: drop it (no `unsqueeze(0)` or `[None]` at the end)."
    if len(actual) != len(expected):
        return ""
    n, diffs = len(expected), [i for i, (a, e) in enumerate(zip(actual, expected)) if a != e]
    if len(diffs) == 2 and (actual[diffs[0]], actual[diffs[1]]) == (expected[diffs[1]], expected[diffs[0]]):
        i, j = diffs
        return (f"The right sizes in another order: your {_dim(i, n)} holds what belongs in {_dim(j, n)}, and "
                f"{_dim(j, n)} what belongs in {_dim(i, n)}. Check the dims you stack, concatenate, transpose or permute along.")
    if len(diffs) == 2 and actual[diffs[0]] * actual[diffs[1]] == expected[diffs[0]] * expected[diffs[1]]:
        long, short = diffs if actual[diffs[0]] > expected[diffs[0]] else diffs[::-1]
        return (f"The right number of values, joined along the wrong dim: your {_dim(long, n)} is "
                f"{actual[long] // expected[long]}x too long and {_dim(short, n)} too short. What belongs along "
                f"{_dim(short, n)} went along {_dim(long, n)}.")
    if len(diffs) != 1:
        return ""
    i = diffs[0]
    a, e = actual[i], expected[i]
    if e == 1:
        return (f"Your {_dim(i, n)} has {a} entries where 1 belongs: broadcasting stretched it. A (T, 1, D) tensor and "
                "a (1, T, D) one broadcast to (T, T, D): line the dims up before `+` or `*`.")
    if a == e - 1:
        return (f"Your {_dim(i, n)} is one short ({a} instead of {e}): an entry is missing along it. `torch.cat` adds "
                "one; an assignment or a `+` only changes an existing one.")
    if a < e and e % a == 0:
        return (f"Your {_dim(i, n)} is {e // a}x too small ({a} instead of {e}): pieces were summed, averaged or "
                "dropped along it where they should be concatenated.")
    return ""


def value_hint(case: Case, problem: str, outcome: Outcome, expected: Outcome) -> str:
    """A hint read off the values of the shown case (wrong order, a constant factor, a wrong shape)."""
    if problem.startswith("output shape") and outcome.output is not None:
        return shape_hint(tuple(outcome.output.shape), tuple(expected.output.shape))
    if "wrong order" in problem:
        return ("Each row is right but they are in another order. Tokens must be in reading order: left to right "
                "along a row, then the next row down (row-major, like `F.unfold` and einops' `(h w)`).")
    if problem.startswith("values differ") and outcome.output is not None:
        return scale_hint(outcome.output, expected.output, dict(case.sizes))
    return ""


# ---- putting it together ---------------------------------------------------------------------------


DTYPE_HINT = ("Your code converts the dtype: `.float()`, `.double()`, `torch.tensor(...)` or `torch.zeros(...)` "
              "without `dtype=`, or a numpy round trip. Keep the inputs' dtype: `dtype=x.dtype`, `torch.zeros_like(x)`.")


def judge_all(exercise: Exercise, cases: Sequence[Case], outcomes: Sequence[Outcome],
              source: str = "") -> list[CaseResult]:
    """Judge every case; one failing case is shown with its hint (``source`` is the learner's code)."""
    expected = [run_case(exercise.reference, case, exercise.grad_args) for case in cases]
    for case, e in zip(cases, expected):
        if e.error is not None:  # a bug in the exercise definition, not in the learner's code
            raise RuntimeError(f"reference {exercise.name} failed on case {case.label!r}: {e.error}")
    problems = [judge(exercise, o, e) for o, e in zip(outcomes, expected)]
    passed = [not p for p in problems]
    results = [CaseResult(case.label, not p, p) for case, p in zip(cases, problems)]
    if all(passed):
        return results
    diagnosis = diagnose(exercise, cases, outcomes, expected, passed)
    shown = diagnosis.explained[0] if diagnosis else passed.index(False)
    problem, detail = _words(outcomes[shown], problems[shown])
    clue = source_clue(problems[shown], source)  # the learner's own line beats a look-alike mistake
    hint = clue or (diagnosis.hint if diagnosis else _hint(exercise, cases, outcomes, expected, passed, shown,
                                                           problems[shown]))
    if feedback_mode == "assessment":
        hint = ""  # what is wrong, never how to fix it
    results[shown] = replace(results[shown], problem=problem, hint=hint, detail=detail, shown=True)
    return results


def _words(outcome: Outcome, problem: str) -> tuple[str, str]:
    """(problem in the check's words, PyTorch's own line when it was translated)."""
    if outcome.error is None:
        return problem, ""
    words = translate(outcome.error)
    if not words or (feedback_mode == "assessment" and words != NOT_ATTEMPTED):
        return problem, ""
    return words, ("" if words == NOT_ATTEMPTED else outcome.error)


def _hint(exercise: Exercise, cases: Sequence[Case], outcomes: Sequence[Outcome], expected: Sequence[Outcome],
          passed: Sequence[bool], shown: int, problem: str) -> str:
    """The hint for the shown case when no catalogued mistake explains it ('' when nothing is sure)."""
    outcome = outcomes[shown]
    if outcome.error is not None and outcome.error.startswith("NotImplementedError"):
        return ""
    if problem.startswith("output dtype"):
        return DTYPE_HINT  # never a value-based hint for a dtype problem
    return (float32_hint(outcomes, expected, passed) or pattern_hint(exercise, cases, passed)
            or value_hint(cases[shown], problem, outcome, expected[shown]))


def summarize(title: str, results: list[CaseResult], signature: str, warning_lines: Sequence[str] = (),
              demonstration: bool = False) -> str:
    """The learner-facing message: a verdict, one line per case and, on failure, the shown case.

    A ``demonstration`` (a chapter's answer wrong on purpose) that fails every case skips the
    per-case lines: they would be one ❌ after another, and the verdict already says so.
    """
    passed = sum(r.passed for r in results)
    if passed == len(results):
        lines = [f"{PASS} {title}: all {len(results)} cases pass."]
    else:
        lines = [f"{FAIL} {title}: {passed} of {len(results)} cases pass."]
    if not (demonstration and passed == 0):
        lines += [f"   {PASS if r.passed else FAIL} {r.label}" for r in results]
    shown = next((r for r in results if r.shown), None)
    if shown:
        lines += ["", f"Failing case: {shown.label}", f"   Problem: {shown.problem}"]
        lines += [f"   PyTorch said: {shown.detail}"] if shown.detail else []
        if shown.hint:
            lines.append(f"   Hint: {shown.hint}")
        elif feedback_mode == "practice":
            lines.append(f"   Expected: {signature}")
    for warning_line in dict.fromkeys(warning_lines):
        lines.append(f"   Note: your code warned {warning_line}")
    return "\n".join(lines)


def title_for(exercise: Exercise, fn: Callable[..., Any], on_purpose: bool) -> str:
    """The name the verdict is given under: the exercise's, or a demonstration's own."""
    if not on_purpose:
        return exercise.name
    name = getattr(fn, "__name__", "")
    name = name if isinstance(name, str) and name.isidentifier() else "this answer"  # a lambda has no name
    return f"{name} (wrong on purpose, checked as {exercise.name})"


def check_function(exercise: Exercise, fn: Callable[..., Any], *, on_purpose: bool = False) -> CheckResult:
    """Run and judge ``fn`` on every case of ``exercise``; never raises on a wrong answer."""
    if not callable(fn):
        return report(exercise, [], error=f"pass the function itself, e.g. checks.{exercise.name}"
                                          f"({exercise.name}), not a {type(fn).__name__}")
    cases = exercise.make_cases()
    outcomes = [run_case(fn, case, exercise.grad_args) for case in cases]
    return report(exercise, judge_all(exercise, cases, outcomes, source_of(fn)),
                  warning_lines=[w for o in outcomes for w in o.warnings], title=title_for(exercise, fn, on_purpose),
                  demonstration=on_purpose)


def report(exercise: Exercise, results: list[CaseResult], *, error: str = "", warning_lines: Sequence[str] = (),
           title: str = "", demonstration: bool = False) -> CheckResult:
    """Build the :class:`CheckResult`; ``error`` fails every case with one reason."""
    title = title or exercise.name
    if error:
        results = [CaseResult(case.label, False, error) for case in exercise.make_cases()]
        return CheckResult(exercise.name, results, f"{FAIL} {title}: {error}")
    return CheckResult(exercise.name, results,
                       summarize(title, results, exercise.signature, warning_lines, demonstration))


def solution_or_reference(exercise: Exercise, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` if it passes its check, else the reference, with a visible note.

    Lets a learner skip an exercise and keep running the chapter.
    """
    if check_function(exercise, fn).passed:
        return fn
    print(f"Note: your {exercise.name} does not pass its check yet, so the cells below use "
          f"vitlearn's reference {exercise.reference.__module__}.{exercise.name}.")
    return exercise.reference
