"""The chapter 05 (and chapter 00 causal_mask) checks accept every correct answer and reject wrong ones
with the right hint."""

import math

import einops
import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from vitlearn.checks.attention import EXERCISES

# ---- correct alternatives: each must be accepted ----------------------------------------------------


def sdpa_pytorch(q, k, v, mask):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def sdpa_matmul(q, k, v, mask):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask == 0, -1e9)  # a large negative number instead of -inf
    return torch.matmul(F.softmax(scores, dim=-1), v)


def sdpa_einsum(q, k, v, mask):
    scores = torch.einsum("bhtd,bhsd->bhts", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, float("-inf"))
    return torch.einsum("bhts,bhsd->bhtd", scores.softmax(dim=3), v)


def sdpa_einops_permute(q, k, v, mask):
    scores = einops.einsum(q / q.shape[-1] ** 0.5, k, "b h t d, b h s d -> b h t s")  # scale q first
    if mask is not None:  # an additive mask: 0 where allowed, -inf where blocked
        scores = scores + torch.zeros(mask.shape, dtype=q.dtype).masked_fill(mask.logical_not(), -math.inf)
    return scores.softmax(-1) @ v


def sdpa_permute(q, k, v, mask):
    weights = torch.softmax(q @ k.permute(0, 1, 3, 2) / math.sqrt(k.shape[3]) + (
        0 if mask is None else torch.log(mask.to(q.dtype))), dim=-1)  # log 0 = -inf, log 1 = 0
    return weights @ v


def split_einops(x, num_heads):
    return rearrange(x, "b t (h d) -> b h t d", h=num_heads)


def split_view_transpose(x, num_heads):
    b, t, d = x.shape
    return x.view(b, t, num_heads, d // num_heads).transpose(1, 2)


def split_unflatten_permute(x, num_heads):
    return x.unflatten(-1, (num_heads, -1)).permute(0, 2, 1, 3)


def split_chunk_stack(x, num_heads):
    return torch.stack(x.chunk(num_heads, dim=-1), dim=1)


def merge_einops(x):
    return rearrange(x, "b h t d -> b t (h d)")


def merge_transpose_reshape(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).contiguous().view(b, t, h * d)


def merge_permute_flatten(x):
    return x.permute(0, 2, 1, 3).flatten(2)


def merge_cat_heads(x):
    return torch.cat(x.unbind(1), dim=-1)


def causal_tril(t):
    return torch.ones(t, t, dtype=torch.bool).tril()


def causal_arange(t):
    return torch.arange(t)[:, None] >= torch.arange(t)  # query position >= key position


def causal_not_future(t):
    return ~torch.ones(t, t).triu(1).bool()  # not strictly above the diagonal


def causal_float_then_bool(t):
    return torch.tril(torch.ones(t, t)) == 1


ALTERNATIVES = {
    "causal_mask": [causal_tril, causal_arange, causal_not_future, causal_float_then_bool],
    "scaled_dot_product_attention": [sdpa_pytorch, sdpa_matmul, sdpa_einsum, sdpa_einops_permute, sdpa_permute],
    "split_heads": [split_einops, split_view_transpose, split_unflatten_permute, split_chunk_stack],
    "merge_heads": [merge_einops, merge_transpose_reshape, merge_permute_flatten, merge_cat_heads],
}


@pytest.mark.parametrize("name, answer", [(n, a) for n, alts in ALTERNATIVES.items() for a in alts],
                         ids=lambda x: getattr(x, "__name__", x))
def test_correct_alternatives_pass(name, answer, capsys):
    result = EXERCISES[name].check(answer)
    assert result.passed and result.score == 1.0, result.message
    out = capsys.readouterr()
    assert "all" in out.out and out.err == ""


def test_at_least_three_alternatives_and_six_mistakes():
    for name, exercise in EXERCISES.items():
        assert len(ALTERNATIVES[name]) >= 3
        assert len(exercise.mistakes) >= 6


# ---- hints (each catalogued mistake is rejected with its hint: test_checks_catalogue.py) -----------

def test_hints_are_distinct_within_each_check():
    for exercise in EXERCISES.values():
        hints = [m.hint for m in exercise.mistakes]
        assert len(set(hints)) == len(hints)


def test_hints_name_the_classic_mistakes():
    hints = {(n, m.name): m.hint for n, e in EXERCISES.items() for m in e.mistakes}
    sdpa = "scaled_dot_product_attention"
    assert "dim=-1" in hints[sdpa, "softmax_over_queries"] and "dim=-2" in hints[sdpa, "softmax_over_queries"]
    assert "sqrt(d)" in hints[sdpa, "missing_scale"]
    assert "head width" in hints[sdpa, "sqrt_of_model_width"]
    assert "k.transpose(-2, -1)" in hints[sdpa, "k_not_transposed"]
    assert "inverted" in hints[sdpa, "mask_inverted"]
    assert "-inf" in hints[sdpa, "masked_with_zero"]
    assert "`.transpose(1, 2)`" in hints["split_heads", "reshape_without_transpose"]
    assert "(h, d)" in hints["split_heads", "heads_from_the_wrong_end"]


def test_causal_mask_hints_name_the_conventions():
    hints = {m.name: m.hint for m in EXERCISES["causal_mask"].mistakes}
    assert "nn.MultiheadAttention" in hints["inverted"] and "True = may attend" in hints["inverted"]
    for name in ("additive_float_mask", "additive_float_mask_wrong_sign", "numbers_instead_of_bools"):
        assert "return a bool mask, true = may attend" in hints[name].lower()
    assert "tril(diagonal=-1)" in hints["diagonal_excluded"] and "LOWER" in hints["upper_triangle"]


def test_causal_mask_rejects_the_equivalent_additive_mask_by_its_dtype():
    def causal_mask(t):  # what F.scaled_dot_product_attention would accept too, but not the contract
        return torch.zeros(t, t).masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))

    result = EXERCISES["causal_mask"].check(causal_mask, verbose=False)
    assert result.score == 0.0
    assert "output dtype torch.float32, expected torch.bool" in result.message
    assert "Return a bool mask, True = may attend" in result.message


def test_causal_cases_include_one_token_and_several_lengths():
    lengths = [case.args[0] for case in EXERCISES["causal_mask"].make_cases()]
    assert 1 in lengths and len(set(lengths)) >= 3 and lengths[0] > 1


def test_a_learner_who_leaves_out_softmaxs_dim_is_told_so(capsys):
    def scaled_dot_product_attention(q, k, v, mask):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return F.softmax(scores) @ v  # implicit dim: 1 for 4-D input, with a warning

    result = EXERCISES["scaled_dot_product_attention"].check(scaled_dot_product_attention)
    out = capsys.readouterr()
    assert not result and "leave out `dim`" in out.out and out.err == ""
    assert "Implicit dimension choice for softmax" in out.out  # the learner's warning, reported on stdout


def test_a_learner_using_the_models_width_is_told_to_use_the_head_width():
    def scaled_dot_product_attention(q, k, v, mask):
        width = q.shape[1] * q.shape[3]
        scores = q @ k.transpose(-2, -1) / math.sqrt(width)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return scores.softmax(-1) @ v

    result = EXERCISES["scaled_dot_product_attention"].check(scaled_dot_product_attention, verbose=False)
    assert "the head width" in result.message


def test_gradients_must_reach_q_k_and_v():
    def scaled_dot_product_attention(q, k, v, mask):
        return sdpa_matmul(q, k.detach(), v, mask)

    result = EXERCISES["scaled_dot_product_attention"].check(scaled_dot_product_attention, verbose=False)
    assert not result and "no gradient reaches `k`" in result.message


# ---- stubs: test_checks_catalogue.py (zeros, the input, an always-equal object); and returning v --------

def test_returning_the_values_fails_every_case():
    result = EXERCISES["scaled_dot_product_attention"].check(lambda q, k, v, mask: v, verbose=False)
    assert result.score == 0.0


# ---- the cases cover what chapter 05 needs ---------------------------------------------------------

def test_sdpa_cases_cover_batches_heads_cross_attention_masks_and_dtypes():
    cases = EXERCISES["scaled_dot_product_attention"].make_cases()
    qs = [c.args[0] for c in cases]
    ks = [c.args[1] for c in cases]
    masks = [c.args[3] for c in cases]
    assert any(q.shape[0] > 1 for q in qs) and all(q.shape[1] > 1 for q in qs)
    assert all(q.shape[2] != q.shape[3] for q in qs)  # T != d
    assert all(q.shape[1] != q.shape[3] for q in qs)  # h != d: 1/sqrt(h*d) never equals 1/d
    assert any(k.shape[2] != q.shape[2] for q, k in zip(qs, ks))  # cross-attention
    assert None in masks and any(m is not None and m.ndim == 2 for m in masks)  # causal (T, S)
    assert any(m is not None and m.ndim == 4 for m in masks)  # padding (B, 1, 1, S)
    assert {q.dtype for q in qs} == {torch.float32, torch.float64}
    for q, k, m in zip(qs, ks, masks):  # every query can attend somewhere, with the mask and inverted
        if m is not None:
            full = m.expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
            assert full.any(-1).all() and (m.ndim == 2 or (~full).any(-1).all())


def test_head_cases_keep_tokens_heads_and_width_apart():
    for case in EXERCISES["split_heads"].make_cases():
        x, h = case.args
        b, t, width = x.shape
        assert t != width // h and t != h and h > 1
    assert any(c.args[0].shape[0] > 1 for c in EXERCISES["merge_heads"].make_cases())
    for name in ("split_heads", "merge_heads"):
        assert {c.args[0].dtype for c in EXERCISES[name].make_cases()} == {torch.float32, torch.float64}
