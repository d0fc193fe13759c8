"""Chapter 05: the Transformer encoder as ViT uses it.

Pre-norm blocks (LayerNorm *before* attention and MLP, inside the residual branch), exact
GELU, and one final LayerNorm after the last block. Equal to
``nn.TransformerEncoder(nn.TransformerEncoderLayer(D, h, mlp_dim, dropout=0.0,
activation="gelu", batch_first=True, norm_first=True), depth, norm=nn.LayerNorm(D))``
with the same weights. Tokens are ``(B, T, D)``, batch first. ViT uses no mask; with a
causal mask (chapter 00) the same blocks make a decoder-only (GPT-style) model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vitlearn import attention
from vitlearn._validate import require_tokens
from vitlearn.attention import MultiHeadSelfAttention


class MLP(nn.Module):
    """The per-token feed-forward network: ``fc1``, exact GELU, ``fc2``; ``(B, T, D)`` -> ``(B, T, D)``."""

    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))  # (B, T, hidden_dim) -> (B, T, D)


class EncoderBlock(nn.Module):
    """One pre-norm block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``; ``(B, T, D)`` -> ``(B, T, D)``."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, eps: float = 1e-6, explicit: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = MultiHeadSelfAttention(dim, num_heads, explicit=explicit)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp_dim)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x ``(B, T, D)``, optional boolean attention mask (True = may attend, e.g. causal ``(T, T)``)
        -> ``(B, T, D)``, or ``((B, T, D), weights (B, h, T, T))``."""
        x = require_tokens(x, self.attn.dim)
        if return_attention:
            attended, weights = self.attn(self.norm1(x), mask, return_attention=True)  # (B, T, D), (B, h, T, T)
        else:
            attended = self.attn(self.norm1(x), mask)  # (B, T, D)
        x = x + attended  # tokens exchange information
        x = x + self.mlp(self.norm2(x))  # each token is transformed on its own
        return (x, weights) if return_attention else x


class Encoder(nn.Module):
    """``depth`` pre-norm blocks and a final LayerNorm: ``(B, T, D)`` -> ``(B, T, D)``."""

    def __init__(self, dim: int, depth: int, num_heads: int, mlp_dim: int, eps: float = 1e-6,
                 explicit: bool = False) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(EncoderBlock(dim, num_heads, mlp_dim, eps, explicit) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, list[torch.Tensor]]:
        """x ``(B, T, D)``, optional boolean mask used by every block -> ``(B, T, D)``,
        or ``((B, T, D), [depth x (B, h, T, T) weights])``."""
        maps = []
        for block in self.blocks:
            if return_attention:
                x, weights = block(x, mask, return_attention=True)  # (B, T, D), (B, h, T, T)
                maps.append(weights)
            else:
                x = block(x, mask)  # (B, T, D)
        x = self.norm(x)  # (B, T, D)
        return (x, maps) if return_attention else x


@torch.no_grad()
def load_into_torch(ours: EncoderBlock | Encoder, theirs: nn.TransformerEncoderLayer | nn.TransformerEncoder):
    """Copy our block (or encoder) into PyTorch's ``nn.TransformerEncoderLayer`` (or
    ``nn.TransformerEncoder`` with a final ``norm``), name by name; returns ``theirs``.

    ``theirs`` must be built with ``norm_first=True, activation="gelu", batch_first=True`` to
    compute the same function (the tests and chapter 05 prove it does).
    """
    if isinstance(ours, Encoder):
        for block, layer in zip(ours.blocks, theirs.layers, strict=True):
            load_into_torch(block, layer)
        pairs = [(ours.norm, theirs.norm)]
    else:
        attention.load_into_torch(ours.attn, theirs.self_attn)
        pairs = [(ours.mlp.fc1, theirs.linear1), (ours.mlp.fc2, theirs.linear2),
                 (ours.norm1, theirs.norm1), (ours.norm2, theirs.norm2)]
    copy_weights(pairs)
    return theirs


@torch.no_grad()
def copy_weights(pairs: list[tuple[nn.Module, nn.Module]]) -> None:
    """For each ``(ours, theirs)`` pair of ``nn.Linear`` or ``nn.LayerNorm``: copy our weight and bias
    into theirs (the order of :func:`load_into_torch`'s arguments)."""
    for our_module, their_module in pairs:
        their_module.weight.copy_(our_module.weight)
        their_module.bias.copy_(our_module.bias)
