"""A small, honest training loop: AdamW, linear warm-up then cosine decay, seeded, evaluated.

Used by the chapters' experiments (CLS vs mean pooling, the whole ViT) and by chapter 07.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TrainConfig:
    """How to train: ``epochs`` passes over the data in shuffled mini-batches."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate, reached after the warm-up
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05  # share of all steps spent ramping the learning rate up from 0
    label_smoothing: float = 0.0
    seed: int = 0


@dataclass
class History:
    """What happened: the loss of every step, and per epoch the mean train loss and test accuracy."""

    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    test_accuracy: list[float] = field(default_factory=list)


def learning_rate(step: int, total_steps: int, peak: float, warmup_fraction: float) -> float:
    """Linear warm-up to ``peak`` over the first ``warmup_fraction`` of steps, then cosine to 0."""
    warmup = max(1, round(warmup_fraction * total_steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Accuracy in [0, 1] of ``model`` on ``(n, C, H, W)`` images with ``(n,)`` labels, in eval mode."""
    was_training = model.training
    model.eval()
    correct = sum((model(images[i:i + batch_size]).argmax(-1) == labels[i:i + batch_size]).sum().item()
                  for i in range(0, len(images), batch_size))
    model.train(was_training)
    return correct / len(images)


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig | None = None,
          test: tuple[torch.Tensor, torch.Tensor] | None = None) -> History:
    """Train ``model`` on ``(n, C, H, W)`` images and ``(n,)`` int64 labels; evaluate on ``test`` each epoch."""
    config = config or TrainConfig()
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(images) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    history = History()
    model.train()
    for _ in range(config.epochs):
        order = torch.randperm(len(images), generator=generator)  # (n,) a new shuffle each epoch
        for start in range(0, len(images), config.batch_size):
            batch = order[start:start + config.batch_size]
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(len(history.step_loss), total_steps, config.lr, config.warmup_fraction)
            logits = model(images[batch])  # (b, K)
            loss = F.cross_entropy(logits, labels[batch], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.step_loss.append(loss.item())
        history.epoch_loss.append(sum(history.step_loss[-steps_per_epoch:]) / steps_per_epoch)
        if test is not None:
            history.test_accuracy.append(evaluate(model, *test))
    return history
