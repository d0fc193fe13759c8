"""Chapter 00: the decoder side of the Transformer, built from ViT's blocks.

* ``DecoderBlock``   - causal self-attention, cross-attention over the encoder's memory, MLP
                       (pre-norm, like ViT's encoder block); ``load_into_torch`` copies it into
                       ``nn.TransformerDecoderLayer``;
* ``TokenEmbedding`` - token ids to vectors, plus a learned position table (text's patch embedding);
* ``NextTokenModel`` - decoder-only (GPT): the encoder's blocks under a causal mask; ``generate``
                       runs it autoregressively;
* ``EncoderDecoder`` - the translation model: an encoder over the source, decoder blocks over the target.

The third family, encoder-only (ViT, BERT), is ``vitlearn.model.ViT``. Tokens are ``(B, T, D)``,
batch first; token ids are ``(B, T)`` int64. Masks are boolean, True = may attend
(``vitlearn.attention``'s convention).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from vitlearn import attention
from vitlearn._validate import require_positive_int, require_tokens
from vitlearn.attention import MultiHeadAttention, MultiHeadSelfAttention, causal_mask
from vitlearn.encoder import MLP, Encoder, copy_weights
from vitlearn.tokens import add_position_embedding


class DecoderBlock(nn.Module):
    """One pre-norm decoder block, ``x (B, T, D)`` and the encoder's ``memory (B, S, D)`` -> ``(B, T, D)``:

        x = x + self_attn(norm1(x), causal mask)   # each position reads itself and earlier positions
        x = x + cross_attn(norm2(x), memory)       # each position reads the whole source
        x = x + mlp(norm3(x))                      # each position on its own

    Equal to ``nn.TransformerDecoderLayer(D, h, mlp_dim, dropout=0.0, activation="gelu",
    batch_first=True, norm_first=True)`` called with a causal ``tgt_mask`` (see :func:`load_into_torch`).
    """

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.self_attn = MultiHeadSelfAttention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.cross_attn = MultiHeadAttention(dim, num_heads)
        self.norm3 = nn.LayerNorm(dim, eps=eps)
        self.mlp = MLP(dim, mlp_dim)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """x ``(B, T, D)``, memory ``(B, S, D)`` -> ``(B, T, D)``."""
        x = require_tokens(x, self.self_attn.dim)
        x = x + self.self_attn(self.norm1(x), causal_mask(x.shape[1], x.device))  # (B, T, D)
        x = x + self.cross_attn(self.norm2(x), memory)  # (B, T, D): queries T, keys and values S
        return x + self.mlp(self.norm3(x))  # (B, T, D)


@torch.no_grad()
def load_into_torch(ours: DecoderBlock, theirs: nn.TransformerDecoderLayer) -> nn.TransformerDecoderLayer:
    """Copy our decoder block into ``nn.TransformerDecoderLayer``, name by name; returns ``theirs``.

    ``theirs`` must be built with ``norm_first=True, activation="gelu", batch_first=True`` (and
    ``dropout=0.0``) and called with a causal ``tgt_mask`` to compute the same function.
    """
    attention.load_into_torch(ours.self_attn, theirs.self_attn)
    attention.load_into_torch(ours.cross_attn, theirs.multihead_attn)
    copy_weights([(ours.mlp.fc1, theirs.linear1), (ours.mlp.fc2, theirs.linear2), (ours.norm1, theirs.norm1),
                  (ours.norm2, theirs.norm2), (ours.norm3, theirs.norm3)])
    return theirs


class TokenEmbedding(nn.Module):
    """Token ids ``(B, T)`` int64 -> vectors ``(B, T, D)``: a learned vector per id in the vocabulary,
    plus a learned vector per position (the text counterpart of ViT's patch embedding and table)."""

    def __init__(self, vocab_size: int, max_length: int, dim: int) -> None:
        super().__init__()
        self.vocab_size = require_positive_int(vocab_size, "vocab_size")
        self.max_length = require_positive_int(max_length, "max_length")
        self.token_table = nn.Embedding(vocab_size, dim)  # (V, D)
        self.position_table = nn.Parameter(torch.randn(max_length, dim) * 0.02)  # (max_length, D)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids ``(B, T)`` int64 in ``[0, vocab_size)``, ``T <= max_length`` -> ``(B, T, D)``."""
        if not isinstance(ids, torch.Tensor) or ids.dtype != torch.int64 or ids.ndim != 2:
            raise TypeError(f"ids must be a (B, T) int64 tensor of token ids, got "
                            f"{getattr(ids, 'dtype', type(ids).__name__)} {tuple(getattr(ids, 'shape', ()))}")
        if ids.shape[1] > self.max_length or (ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size)):
            raise ValueError(f"ids must be (B, T) with T <= max_length={self.max_length} and values in "
                             f"[0, {self.vocab_size}), got shape {tuple(ids.shape)}")
        return add_position_embedding(self.token_table(ids), self.position_table)  # (B, T, D)


class NextTokenModel(nn.Module):
    """Decoder-only (GPT): token ids ``(B, T)`` -> next-token logits ``(B, T, V)``.

    Position ``t``'s logits predict token ``t + 1`` from tokens ``0 .. t`` only. GPT's "decoder"
    has no cross-attention (there is no encoder): it is the encoder's stack of blocks under a
    causal mask.
    """

    def __init__(self, vocab_size: int, max_length: int, dim: int = 64, depth: int = 2, num_heads: int = 4,
                 mlp_dim: int | None = None) -> None:
        super().__init__()
        self.embed = TokenEmbedding(vocab_size, max_length, dim)
        self.blocks = Encoder(dim, depth, num_heads, mlp_dim or 4 * dim)  # + a causal mask = GPT's stack
        self.head = nn.Linear(dim, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids ``(B, T)`` int64 -> logits ``(B, T, V)``."""
        x = self.embed(ids)  # (B, T, D)
        x = self.blocks(x, causal_mask(ids.shape[1], ids.device))  # (B, T, D), nothing flows from later tokens
        return self.head(x)  # (B, T, V)


@torch.no_grad()
def generate(model: NextTokenModel, ids: torch.Tensor, steps: int) -> torch.Tensor:
    """Greedy autoregressive generation: ``steps`` times, append the most likely next token.

    ids ``(B, T)`` int64 -> ``(B, T + steps)``. Each step feeds the sequence so far back in (the
    last ``max_length`` tokens of it) and keeps only the last position's prediction.
    """
    require_positive_int(steps, "steps")
    for _ in range(steps):
        logits = model(ids[:, -model.embed.max_length:])  # (B, T, V)
        next_id = logits[:, -1].argmax(dim=-1, keepdim=True)  # (B, 1)
        ids = torch.cat([ids, next_id], dim=1)  # (B, T + 1)
    return ids


class EncoderDecoder(nn.Module):
    """Encoder-decoder (translation): source ids ``(B, S)`` and target ids ``(B, T)`` -> logits ``(B, T, V)``.

    The encoder reads the whole source at once (no mask) into a memory ``(B, S, D)``; the
    decoder reads the target causally and the memory through cross-attention. For speech
    recognition the source would be audio frames instead of token ids: only ``source_embed`` changes.
    """

    def __init__(self, source_vocab: int, target_vocab: int, max_length: int, dim: int = 64, depth: int = 2,
                 num_heads: int = 4, mlp_dim: int | None = None, eps: float = 1e-6) -> None:
        super().__init__()
        mlp_dim = mlp_dim or 4 * dim
        self.source_embed = TokenEmbedding(source_vocab, max_length, dim)
        self.encoder = Encoder(dim, depth, num_heads, mlp_dim, eps=eps)
        self.target_embed = TokenEmbedding(target_vocab, max_length, dim)
        self.decoder = nn.ModuleList(DecoderBlock(dim, num_heads, mlp_dim, eps) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.head = nn.Linear(dim, target_vocab)

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """source ``(B, S)``, target ``(B, T)`` int64 -> logits ``(B, T, V)``."""
        memory = self.encoder(self.source_embed(source))  # (B, S, D)
        x = self.target_embed(target)  # (B, T, D)
        for block in self.decoder:
            x = block(x, memory)  # (B, T, D)
        return self.head(self.norm(x))  # (B, T, V)
