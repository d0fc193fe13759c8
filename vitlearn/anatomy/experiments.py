"""Chapter 00's two experiments: what attention costs, and what a CNN knows that a ViT must learn.

* ``measure_attention_cost`` - one self-attention layer's time and memory against the sequence
  length ``N``: both grow as ``N^2`` (``vitlearn.measure.fit_quadratic`` fits the curve);
* ``SmallCNN``, ``inductive_bias_models``, ``data_efficiency`` - the inductive-bias experiment: a
  small CNN and a small ViT trained on 10 %, 30 % and 100 % of the digits, for the same number of
  steps each.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

import torch
import torch.nn as nn

from vitlearn._validate import require_positive_int
from vitlearn.attention import MultiHeadSelfAttention
from vitlearn.data import Split, stratified_subset
from vitlearn.measure import interleaved_medians, torch_threads
from vitlearn.model import ViT
from vitlearn.train import TrainConfig, evaluate, train


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
    with torch_threads(1), torch.no_grad():
        for n in lengths:
            x = torch.randn(1, n, dim)  # (1, N, D)
            seconds = interleaved_medians({"attention": partial(layer, x)}, repeats=repeats, warmup=1)["attention"]
            cost["length"].append(n)
            cost["seconds"].append(seconds)
            cost["bytes"].append(num_heads * n * n * x.element_size())
    return cost


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
