"""Every check of the course, against its own mistake catalogue and against generic stubs.

The per-chapter files (test_checks_<module>.py) prove each check accepts correct alternatives and
test the hints specific to it; this file holds what must be true of every exercise, so an exercise
added later is covered the moment it is registered in ``vitlearn.checks.EXERCISES``.
"""

import pytest
import torch

from vitlearn.checks import EXERCISES
from vitlearn.checks.core import run_case

MISTAKES = [(name, m) for name, e in EXERCISES.items() for m in e.mistakes]


@pytest.mark.parametrize("name, mistake", MISTAKES, ids=[f"{n}-{m.name}" for n, m in MISTAKES])
def test_catalogued_mistake_is_rejected_with_its_hint(name, mistake, capsys):
    result = EXERCISES[name].check(mistake.answer)
    assert not result.passed and not result and result.score < 1.0
    assert result.shown.hint == mistake.hint
    out = capsys.readouterr()
    assert mistake.hint in out.out and out.err == ""


@pytest.mark.parametrize("name", EXERCISES)
def test_every_exercise_has_a_catalogue_of_distinct_hints(name):
    mistakes = EXERCISES[name].mistakes
    assert len(mistakes) >= 6
    assert len({m.name for m in mistakes}) == len(mistakes)


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_passes_its_own_check(name):
    assert EXERCISES[name].check(EXERCISES[name].reference, verbose=False).passed


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


def _raises(*args):
    raise NotImplementedError()


def _zeros_like_reference(name):
    exercise = EXERCISES[name]

    def answer(*args):
        return torch.zeros_like(exercise.reference(*args)).detach()

    return answer


STUBS = {
    "always-equal object": lambda name: (lambda *args: AlwaysEqual()),
    "not implemented": lambda name: _raises,
    "returns its first argument": lambda name: (lambda *args: args[0]),
    "zeros of the right shape": _zeros_like_reference,
}


@pytest.mark.parametrize("stub", STUBS)
@pytest.mark.parametrize("name", EXERCISES)
def test_stubs_score_zero_and_never_crash_the_check(name, stub, capsys):
    result = EXERCISES[name].check(STUBS[stub](name))
    assert result.score == 0.0 and not result
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("name", EXERCISES)
def test_cases_use_batches_and_both_float_dtypes(name):
    cases = EXERCISES[name].make_cases()
    assert len(cases) >= 3
    tensors = [a for c in cases for a in c.args if isinstance(a, torch.Tensor)]
    if tensors:
        assert {a.dtype for a in tensors if a.is_floating_point()} == {torch.float32, torch.float64}
    else:  # the inputs are sizes (causal_mask's T): every case asks for another one
        assert len({c.args for c in cases}) == len(cases)
    for case in cases:  # the reference itself runs cleanly on every case
        assert run_case(EXERCISES[name].reference, case, EXERCISES[name].grad_args).error is None
