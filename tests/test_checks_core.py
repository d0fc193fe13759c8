"""The check framework itself, on a toy exercise: gradients, in-place edits, mistake matching."""

import torch

from vitlearn.checks.core import Case, Exercise, Mistake, run_case


def _scale(x, w):
    """(B, D) * (D,) -> (B, D)."""
    return x * w


def _cases():
    g = torch.Generator().manual_seed(0)
    return [Case("x (3, 4), w (4,)", (torch.randn(3, 4, generator=g, dtype=torch.float64),
                                      torch.randn(4, generator=g, dtype=torch.float64)))]


DETACHED = Mistake("detached_w", "you detached w", lambda x, w: x * w.detach())
SCALE = Exercise("scale", "scale(x, w)", _scale, _cases, (DETACHED,), grad_args=(1,))


def test_a_right_answer_with_gradients_passes():
    assert SCALE.check(lambda x, w: w * x, verbose=False).passed


def test_a_detached_parameter_fails_with_the_catalogued_hint():
    result = SCALE.check(lambda x, w: x * w.detach(), verbose=False)
    assert not result.passed
    assert "no gradient reaches `w`" in result.message and "you detached w" in result.message


def test_a_copy_through_torch_tensor_fails_without_a_catalogue_entry():
    result = SCALE.check(lambda x, w: x * torch.tensor(w.tolist(), dtype=w.dtype), verbose=False)
    assert not result.passed and "no gradient reaches `w`" in result.message


def test_a_wrong_gradient_with_right_values_is_caught():
    class Doubled(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w):
            return w.clone()

        @staticmethod
        def backward(ctx, grad):
            return 2 * grad

    result = SCALE.check(lambda x, w: x * Doubled.apply(w), verbose=False)
    assert "the gradient reaching `w` is wrong" in result.message


def test_in_place_edit_of_a_grad_input_is_feedback():
    def scale(x, w):
        w += 1
        return x * w

    result = SCALE.check(scale, verbose=False)
    assert not result.passed and "changed an input in place" in result.message and "in-place operation" in result.message


def test_in_place_edit_of_a_plain_input_is_named():
    def scale(x, w):
        out = x * w
        x.mul_(0)
        return out

    assert "changed its input in place" in SCALE.check(scale, verbose=False).message


def test_run_case_records_gradients_as_plain_tensors():
    outcome = run_case(_scale, _cases()[0], grad_args=(1,))
    assert type(outcome.grads[0]) is torch.Tensor and not outcome.grads[0].requires_grad
