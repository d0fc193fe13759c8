"""Chapter 08's figures: DeiT's two prefix tokens and two heads, how alike the two tokens grow
layer by layer, each head's accuracy, and where each token looks (attention rollout)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from vitlearn._validate import require_tensor
from vitlearn.viz.drawing import show_image
from vitlearn.viz.style import cycle_colors, diagram_size, line_width, marker_size, styled


@styled
def plot_deit_tokens(num_patches: int = 4) -> Figure:
    """DeiT as one diagram: the sequence ``[CLS, DIST, p1 .. pN]`` into the encoder, the CLS output
    into the class head (cross-entropy with the true label), the distillation output into its own
    head (cross-entropy with the teacher CNN's label), and at inference the mean of the two heads'
    logits. Takes no data; ``num_patches`` boxes are drawn (the digits: 4). One axes."""
    if not isinstance(num_patches, int) or not 1 <= num_patches <= 8:
        raise ValueError(f"num_patches must be an int from 1 to 8 (boxes to draw), got {num_patches!r}")
    colors = cycle_colors()
    fig, ax = plt.subplots(figsize=diagram_size(10, 6.4), layout="constrained")
    tokens = [("CLS", colors[1]), ("DIST", colors[3])] + [(f"p{i}", colors[0]) for i in range(1, num_patches + 1)]
    width, step = 1.2, 1.45

    def box(x, y, w, h, text, color, alpha=0.35):
        ax.add_patch(Rectangle((x, y), w, h, facecolor=color, alpha=alpha, linewidth=0))
        ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor="black", linewidth=line_width(1.2)))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center")

    def arrow(start, end):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=line_width(1.2),
                                     color="black"))

    for i, (name, color) in enumerate(tokens):
        box(i * step, 0, width, 0.8, name, color)
        box(i * step, 3.2, width, 0.8, f"out {name}" if i < 2 else "", color, alpha=0.15 if i >= 2 else 0.35)
    span = (len(tokens) - 1) * step + width
    box(0, 1.45, span, 1.1, "Transformer encoder: every token attends to every other (pre-norm blocks, chapter 05)",
        "0.85")
    for i in range(len(tokens)):
        arrow((i * step + width / 2, 0.8), (i * step + width / 2, 1.45))
        arrow((i * step + width / 2, 2.55), (i * step + width / 2, 3.2))
    half = span / 2 - 0.15
    heads = [(0, "head: CE with the true label y", colors[1]),
             (1, "distillation head: CE with the teacher's label", colors[3])]
    for i, text, color in heads:
        x = i * (half + 0.3)
        box(x, 4.7, half, 0.8, text, color)
        arrow((i * step + width / 2, 4.0), (x + half / 2, 4.7))
    ax.text(span / 2, 5.9, "at inference: (logits$_{CLS}$ + logits$_{DIST}$) / 2", ha="center", va="center",
            fontsize="large")
    ax.text(span / 2, -0.45, "+ position table: one row per token, 2 + N rows", ha="center", va="center")
    ax.set_xlim(-0.3, span + 0.3)
    ax.set_ylim(-0.8, 6.3)
    ax.axis("off")
    ax.set_title("DeiT: a second prefix token, taught by a teacher, read by its own head")
    return fig


@styled
def plot_token_similarity(similarities: torch.Tensor, *, title: str = "How alike the two tokens are, layer by layer"
                          ) -> Figure:
    """The cosine similarity of the CLS and distillation tokens against depth.

    similarities ``(depth + 1,)`` (``distill.token_similarity_by_layer``): index 0 at the encoder's
    input, then after each block. DeiT reports 0.06 at the input and 0.93 after the last layer.
    """
    similarities = require_tensor(similarities, "similarities", 1, "(depth + 1,)").detach().cpu().double().numpy()
    depth = np.arange(len(similarities))
    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    ax.plot(depth, similarities, marker="o", markersize=marker_size(1.1), linewidth=line_width(1.8),
            color=cycle_colors()[3])
    ax.axhline(1.0, color="0.5", linestyle=":", linewidth=line_width(1.0))
    ax.set_xticks(depth, ["input", *(str(i) for i in depth[1:])])
    ax.set_ylim(min(0.0, similarities.min() - 0.05), 1.05)
    ax.set(xlabel="after block (network depth)", ylabel="cosine(CLS, distillation token)")
    ax.grid(alpha=0.3)
    ax.set_title(title)
    return fig


@styled
def plot_head_accuracies(accuracies: dict[str, float], *, total: int | None = None,
                         reference: tuple[str, float] | None = None,
                         title: str = "Each head alone, and the two averaged") -> Figure:
    """Horizontal bars: name -> accuracy in [0, 1] (the teacher, the CLS head, the distillation head,
    their average, ...), in the order given. ``total`` (the number of test images) adds the count
    of mistakes to each bar; ``reference`` draws a dashed line (e.g. ``("SVC", 0.9889)``)."""
    if not accuracies or not all(0 <= a <= 1 for a in accuracies.values()):
        raise ValueError(f"accuracies must be a non-empty dict of name -> accuracy in [0, 1], got {accuracies!r}")
    names, values = list(accuracies), 100 * np.array(list(accuracies.values()))
    fig, ax = plt.subplots(figsize=(8.5, 0.75 * len(names) + 1.6), layout="constrained")
    colors = cycle_colors()
    ax.barh(np.arange(len(names)), values, color=[colors[i % len(colors)] for i in range(len(names))], alpha=0.8)
    for i, value in enumerate(values):
        wrong = f" ({round((100 - value) / 100 * total)} wrong)" if total else ""
        ax.text(value, i, f" {value:.2f} %{wrong}", va="center")
    if reference is not None:
        ax.axvline(100 * reference[1], color="black", linestyle="--", linewidth=line_width(1.2),
                   label=f"{reference[0]}: {100 * reference[1]:.2f} %")
        ax.legend(loc="lower left", fontsize="small")
    ax.set_yticks(np.arange(len(names)), names)
    ax.invert_yaxis()
    low = min(values.min(), 100 * reference[1] if reference else 100)
    ax.set_xlim(max(0, low - 2), 100.6)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title(title)
    return fig


@styled
def plot_token_rollout(images: torch.Tensor, cls_maps: torch.Tensor, distillation_maps: torch.Tensor, *,
                       labels: list[str] | None = None) -> Figure:
    """Where each token draws from: per image, the image, the CLS token's rollout map over it, and
    the distillation token's.

    images ``(B, C, H, W)`` in [0, 1]; maps ``(B, grid_h, grid_w)`` each (``distill.prefix_rollout_maps``),
    upsampled bilinearly to ``H x W`` and scaled to their own maximum. ``labels`` titles the columns.
    """
    images = require_tensor(images, "images", 4, "(B, C, H, W)").detach().cpu()
    maps = [require_tensor(m, name, 3, "(B, grid_h, grid_w)").detach().cpu().float()
            for m, name in ((cls_maps, "cls_maps"), (distillation_maps, "distillation_maps"))]
    if any(len(m) != len(images) for m in maps):
        raise ValueError(f"need one map of each token per image, got {len(images)} images and "
                         f"{len(maps[0])}, {len(maps[1])} maps")
    count = len(images)
    fig, axes = plt.subplots(3, count, figsize=(2.2 * count + 0.8, 7.4), squeeze=False, layout="constrained")
    for row, token_maps in enumerate(maps, start=1):
        up = torch.nn.functional.interpolate(token_maps[:, None], size=images.shape[-2:], mode="bilinear",
                                             align_corners=False)[:, 0]  # (B, H, W)
        up = up / up.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
        for i in range(count):
            show_image(axes[row, i], images[i])
            shown = axes[row, i].imshow(up[i].numpy(), cmap="inferno", alpha=0.65, vmin=0, vmax=1)
    for i in range(count):
        show_image(axes[0, i], images[i])
        axes[0, i].set_title(labels[i] if labels else f"image {i}", fontsize="medium")
    for row, name in enumerate(("input", "CLS", "distillation")):
        axes[row, 0].set_ylabel(name)
    fig.colorbar(shown, ax=axes[1:, :].ravel().tolist(), shrink=0.8, label="share reaching\nthe token (max = 1)")
    fig.suptitle("Attention rollout of the two tokens: which pixels each one's output draws on")
    return fig
