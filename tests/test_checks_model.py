"""The chapter 06 checks: right answers pass, catalogued mistakes get their hints."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from vitlearn import checks
from vitlearn.checks.model import EXERCISES

ALTERNATIVES = {
    "cls_token_output": [
        lambda x: x[:, 0, :],
        lambda x: x.select(1, 0),
        lambda x: rearrange(x, "b t d -> t b d")[0],
        lambda x: x.narrow(1, 0, 1).squeeze(1),
    ],
    "classification_loss": [
        lambda logits, labels: nn.CrossEntropyLoss()(logits, labels),
        lambda logits, labels: -F.log_softmax(logits, -1).gather(1, labels[:, None]).mean(),
        lambda logits, labels: (torch.logsumexp(logits, -1) - logits[torch.arange(len(labels)), labels]).mean(),
        lambda logits, labels: F.nll_loss(F.log_softmax(logits, dim=-1), labels),
        lambda logits, labels: F.cross_entropy(logits, F.one_hot(labels, logits.shape[1]).to(logits.dtype)),
    ],
}


@pytest.mark.parametrize("name, answer", [(n, a) for n, alts in ALTERNATIVES.items() for a in alts])
def test_correct_alternatives_pass(name, answer, capsys):
    assert getattr(checks, name)(answer).passed
    assert capsys.readouterr().err == ""


def test_each_check_has_enough_alternatives_and_mistakes():
    for name, exercise in EXERCISES.items():
        assert len(ALTERNATIVES[name]) >= 3 and len(exercise.mistakes) >= 6


def test_a_constant_loss_with_a_fake_gradient_path_fails():
    def classification_loss(logits, labels):
        return 0 * logits.sum() + F.cross_entropy(logits.detach(), labels)  # right value, no real gradient

    result = checks.classification_loss(classification_loss, verbose=False)
    assert not result.passed and "gradient reaching `logits` is wrong" in result.message


def test_cases_cannot_hide_an_axis_mistake():
    shapes = [case.args[0].shape for case in EXERCISES["cls_token_output"].make_cases()]
    assert all(len(set(shape)) == 3 for shape in shapes)  # B, T and D all differ
    assert sum(b > 1 for b, _, _ in shapes) >= 3 and any(b == 1 for b, _, _ in shapes)  # and one batch of one
