"""Exercise of chapter 08: DeiT's distillation loss (Touvron et al., 2021), hard and soft.

Cases mix hard distillation (``temperature=None``) and soft (a temperature), with ``alpha`` at
DeiT's 0.5 and elsewhere, so that weights swapped or left out show up as values; temperatures
other than 1, so that a temperature on one side only or not squared does too; teachers that
disagree with the labels, so that the two heads swapped do. ``teacher_logits`` carries
gradients in every case: none must reach it (the teacher is a fixed target).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vitlearn import distill
from vitlearn.checks.core import Case, Exercise, Mistake, Pattern, dtype_name

# (batch B, classes K, alpha, temperature (None: hard), dtype)
_LOSSES = [(4, 10, 0.5, None, torch.float32), (3, 7, 0.5, None, torch.float64), (5, 6, 0.25, None, torch.float64),
           (4, 10, 0.5, 2.0, torch.float64), (5, 6, 0.3, 4.0, torch.float64), (1, 5, 0.5, 3.0, torch.float32),
           (6, 4, 0.7, 0.5, torch.float64)]


def _loss_cases() -> list[Case]:
    cases = []
    for seed, (b, k, alpha, temperature, dtype) in enumerate(_LOSSES):
        g = torch.Generator().manual_seed(seed)
        cls_logits, distillation_logits, teacher_logits = 3 * torch.randn(3, b, k, generator=g, dtype=dtype)  # (B, K)
        labels = torch.randint(k, (b,), generator=g)  # (B,) int64
        labels[0] = (teacher_logits[0].argmax() + 1) % k  # the teacher is wrong on image 0
        kind = "hard" if temperature is None else f"soft, temperature={temperature:g}"
        cases.append(Case(f"logits ({b}, {k}), alpha={alpha:g}, {kind}, {dtype_name(dtype)}",
                          (cls_logits, distillation_logits, labels, teacher_logits, alpha, temperature),
                          traits={"batch": b, "dtype": dtype_name(dtype), "kind": kind.split(",")[0],
                                  "alpha": alpha}, sizes={"B": b, "K": k}))
    return cases


def _loss_with(hard_term=None, soft_term=None, combine=None, heads_swapped: bool = False):
    """A distillation loss with one piece replaced: the skeleton every catalogued mistake below varies.

    ``hard_term(distillation_logits, teacher_logits)``, ``soft_term(distillation_logits,
    teacher_logits, temperature)`` and ``combine(label_term, teacher_term, alpha)``; the defaults
    are right (the reference's own terms, ``distill.hard_distillation_term`` and
    ``distill.soft_distillation_term``).
    """

    def answer(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
        if heads_swapped:
            cls_logits, distillation_logits = distillation_logits, cls_logits
        label_term = F.cross_entropy(cls_logits, labels)  # ()
        if temperature is None:
            teacher_term = (hard_term or distill.hard_distillation_term)(distillation_logits, teacher_logits)  # ()
        else:
            teacher_term = (soft_term or distill.soft_distillation_term)(distillation_logits, teacher_logits,
                                                                          temperature)  # ()
        return (combine or _right_combine)(label_term, teacher_term, alpha)

    return answer


def _right_combine(label_term: torch.Tensor, teacher_term: torch.Tensor, alpha: float) -> torch.Tensor:
    return (1 - alpha) * label_term + alpha * teacher_term  # ()


def _kl(reduction: str):
    """A soft term whose KL uses ``reduction`` instead of ``"batchmean"``."""
    return lambda s, t, tau: tau ** 2 * F.kl_div(F.log_softmax(s / tau, dim=-1), F.log_softmax(t.detach() / tau, dim=-1),
                                                 reduction=reduction, log_target=True)


TEMPERATURE_ONE_SIDE_HINT = ("The temperature must divide *both* sides' logits: `softmax(teacher_logits / temperature)` "
                             "and `log_softmax(distillation_logits / temperature)`.")

DISTILLATION_LOSS = Exercise(
    name="distillation_loss",
    signature=("distillation_loss(cls_logits (B, K), distillation_logits (B, K), labels (B,) int64, "
               "teacher_logits (B, K), alpha=0.5, temperature=None) -> scalar: "
               "(1 - alpha) * CE(cls_logits, labels) + alpha * [CE(distillation_logits, teacher's argmax) "
               "if temperature is None, else temperature**2 * KL(softmax(teacher / T) || softmax(distillation / T)), "
               "batch mean]; the teacher detached"),
    reference=distill.distillation_loss,
    make_cases=_loss_cases,
    grad_args=(0, 1, 3),
    patterns=(
        Pattern("kind", "hard", hint=(
            "Only the hard cases (temperature=None) pass: the soft term is wrong. It is "
            "`temperature**2 * KL(softmax(teacher / T) || softmax(distillation / T))`, averaged over the batch: "
            "`F.kl_div(student_log_probs, teacher_log_probs, reduction='batchmean', log_target=True)`.")),
        Pattern("kind", "soft", hint=(
            "Only the soft cases pass: the hard term is wrong. With temperature=None the distillation head "
            "learns the teacher's *label*: `F.cross_entropy(distillation_logits, teacher_logits.argmax(dim=-1))`.")),
        Pattern("alpha", 0.5, hint=(
            "Only the cases with alpha=0.5 pass: weight the two terms by the `alpha` argument, "
            "`(1 - alpha) * label_term + alpha * teacher_term`, not a fixed 1/2.")),
    ),
    mistakes=(
        Mistake("soft_targets_in_hard",
                "With temperature=None DeiT's distillation is *hard*: the target is the teacher's label, "
                "`teacher_logits.argmax(dim=-1)`, not its probabilities `softmax(teacher_logits)`.",
                _loss_with(hard_term=lambda s, t: F.cross_entropy(s, F.softmax(t.detach(), dim=-1)))),
        Mistake("logits_as_targets",
                "`F.cross_entropy(distillation_logits, teacher_logits)` reads the teacher's raw logits as "
                "probabilities. The hard target is the teacher's label: `teacher_logits.argmax(dim=-1)`.",
                _loss_with(hard_term=lambda s, t: F.cross_entropy(s, t.detach()))),
        Mistake("unweighted",
                "The two terms are added unweighted. Weight them: `(1 - alpha) * label_term + alpha * teacher_term` "
                "(DeiT's hard distillation: 1/2 and 1/2).",
                _loss_with(combine=lambda label_term, teacher_term, alpha: label_term + teacher_term)),
        Mistake("alpha_swapped",
                "The weights are swapped: `alpha` weighs the *teacher's* term, `1 - alpha` the labels' "
                "(`(1 - alpha) * label_term + alpha * teacher_term`).",
                _loss_with(combine=lambda label_term, teacher_term, alpha: alpha * label_term + (1 - alpha) * teacher_term)),
        Mistake("heads_swapped",
                "The heads are swapped: the CLS head (`cls_logits`) learns the true labels, the distillation "
                "head (`distillation_logits`) the teacher.",
                _loss_with(heads_swapped=True)),
        Mistake("temperature_on_student_only", TEMPERATURE_ONE_SIDE_HINT,
                _loss_with(soft_term=lambda s, t, tau: tau ** 2 * F.kl_div(
                    F.log_softmax(s / tau, dim=-1), F.log_softmax(t.detach(), dim=-1),
                    reduction="batchmean", log_target=True))),
        Mistake("temperature_on_teacher_only", TEMPERATURE_ONE_SIDE_HINT,
                _loss_with(soft_term=lambda s, t, tau: tau ** 2 * F.kl_div(
                    F.log_softmax(s, dim=-1), F.log_softmax(t.detach() / tau, dim=-1),
                    reduction="batchmean", log_target=True))),
        Mistake("temperature_not_squared",
                "Multiply the KL by `temperature**2`: softening divides the gradients by T^2, and the factor "
                "keeps the soft term as strong as the label term whatever T is (Hinton et al., 2015).",
                _loss_with(soft_term=lambda s, t, tau: distill.soft_distillation_term(s, t, tau) / tau ** 2)),
        Mistake("kl_swapped",
                "The KL's arguments are swapped: `F.kl_div(input, target)` computes KL(target || input), with "
                "`input` the *student's* log-probabilities and `target` the teacher's.",
                _loss_with(soft_term=lambda s, t, tau: tau ** 2 * F.kl_div(
                    F.log_softmax(t.detach() / tau, dim=-1), F.log_softmax(s / tau, dim=-1),
                    reduction="batchmean", log_target=True))),
        Mistake("kl_input_probabilities",
                "`F.kl_div` expects its first argument as *log*-probabilities: `F.log_softmax(distillation_logits / T, "
                "dim=-1)`, not `softmax(...)`.",
                _loss_with(soft_term=lambda s, t, tau: tau ** 2 * F.kl_div(
                    F.softmax(s / tau, dim=-1), F.softmax(t.detach() / tau, dim=-1), reduction="batchmean"))),
        Mistake("kl_mean_over_classes",
                "`reduction='mean'` divides by B*K, the classes too: that is not the KL. Use "
                "`reduction='batchmean'` (sum over classes, mean over the batch).",
                _loss_with(soft_term=_kl("mean"))),
        Mistake("kl_summed",
                "`reduction='sum'` adds the KL of every image: the loss grows with the batch. Use "
                "`reduction='batchmean'`, the mean over the batch.",
                _loss_with(soft_term=_kl("sum"))),
        Mistake("soft_cross_entropy",
                "Cross-entropy with the teacher's probabilities is the KL *plus the teacher's entropy*: the same "
                "gradients, but not the loss asked for. Use the KL: `F.kl_div(..., reduction='batchmean', "
                "log_target=True)`.",
                _loss_with(soft_term=lambda s, t, tau: tau ** 2 * F.cross_entropy(
                    s / tau, F.softmax(t.detach() / tau, dim=-1)))),
        Mistake("teacher_not_detached",
                "A gradient reaches the teacher's logits: the teacher is a fixed target, not trained here. "
                "`teacher_logits = teacher_logits.detach()` first.",
                _loss_with(soft_term=lambda s, t, tau: tau ** 2 * F.kl_div(
                    F.log_softmax(s / tau, dim=-1), F.log_softmax(t / tau, dim=-1),
                    reduction="batchmean", log_target=True))),
    ),
)

EXERCISES = {e.name: e for e in (DISTILLATION_LOSS,)}
