"""Chapter 05: attention written out, then split into heads.

Shapes: ``B`` batch, ``h`` heads, ``T`` queries, ``S`` keys (``S == T`` in self-attention),
``d`` head width, ``D = h * d`` model width.

* ``attention_weights``            - ``softmax(q @ k^T / sqrt(d))``, one row per query;
* ``scaled_dot_product_attention`` - those weights averaging the values, ``weights @ v``;
* ``split_heads`` / ``merge_heads`` - ``(B, T, D)`` <-> ``(B, h, T, d)``;
* ``MultiHeadAttention``           - the layer: project, split, attend, merge, project; queries from
  ``x``, keys and values from ``memory`` (cross-attention, chapter 00) or from ``x`` itself;
* ``MultiHeadSelfAttention``       - the same layer with ``memory = x``: every token attends to every token;
* ``causal_mask``                  - chapter 00: the mask that hides later positions.

Masks are boolean with PyTorch's convention for ``F.scaled_dot_product_attention``:
``True`` means "may attend". (``nn.MultiheadAttention``'s ``attn_mask`` uses the opposite.)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from vitlearn._validate import require_positive_int, require_same_dtype_device, require_tensor, require_tokens


def _check_mask(mask: object, shape: tuple[int, ...]) -> None:
    """Raise unless ``mask`` is None or a boolean tensor broadcastable to ``shape`` = (B, h, T, S)."""
    if mask is None:
        return
    layout = f"broadcastable to (B, h, T, S) = {shape}"
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a boolean tensor {layout}, True where a query may attend, got {kind}")
    try:
        broadcast = torch.broadcast_shapes(mask.shape, shape)
    except RuntimeError:
        broadcast = None
    if broadcast != shape:
        raise ValueError(f"mask must be {layout}, got {tuple(mask.shape)}")


def _check_keys(q: object, k: object) -> tuple[torch.Tensor, torch.Tensor]:
    q = require_tensor(q, "q", 4, "(B, h, T, d)")
    k = require_tensor(k, "k", 4, "(B, h, S, d)")
    b, h, _, d = q.shape
    if k.shape[:2] != (b, h) or k.shape[-1] != d:
        raise ValueError(f"k must have shape (B, h, S, d) = ({b}, {h}, S, {d}) to match q {tuple(q.shape)}, "
                         f"got {tuple(k.shape)}")
    require_same_dtype_device(q, "q", k, "k")
    return q, k


def attention_weights(q: torch.Tensor, k: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """How much each query attends to each key: ``softmax(q @ k^T / sqrt(d))`` over the keys.

    q ``(B, h, T, d)``, k ``(B, h, S, d)``, boolean mask broadcastable to ``(B, h, T, S)``
    (True = may attend) -> ``(B, h, T, S)``, each row summing to 1. A query whose whole row
    is masked gets NaN here, where ``F.scaled_dot_product_attention`` returns zeros.
    """
    q, k = _check_keys(q, k)
    _check_mask(mask, (*q.shape[:3], k.shape[2]))
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # exp(-inf) = 0: no weight on blocked keys
    return scores.softmax(dim=-1)  # (B, h, T, S): normalised over the keys


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Attention written out: each query's output is a weighted average of the values.

    q ``(B, h, T, d)``, k ``(B, h, S, d)``, v ``(B, h, S, d_v)``, optional boolean mask
    broadcastable to ``(B, h, T, S)`` (True = may attend) -> ``(B, h, T, d_v)``.
    Equal to ``F.scaled_dot_product_attention(q, k, v, attn_mask=mask)``.
    """
    weights = attention_weights(q, k, mask)  # (B, h, T, S); validates q, k, mask
    v = require_tensor(v, "v", 4, "(B, h, S, d_v)")
    if v.shape[:3] != k.shape[:3]:
        b, h, s, _ = k.shape
        raise ValueError(f"v must have shape (B, h, S, d_v) = ({b}, {h}, {s}, d_v) to match k {tuple(k.shape)}, "
                         f"got {tuple(v.shape)}")
    require_same_dtype_device(q, "q", v, "v")
    return weights @ v  # (B, h, T, S) @ (B, h, S, d_v) -> (B, h, T, d_v)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """Cut the width into ``num_heads`` heads: ``(B, T, D)`` -> ``(B, h, T, D/h)``.

    Head ``i`` gets features ``i*d .. (i+1)*d - 1`` of every token (``d = D/h``).
    """
    x = require_tensor(x, "x", 3, "(B, T, D)")
    h = require_positive_int(num_heads, "num_heads")
    b, t, width = x.shape
    if width % h:
        raise ValueError(f"the width D={width} of x (B, T, D) = {tuple(x.shape)} must be divisible by "
                         f"num_heads={h}: each head gets D/num_heads features")
    return x.reshape(b, t, h, width // h).transpose(1, 2)  # (B, T, h, d) -> (B, h, T, d)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`split_heads`: concatenate the heads, ``(B, h, T, d)`` -> ``(B, T, h*d)``."""
    x = require_tensor(x, "x", 4, "(B, h, T, d)")
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)  # (B, T, h, d) -> (B, T, h*d)


def causal_mask(length: int, device: torch.device | str | None = None) -> torch.Tensor:
    """The causal mask for ``length`` tokens: ``(T, T)`` boolean, True on and below the diagonal.

    Row ``t`` is query ``t``: it may attend to keys ``0 .. t`` (itself and earlier tokens), never to
    later ones, so an output at position ``t`` cannot depend on what comes after it.
    """
    length = require_positive_int(length, "length")
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()  # (T, T)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: the queries come from ``x``, the keys and values from ``memory``.

    ``x (B, T, D)``, ``memory (B, S, D)`` -> ``(B, T, D)``: one output per query, each a mix of the
    memory's tokens. Without ``memory`` the keys and values come from ``x`` too (self-attention).
    In a decoder, ``memory`` is the encoder's output (cross-attention). The default path is the
    fused ``F.scaled_dot_product_attention``; ``explicit=True`` (a settable attribute) uses the
    written-out :func:`attention_weights` ``@ v``, and so does any call that asks for the
    weights with ``return_attention=True``.
    """

    def __init__(self, dim: int, num_heads: int, bias: bool = True, explicit: bool = False) -> None:
        super().__init__()
        dim, num_heads = require_positive_int(dim, "dim"), require_positive_int(num_heads, "num_heads")
        if dim % num_heads:
            raise ValueError(f"dim={dim} must be divisible by num_heads={num_heads}: each head gets dim/num_heads "
                             "features (e.g. dim=64, num_heads=4)")
        self.dim, self.num_heads, self.explicit = dim, num_heads, explicit
        self.q_proj = nn.Linear(dim, dim, bias=bias)
        self.k_proj = nn.Linear(dim, dim, bias=bias)
        self.v_proj = nn.Linear(dim, dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor | None = None, mask: torch.Tensor | None = None,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x ``(B, T, D)``, memory ``(B, S, D)`` (None: ``x``), boolean mask broadcastable to
        ``(B, h, T, S)`` -> ``(B, T, D)``, or ``((B, T, D), weights (B, h, T, S))`` with ``return_attention=True``."""
        x = require_tokens(x, self.dim)
        if memory is None:
            memory = x
        memory = require_tokens(memory, self.dim, "memory", "S")
        require_same_dtype_device(x, "x", memory, "memory")
        b, t, _ = x.shape
        if memory.shape[0] != b:
            raise ValueError(f"memory must hold one sequence per query sequence, (B, S, D) = ({b}, S, {self.dim}), "
                             f"got {tuple(memory.shape)}")
        _check_mask(mask, (b, self.num_heads, t, memory.shape[1]))
        q = split_heads(self.q_proj(x), self.num_heads)  # (B, h, T, d)
        k, v = (split_heads(proj(memory), self.num_heads) for proj in (self.k_proj, self.v_proj))  # (B, h, S, d)
        if self.explicit or return_attention:
            weights = attention_weights(q, k, mask)  # (B, h, T, S)
            heads = weights @ v  # (B, h, T, d)
        else:
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, h, T, d)
        out = self.out_proj(merge_heads(heads))  # (B, T, D)
        return (out, weights) if return_attention else out


class MultiHeadSelfAttention(MultiHeadAttention):
    """Multi-head self-attention: every token attends to every token, in ``num_heads`` heads.

    ``(B, T, D)`` -> ``(B, T, D)``: :class:`MultiHeadAttention` with the keys and values taken
    from the same tokens as the queries.
    """

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x ``(B, T, D)``, boolean mask broadcastable to ``(B, h, T, T)`` -> ``(B, T, D)``,
        or ``((B, T, D), weights (B, h, T, T))`` with ``return_attention=True``."""
        return super().forward(x, None, mask, return_attention)


@torch.no_grad()
def load_into_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> nn.MultiheadAttention:
    """Copy our weights into ``nn.MultiheadAttention`` so both compute the same function.

    PyTorch stacks the three input projections in one ``in_proj_weight`` ``(3D, D)``: the rows
    of ``W_q``, then ``W_k``, then ``W_v`` (and ``in_proj_bias`` ``(3D,)`` likewise).
    Returns ``theirs``.
    """
    if theirs.embed_dim != ours.dim or theirs.num_heads != ours.num_heads:
        raise ValueError(f"nn.MultiheadAttention must have embed_dim={ours.dim} and num_heads={ours.num_heads}, "
                         f"got {theirs.embed_dim} and {theirs.num_heads}")
    projections = (ours.q_proj, ours.k_proj, ours.v_proj)
    theirs.in_proj_weight.copy_(torch.cat([p.weight for p in projections]))  # (3D, D)
    theirs.out_proj.weight.copy_(ours.out_proj.weight)  # (D, D)
    if ours.q_proj.bias is not None:
        theirs.in_proj_bias.copy_(torch.cat([p.bias for p in projections]))  # (3D,)
        theirs.out_proj.bias.copy_(ours.out_proj.bias)  # (D,)
    return theirs
