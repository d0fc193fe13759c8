"""Learner-facing checks, one per exercise: ``vitlearn.checks.<exercise>(your_function)``.

Each check runs your function on several generated cases, compares it with the reference,
prints a verdict (and, on failure, the first failing case and a hint naming the likely
mistake) and returns a :class:`~vitlearn.checks.core.CheckResult`: truthy iff every case
passed, with ``.passed``, ``.score`` and ``.message``. It never raises on a wrong answer.
"""

from vitlearn.checks.core import CheckResult, Exercise
from vitlearn.checks.patches import EXERCISES as _PATCH_EXERCISES

EXERCISES: dict[str, Exercise] = {**_PATCH_EXERCISES}

image2emb_naive = EXERCISES["image2emb_naive"].check
weight_to_kernel = EXERCISES["weight_to_kernel"].check
image2emb_conv = EXERCISES["image2emb_conv"].check

__all__ = ["EXERCISES", "CheckResult", "Exercise", "image2emb_naive", "weight_to_kernel", "image2emb_conv"]
