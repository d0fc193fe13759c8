"""The distillation_loss check (chapter 08): correct alternatives pass, the hints fit."""

import torch
import torch.nn.functional as F

from vitlearn import checks
from vitlearn.checks.distill import DISTILLATION_LOSS


def kl_by_hand(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
    """The KL written out, sum p_t (log p_t - log p_s), and the hard labels through one-hot probabilities."""
    label_term = F.cross_entropy(cls_logits, labels)
    teacher_logits = teacher_logits.detach()
    if temperature is None:
        targets = F.one_hot(teacher_logits.argmax(-1), teacher_logits.shape[-1]).to(cls_logits.dtype)
        teacher_term = F.cross_entropy(distillation_logits, targets)
    else:
        p_teacher = torch.softmax(teacher_logits / temperature, -1)
        log_p_student = torch.log(torch.softmax(distillation_logits / temperature, -1))
        teacher_term = temperature ** 2 * (p_teacher * (p_teacher.log() - log_p_student)).sum(-1).mean()
    return (1 - alpha) * label_term + alpha * teacher_term


def kl_div_on_probabilities(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
    """F.kl_div with the teacher as probabilities (log_target=False), nll_loss for the hard term."""
    label_term = F.nll_loss(F.log_softmax(cls_logits, dim=1), labels)
    with torch.no_grad():
        target = teacher_logits.argmax(1) if temperature is None else F.softmax(teacher_logits / temperature, dim=1)
    if temperature is None:
        return (1 - alpha) * label_term + alpha * F.nll_loss(F.log_softmax(distillation_logits, dim=1), target)
    kl = F.kl_div(F.log_softmax(distillation_logits / temperature, dim=1), target, reduction="batchmean")
    return (1 - alpha) * label_term + alpha * kl * temperature * temperature


def loop_over_the_batch(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
    """One image at a time, einsum for the KL's sum over classes."""
    total = 0
    for c, d, y, t in zip(cls_logits, distillation_logits, labels, teacher_logits.detach()):
        label_term = -torch.log_softmax(c, 0)[y]
        if temperature is None:
            teacher_term = -torch.log_softmax(d, 0)[t.argmax()]
        else:
            log_p, log_q = torch.log_softmax(t / temperature, 0), torch.log_softmax(d / temperature, 0)
            teacher_term = temperature ** 2 * torch.einsum("k,k->", log_p.exp(), log_p - log_q)
        total = total + (1 - alpha) * label_term + alpha * teacher_term
    return total / len(labels)


def test_correct_alternatives_pass():
    for fn in (kl_by_hand, kl_div_on_probabilities, loop_over_the_batch):
        assert checks.distillation_loss(fn, verbose=False).passed, fn.__name__


def test_cases_mix_hard_and_soft_alphas_and_a_teacher_that_is_wrong():
    cases = DISTILLATION_LOSS.make_cases()
    assert {c.traits["kind"] for c in cases} == {"hard", "soft"}
    assert len({c.args[4] for c in cases}) >= 3 and {c.args[5] for c in cases} - {None, 1.0}
    for case in cases:
        _, _, labels, teacher_logits, _, _ = case.args
        assert (teacher_logits.argmax(-1) != labels).any(), case.label  # the two heads' targets differ


def test_a_float32_loss_of_float64_logits_is_rejected(capsys):
    result = checks.distillation_loss(lambda c, d, y, t, a=0.5, tau=None: kl_by_hand(c.float(), d.float(), y, t.float(),
                                                                                     a, tau))
    assert not result.passed and "dtype" in capsys.readouterr().out


def test_a_loss_that_ignores_the_temperature_is_told_the_soft_term_is_wrong():
    def always_hard(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
        return kl_by_hand(cls_logits, distillation_logits, labels, teacher_logits, alpha, None)

    result = checks.distillation_loss(always_hard, verbose=False)
    assert not result.passed and "Only the hard cases" in result.shown.hint


def test_a_fixed_half_is_told_to_use_alpha():
    def fixed_half(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
        return kl_by_hand(cls_logits, distillation_logits, labels, teacher_logits, 0.5, temperature)

    result = checks.distillation_loss(fixed_half, verbose=False)
    assert not result.passed and "alpha" in result.shown.hint


def test_a_teacher_left_in_the_graph_is_told_to_detach(capsys):
    def not_detached(cls_logits, distillation_logits, labels, teacher_logits, alpha=0.5, temperature=None):
        if temperature is None:
            return kl_by_hand(cls_logits, distillation_logits, labels, teacher_logits, alpha)
        kl = F.kl_div(F.log_softmax(distillation_logits / temperature, -1), F.softmax(teacher_logits / temperature, -1),
                      reduction="batchmean")
        return (1 - alpha) * F.cross_entropy(cls_logits, labels) + alpha * temperature ** 2 * kl

    result = checks.distillation_loss(not_detached)
    out = capsys.readouterr().out
    assert not result.passed and "a gradient reaches `teacher_logits`" in out and ".detach()" in out
