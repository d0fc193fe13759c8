"""Chapter 05 attention (and chapter 00's causal mask and cross-attention): the written-out references
equal PyTorch's own (float64, to 1e-10)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange

from vitlearn import attention, viz
from vitlearn.attention import (
    MultiHeadAttention,
    MultiHeadSelfAttention,
    attention_weights,
    causal_mask,
    load_into_torch,
    merge_heads,
    split_heads,
)

EXACT = dict(rtol=0, atol=1e-10)


def _qkv(b, h, t, s, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, n, d, generator=g, dtype=torch.float64) for n in (t, s, s))


def _masks(b, t, s):
    """Boolean masks (True = may attend), each leaving every query at least one key."""
    lengths = torch.tensor([s, s - 2, 1][:b])
    return {
        "none": None,
        "causal": torch.ones(t, s, dtype=torch.bool).tril(diagonal=s - t),  # (T, S)
        "padding": (torch.arange(s) < lengths[:, None])[:, None, None, :],  # (B, 1, 1, S)
        "per_head": (torch.rand(b, 2, t, s, generator=torch.Generator().manual_seed(1)) < 0.5)
        | torch.eye(t, s, dtype=torch.bool),  # (B, h, T, S), the diagonal always open
    }


@pytest.mark.parametrize("t, s", [(5, 5), (4, 7)], ids=["self", "cross"])
@pytest.mark.parametrize("kind", ["none", "causal", "padding", "per_head"])
def test_explicit_attention_equals_pytorchs_fused_attention(t, s, kind):
    q, k, v = _qkv(3, 2, t, s, 6)
    mask = _masks(3, t, s)[kind]
    torch.testing.assert_close(attention.scaled_dot_product_attention(q, k, v, mask),
                               F.scaled_dot_product_attention(q, k, v, attn_mask=mask), **EXACT)


def test_masked_keys_get_exactly_zero_weight_and_rows_sum_to_one():
    q, k, _ = _qkv(3, 2, 5, 5, 4)
    for mask in _masks(3, 5, 5).values():
        weights = attention_weights(q, k, mask)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 5, dtype=torch.float64), **EXACT)
        if mask is not None:
            assert (weights[~mask.expand_as(weights)] == 0).all()


def test_causal_mask_hides_the_future():
    q, k, v = _qkv(1, 1, 6, 6, 4)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    out = attention.scaled_dot_product_attention(q, k, v, causal)
    v_changed = v.clone()
    v_changed[..., 3:, :] += 1.0  # change the values of tokens 3, 4, 5
    changed = attention.scaled_dot_product_attention(q, k, v_changed, causal)
    torch.testing.assert_close(out[..., :3, :], changed[..., :3, :], **EXACT)  # earlier tokens cannot see it
    assert not torch.allclose(out[..., 3:, :], changed[..., 3:, :])


def test_fully_masked_row_is_nan_here_and_zero_in_pytorch():
    q, k, v = _qkv(1, 1, 2, 2, 4)
    mask = torch.tensor([[True, False], [False, False]])
    assert attention.scaled_dot_product_attention(q, k, v, mask)[0, 0, 1].isnan().all()
    assert (F.scaled_dot_product_attention(q, k, v, attn_mask=mask)[0, 0, 1] == 0).all()


def test_split_and_merge_heads_invert_each_other_and_match_einops():
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    assert torch.equal(heads, rearrange(x, "b t (h d) -> b h t d", h=3))
    assert torch.equal(heads[:, 1], x[..., 4:8])  # head 1 holds features 4..7 of every token
    assert torch.equal(merge_heads(heads), x)
    assert torch.equal(merge_heads(heads), rearrange(heads, "b h t d -> b t (h d)"))


def _torch_mha(ours: MultiHeadSelfAttention) -> nn.MultiheadAttention:
    bias = ours.q_proj.bias is not None
    mha = nn.MultiheadAttention(ours.dim, ours.num_heads, bias=bias, batch_first=True, dtype=torch.float64)
    return load_into_torch(ours, mha).eval()


@pytest.mark.parametrize("explicit", [False, True], ids=["fused", "explicit"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", ["none", "causal", "padding"])
def test_multi_head_self_attention_equals_nn_multihead_attention(explicit, bias, kind):
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(16, 4, bias=bias, explicit=explicit).double()
    x = torch.randn(3, 5, 16, dtype=torch.float64)
    mask = _masks(3, 5, 5)[kind]
    # nn.MultiheadAttention's boolean masks mean the opposite: True = may NOT attend.
    kwargs = {} if mask is None else (
        dict(key_padding_mask=~mask[:, 0, 0]) if kind == "padding" else dict(attn_mask=~mask))
    expected, _ = _torch_mha(ours)(x, x, x, need_weights=False, **kwargs)
    torch.testing.assert_close(ours(x, mask), expected, **EXACT)


def test_returned_weights_equal_nn_multihead_attentions_per_head_weights():
    torch.manual_seed(0)
    ours = MultiHeadSelfAttention(12, 3).double()
    x = torch.randn(2, 7, 12, dtype=torch.float64)
    out, weights = ours(x, return_attention=True)
    expected_out, expected_weights = _torch_mha(ours)(x, x, x, need_weights=True, average_attn_weights=False)
    assert weights.shape == (2, 3, 7, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 7, dtype=torch.float64), **EXACT)
    torch.testing.assert_close(weights, expected_weights, **EXACT)
    torch.testing.assert_close(out, expected_out, **EXACT)


def test_asking_for_weights_uses_the_explicit_path_for_that_call_only(monkeypatch):
    ours = MultiHeadSelfAttention(8, 2).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    fused_calls = []
    fused = F.scaled_dot_product_attention
    monkeypatch.setattr(attention.F, "scaled_dot_product_attention",
                        lambda *a, **kw: fused_calls.append(1) or fused(*a, **kw))
    ours(x, return_attention=True)
    assert fused_calls == [] and ours.explicit is False
    ours(x)
    assert fused_calls == [1]
    ours.explicit = True
    ours(x)
    assert fused_calls == [1]


def test_gradients_reach_every_projection():
    ours = MultiHeadSelfAttention(8, 2)
    ours(torch.randn(2, 3, 8)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in ours.parameters())


def test_one_wide_heads_of_the_blog_post_have_rank_one_scores():
    """Erratum 9 (post's #7): nhead=8 with width 8 leaves each head 1 feature wide."""
    q, k, _ = _qkv(1, 8, 5, 5, 1)
    scores = (q @ k.transpose(-2, -1))[0]  # (h, T, T)
    assert torch.linalg.matrix_rank(scores).max() == 1
    with pytest.raises(ValueError, match="divisible by num_heads=3"):
        MultiHeadSelfAttention(8, 3)


# ---- chapter 00: the causal mask and cross-attention ----------------------------------------------


@pytest.mark.parametrize("t", [1, 2, 7])
def test_causal_mask_lets_query_t_see_keys_up_to_t(t):
    mask = causal_mask(t)
    assert mask.dtype == torch.bool and mask.shape == (t, t)
    for query in range(t):
        assert mask[query].tolist() == [key <= query for key in range(t)]
    # nn.Transformer's float mask: -inf exactly where ours is False
    assert torch.equal(nn.Transformer.generate_square_subsequent_mask(t) == 0, mask)


def test_causal_mask_is_what_pytorchs_is_causal_flag_applies():
    q, k, v = _qkv(2, 3, 6, 6, 4)
    torch.testing.assert_close(attention.scaled_dot_product_attention(q, k, v, causal_mask(6)),
                               F.scaled_dot_product_attention(q, k, v, is_causal=True), **EXACT)


@pytest.mark.parametrize("explicit", [False, True], ids=["fused", "explicit"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_cross_attention_equals_nn_multihead_attention_with_other_key_length(explicit, masked):
    torch.manual_seed(0)
    ours = MultiHeadAttention(16, 4, explicit=explicit).double()
    x, memory = torch.randn(3, 5, 16, dtype=torch.float64), torch.randn(3, 9, 16, dtype=torch.float64)  # T=5, S=9
    mask = torch.rand(5, 9, generator=torch.Generator().manual_seed(2)) < 0.6 if masked else None  # (T, S)
    if masked:
        mask[:, 0] = True  # every query keeps at least one key
    kwargs = {} if mask is None else dict(attn_mask=~mask)  # PyTorch: True = may NOT attend
    expected, expected_weights = _torch_mha(ours)(x, memory, memory, need_weights=True, average_attn_weights=False,
                                                  **kwargs)
    out = ours(x, memory, mask)
    assert out.shape == (3, 5, 16)
    torch.testing.assert_close(out, expected, **EXACT)
    _, weights = ours(x, memory, mask, return_attention=True)
    assert weights.shape == (3, 4, 5, 9)  # (B, h, T, S)
    torch.testing.assert_close(weights, expected_weights, **EXACT)


def test_without_memory_multi_head_attention_is_self_attention():
    torch.manual_seed(0)
    cross = MultiHeadAttention(8, 2).double()
    self_attention = MultiHeadSelfAttention(8, 2).double()
    self_attention.load_state_dict(cross.state_dict())
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    torch.testing.assert_close(cross(x), self_attention(x), **EXACT)
    torch.testing.assert_close(cross(x, x, causal_mask(4)), self_attention(x, causal_mask(4)), **EXACT)


def test_queries_never_read_each_other_in_cross_attention():
    """Cross-attention without self-attention: each query's output depends only on itself and the memory."""
    ours = MultiHeadAttention(8, 2).double()
    x, memory = torch.randn(1, 4, 8, dtype=torch.float64), torch.randn(1, 6, 8, dtype=torch.float64)
    changed = x.clone()
    changed[0, 3] += 1.0
    moved = (ours(changed, memory) - ours(x, memory)).abs().amax(-1)[0] > 1e-12  # (T,)
    assert moved.tolist() == [False, False, False, True]


# ---- bad input: a clear error naming what was expected -------------------------------------------

Q, K, V = _qkv(2, 3, 5, 5, 4)
MHA = MultiHeadSelfAttention(8, 2)
CROSS = MultiHeadAttention(8, 2)


@pytest.mark.parametrize("call, error, words", [
    (lambda: attention.scaled_dot_product_attention(Q[0], K, V), ValueError, "(B, h, T, d)"),
    (lambda: attention.scaled_dot_product_attention(Q, K[..., :3], V), ValueError, "(2, 3, S, 4)"),
    (lambda: attention.scaled_dot_product_attention(Q, K[:1], V), ValueError, "(2, 3, S, 4)"),
    (lambda: attention.scaled_dot_product_attention(Q, K, V[:, :, :4]), ValueError, "(2, 3, 5, d_v)"),
    (lambda: attention.scaled_dot_product_attention(Q, K, V.float()), TypeError, "share a dtype"),
    (lambda: attention.scaled_dot_product_attention(Q, K, V.numpy()), TypeError, "(B, h, S, d_v)"),
    (lambda: attention.scaled_dot_product_attention(Q, K, V, torch.ones(5, 5)), TypeError, "boolean"),
    (lambda: attention.scaled_dot_product_attention(Q, K, V, torch.ones(4, 5, dtype=torch.bool)), ValueError,
     "broadcastable to (B, h, T, S) = (2, 3, 5, 5)"),
    (lambda: attention_weights(Q, K.float()), TypeError, "share a dtype"),
    (lambda: split_heads(torch.zeros(2, 5, 8), 3), ValueError, "D=8"),
    (lambda: split_heads(torch.zeros(5, 8), 2), ValueError, "(B, T, D)"),
    (lambda: split_heads(torch.zeros(2, 5, 8), 0), ValueError, "positive int"),
    (lambda: merge_heads(torch.zeros(2, 5, 8)), ValueError, "(B, h, T, d)"),
    (lambda: MultiHeadSelfAttention(8, 3), ValueError, "divisible by num_heads=3"),
    (lambda: MHA(torch.zeros(2, 5, 6)), ValueError, "(B, T, 8)"),
    (lambda: MHA(torch.zeros(5, 8)), ValueError, "(B, T, D)"),
    (lambda: MHA(torch.zeros(2, 5, 8), torch.ones(2, 5, 4, dtype=torch.bool)), ValueError, "(2, 2, 5, 5)"),
    (lambda: CROSS(torch.zeros(2, 5, 8), torch.zeros(2, 7, 6)), ValueError, "memory must have shape (B, S, D) = (B, S, 8)"),
    (lambda: CROSS(torch.zeros(2, 5, 8), torch.zeros(3, 7, 8)), ValueError, "one sequence per query sequence"),
    (lambda: CROSS(torch.zeros(2, 5, 8), torch.zeros(2, 7, 8, dtype=torch.float64)), TypeError, "share a dtype"),
    (lambda: CROSS(torch.zeros(2, 5, 8), torch.zeros(2, 7, 8), torch.ones(5, 5, dtype=torch.bool)), ValueError,
     "(2, 2, 5, 7)"),
    (lambda: causal_mask(0), ValueError, "length must be a positive int"),
    (lambda: causal_mask(4.0), ValueError, "length must be a positive int"),
    (lambda: causal_mask(True), ValueError, "length must be a positive int"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


# ---- the figure -------------------------------------------------------------------------------------


@pytest.mark.parametrize("grid, image", [(None, None), ((2, 3), None), ((2, 3), torch.rand(1, 3, 32, 48))],
                         ids=["matrix", "cls-map", "overlay"])
def test_attention_maps_render_one_panel_per_head(grid, image, pixels):
    torch.manual_seed(0)
    _, weights = MultiHeadSelfAttention(12, 3)(torch.randn(1, 7, 12), return_attention=True)  # (1, 3, 7, 7)
    fig = viz.plot_attention_maps(weights[0].detach(), grid=grid, image=image)
    assert len(fig.axes) == 3
    assert pixels(fig)[..., :3].std() > 20


def test_attention_maps_reject_a_grid_that_does_not_fit():
    with pytest.raises(ValueError, match="2x2"):
        viz.plot_attention_maps(torch.rand(3, 7, 7), grid=(2, 2))
