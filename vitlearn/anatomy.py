"""Chapter 00: the Transformer beyond ViT, built from the same blocks.

The seed post's outline, 一 to 三, in code:

* ``DecoderBlock``     - 一.2: causal self-attention, cross-attention over the encoder's memory, MLP
                         (pre-norm, like ViT's encoder block);
* the three families   - 二: encoder-only is ``vitlearn.model.ViT`` (and BERT); ``NextTokenModel`` is
                         decoder-only (GPT); ``EncoderDecoder`` is the translation model. Both new
                         ones start from ``TokenEmbedding``; ``generate`` runs a decoder-only model
                         autoregressively;
* ``measure_attention_cost`` - 三: attention's time and memory grow as ``N^2``; ``fit_quadratic``;
* ``SmallCNN``, ``inductive_bias_models``, ``data_efficiency`` - 三: the inductive-bias experiment (a
  CNN and a ViT trained on 10 %, 30 % and 100 % of the digits).

Tokens are ``(B, T, D)``, batch first; token ids are ``(B, T)`` int64. Masks are boolean, True =
may attend (``vitlearn.attention``'s convention).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
import torch.nn as nn

from vitlearn import attention
from vitlearn._validate import require_positive_int
from vitlearn.attention import MultiHeadAttention, MultiHeadSelfAttention, _check_tokens, causal_mask
from vitlearn.data import Split, stratified_subset
from vitlearn.encoder import MLP, Encoder, copy_weights
from vitlearn.model import ViT
from vitlearn.tokens import add_position_embedding
from vitlearn.train import TrainConfig, evaluate, train


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
        x = _check_tokens(x, self.self_attn.dim)
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
    copy_weights([(theirs.linear1, ours.mlp.fc1), (theirs.linear2, ours.mlp.fc2), (theirs.norm1, ours.norm1),
                  (theirs.norm2, ours.norm2), (theirs.norm3, ours.norm3)])
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


def measure_attention_cost(lengths: Sequence[int], dim: int = 64, num_heads: int = 4,
                           repeats: int = 3) -> dict[str, list[float]]:
    """Time and memory of one self-attention layer against the sequence length ``N``.

    For each ``N`` in ``lengths``: the median wall-clock seconds of ``repeats`` forward passes (after
    one warm-up, no autograd) of ``MultiHeadSelfAttention(dim, num_heads, explicit=True)`` on a
    ``(1, N, dim)`` float32 CPU input, on **one** CPU thread (restored afterwards): on a shared
    machine, several threads spend most of a small layer's time waiting for each other. The
    explicit path is used because it builds the ``(h, N, N)`` weights, as attention written out
    does. ``bytes`` is **computed**, not measured: the size of those weights, ``h * N * N * 4``.
    Returns ``{"length": [...], "seconds": [...], "bytes": [...]}``.
    """
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence) or not lengths:
        raise ValueError(f"lengths must be a non-empty sequence of positive ints, got {lengths!r}")
    lengths = [require_positive_int(n, "each length") for n in lengths]
    repeats = require_positive_int(repeats, "repeats")
    layer = MultiHeadSelfAttention(dim, num_heads, explicit=True).eval()
    cost: dict[str, list[float]] = {"length": [], "seconds": [], "bytes": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            for n in lengths:
                x = torch.randn(1, n, dim)  # (1, N, D)
                layer(x)  # warm-up
                seconds = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    layer(x)  # (1, N, D)
                    seconds.append(time.perf_counter() - start)
                cost["length"].append(n)
                cost["seconds"].append(statistics.median(seconds))
                cost["bytes"].append(num_heads * n * n * x.element_size())
    finally:
        torch.set_num_threads(threads)
    return cost


def fit_quadratic(lengths: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """``(a, b)`` of ``value = a * N**2 + b`` fitted to the points ``(N, value)`` (at least two, values > 0)
    by least squares on the *relative* errors ``(a N^2 + b) / value - 1``: times that span several
    orders of magnitude all count, not only the largest."""
    if len(lengths) != len(values) or len(lengths) < 2 or min(values) <= 0:
        raise ValueError(f"need at least two (length, value) points with values > 0, got {len(lengths)} lengths "
                         f"and values {list(values)}")
    values = torch.tensor([float(v) for v in values], dtype=torch.float64)[:, None]  # (M, 1)
    design = torch.tensor([[float(n) ** 2, 1.0] for n in lengths], dtype=torch.float64)  # (M, 2)
    a, b = torch.linalg.lstsq(design / values, torch.ones_like(values)).solution.flatten().tolist()
    return a, b


class SmallCNN(nn.Module):
    """A small convolutional classifier, ``(B, C, H, W)`` -> logits ``(B, K)``: the inductive biases a
    Transformer lacks, built in. Each 3x3 kernel sees a neighbourhood only (locality), the same
    kernel is slid over every position (translation equivariance), pooling keeps what was found
    and forgets exactly where (some translation invariance)."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, w, H/2, W/2)
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(2),  # (B, 2w, 2, 2)
        )
        self.head = nn.Linear(2 * width * 4, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images ``(B, C, H, W)`` -> logits ``(B, K)``."""
        return self.head(self.features(images).flatten(1))  # (B, 2w*4) -> (B, K)


def inductive_bias_models(num_classes: int = 10) -> dict[str, Callable[[], nn.Module]]:
    """The two models of chapter 00's experiment on the 8x8 digits, as builders: ``SmallCNN()`` and a
    ViT with 4x4 patches (4 patch tokens and a CLS token), D=64, 2 blocks of 4 heads."""
    return {"small CNN": lambda: SmallCNN(num_classes=num_classes),
            "ViT": lambda: ViT(image_size=8, patch_size=4, in_channels=1, num_classes=num_classes, dim=64, depth=2,
                               num_heads=4)}


def data_efficiency(models: dict[str, Callable[[], nn.Module]], split: Split,
                    fractions: Sequence[float] = (0.1, 0.3, 1.0), steps: int = 300, seed: int = 0,
                    config: TrainConfig | None = None) -> dict[str, dict[float, float]]:
    """Test accuracy of each model trained on a stratified ``fraction`` of ``split``'s training set.

    ``models`` maps a name to a function building a fresh model (called after
    ``torch.manual_seed(seed)``). Every run takes about the same number of optimizer ``steps``
    (whole epochs: ``round(steps / batches per epoch)``, at least one), so a smaller training set is
    seen more often, not for less compute. ``config`` is the recipe (default ``TrainConfig()``; its
    ``epochs`` and ``seed`` are set here). Returns ``{name: {fraction: test accuracy in [0, 1]}}``.
    """
    config = config or TrainConfig()
    results: dict[str, dict[float, float]] = {name: {} for name in models}
    for fraction in fractions:
        keep = stratified_subset(split.train_labels, fraction, seed)  # (n,) indices
        epochs = max(1, round(steps / math.ceil(len(keep) / config.batch_size)))
        for name, make_model in models.items():
            torch.manual_seed(seed)
            model = make_model()
            train(model, split.train_images[keep], split.train_labels[keep],
                  replace(config, epochs=epochs, budget=None, seed=seed))
            results[name][fraction] = evaluate(model, split.test_images, split.test_labels)
    return results
