"""Exercises of chapter 05: attention written out, and the split into heads and back; and of
chapter 00: the causal mask.

Every case has more than one head, T different from the head width d (so a forgotten
transpose changes the shape), and the head count different from the head width (so the
scale ``1/sqrt(d)`` cannot be confused with ``1/sqrt(h*d)`` or ``1/d``); cases cover
batch > 1, self- and cross-attention (S != T), no mask, a padding mask and a causal mask,
float32 and float64.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange

from vitlearn import attention
from vitlearn.checks.core import Case, Exercise, Mistake, Pattern, dtype_name


def _padding_mask(b: int, s: int) -> torch.Tensor:
    """``(B, 1, 1, S)``: image ``i`` has its last ``i + 1`` keys padded (True = may attend)."""
    return torch.arange(s) < (s - 1 - torch.arange(b))[:, None, None, None]


def _causal_mask(t: int, s: int) -> torch.Tensor:
    """``(T, S)``: query ``i`` sees keys up to its own position (True = may attend)."""
    return torch.ones(t, s, dtype=torch.bool).tril(diagonal=s - t)


# (batch, heads, queries T, keys S, head width d, mask, dtype). The padding case comes before the
# causal one: an inverted causal mask blocks a whole row (NaN), an inverted padding mask does not.
_SDPA_SHAPES = [
    (2, 3, 5, 5, 4, None, torch.float32),
    (2, 2, 6, 6, 8, "padding", torch.float64),
    (3, 2, 4, 7, 5, None, torch.float64),
    (1, 4, 6, 6, 3, "causal", torch.float64),
    (2, 3, 7, 7, 4, "causal", torch.float32),
    (1, 2, 3, 5, 4, None, torch.float64),
]


def _sdpa_cases() -> list[Case]:
    cases = []
    for seed, (b, h, t, s, d, kind, dtype) in enumerate(_SDPA_SHAPES):
        g = torch.Generator().manual_seed(seed)
        q, k, v = (torch.randn(b, h, n, d, generator=g, dtype=dtype) for n in (t, s, s))
        mask = {None: None, "padding": _padding_mask(b, s), "causal": _causal_mask(t, s)}[kind]
        what = "self-attention" if s == t else "cross-attention"
        masked = f"{kind} mask {tuple(mask.shape)}" if kind else "no mask"
        traits = {"batch": b, "mask": kind or "none", "attention": what, "d": d, "dtype": dtype_name(dtype)}
        cases.append(Case(f"batch {b}, {h} heads, T={t}, S={s}, d={d}, {what}, {masked}, {dtype_name(dtype)}",
                          (q, k, v, mask), traits=traits, sizes={"d": d, "h": h, "h*d": h * d, "T": t, "S": s}))
    return cases


def _scores(q, k, mask=None, fill=float("-inf"), scale=None):
    """``q @ k^T * scale`` with blocked keys set to ``fill``: the shared start of most mistakes."""
    scores = q @ k.transpose(-2, -1) * (q.shape[-1] ** -0.5 if scale is None else scale)  # (B, h, T, S)
    return scores if mask is None else scores.masked_fill(~mask, fill)


def _scaled_by(scale_of):
    """Attention whose scores are multiplied by ``scale_of(q)`` instead of ``1/sqrt(d)``."""
    return lambda q, k, v, mask: _scores(q, k, mask, scale=scale_of(q)).softmax(-1) @ v


def _softmax_over(dim: int):
    return lambda q, k, v, mask: _scores(q, k, mask).softmax(dim) @ v


def _mask_after_softmax(q, k, v, mask):
    weights = _scores(q, k).softmax(-1)  # (B, h, T, S)
    return (weights if mask is None else weights * mask) @ v


def _k_not_transposed(q, k, v, mask):
    scores = q @ k / math.sqrt(q.shape[-1])  # (T, d) @ (S, d): only runs when d == S
    return (scores if mask is None else scores.masked_fill(~mask, float("-inf"))).softmax(-1) @ v


SOFTMAX_DIM_HINT = (
    "Each query's weights must sum to 1 over the keys: softmax over the last dim, "
    "`scores.softmax(dim=-1)`. You normalised over {what}."
)

SCALED_DOT_PRODUCT_ATTENTION = Exercise(
    name="scaled_dot_product_attention",
    signature="scaled_dot_product_attention(q (B, h, T, d), k (B, h, S, d), v (B, h, S, d_v), "
              "mask (bool, True = may attend) or None) -> (B, h, T, d_v)",
    reference=attention.scaled_dot_product_attention,
    make_cases=_sdpa_cases,
    grad_args=(0, 1, 2),
    patterns=(
        Pattern("mask", "none", fails=True, hint=(
            "Only the cases without a mask fail: `mask` is None there, and nothing is to be masked. Mask only "
            "when one is given: `if mask is not None: scores = scores.masked_fill(~mask, float('-inf'))`.")),
        Pattern("mask", "none", hint=(
            "Only the cases without a mask pass: the masking is off. True = may attend, so fill the scores where "
            "the mask is False, before the softmax: `scores.masked_fill(~mask, float('-inf'))`.")),
        Pattern("d", 4, hint=(
            "Only the cases with head width d=4 pass: compute the scale from the input, `1 / math.sqrt(d)` with "
            "`d = q.shape[-1]`, not from a fixed number.")),
        Pattern("attention", "self-attention", hint=(
            "Only self-attention passes (T == S): in cross-attention the keys and values have S rows and the "
            "queries T. Somewhere you used one where the other belongs (the scores are (B, h, T, S)).")),
    ),
    mistakes=(
        Mistake(
            "softmax_over_queries",
            SOFTMAX_DIM_HINT.format(what="the queries (dim=-2), so each *column* sums to 1"),
            _softmax_over(-2),
        ),
        Mistake(
            "softmax_over_heads",
            SOFTMAX_DIM_HINT.format(what="the heads (dim=1), which is also what `F.softmax(scores)` picks "
                                         "when you leave out `dim`"),
            _softmax_over(1),
        ),
        Mistake(
            "missing_scale",
            "Missing scale: divide the scores by sqrt(d), `q @ k.transpose(-2, -1) / math.sqrt(d)` with "
            "d = q.shape[-1], before the softmax (without it large d makes the softmax nearly one-hot).",
            _scaled_by(lambda q: 1.0),
        ),
        Mistake(
            "divided_by_d",
            "You divided the scores by d; the scale is 1/sqrt(d): `/ math.sqrt(q.shape[-1])`.",
            _scaled_by(lambda q: 1 / q.shape[-1]),
        ),
        Mistake(
            "sqrt_of_model_width",
            "You scaled by 1/sqrt(h*d), the model width. Each head is d = q.shape[-1] wide: divide by "
            "sqrt(d), the head width.",
            _scaled_by(lambda q: (q.shape[1] * q.shape[-1]) ** -0.5),
        ),
        Mistake(
            "k_not_transposed",
            "`q @ k` multiplies (T, d) by (S, d): transpose the last two dims of k, "
            "`q @ k.transpose(-2, -1)`, to get (B, h, T, S) scores.",
            _k_not_transposed,
        ),
        Mistake(
            "k_transposed_on_the_wrong_dims",
            "`k.transpose(0, 1)` swaps batch and heads. For 4-D tensors transpose the last two dims: "
            "`k.transpose(-2, -1)`.",
            lambda q, k, v, mask: (q @ k.transpose(0, 1)).softmax(-1) @ v,
        ),
        Mistake(
            "k_dot_T",
            "`k.T` on a 4-D tensor reverses all four dims (PyTorch warns that this is deprecated). "
            "Transpose only the last two: `k.transpose(-2, -1)` (or `k.mT`).",
            lambda q, k, v, mask: (q @ k.T).softmax(-1) @ v,
        ),
        Mistake(
            "mask_inverted",
            "Your mask is inverted: True means the query MAY attend to that key (PyTorch's convention for "
            "F.scaled_dot_product_attention). Fill the scores where the mask is False: "
            "`scores.masked_fill(~mask, float('-inf'))`.",
            lambda q, k, v, mask: (_scores(q, k) if mask is None else _scores(q, k).masked_fill(
                mask, float("-inf"))).softmax(-1) @ v,
        ),
        Mistake(
            "mask_ignored",
            "The mask is ignored: when it is given, blocked keys (mask False) must get zero weight. "
            "Fill their scores with -inf before the softmax.",
            lambda q, k, v, mask: _scores(q, k).softmax(-1) @ v,
        ),
        Mistake(
            "mask_after_softmax",
            "You masked after the softmax (weights * mask), so the rows no longer sum to 1. Mask the "
            "scores before it: `scores.masked_fill(~mask, float('-inf')).softmax(-1)`.",
            _mask_after_softmax,
        ),
        Mistake(
            "masked_with_zero",
            "Masked scores set to 0 still get weight exp(0) = 1 in the softmax. Fill them with "
            "float('-inf'), so that exp(-inf) = 0.",
            lambda q, k, v, mask: _scores(q, k, mask, fill=0.0).softmax(-1) @ v,
        ),
        Mistake(
            "returned_the_weights",
            "You returned the attention weights (B, h, T, S). The output is the weighted average of the "
            "values: `weights @ v`, (B, h, T, d).",
            lambda q, k, v, mask: _scores(q, k, mask).softmax(-1),
        ),
    ),
)


# (batch, tokens T, heads h, head width d, dtype): T, h and d all differ from each other.
_HEAD_SHAPES = [
    (2, 5, 3, 4, torch.float32),
    (3, 7, 2, 4, torch.float64),
    (1, 4, 3, 2, torch.float64),
    (2, 3, 4, 5, torch.float32),
    (1, 6, 2, 3, torch.float32),
]


def _split_cases() -> list[Case]:
    cases = []
    for seed, (b, t, h, d, dtype) in enumerate(_HEAD_SHAPES):
        x = torch.randn(b, t, h * d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        cases.append(Case(f"x ({b}, {t}, {h * d}) into {h} heads of width {d}, {dtype_name(dtype)}", (x, h),
                          traits={"batch": b, "dtype": dtype_name(dtype)}))
    return cases


def _merge_cases() -> list[Case]:
    cases = []
    for seed, (b, t, h, d, dtype) in enumerate(_HEAD_SHAPES):
        x = torch.randn(b, h, t, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)
        cases.append(Case(f"x ({b}, {h}, {t}, {d}): {h} heads of width {d} -> ({b}, {t}, {h * d}), "
                          f"{dtype_name(dtype)}", (x,), traits={"batch": b, "dtype": dtype_name(dtype)}))
    return cases


def _split(x: torch.Tensor, h: int) -> torch.Tensor:
    """``(B, T, D)`` -> ``(B, T, h, d)``: the correct first step, before the transpose."""
    b, t, width = x.shape
    return x.reshape(b, t, h, width // h)


SPLIT_HEADS = Exercise(
    name="split_heads",
    signature="split_heads(x (B, T, D), num_heads h) -> (B, h, T, D/h)",
    reference=attention.split_heads,
    make_cases=_split_cases,
    grad_args=(0,),
    mistakes=(
        Mistake(
            "reshape_without_transpose",
            "`x.view(B, h, T, d)` keeps the memory order, so a 'head' is a run of consecutive tokens, "
            "not a slice of every token's features. Reshape to (B, T, h, d), then `.transpose(1, 2)`.",
            lambda x, h: x.reshape(x.shape[0], h, x.shape[1], -1),
        ),
        Mistake(
            "forgot_transpose",
            "You stopped at (B, T, h, d): swap the token and head dims with `.transpose(1, 2)` to get "
            "(B, h, T, d).",
            _split,
        ),
        Mistake(
            "heads_from_the_wrong_end",
            "You split D as (d, h): head i got every h-th feature. Head i owns the contiguous features "
            "i*d .. (i+1)*d - 1: split as (h, d), `rearrange(x, 'b t (h d) -> b h t d', h=h)`.",
            lambda x, h: rearrange(x, "b t (d h) -> b h t d", h=h),
        ),
        Mistake(
            "tokens_and_features_swapped",
            "The last two dims are swapped: you made (B, h, d, T). Each head holds one d-wide vector per "
            "token: (B, h, T, d), so transpose dims 1 and 2 of (B, T, h, d), not the last ones.",
            lambda x, h: _split(x, h).permute(0, 2, 3, 1),
        ),
        Mistake(
            "num_heads_as_head_width",
            "You made heads of width num_heads: split D into h = num_heads heads of width d = D // h, "
            "(B, T, h, d), not (B, T, d, h).",
            lambda x, h: rearrange(x, "b t (h d) -> b h t d", d=h),
        ),
        Mistake(
            "batch_and_heads_merged",
            "Keep batch and heads as separate dims: the output is 4-D, (B, h, T, d), not (B*h, T, d).",
            lambda x, h: _split(x, h).transpose(1, 2).reshape(-1, x.shape[1], x.shape[2] // h),
        ),
    ),
)

MERGE_HEADS = Exercise(
    name="merge_heads",
    signature="merge_heads(x (B, h, T, d)) -> (B, T, h*d)",
    reference=attention.merge_heads,
    make_cases=_merge_cases,
    grad_args=(0,),
    mistakes=(
        Mistake(
            "reshape_without_transpose",
            "`x.reshape(B, T, h*d)` straight from (B, h, T, d) mixes tokens of one head into a row. "
            "Move the heads next to the features first: `x.transpose(1, 2).reshape(B, T, h*d)`.",
            lambda x: x.reshape(x.shape[0], x.shape[2], -1),
        ),
        Mistake(
            "flattened_without_transpose",
            "`x.flatten(2)` gives (B, h, T*d): one row per head. Transpose to (B, T, h, d) first, then "
            "flatten the last two dims: (B, T, h*d).",
            lambda x: x.flatten(2),
        ),
        Mistake(
            "forgot_reshape",
            "You stopped at (B, T, h, d): concatenate the heads with `.reshape(B, T, h*d)` "
            "(or `.flatten(2)`).",
            lambda x: x.transpose(1, 2),
        ),
        Mistake(
            "heads_in_wrong_order",
            "You merged as (d, h), interleaving the heads' features. Head i's features must come back as "
            "the contiguous block i*d .. (i+1)*d - 1: `rearrange(x, 'b h t d -> b t (h d)')`.",
            lambda x: rearrange(x, "b h t d -> b t (d h)"),
        ),
        Mistake(
            "transposed_the_wrong_dims",
            "You transposed the last two dims (T and d). Swap the heads and tokens: "
            "`x.transpose(1, 2)` gives (B, T, h, d), then reshape.",
            lambda x: x.transpose(-2, -1).reshape(x.shape[0], x.shape[2], -1),
        ),
        Mistake(
            "heads_averaged",
            "You averaged the heads into (B, T, d). Multi-head attention concatenates them: "
            "(B, T, h*d), then the output projection mixes them.",
            lambda x: x.mean(1),
        ),
    ),
)

# Chapter 00. Lengths > 1 first (every catalogued mistake differs from the answer there); T = 1 last:
# a single token sees only itself, which `triu` and "no mask" get right by accident.
_CAUSAL_LENGTHS = [5, 8, 2, 1]


def _causal_cases() -> list[Case]:
    return [Case(f"T={t}: a ({t}, {t}) mask", (t,)) for t in _CAUSAL_LENGTHS]


def _additive(allowed: torch.Tensor) -> torch.Tensor:
    """The float mask added to the scores: 0 where ``allowed`` is True, -inf elsewhere."""
    return torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))


_BOOL_CONTRACT = "Return a bool mask, True = may attend: `torch.ones(T, T, dtype=torch.bool).tril()`."

CAUSAL_MASK = Exercise(
    name="causal_mask",
    signature="causal_mask(T) -> (T, T) bool tensor, True where query t may attend to key s (s <= t)",
    reference=attention.causal_mask,
    make_cases=_causal_cases,
    mistakes=(
        Mistake(
            "diagonal_excluded",
            "A position may attend to itself: the diagonal must be True. `tril(diagonal=-1)` (or `>` instead "
            "of `>=`) blocks it, and the first token is then left with no key at all.",
            lambda t: torch.ones(t, t, dtype=torch.bool).tril(diagonal=-1),
        ),
        Mistake(
            "upper_triangle",
            "Row t is query t, column s is key s: query t may see keys s <= t, the LOWER triangle (`tril`). "
            "`triu` lets every position see the future and not the past.",
            lambda t: torch.ones(t, t, dtype=torch.bool).triu(),
        ),
        Mistake(
            "inverted",
            "Your booleans are inverted: True = blocked is nn.MultiheadAttention's `attn_mask` convention. "
            "Here (as in F.scaled_dot_product_attention) True = may attend: use `~` on your mask, or `tril()`.",
            lambda t: torch.ones(t, t, dtype=torch.bool).triu(diagonal=1),
        ),
        Mistake(
            "no_mask",
            "All True lets every position attend to every position, the future included: that is no mask. "
            "Keep only the lower triangle, diagonal included: `.tril()`.",
            lambda t: torch.ones(t, t, dtype=torch.bool),
        ),
        Mistake(
            "additive_float_mask",
            "That is the additive float mask (0 where allowed, -inf where blocked), which does the same job "
            "when added to the scores, but this exercise's contract is different. " + _BOOL_CONTRACT,
            lambda t: _additive(torch.ones(t, t, dtype=torch.bool).tril()),
        ),
        Mistake(
            "additive_float_mask_wrong_sign",
            "A float mask with -inf where a position MAY attend, 0 where it may not: the wrong way round, and "
            "not a bool mask. " + _BOOL_CONTRACT,
            lambda t: _additive(torch.ones(t, t, dtype=torch.bool).triu(diagonal=1)),
        ),
        Mistake(
            "numbers_instead_of_bools",
            "The pattern is right but the dtype is not: 0/1 numbers (`torch.tril(torch.ones(T, T))` is float) "
            "are not a boolean mask, and `~` on them is no logical NOT (it fails on floats, gives -1/-2 on "
            "ints). " + _BOOL_CONTRACT,
            lambda t: torch.ones(t, t).tril(),
        ),
        Mistake(
            "batched_shape",
            "Return the (T, T) mask itself, not (1, T, T): attention broadcasts it over the batch and the heads.",
            lambda t: torch.ones(t, t, dtype=torch.bool).tril()[None],
        ),
        Mistake(
            "one_row",
            "You returned (T,), one value per position: the mask has one row per query and one column per "
            "key, (T, T). With `arange`, compare a column with a row: `pos[:, None] >= pos[None, :]`.",
            lambda t: torch.arange(t) >= torch.arange(t),
        ),
    ),
)

EXERCISES = {e.name: e for e in (CAUSAL_MASK, SCALED_DOT_PRODUCT_ATTENTION, SPLIT_HEADS, MERGE_HEADS)}
