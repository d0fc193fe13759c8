"""Chapter 08: DeiT's distillation through attention (Touvron et al., 2021, arXiv:2012.12877).

A pure ViT learns locality from data; on 1,437 digits it has little to learn it from. DeiT lets a
small CNN, which has locality built in, teach it: a second prefix token (``ViT(...,
distillation_token=True)``) with its own head learns to predict the teacher's labels, the CLS
head the true ones, and at inference the two heads' logits are averaged.

    teacher = digits_teacher()
    student = ViT(DIGITS_DEIT)
    recipe = digits_distillation_recipe(budget=60)            # the teacher's time counts in the 60 s
    teacher_history, student_history = train_deit(student, teacher, images, labels, recipe)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from vitlearn.interpret import attention_rollout
from vitlearn.model import ViT, classification_loss
from vitlearn.train import History, TrainConfig, train


def distillation_loss(cls_logits: torch.Tensor, distillation_logits: torch.Tensor, labels: torch.Tensor,
                      teacher_logits: torch.Tensor, alpha: float = 0.5, temperature: float | None = None,
                      label_smoothing: float = 0.0) -> torch.Tensor:
    """DeiT's loss, a scalar: the CLS head learns the labels, the distillation head the teacher.

    ``cls_logits``, ``distillation_logits``, ``teacher_logits`` ``(B, K)``; ``labels`` ``(B,)`` int64.

    * hard distillation (``temperature=None``, DeiT's choice):
      ``(1 - alpha) * CE(cls_logits, labels) + alpha * CE(distillation_logits, teacher_logits.argmax(-1))``;
    * soft distillation (``temperature=tau``): the second term is
      ``alpha * tau**2 * KL(softmax(teacher / tau) || softmax(distillation / tau))``, averaged over
      the batch (the teacher is the target distribution; ``tau**2`` keeps the gradients' scale).

    The teacher is a fixed target: no gradient flows into ``teacher_logits``. ``label_smoothing``
    smooths the true labels' term only (the CLS head's), as DeiT's training does.
    """
    classification_loss(cls_logits, labels)  # validates the logits and the labels
    for name, logits in (("distillation_logits", distillation_logits), ("teacher_logits", teacher_logits)):
        if not isinstance(logits, torch.Tensor) or logits.shape != cls_logits.shape:
            raise ValueError(f"{name} must be a tensor of the cls_logits' shape {tuple(cls_logits.shape)}, got "
                             f"{tuple(getattr(logits, 'shape', ())) or type(logits).__name__}")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha (the distillation term's weight) must be in [0, 1], got {alpha!r}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be a positive number, or None for hard distillation, got {temperature!r}")
    label_term = F.cross_entropy(cls_logits, labels, label_smoothing=label_smoothing)  # ()
    if temperature is None:
        teacher_term = hard_distillation_term(distillation_logits, teacher_logits)  # ()
    else:
        teacher_term = soft_distillation_term(distillation_logits, teacher_logits, temperature)  # ()
    return (1 - alpha) * label_term + alpha * teacher_term  # ()


def hard_distillation_term(distillation_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """``CE(distillation_logits, teacher_logits.argmax(-1))``, a scalar: the distillation head learns the
    teacher's label. Both ``(B, K)``; the teacher is a target (detached)."""
    return F.cross_entropy(distillation_logits, teacher_logits.detach().argmax(dim=-1))  # ()


def soft_distillation_term(distillation_logits: torch.Tensor, teacher_logits: torch.Tensor,
                           temperature: float) -> torch.Tensor:
    """``tau**2 * KL(softmax(teacher / tau) || softmax(distillation / tau))``, averaged over the batch, a
    scalar. Both ``(B, K)``; the teacher is the target distribution (detached)."""
    student_log_p = F.log_softmax(distillation_logits / temperature, dim=-1)  # (B, K)
    teacher_log_p = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)  # (B, K)
    kl = F.kl_div(student_log_p, teacher_log_p, reduction="batchmean", log_target=True)  # () KL(teacher || student)
    return temperature ** 2 * kl  # ()


TEACHER_CHANNELS = 16  # the digits teacher's width: as accurate as 32 on validation, and cheaper to run


def digits_teacher(channels: int = TEACHER_CHANNELS, num_classes: int = 10) -> nn.Sequential:
    """A small CNN for the 8x8 digits, DeiT's teacher: ``(B, 1, 8, 8)`` -> logits ``(B, num_classes)``.

    Two 3x3 convolutions at 8x8, a 2x2 max-pool, a third convolution at 4x4, a linear head: the
    locality (3x3 neighbourhoods) and the small shift tolerance (pooling) a pure ViT lacks.
    """
    wide = 2 * channels
    return nn.Sequential(
        nn.Conv2d(1, channels, kernel_size=3, padding=1), nn.GELU(),  # (B, c, 8, 8)
        nn.Conv2d(channels, wide, kernel_size=3, padding=1), nn.GELU(),  # (B, 2c, 8, 8)
        nn.MaxPool2d(2),  # (B, 2c, 4, 4)
        nn.Conv2d(wide, wide, kernel_size=3, padding=1), nn.GELU(),  # (B, 2c, 4, 4)
        nn.Flatten(),  # (B, 2c * 16)
        nn.Linear(wide * 16, num_classes),  # (B, K)
    )


BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def distillation_batch_loss(teacher: nn.Module, alpha: float = 0.5, temperature: float | None = None,
                            label_smoothing: float = 0.0) -> BatchLoss:
    """The ``batch_loss`` hook of ``vitlearn.train.train`` for a DeiT student taught by ``teacher``.

    On each (augmented) batch ``(b, C, H, W)``: the teacher's logits (eval mode, no gradient), the
    student's two heads, ``distillation_loss``; returns the averaged logits ``(b, K)`` (for the
    running accuracy) and the loss.
    """
    teacher.eval()

    def batch_loss(student: ViT, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            teacher_logits = teacher(images)  # (b, K)
        cls_logits, distillation_logits = student.heads(images)  # (b, K), (b, K)
        loss = distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha, temperature,
                                 label_smoothing)  # ()
        return (cls_logits + distillation_logits) / 2, loss  # (b, K), ()

    return batch_loss


@dataclass(frozen=True)
class DistillationRecipe:
    """How ``train_deit`` trains the teacher, then the student.

    ``budget`` (seconds) is the whole run's: the teacher trains for ``teacher.budget`` of it, the
    student for what the teacher left. ``None``: each stops by its own epochs.
    """

    teacher: TrainConfig = field(default_factory=TrainConfig)
    student: TrainConfig = field(default_factory=TrainConfig)
    alpha: float = 0.5  # the distillation term's weight
    temperature: float | None = None  # None: hard distillation (DeiT's); a number: soft, at that temperature
    budget: float | None = None  # seconds for teacher and student together; None: by epochs


TEACHER_EPOCHS = 20  # the digits teacher's passes: about 99 % on the validation images (chapter 08)

# The digits' DeiT recipe, chosen on validation images (chapter 08), fixed here rather than taken
# from digits_recipe so that a change there does not move these measured numbers. Both runs use
# chapter 07's optimizer and shifts; the teacher a higher peak rate, both label smoothing (for the
# student: on its CLS term), weight averaging and a warm-up of 5 % of the run.
TEACHER_RECIPE = dict(batch_size=64, lr=3e-3, weight_decay=0.05, warmup_fraction=0.05, label_smoothing=0.1,
                      shift=0.5, ema=0.99)
STUDENT_RECIPE = dict(batch_size=64, lr=1e-3, weight_decay=0.05, warmup_fraction=0.05, label_smoothing=0.1,
                      shift=0.5, ema=0.998)


def digits_distillation_recipe(budget: float | None = 60.0, epochs: int | None = None,
                               teacher_epochs: int = TEACHER_EPOCHS, seed: int = 0, device: str = "auto",
                               **student_changes) -> DistillationRecipe:
    """The digits' DeiT recipe: ``digits_teacher()``'s training (``TEACHER_RECIPE``), then the
    student's (``STUDENT_RECIPE``), soft distillation at temperature 3 with alpha 0.5.

    The teacher trains for ``teacher_epochs`` whatever the budget: its time counts in ``budget``
    (seconds, default 60), and the student trains for what is left; ``budget=None``: the student
    stops after ``epochs``. Soft distillation was chosen on validation images: hard distillation,
    DeiT's choice, did worse on the digits. ``student_changes`` override the student's fields.
    """
    teacher = TrainConfig(epochs=teacher_epochs, budget=None, seed=seed, device=device, **TEACHER_RECIPE)
    student = TrainConfig(**{**STUDENT_RECIPE, "epochs": epochs, "budget": budget, "seed": seed, "device": device,
                             **student_changes})
    return DistillationRecipe(teacher=teacher, student=student, temperature=3.0, budget=budget)


def train_deit(student: ViT, teacher: nn.Module, images: torch.Tensor, labels: torch.Tensor,
               recipe: DistillationRecipe, evaluation: tuple[torch.Tensor, torch.Tensor] | None = None,
               progress: bool = False) -> tuple[History, History]:
    """Train ``teacher`` on ``(n, C, H, W)`` images and ``(n,)`` labels, then the DeiT ``student``
    (``distillation_token=True``) taught by it; returns both Histories (teacher's, student's).

    Under a budget the student gets what the teacher's training seconds left of it. With
    ``evaluation=(images, labels)`` both runs measure their accuracy on them after every epoch.
    """
    if not student.config.distillation_token:
        raise ValueError("the student must be a DeiT model: ViT(..., distillation_token=True)")
    teacher_history = train(teacher, images, labels, recipe.teacher, evaluation, progress)
    student_config = recipe.student
    if recipe.budget is not None:
        left = recipe.budget - teacher_history.seconds
        if left <= 0:
            raise ValueError(f"the teacher used {teacher_history.seconds:.1f} s of the {recipe.budget:g} s budget: "
                             "nothing is left for the student")
        student_config = replace(student_config, budget=left)
    batch_loss = distillation_batch_loss(teacher, recipe.alpha, recipe.temperature, student_config.label_smoothing)
    student_history = train(student, images, labels, student_config, evaluation, progress,
                            batch_loss=batch_loss)
    return teacher_history, student_history


@torch.no_grad()
def token_similarity_by_layer(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """How alike the CLS and distillation tokens are, layer by layer: ``(depth + 1,)``.

    The cosine similarity of token 0 and token 1, averaged over the ``(B, C, H, W)`` images: at
    the encoder's input (the two learned tokens plus their position rows), then after each
    block. DeiT (section 5.1 of the paper) reports it rising from 0.06 at the input to 0.93 at the
    last layer: the tokens start different and end close, but not equal.
    """
    if not model.config.distillation_token:
        raise ValueError("the model has no distillation token: build it with distillation_token=True")
    tokens = model.embed(images)  # (B, T, D)
    similarities = [F.cosine_similarity(tokens[:, 0], tokens[:, 1], dim=-1).mean()]
    for block in model.encoder.blocks:
        tokens = block(tokens)  # (B, T, D)
        similarities.append(F.cosine_similarity(tokens[:, 0], tokens[:, 1], dim=-1).mean())
    return torch.stack(similarities)  # (depth + 1,)


def prefix_rollout_maps(attentions: list[torch.Tensor], grid: tuple[int, int], num_prefix_tokens: int = 2,
                        residual: float = 0.5) -> torch.Tensor:
    """How much each patch reaches each prefix token's output: ``(B, num_prefix_tokens, grid_h, grid_w)``.

    Row ``t`` of ``interpret.attention_rollout`` for each prefix token ``t`` (DeiT: 0 is CLS, 1 the
    distillation token), without the prefix columns, renormalised to sum to 1 and laid out as the
    patch grid (reading order): ``interpret.cls_rollout_map`` for every prefix token.
    """
    rollout = attention_rollout(attentions, residual)  # (B, T, T)
    grid_h, grid_w = grid
    if rollout.shape[-1] != num_prefix_tokens + grid_h * grid_w:
        raise ValueError(f"a {grid_h}x{grid_w} grid with {num_prefix_tokens} prefix tokens needs "
                         f"T = {num_prefix_tokens + grid_h * grid_w}, the weights have T = {rollout.shape[-1]}")
    rows = rollout[:, :num_prefix_tokens, num_prefix_tokens:]  # (B, prefix, N): patches -> each prefix token
    rows = rows / rows.sum(dim=-1, keepdim=True)
    return rows.reshape(len(rows), num_prefix_tokens, grid_h, grid_w)  # (B, prefix, grid_h, grid_w)
