"""A small, honest training loop: AdamW, linear warm-up then cosine decay, seeded, evaluated.

Used by the chapters' experiments (CLS vs mean pooling, the whole ViT), by chapter 07 and by
``vitlearn train``. Stop after ``epochs`` passes over the data, or after a wall-clock ``budget``
in seconds (then the learning-rate schedule runs on the clock, so the cosine reaches 0 exactly
when the time is up, whatever the machine's speed). CPU or CUDA (``device="auto"``).

    split = digits(validation=0.2)  # choose on the validation images; look at the test set once
    model = ViT(image_size=8, patch_size=4, in_channels=1, dim=64, depth=4, num_heads=4)
    history = train(model, split.train_images, split.train_labels, TrainConfig(epochs=100, shift=0.5),
                    evaluation=(split.validation_images, split.validation_labels), progress=True)
    save_checkpoint(model, "digits.pt", validation_accuracy=history.evaluation_accuracy[-1])
    model = load_checkpoint("digits.pt")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlearn.data import TensorLoader, random_shift
from vitlearn.model import DIGITS_HYBRID as DIGITS_HYBRID  # the presets, re-exported: chapter 07 imports them here
from vitlearn.model import DIGITS_MODEL as DIGITS_MODEL
from vitlearn.model import DIGITS_MODELS as DIGITS_MODELS
from vitlearn.model import ViT, ViTConfig


@dataclass
class TrainConfig:
    """How to train.

    Stops after ``epochs`` passes over the data, or, when ``budget`` (seconds of training wall
    clock, evaluation not counted) is given, when the budget is spent (and also after ``epochs``
    if that is set too). The learning rate ramps up linearly over the first ``warmup_fraction``
    of the run, then follows a cosine to 0: by steps, or by elapsed time under a budget.
    ``shift`` > 0 moves each training image by a random offset in ``[-shift, shift]`` pixels,
    vertically and horizontally, resampled bilinearly (fractions of a pixel too, zeros filling
    in; ``vitlearn.data.random_shift``): the digits' augmentation.
    ``ema`` > 0 keeps an exponential moving average of the weights (decay ``ema`` per step, ramped
    up over the first steps), evaluates it, and puts it into the model at the end.
    """

    epochs: int | None = 20
    batch_size: int = 64
    lr: float = 3e-3  # peak learning rate, reached after the warm-up
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05  # share of the run spent ramping the learning rate up from 0
    label_smoothing: float = 0.0
    seed: int = 0
    budget: float | None = None  # seconds of training; None: stop by epochs only
    shift: float = 0.0  # random translations of training images by up to +-shift pixels; 0: none
    ema: float = 0.0  # weight averaging decay per step (e.g. 0.99); 0: off
    device: str = "auto"  # "auto" (CUDA if available, else CPU), "cpu", "cuda", "cuda:1", ...

    def __post_init__(self) -> None:
        if self.epochs is None and self.budget is None:
            raise ValueError("give epochs, a time budget in seconds, or both")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be a positive int or None, got {self.epochs!r}")
        if self.budget is not None and not self.budget > 0:
            raise ValueError(f"budget must be a positive number of seconds or None, got {self.budget!r}")
        if not self.shift >= 0:
            raise ValueError(f"shift must be a number of pixels >= 0, got {self.shift!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema!r}")

    @property
    def budget_only(self) -> bool:
        """True when only the time budget ends the run (no epoch limit): progress is counted in seconds."""
        return self.budget is not None and self.epochs is None


@dataclass
class History:
    """What happened. Per step: the loss and the learning rate. Per epoch: the mean train loss,
    the train accuracy (on the augmented batches, while training), the accuracy on the evaluation
    images (when ``train`` is given some: validation images while choosing a recipe) and the
    training seconds spent so far."""

    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    evaluation_accuracy: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    device: str = "cpu"

    @property
    def seconds(self) -> float:
        """Training wall-clock seconds (evaluation excluded)."""
        return self.epoch_seconds[-1] if self.epoch_seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and numbers, ready for ``json.dump`` or a checkpoint's metadata."""
        return {**asdict(self), "seconds": self.seconds}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return device


# Two forms of one schedule, linear warm-up then cosine to 0: by steps when training by epochs, on
# the clock under a time budget. They differ at the very start: by steps the warm-up counts whole
# steps and the first step already gets peak / warm-up steps; on the clock the rate starts at
# peak / 1000 (not 0, so the first steps move). One formula for both would change the learning
# rates, and so the accuracies, that the chapters print.


def learning_rate_by_step(step: int, total_steps: int, peak: float, warmup_fraction: float) -> float:
    """Step ``step`` (from 0) of ``total_steps``: linear warm-up to ``peak`` over the first
    ``round(warmup_fraction * total_steps)`` steps (at least one), then a cosine to 0."""
    warmup = max(1, round(warmup_fraction * total_steps))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


def learning_rate_by_clock(progress: float, peak: float, warmup_fraction: float) -> float:
    """The schedule on a continuous clock: ``progress`` in [0, 1] is the share of the time budget
    spent; linear warm-up from ``peak / 1000`` to ``peak`` over ``warmup_fraction``, then a cosine to 0."""
    progress = min(max(progress, 0.0), 1.0)
    if progress < warmup_fraction:
        return peak * max(progress / warmup_fraction, 1e-3)
    done = (progress - warmup_fraction) / max(1e-12, 1 - warmup_fraction)
    return peak * 0.5 * (1 + math.cos(math.pi * done))


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Predicted classes ``(n,)`` (on the CPU) of ``model`` for ``(n, C, H, W)`` images, in eval mode."""
    was_training = model.training
    model.eval()
    device = _device_of(model)
    predictions = [model(images[i:i + batch_size].to(device)).argmax(-1).cpu()
                   for i in range(0, len(images), batch_size)]
    model.train(was_training)
    return torch.cat(predictions) if predictions else torch.zeros(0, dtype=torch.int64)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 512) -> float:
    """Accuracy in [0, 1] of ``model`` on ``(n, C, H, W)`` images with ``(n,)`` labels, in eval mode."""
    return (predict(model, images, batch_size) == labels.cpu()).sum().item() / len(images)


class _Clock:
    """Training seconds: runs while training, paused during evaluation. Synchronises CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.spent, self.started = 0.0, None

    def start(self) -> None:
        self.started = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
        self.spent += time.perf_counter() - self.started
        self.started = None

    def now(self) -> float:
        return self.spent + (time.perf_counter() - self.started if self.started is not None else 0.0)


def train(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, config: TrainConfig | None = None,
          evaluation: tuple[torch.Tensor, torch.Tensor] | None = None, progress: bool | TextIO = False,
          batch_loss: Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None = None,
          ) -> History:
    """Train ``model`` on ``(n, C, H, W)`` float images and ``(n,)`` int64 labels; returns a History.

    The model is moved to ``config.device`` (and stays there); batches are moved as they are
    used, so ``images`` may stay on the CPU. With ``evaluation=(images, labels)`` the accuracy on
    those images is measured after every epoch (and when a budget ends an epoch early): pass the
    validation images while choosing a recipe, and look at the test set once, after training
    (``evaluate``). ``progress=True`` shows a
    tqdm bar with loss and accuracy on stderr; pass a file (e.g. ``sys.stdout``) to write it there.
    ``batch_loss(model, images, labels) -> (logits (b, K), loss)`` replaces the cross-entropy of
    ``model(images)`` on each (augmented) batch, e.g. DeiT's distillation (``vitlearn.distill``).
    """
    config = config or TrainConfig()
    device = resolve_device(config.device)
    model.to(device)
    loader = TensorLoader(images, labels, config.batch_size, shuffle=True, seed=config.seed)
    augment = torch.Generator().manual_seed(config.seed + 1) if config.shift else None
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    parameters = list(model.parameters())
    average = [p.detach().clone() for p in parameters] if config.ema else None  # the EMA of the weights
    steps_per_epoch = len(loader)
    total_steps = config.epochs * steps_per_epoch if config.epochs is not None else None
    history = History(device=str(device))
    bar = _progress_bar(progress, config, total_steps)
    clock = _Clock(device)
    model.train()
    epoch = 0
    out_of_time = False
    while not out_of_time and (config.epochs is None or epoch < config.epochs):
        clock.start()
        losses, correct, seen = [], 0, 0
        for batch_images, batch_labels in loader:
            if config.budget is not None:
                progress_now = clock.now() / config.budget
                if progress_now >= 1.0:
                    out_of_time = True
                    break
                rate = learning_rate_by_clock(progress_now, config.lr, config.warmup_fraction)
            else:
                rate = learning_rate_by_step(len(history.step_lr), total_steps, config.lr, config.warmup_fraction)
            for group in optimizer.param_groups:
                group["lr"] = rate
            batch_images = batch_images.to(device, non_blocking=True)
            batch_labels = batch_labels.to(device, non_blocking=True)
            if augment is not None:
                batch_images = random_shift(batch_images, config.shift, augment)
            if batch_loss is None:
                logits = model(batch_images)  # (b, K)
                loss = F.cross_entropy(logits, batch_labels, label_smoothing=config.label_smoothing)
            else:  # e.g. DeiT's distillation loss (vitlearn.distill)
                logits, loss = batch_loss(model, batch_images, batch_labels)  # (b, K), ()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if average is not None:  # decay ramps up (1/10, 2/11, ...) so the random start is soon forgotten
                step = len(history.step_lr)
                with torch.no_grad():
                    torch._foreach_lerp_(average, [p.detach() for p in parameters],
                                         1 - min(config.ema, (1 + step) / (10 + step)))
            losses.append(loss.detach())
            correct += (logits.detach().argmax(-1) == batch_labels).sum()
            seen += len(batch_labels)
            history.step_lr.append(rate)
            if bar is not None:
                _advance(bar, config, clock, loss)
        clock.stop()
        if not losses:
            break
        step_losses = torch.stack(losses).tolist()  # one device sync per epoch, not per step
        history.step_loss.extend(step_losses)
        history.epoch_loss.append(sum(step_losses) / len(step_losses))
        history.train_accuracy.append(int(correct) / seen)
        history.epoch_seconds.append(clock.spent)
        epoch += 1
        if evaluation is not None:
            history.evaluation_accuracy.append(_evaluate_with(model, average, evaluation))
        if bar is not None:
            postfix = {"loss": f"{history.epoch_loss[-1]:.3f}", "train": f"{history.train_accuracy[-1]:.1%}"}
            if history.evaluation_accuracy:
                postfix["evaluation"] = f"{history.evaluation_accuracy[-1]:.1%}"
            bar.set_postfix(postfix, refresh=True)
    if average is not None:
        _copy_into(parameters, average)  # the model keeps the averaged weights
    if bar is not None:
        if config.budget_only:
            bar.n = bar.total
        bar.close()
    return history


def _copy_into(parameters: list[torch.Tensor], values: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for parameter, value in zip(parameters, values):
            parameter.copy_(value)


def _evaluate_with(model: nn.Module, average: list[torch.Tensor] | None,
                   evaluation: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Accuracy of the model on the evaluation pair, with the averaged weights swapped in when there are some."""
    if average is None:
        return evaluate(model, *evaluation)
    parameters = list(model.parameters())
    current = [p.detach().clone() for p in parameters]
    _copy_into(parameters, average)
    try:
        return evaluate(model, *evaluation)
    finally:
        _copy_into(parameters, current)


def _progress_bar(progress: bool | TextIO, config: TrainConfig, total_steps: int | None):
    if progress is False or progress is None:
        return None
    from tqdm import tqdm

    file = None if progress is True else progress
    every = 0.5 if progress is True else 3.0  # a file or notebook output keeps every update: fewer of them
    if config.budget_only:
        return tqdm(total=round(config.budget), unit="s", desc="training", file=file, mininterval=every,
                    bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total_fmt} s{postfix}")
    return tqdm(total=total_steps, unit="step", desc="training", file=file, mininterval=every)


def _advance(bar, config: TrainConfig, clock: _Clock, loss: torch.Tensor) -> None:
    if config.budget_only:
        elapsed = min(round(clock.now(), 1), bar.total)
        if elapsed > bar.n:
            bar.update(elapsed - bar.n)  # tqdm redraws at most every `mininterval` seconds
    else:
        bar.update(1)


CHECKPOINT_FORMAT = "vitlearn.ViT/1"


def save_checkpoint(model: ViT, path: str | Path, **metadata: Any) -> Path:
    """Write ``model``'s weights (on the CPU), its ``ViTConfig`` (as ``asdict(config)``) and
    ``metadata`` to ``path``.

    ``metadata`` holds plain values (numbers, strings, lists, dicts, e.g. a History's
    ``to_dict()``), which ``torch.load(weights_only=True)`` can read back.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    torch.save({"format": CHECKPOINT_FORMAT, "config": asdict(model.config), "state_dict": state,
                "metadata": metadata}, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint as a dict (``format``, ``config``, ``state_dict``, ``metadata``), loaded with
    ``weights_only=True``: no code from the file is run."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a vitlearn checkpoint (written by vitlearn.train.save_checkpoint)")
    return checkpoint


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> ViT:
    """Rebuild the ``vitlearn.model.ViT`` saved by ``save_checkpoint``, in eval mode, on ``device``.

    Its metadata is on ``model.checkpoint_metadata``.
    """
    checkpoint = read_checkpoint(path)
    model = ViT(ViTConfig(**checkpoint["config"]))
    model.load_state_dict(checkpoint["state_dict"])
    model.checkpoint_metadata = checkpoint["metadata"]
    return model.to(resolve_device(device)).eval()


def digits_recipe(**changes: Any) -> TrainConfig:
    """The default ``TrainConfig`` for the digits, for both ``vitlearn.model.DIGITS_MODELS``: a 60 s
    wall-clock budget, AdamW at a peak of 1e-3, weight decay 0.05, batch 64, a cosine from the peak
    to 0 (on the clock), and random shifts of up to half a pixel (resampled bilinearly; a whole
    pixel is an eighth of these centred 8x8 digits).

    Each ingredient was chosen on validation images, never the test set (docs/results.md):
    warm-up, label smoothing and weight averaging did not beat the seed-to-seed spread, so they
    are off. ``changes`` override fields, e.g. ``digits_recipe(budget=None, epochs=30)`` or ``shift=0``."""
    return TrainConfig(**{**dict(epochs=None, budget=60.0, batch_size=64, lr=1e-3, weight_decay=0.05,
                                 warmup_fraction=0.0, label_smoothing=0.0, shift=0.5, ema=0.0), **changes})
