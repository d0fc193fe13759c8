"""The check framework's data and its runner: one definition per exercise, used by notebooks and grader.

An :class:`Exercise` holds the reference, the cases it is checked on, a catalogue of plausible
wrong answers (:class:`Mistake`) and hints for patterns of failing cases (:class:`Pattern`).
Checking is split in two so the grader can run the learner's code in a sandbox and judge it
outside:

* :func:`run_case` (here) calls the learner's function on one case (the only step that runs
  their code) and returns an :class:`Outcome` made only of plain tensors and strings;
* :mod:`vitlearn.checks.feedback` judges the outcomes against the reference and words the
  feedback.

This file imports only torch: the grading sandbox loads it by path, without vitlearn.

The learner's output is never trusted: it is converted to a plain ``torch.Tensor`` (anything
else is reported as a wrong type) and compared here, so an object whose ``__eq__`` always
returns True cannot pass.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

PASS, FAIL = "✅", "❌"
SCORING = ("all-or-nothing", "proportional")  # full points iff every case passes (as nbgrader), or per case


@dataclass(frozen=True)
class Case:
    """One input to an exercise: positional ``args``, a readable ``label`` and its ``traits``.

    Traits describe the case for the pattern hints (``{"batch": 1, "channels": 3, "dtype": "float64"}``);
    ``sizes`` name the case's sizes (``{"d": 4}``) so that a constant factor can be named.
    """

    label: str
    args: tuple[Any, ...]
    traits: Mapping[str, Any] = field(default_factory=dict, compare=False)
    sizes: Mapping[str, int] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: ``answer`` has the exercise's signature and makes the mistake."""

    name: str
    hint: str
    answer: Callable[..., torch.Tensor]


@dataclass(frozen=True)
class Pattern:
    """A hint for answers whose failures follow a trait of the cases.

    With ``fails=False`` it applies when exactly the cases whose ``traits[trait] == value`` pass;
    with ``fails=True``, when exactly those cases fail. At least ``min_cases`` cases must carry the
    value, so that one odd case cannot pass for a pattern by coincidence.
    """

    trait: str
    value: Any
    hint: str
    fails: bool = False
    min_cases: int = 2

    def matches(self, cases: Sequence[Case], passed: Sequence[bool]) -> bool:
        marked = [case.traits.get(self.trait) == self.value for case in cases]
        if all(marked) or sum(marked) < self.min_cases:
            return False
        return [not p for p in passed] == marked if self.fails else list(passed) == marked


@dataclass(frozen=True)
class Exercise:
    """An exercise: the function a learner writes, its reference, cases, mistakes and pattern hints."""

    name: str
    signature: str
    reference: Callable[..., torch.Tensor]
    make_cases: Callable[[], list[Case]]
    mistakes: tuple[Mistake, ...] = ()
    grad_args: tuple[int, ...] = ()  # positions of the arguments that gradients must reach
    patterns: tuple[Pattern, ...] = ()  # this exercise's own; generic ones are added by the feedback

    def check(self, fn: Callable[..., Any], *, verbose: bool = True, on_purpose: bool = False) -> CheckResult:
        """Run ``fn`` on every case, print the verdict and return the :class:`CheckResult`.

        ``on_purpose=True`` marks a deliberately wrong answer shown in a chapter: the verdict then
        says so, under the function's own name.
        """
        from vitlearn.checks.feedback import check_function  # feedback builds on this module

        result = check_function(self, fn, on_purpose=on_purpose)
        if verbose:
            print(result.message)
        return result


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
    """The verdict on one case; the case shown to the learner also carries the hint."""

    label: str
    passed: bool
    problem: str = ""
    hint: str = ""
    detail: str = ""  # PyTorch's own words, kept below a translated error
    shown: bool = False


@dataclass
class CheckResult:
    """Truthy iff every case passed; ``score`` is the fraction of cases passed."""

    name: str
    cases: list[CaseResult]
    message: str

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(case.passed for case in self.cases)

    @property
    def score(self) -> float:
        return sum(case.passed for case in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def shown(self) -> CaseResult | None:
        """The failing case the message explains (None when every case passed)."""
        return next((c for c in self.cases if c.shown), next((c for c in self.cases if not c.passed), None))

    def grade(self, points: float, scoring: str = SCORING[0]) -> float:
        """Points earned out of ``points``: all of them only when every case passes (``all-or-nothing``,
        as nbgrader scores a check cell, the default), or by fraction of cases passed (``proportional``)."""
        if scoring not in SCORING:
            raise ValueError(f"scoring must be one of {', '.join(SCORING)}, not {scoring!r}")
        return round((self.score if scoring == "proportional" else float(self.passed)) * points, 2)

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
        except Exception as exc:  # noqa: BLE001 - the learner's bug is feedback, not a crash
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
    """Two outcomes agree: the same error, or outputs of one dtype, close, with the same gradients."""
    if a.error is not None or b.error is not None:
        return a.raised and b.raised and a.error == b.error
    assert a.output is not None and b.output is not None
    return a.output.dtype == b.output.dtype and close(a.output, b.output) and _grads_close(a.grads, b.grads)
