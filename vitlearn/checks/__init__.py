"""Learner-facing checks, one per exercise: ``vitlearn.checks.<exercise>(your_function)``.

Each check runs your function on several generated cases, compares it with the reference,
prints a verdict (and, on failure, the first failing case and a hint naming the likely
mistake) and returns a :class:`~vitlearn.checks.core.CheckResult`: truthy iff every case
passed, with ``.passed``, ``.score`` and ``.message``. It never raises on a wrong answer.
``set_feedback("assessment")`` makes every check say only what is wrong, never how to fix it.
"""

from typing import Any, Callable

from vitlearn.checks import attention, distill, feedback, interpret, model, patches, tokens
from vitlearn.checks.core import CheckResult, Exercise
from vitlearn.checks.feedback import set_feedback

#: Every exercise of the course, in chapter order.
EXERCISES: dict[str, Exercise] = {
    **patches.EXERCISES,  # chapters 01-02
    **tokens.EXERCISES,  # chapters 03-04
    **attention.EXERCISES,  # chapter 05 (and chapter 00's causal_mask)
    **model.EXERCISES,  # chapter 06
    **interpret.EXERCISES,  # chapter 07
    **distill.EXERCISES,  # chapter 08
}


def solution_or_reference(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """The learner's ``fn`` if it passes the check of exercise ``name``, else the reference
    (with a printed note), so a chapter keeps running when an exercise is skipped."""
    return feedback.solution_or_reference(EXERCISES[name], fn)


causal_mask = EXERCISES["causal_mask"].check
image2emb_naive = EXERCISES["image2emb_naive"].check
weight_to_kernel = EXERCISES["weight_to_kernel"].check
image2emb_conv = EXERCISES["image2emb_conv"].check
prepend_cls = EXERCISES["prepend_cls"].check
add_position_embedding = EXERCISES["add_position_embedding"].check
interpolate_position_embedding = EXERCISES["interpolate_position_embedding"].check
scaled_dot_product_attention = EXERCISES["scaled_dot_product_attention"].check
split_heads = EXERCISES["split_heads"].check
merge_heads = EXERCISES["merge_heads"].check
cls_token_output = EXERCISES["cls_token_output"].check
classification_loss = EXERCISES["classification_loss"].check
attention_rollout = EXERCISES["attention_rollout"].check
distillation_loss = EXERCISES["distillation_loss"].check

__all__ = ["EXERCISES", "CheckResult", "Exercise", "set_feedback", "solution_or_reference", *EXERCISES]
