"""Chapter 06: the whole Vision Transformer, assembled from the chapters' pieces.

images (B, C, H, W)
  -> patch embeddings (B, N, D)          chapter 02: a conv with stride P
  -> prepend the CLS token (B, N+1, D)   chapter 03
  -> add position embeddings             chapter 04 (interpolated for another image size)
  -> pre-norm Transformer encoder        chapter 05 (final LayerNorm included)
  -> CLS output (B, D) -> linear head -> logits (B, K) -> cross-entropy    chapter 06

With ``distillation_token=True`` it is DeiT (Touvron et al., 2021, arXiv:2012.12877; chapter 08): a
second prefix token after CLS, its own head, and at inference the mean of the two heads' logits.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlearn._validate import require_divisible, require_positive_int, require_tensor
from vitlearn.encoder import Encoder
from vitlearn.patches import image2emb_conv
from vitlearn.tokens import (
    add_position_embedding,
    interpolate_position_embedding,
    prepend_cls,
    sincos_position_embedding_2d,
)


def cls_token_output(encoder_output: torch.Tensor) -> torch.Tensor:
    """The encoder's output at the CLS position (row 0 of every sequence): ``(B, T, D)`` -> ``(B, D)``."""
    encoder_output = require_tensor(encoder_output, "encoder_output", 3, "(B, T, D)")
    return encoder_output[:, 0, :]  # (B, D)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of ``(B, K)`` logits against ``(B,)`` integer labels in ``[0, K)``: a scalar."""
    logits = require_tensor(logits, "logits", 2, "(B, K)")
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        raise TypeError(
            f"labels must be a 1-D int64 tensor of class indices, shape ({logits.shape[0]},), got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}"
        )
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels must have shape ({logits.shape[0]},) to match logits, got {tuple(labels.shape)}")
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must be class indices in [0, {logits.shape[1]}), got values "
                         f"from {labels.min().item()} to {labels.max().item()}")
    return F.cross_entropy(logits, labels)  # () mean over the batch


def _conv_stem(in_channels: int, channels: int) -> nn.Module:
    """The hybrid's stem: ``(B, C, H, W)`` -> ``(B, channels, H, W)``, a 3x3 convolution and a GELU.
    Each feature already sees a pixel's 3x3 neighbourhood: the locality a pure ViT must learn."""
    return nn.Sequential(nn.Conv2d(in_channels, channels, kernel_size=3, padding=1), nn.GELU())


@dataclass(frozen=True, kw_only=True)
class ViTConfig(Mapping):
    """What a :class:`ViT` is built from; a checkpoint stores it as ``asdict(config)``.

    It also reads as the keyword arguments it stands for: ``ViT(**config)``, ``config["dim"]``
    and ``{**config, "patch_size": 2}`` work like a dict's. Checked when made: a bad value is a
    ``ValueError`` naming it.
    """

    image_size: int | tuple[int, int] = 32  # H and W of the images trained on; one int: square (stored as (H, W))
    patch_size: int = 4  # P: each patch is P x P pixels; H and W must be divisible by P
    in_channels: int = 3  # C: 3 for RGB, 1 for greyscale
    num_classes: int = 10  # K: the logits' width
    dim: int = 64  # D: every token's width
    depth: int = 4  # encoder blocks
    num_heads: int = 4  # h: attention heads per block, each D / h wide
    mlp_dim: int | None = None  # the MLP's hidden width; None: 4 * dim (ViT-B's ratio)
    pool: str = "cls"  # "cls": classify from a prepended CLS token; "mean": from the patch tokens' mean
    pos: str = "learned"  # "learned": a trained position table; "sincos": the fixed 2-D sine-cosine one
    eps: float = 1e-6  # the LayerNorms' epsilon
    stem_channels: int = 0  # > 0: the hybrid, a 3x3 convolution with that many channels before the patches
    distillation_token: bool = False  # True: DeiT, a second prefix token after CLS with its own head (needs pool="cls")

    def __post_init__(self) -> None:
        if self.pool not in ("cls", "mean") or self.pos not in ("learned", "sincos"):
            raise ValueError(f"pool must be 'cls' or 'mean' and pos 'learned' or 'sincos', got {self.pool!r}, "
                             f"{self.pos!r}")
        size = (self.image_size, self.image_size) if isinstance(self.image_size, int) else tuple(self.image_size)
        height, width = (require_positive_int(n, f"image_size {name}") for n, name in zip(size, ("height", "width")))
        require_divisible(height, width, require_positive_int(self.patch_size, "patch_size"))
        if self.stem_channels:
            require_positive_int(self.stem_channels, "stem_channels (0: no stem)")
        if not isinstance(self.distillation_token, bool) or (self.distillation_token and self.pool != "cls"):
            raise ValueError(f"distillation_token must be True or False, and True only with pool='cls' (it sits "
                             f"beside the CLS token), got {self.distillation_token!r} with pool={self.pool!r}")
        object.__setattr__(self, "image_size", (height, width))  # frozen: set once, here

    @property
    def num_prefix_tokens(self) -> int:
        """Tokens before the patches: 0 (mean pooling), 1 (CLS) or 2 (CLS, then DeiT's distillation token)."""
        return 0 if self.pool == "mean" else 1 + self.distillation_token

    @property
    def grid(self) -> tuple[int, int]:
        """The patch grid ``(H / P, W / P)`` of the images trained on."""
        height, width = self.image_size
        return height // self.patch_size, width // self.patch_size

    def __getitem__(self, name: str) -> Any:
        if name not in _VIT_FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(_VIT_FIELDS)

    def __len__(self) -> int:
        return len(_VIT_FIELDS)


_VIT_FIELDS = tuple(f.name for f in fields(ViTConfig))


class ViT(nn.Module):
    """A Vision Transformer classifier: images ``(B, C, H, W)`` -> logits ``(B, num_classes)``.

    Built from a :class:`ViTConfig`, given whole, as its fields, or both (the fields change it):
    ``ViT(config)``, ``ViT(image_size=8, patch_size=4, in_channels=1)``, ``ViT(config, depth=2)``.
    ``pool="cls"`` classifies from a prepended CLS token; ``pool="mean"`` from the mean of the
    patch tokens (no CLS token). ``pos="learned"`` trains a position table (interpolated
    bicubically for another image size); ``pos="sincos"`` uses the fixed 2-D sine-cosine table
    (recomputed for another size). ``stem_channels > 0`` makes the paper's *hybrid* (section 3.1):
    a 3x3 convolution with that many channels and a GELU first, and the patches cut from its
    feature map instead of the pixels. ``distillation_token=True`` makes DeiT: a second learned
    token after CLS, read by its own ``distillation_head``; ``forward`` returns the mean of the two
    heads' logits and ``heads`` both of them, for the distillation loss (``vitlearn.distill``).
    Defaults: ViT-B's recipe (pre-norm, GELU, MLP 4x width).
    """

    def __init__(self, config: ViTConfig | None = None, /, **fields: Any) -> None:
        super().__init__()
        config = self.config = replace(config if config is not None else ViTConfig(), **fields)
        dim, prefix = config.dim, config.num_prefix_tokens
        self.patch_size, self.pool, self.pos = config.patch_size, config.pool, config.pos
        self.grid = config.grid
        self.num_prefix_tokens = prefix
        self.patch_embedding = nn.Conv2d(config.stem_channels or config.in_channels, dim,
                                         kernel_size=config.patch_size, stride=config.patch_size)
        if config.pool == "cls":
            self.cls_token = nn.Parameter(torch.zeros(1, dim))  # (1, D), shared by every image
        if config.distillation_token:
            self.distillation_token = nn.Parameter(torch.zeros(1, dim))  # (1, D), shared by every image
        rows = prefix + self.grid[0] * self.grid[1]
        if config.pos == "learned":
            self.position_table = nn.Parameter(torch.zeros(rows, dim))  # (prefix + N, D)
        else:
            self.register_buffer("position_table", self._sincos_table(self.grid), persistent=False)
        self.encoder = Encoder(dim, config.depth, config.num_heads, config.mlp_dim or 4 * dim, eps=config.eps)
        self.head = nn.Linear(dim, config.num_classes)
        if config.distillation_token:
            self.distillation_head = nn.Linear(dim, config.num_classes)
        self.apply(self._init_weights)
        if config.pos == "learned":
            nn.init.trunc_normal_(self.position_table, std=0.02)
        if config.pool == "cls":
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        if config.distillation_token:
            nn.init.trunc_normal_(self.distillation_token, std=0.02)
        stem = _conv_stem(config.in_channels, config.stem_channels) if config.stem_channels else None
        self.stem = stem  # after the ViT init above: the stem keeps PyTorch's default init

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """ViT's initialisation: truncated normal (std 0.02) weights, zero biases."""
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def _sincos_table(self, grid: tuple[int, int]) -> torch.Tensor:
        """Prefix rows of zeros, then the fixed 2-D sin-cos rows: ``(prefix + h*w, D)``."""
        dim = self.config.dim
        prefix = torch.zeros(self.num_prefix_tokens, dim)
        return torch.cat([prefix, sincos_position_embedding_2d(grid[0], grid[1], dim)])

    def position_table_for(self, grid: tuple[int, int]) -> torch.Tensor:
        """The position table for a ``grid_h x grid_w`` patch grid: ``(prefix + h*w, D)``."""
        if grid == self.grid:
            return self.position_table
        if self.pos == "sincos":
            return self._sincos_table(grid).to(self.position_table)
        return interpolate_position_embedding(self.position_table, self.grid, grid, self.num_prefix_tokens)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the encoder's input tokens ``(B, prefix + N, D)``."""
        features = images if self.stem is None else self.stem(images)  # (B, C or stem_channels, H, W)
        tokens = image2emb_conv(features, self.patch_embedding.weight, self.patch_size)  # (B, N, D)
        tokens = tokens + self.patch_embedding.bias  # (B, N, D)
        if self.config.distillation_token:
            tokens = prepend_cls(tokens, self.distillation_token)  # (B, 1 + N, D): CLS goes in front of it
        if self.pool == "cls":
            tokens = prepend_cls(tokens, self.cls_token)  # (B, prefix + N, D)
        grid = (images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size)
        return add_position_embedding(tokens, self.position_table_for(grid))  # (B, prefix + N, D)

    def encode(self, images: torch.Tensor, return_attention: bool = False):
        """Images ``(B, C, H, W)`` -> the encoder's output ``(B, T, D)``, ``T = prefix + N``; with
        ``return_attention=True`` also each layer's ``(B, h, T, T)`` attention weights (else ``None``)."""
        tokens = self.embed(images)  # (B, T, D)
        if return_attention:
            return self.encoder(tokens, return_attention=True)  # (B, T, D), [(B, h, T, T)]
        return self.encoder(tokens), None  # (B, T, D): the fused attention, no weights kept

    def forward(self, images: torch.Tensor, return_attention: bool = False):
        """Images ``(B, C, H, W)`` (any size divisible by the patch size) -> logits ``(B, K)``.

        DeiT (``distillation_token=True``): the mean of the CLS and distillation heads' logits.
        With ``return_attention=True`` also returns each layer's ``(B, h, T, T)`` attention weights.
        """
        encoded, attention = self.encode(images, return_attention)  # (B, T, D), [(B, h, T, T)] or None
        if self.config.distillation_token:
            cls_logits, distillation_logits = self._two_heads(encoded)  # (B, K), (B, K)
            logits = (cls_logits + distillation_logits) / 2  # (B, K): DeiT's inference, as Hugging Face's
        else:
            pooled = cls_token_output(encoded) if self.pool == "cls" else encoded.mean(dim=1)  # (B, D)
            logits = self.head(pooled)  # (B, K)
        return (logits, attention) if return_attention else logits

    def heads(self, images: torch.Tensor, return_attention: bool = False):
        """DeiT's two heads: images ``(B, C, H, W)`` -> ``(cls_logits, distillation_logits)``, each ``(B, K)``,
        read from the encoder's output at token 0 (CLS) and token 1 (distillation). Needs
        ``distillation_token=True``. With ``return_attention=True`` also the attention weights."""
        if not self.config.distillation_token:
            raise ValueError("heads() needs a DeiT model: build it with distillation_token=True")
        encoded, attention = self.encode(images, return_attention)  # (B, T, D), [(B, h, T, T)] or None
        both = self._two_heads(encoded)  # (B, K), (B, K)
        return (both, attention) if return_attention else both

    def _two_heads(self, encoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The encoder's output ``(B, T, D)`` -> the CLS head's and the distillation head's logits, ``(B, K)`` each."""
        return self.head(encoded[:, 0]), self.distillation_head(encoded[:, 1])  # (B, K), (B, K)

    @classmethod
    def from_hf(cls, hf_model: nn.Module) -> ViT:
        """A vitlearn ViT carrying the weights of a ``transformers`` ``ViTForImageClassification``, or
        DeiT from a ``DeiTForImageClassificationWithTeacher`` (``distillation_token=True``).

        Both give the same logits in eval mode, also at another resolution (call the Hugging Face
        model with ``interpolate_pos_encoding=True``). Works with transformers 4.x and 5.x names.
        """
        config = hf_model.config
        deit = hasattr(hf_model, "distillation_classifier")
        if config.hidden_act != "gelu":
            raise ValueError(f"only exact GELU is supported, the model uses {config.hidden_act!r}")
        model = cls(ViTConfig(image_size=config.image_size, patch_size=config.patch_size,
                              in_channels=config.num_channels, num_classes=config.num_labels, dim=config.hidden_size,
                              depth=config.num_hidden_layers, num_heads=config.num_attention_heads,
                              mlp_dim=config.intermediate_size, eps=config.layer_norm_eps, distillation_token=deit))
        model.load_state_dict(_state_dict_from_hf(hf_model.state_dict(), config.num_hidden_layers, deit))
        return model


# Our name <- Hugging Face's, per block; transformers 5.x first, 4.x second.
_HF_BLOCK_NAMES = {
    "norm1": ("layernorm_before", "layernorm_before"),
    "attn.q_proj": ("attention.q_proj", "attention.attention.query"),
    "attn.k_proj": ("attention.k_proj", "attention.attention.key"),
    "attn.v_proj": ("attention.v_proj", "attention.attention.value"),
    "attn.out_proj": ("attention.o_proj", "attention.output.dense"),
    "norm2": ("layernorm_after", "layernorm_after"),
    "mlp.fc1": ("mlp.fc1", "intermediate.dense"),
    "mlp.fc2": ("mlp.fc2", "output.dense"),
}


def _state_dict_from_hf(hf: dict[str, torch.Tensor], depth: int, deit: bool = False) -> dict[str, torch.Tensor]:
    """Rename (and reshape) a ``ViTForImageClassification`` (or, ``deit=True``, a
    ``DeiTForImageClassificationWithTeacher``) state dict into vitlearn's names."""
    base = "deit" if deit else "vit"
    version = 0 if f"{base}.layers.0.layernorm_before.weight" in hf else 1
    layer = (f"{base}.layers.{{}}.", f"{base}.encoder.layer.{{}}.")[version]
    head = "cls_classifier" if deit else "classifier"
    state = {
        "cls_token": hf[f"{base}.embeddings.cls_token"].reshape(1, -1),  # (1, 1, D) -> (1, D)
        "position_table": hf[f"{base}.embeddings.position_embeddings"][0],  # (1, prefix+N, D) -> (prefix+N, D)
        "patch_embedding.weight": hf[f"{base}.embeddings.patch_embeddings.projection.weight"],
        "patch_embedding.bias": hf[f"{base}.embeddings.patch_embeddings.projection.bias"],
        "encoder.norm.weight": hf[f"{base}.layernorm.weight"],
        "encoder.norm.bias": hf[f"{base}.layernorm.bias"],
        "head.weight": hf[f"{head}.weight"],
        "head.bias": hf[f"{head}.bias"],
    }
    if deit:
        state["distillation_token"] = hf["deit.embeddings.distillation_token"].reshape(1, -1)  # (1, 1, D) -> (1, D)
        state["distillation_head.weight"] = hf["distillation_classifier.weight"]
        state["distillation_head.bias"] = hf["distillation_classifier.bias"]
    for i in range(depth):
        for ours, names in _HF_BLOCK_NAMES.items():
            for field in ("weight", "bias"):
                state[f"encoder.blocks.{i}.{ours}.{field}"] = hf[layer.format(i) + names[version] + f".{field}"]
    return state


# The models of scikit-learn's bundled digits (8x8 scans, 1 channel, 10 classes): `vitlearn train`,
# benchmarks/train_digits.py and chapter 07 start from them. Patch 4 makes a 2x2 grid of 4x4
# patches (5 tokens with CLS): cheap steps, so many passes fit into a minute. The hybrid (the ViT
# paper's section 3.1) cuts its patches from a 32-channel 3x3 convolution of the digit: the locality
# a pure ViT must learn from data is built in.
DIGITS_MODEL = ViTConfig(image_size=8, patch_size=4, in_channels=1, num_classes=10, dim=64, depth=4, num_heads=4)
DIGITS_HYBRID = replace(DIGITS_MODEL, stem_channels=32)
DIGITS_DEIT = replace(DIGITS_MODEL, distillation_token=True)
DIGITS_MODELS: dict[str, ViTConfig] = {"vit": DIGITS_MODEL, "hybrid": DIGITS_HYBRID}
