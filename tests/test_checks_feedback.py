"""Feedback that holds for the learner's own code: catalogue replay, translated errors, patterns, values.

Each test is one answer written the way a learner would write it, with what its feedback must say and
must not say (a hint that is not true of the learner's code is worse than none).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from vitlearn import checks
from vitlearn.checks import EXERCISES
from vitlearn.checks.core import Case, Exercise, Mistake, Pattern
from vitlearn.checks.feedback import GENERIC_PATTERNS, translate


def _unfold(image, patch_size):
    return F.unfold(image, patch_size, stride=patch_size).transpose(-1, -2)  # (B, N, C*P*P)


def _feedback(name, fn):
    result = EXERCISES[name].check(fn, verbose=False)
    assert not result.passed
    return result.message


def test_a_dtype_problem_gets_the_dtype_hint_and_no_value_hint():
    def image2emb_naive(image, patch_size, weight):
        return _unfold(image.float(), patch_size) @ weight.float()

    message = _feedback("image2emb_naive", image2emb_naive)
    assert "dtype torch.float32, expected torch.float64" in message and "`.float()`" in message
    assert "channel" not in message.split("Hint:")[1]


def test_a_forgotten_none_check_is_told_by_the_pattern_of_cases_not_by_a_chapter_01_sentence():
    def scaled_dot_product_attention(q, k, v, mask=None):
        scores = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).masked_fill(~mask, float("-inf"))
        return scores.softmax(-1) @ v

    message = _feedback("scaled_dot_product_attention", scaled_dot_product_attention)
    assert "if mask is not None" in message and "image.shape" not in message
    assert "PyTorch said: TypeError: bad operand type for unary ~: 'NoneType'" in message


def test_a_numpy_round_trip_loses_the_gradient_of_the_trained_weight():
    def image2emb_naive(image, patch_size, weight):
        patches = _unfold(image, patch_size).detach().numpy()
        return torch.from_numpy(patches @ weight.detach().numpy())

    message = _feedback("image2emb_naive", image2emb_naive)
    assert "no gradient reaches `weight`" in message and ".numpy()" in message


def test_softmax_in_float32_is_named_as_float32_rounding():
    def scaled_dot_product_attention(q, k, v, mask=None):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.float().softmax(-1).to(q.dtype) @ v

    message = _feedback("scaled_dot_product_attention", scaled_dot_product_attention)
    assert "float32's rounding error" in message


@pytest.mark.parametrize("name, answer, words", [
    ("scaled_dot_product_attention",
     "def f(q, k, v, mask=None):\n    q /= math.sqrt(q.shape[-1])\n    return (q @ k.transpose(-2, -1)).softmax(-1) @ v\n",
     ["changed an input in place", "q = q / math.sqrt(d)", "PyTorch said: RuntimeError: a leaf Variable"]),
    ("split_heads", "def f(x, num_heads):\n    B, T, D = x.shape\n    return x.reshape(B, T, num_heads, D / num_heads)"
                    ".transpose(1, 2)\n", ["`D // h`"]),
    ("merge_heads", "def f(x):\n    B, h, T, d = x.shape\n    return x.transpose(1, 2).view(B, T, h * d)\n",
     ["use `.reshape(...)`"]),
    ("image2emb_naive", "def f(image, patch_size, weight):\n    return F.linear(F.unfold(image, patch_size, "
                        "stride=patch_size).transpose(-1, -2), weight)\n", ["computes `x @ w.T`"]),
    ("classification_loss", "def f(logits, labels):\n    return -(F.one_hot(labels) * logits.log_softmax(-1))"
                            ".sum(-1).mean()\n", ["num_classes"]),
    ("prepend_cls", "def f(patch_embedding, cls_token):\n    return torch.cat([cls_token, patch_embedding], dim=1)\n",
     ["same number of dims", "expand(B, 1, D)"]),
    ("merge_heads", "def f(x):\n    return x.transpose(1, 2).flatten(2), x\n", ["returned a tuple"]),
])
def test_known_pytorch_errors_are_translated_and_keep_pytorch_s_line(name, answer, words, tmp_path):
    import linecache

    filename = str(tmp_path / "cell.py")
    linecache.cache[filename] = (len(answer), None, answer.splitlines(True), filename)  # as IPython does
    namespace = {"torch": torch, "F": F, "math": math}
    exec(compile(answer, filename, "exec"), namespace)  # noqa: S102 - an answer as a notebook cell runs it
    message = _feedback(name, namespace["f"])
    for word in words:
        assert word in message


def test_not_attempted_reads_as_not_attempted():
    def image2emb_naive(image, patch_size, weight):
        raise NotImplementedError()

    message = _feedback("image2emb_naive", image2emb_naive)
    assert "not attempted yet: replace `raise NotImplementedError()` with your code" in message
    assert "NotImplementedError: \n" not in message + "\n"


def test_only_one_channel_passing_names_the_channel_order():
    def image2emb_naive(image, patch_size, weight):  # channel-last inside a patch, written with loops
        b, c, h, w = image.shape
        rows = []
        for i in range(0, h, patch_size):
            for j in range(0, w, patch_size):
                rows.append(image[:, :, i:i + patch_size, j:j + patch_size].permute(0, 2, 3, 1).reshape(b, -1))
        return torch.stack(rows, dim=1) @ weight

    message = _feedback("image2emb_naive", image2emb_naive)
    assert "Only the 1-channel cases pass" in message or "channel-last" in message


def test_a_squeeze_that_drops_a_batch_of_one_is_named():
    def cls_token_output(encoder_output):
        return encoder_output[:, :1].squeeze()

    assert "batch of one image fail" in _feedback("cls_token_output", cls_token_output)


def test_a_constant_factor_is_named_from_the_case_sizes():
    def classification_loss(logits, labels):
        return F.cross_entropy(logits, labels) * labels.shape[0] / 2

    assert "reference times" in _feedback("classification_loss", classification_loss)

    def image2emb_naive(image, patch_size, weight):
        return _unfold(image, patch_size) @ weight / math.sqrt(weight.shape[1])

    assert "= 1/sqrt(D)" in _feedback("image2emb_naive", image2emb_naive)


def test_a_hard_coded_mask_size_or_residual_is_named_by_the_cases():
    def attention_rollout(attentions, residual=0.5):
        rollout = None
        for weights in attentions:
            fused = 0.5 * weights.mean(1) + 0.5 * torch.eye(weights.shape[-1], dtype=weights.dtype)
            rollout = fused if rollout is None else fused @ rollout
        return rollout

    assert "use the `residual` argument" in _feedback("attention_rollout", attention_rollout)


def test_a_demonstration_runs_under_its_own_name_and_says_it_is_wrong_on_purpose():
    def forgot_transpose(image, patch_size, weight):
        return F.unfold(image, patch_size, stride=patch_size) @ weight

    result = checks.image2emb_naive(forgot_transpose, verbose=False, on_purpose=True)
    assert result.message.startswith("❌ forgot_transpose (wrong on purpose, checked as image2emb_naive)")
    assert checks.image2emb_naive(forgot_transpose, verbose=False).message.startswith("❌ image2emb_naive:")


def test_a_demonstration_that_fails_every_case_skips_the_row_of_identical_crosses_a_learner_keeps_them():
    def forgot_transpose(image, patch_size, weight):
        return F.unfold(image, patch_size, stride=patch_size) @ weight

    def case_rows(message):
        return [line for line in message.splitlines() if line.startswith("   ❌") or line.startswith("   ✅")]

    demonstration = checks.image2emb_naive(forgot_transpose, verbose=False, on_purpose=True)
    learner = checks.image2emb_naive(forgot_transpose, verbose=False)
    assert case_rows(demonstration.message) == [] and len(case_rows(learner.message)) == len(learner.cases)
    assert "Failing case:" in demonstration.message and "Hint:" in demonstration.message

    def squeezed(image, patch_size, weight):  # right except on a batch of one: the case list is the lesson
        return F.unfold(image, patch_size, stride=patch_size).transpose(-1, -2).squeeze() @ weight

    partly = checks.image2emb_naive(squeezed, verbose=False, on_purpose=True)
    assert 0 < sum(case.passed for case in partly.cases) < len(partly.cases)
    assert len(case_rows(partly.message)) == len(partly.cases)


# ---- the rules themselves, on a toy exercise --------------------------------------------------------


def _toy_cases():
    g = torch.Generator().manual_seed(0)
    return [Case(f"x ({n},), {dtype}", (torch.randn(n, generator=g, dtype=dtype),), traits={"n": n})
            for n, dtype in ((1, torch.float64), (3, torch.float32), (4, torch.float64))]


def test_a_mistake_that_gives_the_reference_s_output_on_a_case_cannot_explain_it():
    doubled_but_not_on_1 = Mistake("doubled", "you doubled", lambda x: 2 * x if x.numel() > 1 else x)
    toy = Exercise("toy", "toy(x)", lambda x: x.clone(), _toy_cases, (doubled_but_not_on_1,))
    result = toy.check(lambda x: x + 1, verbose=False)  # wrong everywhere, and unlike the mistake
    assert "you doubled" not in result.message


def test_two_catalogued_mistakes_that_explain_the_same_cases_name_neither():
    twins = (Mistake("a", "hint a", lambda x: 2 * x), Mistake("b", "hint b", lambda x: x + x))
    toy = Exercise("toy", "toy(x)", lambda x: x.clone(), _toy_cases, twins)
    message = toy.check(lambda x: 2 * x, verbose=False).message
    assert "hint a" not in message and "hint b" not in message


def test_a_mistake_wrong_where_the_learner_is_right_is_not_named():
    wrong_everywhere = Mistake("neg", "you negated", lambda x: -x)
    toy = Exercise("toy", "toy(x)", lambda x: x.clone(), _toy_cases, (wrong_everywhere,))
    message = toy.check(lambda x: -x if x.numel() == 4 else x.clone(), verbose=False).message
    assert "you negated" not in message


def test_patterns_match_exactly_the_cases_they_describe():
    cases, only_n1 = _toy_cases(), Pattern("n", 1, "only n=1", min_cases=1)
    assert only_n1.matches(cases, [True, False, False])
    assert not only_n1.matches(cases, [True, True, False])
    assert Pattern("n", 1, "n=1 fails", fails=True, min_cases=1).matches(cases, [False, True, True])
    assert not Pattern("n", 1, "one odd case is no pattern").matches(cases, [True, False, False])
    assert {p.trait for p in GENERIC_PATTERNS} == {"batch"}


def test_unknown_errors_are_not_translated():
    assert translate("ValueError: my own message") == ""
    assert translate("NotImplementedError: ").startswith("not attempted yet")


def test_the_case_shown_is_one_only_the_named_mistake_explains():
    doubled = Mistake("doubled", "you doubled", lambda x: 2 * x)
    doubled_when_short = Mistake("short", "you doubled short inputs", lambda x: 2 * x if x.numel() < 4 else x + 1)
    toy = Exercise("toy", "toy(x)", lambda x: x.clone(), _toy_cases, (doubled_when_short, doubled))
    result = toy.check(lambda x: 2 * x, verbose=False)
    assert result.shown.hint == "you doubled" and result.shown.label.startswith("x (4,)")
