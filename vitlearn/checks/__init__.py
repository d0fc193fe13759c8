"""Learner-facing checks, one per exercise: ``vitlearn.checks.<exercise>(your_function)``.

Each check runs your function on several generated cases, compares it with the reference,
prints a verdict (and, on failure, the first failing case and a hint naming the likely
mistake) and returns a :class:`~vitlearn.checks.core.CheckResult`: truthy iff every case
passed, with ``.passed``, ``.score`` and ``.message``. It never raises on a wrong answer.
"""

from typing import Any, Callable

from vitlearn.checks.core import CheckResult, Exercise
from vitlearn.checks.patches import EXERCISES as _PATCH_EXERCISES

EXERCISES: dict[str, Exercise] = {**_PATCH_EXERCISES}



def solution_or_reference(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """The learner's ``fn`` if it passes the check of exercise ``name``, else the reference
    (with a printed note), so a chapter keeps running when an exercise is skipped."""
    return EXERCISES[name].solution_or_reference(fn)


image2emb_naive = EXERCISES["image2emb_naive"].check
weight_to_kernel = EXERCISES["weight_to_kernel"].check
image2emb_conv = EXERCISES["image2emb_conv"].check

__all__ = ["EXERCISES", "CheckResult", "Exercise", "solution_or_reference", "image2emb_naive", "weight_to_kernel", "image2emb_conv"]
