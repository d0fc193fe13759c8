"""The chapter 01-02 checks accept every correct answer and reject wrong ones with the right hint."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vitlearn import checks
from vitlearn.checks.core import as_plain_tensor
from vitlearn.checks.patches import EXERCISES

# ---- correct alternatives: each must be accepted ----------------------------------------------------


def naive_tensor_unfold(image, patch_size, weight):
    b, c, _, _ = image.shape
    tiles = image.unfold(2, patch_size, patch_size).unfold(3, patch_size, patch_size)  # (B, C, h, w, P, P)
    return tiles.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * patch_size * patch_size) @ weight


def naive_einops(image, patch_size, weight):
    return rearrange(image, "b c (h p1) (w p2) -> b (h w) (c p1 p2)", p1=patch_size, p2=patch_size) @ weight


def naive_reshape_permute(image, patch_size, weight):
    b, c, h, w = image.shape
    p = patch_size
    grid = image.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # (B, h, w, C, P, P)
    return grid.reshape(b, (h // p) * (w // p), c * p * p) @ weight


def naive_by_conv2d(image, patch_size, weight):
    kernel = weight.T.reshape(-1, image.shape[1], patch_size, patch_size)
    return F.conv2d(image, kernel, stride=patch_size).flatten(2).transpose(1, 2)


def naive_einsum(image, patch_size, weight):
    columns = F.unfold(image, kernel_size=patch_size, stride=patch_size)
    return torch.einsum("bkn,kd->bnd", columns, weight)


def kernel_einops(weight, in_channels, patch_size):
    return rearrange(weight, "(c p1 p2) d -> d c p1 p2", c=in_channels, p1=patch_size)


def kernel_view_of_transpose(weight, in_channels, patch_size):
    return weight.T.view(-1, in_channels, patch_size, patch_size)  # splitting one dim keeps a view valid


def kernel_permute(weight, in_channels, patch_size):
    return weight.reshape(in_channels, patch_size, patch_size, -1).permute(3, 0, 1, 2)


def kernel_unflatten(weight, in_channels, patch_size):
    return weight.t().contiguous().unflatten(1, (in_channels, patch_size, patch_size))


def conv_permute_reshape(image, kernel, stride):
    out = F.conv2d(image, kernel, stride=stride)  # (B, D, h, w)
    return out.permute(0, 2, 3, 1).reshape(out.shape[0], -1, out.shape[1])


def conv_einops(image, kernel, stride):
    return rearrange(F.conv2d(image, kernel, stride=stride), "b d h w -> b (h w) d")


def conv_module(image, kernel, stride):
    conv = torch.nn.Conv2d(kernel.shape[1], kernel.shape[0], kernel.shape[-1], stride=stride, bias=False,
                           dtype=image.dtype)
    feature_map = torch.func.functional_call(conv, {"weight": kernel}, (image,))  # the kernel stays in the graph
    return feature_map.flatten(2).transpose(1, 2)


def conv_via_unfold(image, kernel, stride):
    columns = F.unfold(image, kernel_size=kernel.shape[-1], stride=stride)  # (B, C*P*P, N)
    return columns.transpose(1, 2) @ kernel.flatten(1).T


ALTERNATIVES = {
    "image2emb_naive": [naive_tensor_unfold, naive_einops, naive_reshape_permute, naive_by_conv2d, naive_einsum],
    "weight_to_kernel": [kernel_einops, kernel_view_of_transpose, kernel_permute, kernel_unflatten],
    "image2emb_conv": [conv_permute_reshape, conv_einops, conv_module, conv_via_unfold],
}


@pytest.mark.parametrize("name, answer", [(n, a) for n, alts in ALTERNATIVES.items() for a in alts],
                         ids=lambda x: getattr(x, "__name__", x))
def test_correct_alternatives_pass(name, answer, capsys):
    result = getattr(checks, name)(answer)
    assert result.passed and result and result.score == 1.0
    out = capsys.readouterr()
    assert out.out.startswith(f"✅ {name}: all") and out.err == ""


def test_every_check_has_at_least_three_alternatives_and_six_mistakes():
    for name, exercise in EXERCISES.items():
        assert len(ALTERNATIVES[name]) >= 3
        assert len(exercise.mistakes) >= 6


# ---- hints (each catalogued mistake is rejected with its hint: test_checks_catalogue.py) -----------

def test_hints_name_the_classic_mistakes():
    hints = {(n, m.name): m.hint for n, e in EXERCISES.items() for m in e.mistakes}
    assert "forget `.transpose(-1, -2)` after `F.unfold`" in hints["image2emb_naive", "forgot_transpose"]
    assert "column-major" in hints["image2emb_naive", "column_major_patches"]
    assert "channel-last" in hints["image2emb_naive", "channel_last_patch"]
    assert "overlap" in hints["image2emb_naive", "overlapping_patches"]
    assert "transpose first" in hints["weight_to_kernel", "reshape_without_transpose"]


def test_a_learner_forgetting_the_transpose_gets_the_transpose_hint(capsys):
    def image2emb_naive(image, patch_size, weight):  # the learner's own spelling of the mistake
        patch = F.unfold(image, kernel_size=patch_size, stride=patch_size)
        return torch.matmul(patch, weight)

    checks.image2emb_naive(image2emb_naive)
    out = capsys.readouterr().out
    assert "❌ image2emb_naive: 0 of 7 cases pass." in out
    assert "did you forget `.transpose(-1, -2)`".lower() in out.lower()


def test_column_major_answer_written_with_permute_gets_the_column_major_hint():
    def image2emb_naive(image, patch_size, weight):
        b, c, h, w = image.shape
        p = patch_size
        grid = image.reshape(b, c, h // p, p, w // p, p).permute(0, 4, 2, 1, 3, 5)  # w before h
        return grid.reshape(b, -1, c * p * p) @ weight

    result = checks.image2emb_naive(image2emb_naive, verbose=False)
    assert "column-major" in result.message


# ---- stubs and hostile answers never pass, and never crash the check ------------------------------

class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


class SneakyTensor(torch.Tensor):
    def __eq__(self, other):
        return True


STUBS = {
    "image2emb_naive": [
        lambda image, p, weight: torch.zeros(image.shape[0], (image.shape[2] // p) * (image.shape[3] // p),
                                             weight.shape[1], dtype=image.dtype),
        lambda image, p, weight: image,
        lambda image, p, weight: AlwaysEqual(),
        lambda image, p, weight: None,
        lambda image, p, weight: (F.unfold(image, p, stride=p).transpose(-1, -2) @ weight).as_subclass(SneakyTensor),
        lambda image, p, weight: (F.unfold(image, p, stride=p).transpose(-1, -2) @ weight).numpy(),
    ],
    "weight_to_kernel": [
        lambda weight, c, p: torch.zeros(weight.shape[1], c, p, p, dtype=weight.dtype),
        lambda weight, c, p: weight,
        lambda weight, c, p: AlwaysEqual(),
    ],
    "image2emb_conv": [
        lambda image, kernel, s: torch.zeros(1),
        lambda image, kernel, s: image,
        lambda image, kernel, s: AlwaysEqual(),
    ],
}


@pytest.mark.parametrize("name, stub", [(n, s) for n, ss in STUBS.items() for s in ss])
def test_stubs_and_fake_tensors_fail(name, stub):
    result = getattr(checks, name)(stub, verbose=False)
    assert not result.passed and result.score == 0.0


def test_always_equal_object_is_reported_as_not_a_tensor():
    result = checks.image2emb_naive(lambda *a: AlwaysEqual(), verbose=False)
    assert "returned AlwaysEqual" in result.message and "expected a torch.Tensor" in result.message


def test_as_plain_tensor_refuses_subclasses_and_accepts_parameters():
    with pytest.raises(TypeError, match="subclass"):
        as_plain_tensor(torch.zeros(2).as_subclass(SneakyTensor))
    assert type(as_plain_tensor(torch.nn.Parameter(torch.zeros(2)))) is torch.Tensor


def test_exceptions_in_learner_code_become_feedback():
    def image2emb_naive(image, patch_size, weight):
        raise NotImplementedError()

    result = checks.image2emb_naive(image2emb_naive, verbose=False)
    assert not result and "not attempted yet: replace `raise NotImplementedError()`" in result.message


def test_hard_coded_post_example_gets_the_hard_coding_hint():
    def image2emb_naive(image, patch_size, weight):
        return F.unfold(image, 4, stride=4).transpose(-1, -2).reshape(1, 4, 48) @ weight

    result = checks.image2emb_naive(image2emb_naive, verbose=False)
    assert result.cases[0].passed and not result.passed
    assert "Only the post's own 1x3x8x8 example passes" in result.message


def test_dtype_conversion_is_named():
    result = checks.image2emb_naive(lambda i, p, w: (naive_einops(i, p, w)).float(), verbose=False)
    assert "dtype torch.float32, expected torch.float64" in result.message


def test_in_place_modification_of_the_input_is_named():
    def image2emb_naive(image, patch_size, weight):
        out = naive_einops(image, patch_size, weight)
        image.zero_()
        return out

    message = checks.image2emb_naive(image2emb_naive, verbose=False).message
    assert "changed an input in place" in message and "PyTorch said: RuntimeError: a leaf Variable" in message


def test_a_module_whose_weight_is_copied_in_gets_no_gradient_and_is_told_so():
    def image2emb_conv(image, kernel, stride):
        conv = torch.nn.Conv2d(kernel.shape[1], kernel.shape[0], kernel.shape[-1], stride=stride, bias=False,
                               dtype=image.dtype)
        conv.weight.data.copy_(kernel)
        return conv(image).flatten(2).transpose(1, 2)

    message = checks.image2emb_conv(image2emb_conv, verbose=False).message
    assert "no gradient reaches `kernel`" in message and "nn.Parameter" in message


def test_a_reordering_nobody_catalogued_still_gets_the_reading_order_hint():
    def image2emb_naive(image, patch_size, weight):
        return naive_einops(image, patch_size, weight).flip(1)  # last patch first

    result = checks.image2emb_naive(image2emb_naive, verbose=False)
    assert "wrong order" in result.message and "reading order" in result.message


def test_learner_warnings_are_reported_not_printed_to_stderr(capsys):
    import warnings

    def image2emb_naive(image, patch_size, weight):
        warnings.warn("careful")
        return naive_einops(image, patch_size, weight)

    result = checks.image2emb_naive(image2emb_naive)
    out = capsys.readouterr()
    assert result.passed and out.err == "" and "UserWarning: careful" in out.out


def test_passing_a_result_instead_of_the_function_is_explained():
    result = checks.image2emb_naive(torch.zeros(3), verbose=False)
    assert not result and "pass the function itself" in result.message


def test_result_reports_partial_credit():
    def image2emb_naive(image, patch_size, weight):
        if image.shape[1] == 3:
            return naive_einops(image, patch_size, weight)
        raise ValueError("only RGB")

    result = checks.image2emb_naive(image2emb_naive, verbose=False)
    assert result.score == pytest.approx(5 / 7) and result.grade(2, "proportional") == 1.43
    assert result.grade(2) == result.grade(2, "all-or-nothing") == 0.0  # the default, as nbgrader
    assert repr(result) == "<CheckResult image2emb_naive: 5/7 cases passed>"


def test_cases_cover_what_the_issue_requires():
    for name, exercise in EXERCISES.items():
        cases = exercise.make_cases()
        labels = " ".join(c.label for c in cases)
        assert "1 channel" in labels or ", 1," in labels
        dtypes = {a.dtype for c in cases for a in c.args if isinstance(a, torch.Tensor)}
        assert dtypes == {torch.float32, torch.float64}
    for case in EXERCISES["image2emb_naive"].make_cases():
        image, p, weight = case.args
        b, c, h, w = image.shape
        n = (h // p) * (w // p)
        assert n != c * p * p and n != weight.shape[1]  # a forgotten transpose cannot pass by accident
    shapes = [c.args[0].shape for c in EXERCISES["image2emb_naive"].make_cases()]
    assert any(s[0] > 1 for s in shapes) and any(s[2] != s[3] for s in shapes)
    assert {s[1] for s in shapes} == {1, 3}
    assert len({c.args[1] for c in EXERCISES["image2emb_naive"].make_cases()}) >= 2


def test_solution_or_reference_keeps_a_right_answer_and_replaces_a_wrong_one(capsys):
    exercise = EXERCISES["image2emb_naive"]
    assert checks.solution_or_reference("image2emb_naive", naive_einops) is naive_einops
    assert capsys.readouterr().out == ""

    def unfinished(image, patch_size, weight):
        raise NotImplementedError()

    assert checks.solution_or_reference("image2emb_naive", unfinished) is exercise.reference
    assert "use vitlearn's reference vitlearn.patches.image2emb_naive" in capsys.readouterr().out


def test_every_exercise_is_a_check_in_vitlearn_checks():
    import vitlearn.checks as all_checks

    assert set(EXERCISES) <= set(all_checks.EXERCISES)
    for name, exercise in all_checks.EXERCISES.items():
        assert getattr(all_checks, name).__self__ is exercise and name in all_checks.__all__
