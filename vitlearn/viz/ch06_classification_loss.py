"""Chapter 06's figure: one image's trip through a ViT classifier, from pixels to class probabilities."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vitlearn._validate import require_divisible, require_positive_int, require_tensor
from vitlearn.viz.drawing import show_image
from vitlearn.viz.style import line_width, styled


@styled
def plot_forward_pass(image: torch.Tensor, patch_size: int, tokens: torch.Tensor, encoded: torch.Tensor,
                      probabilities: torch.Tensor, label: int | None = None, title: str | None = None) -> Figure:
    """Chapter 06: one image's trip through a ViT classifier, in four panels.

    image ``(C, H, W)`` (or ``(1, C, H, W)``) in [0, 1], cut by ``patch_size`` into
    ``N = (H/P)*(W/P)`` patches; tokens ``(T, D)``, the encoder input (CLS row first, positions
    added, ``T = 1 + N``); encoded ``(T, D)``, the encoder output, whose row 0 (the CLS output) is
    outlined; probabilities ``(K,)``, ``softmax(logits)``, as bars, the bar of ``label`` (when
    given) in green. Four axes.
    """
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    image = require_tensor(image, "image", 3, "(C, H, W)")
    tokens = require_tensor(tokens, "tokens", 2, "(T, D)").detach().cpu().float()
    encoded = require_tensor(encoded, "encoded", 2, "(T, D)").detach().cpu().float()
    probabilities = require_tensor(probabilities, "probabilities", 1, "(K,)").detach().cpu().float()
    height, width = image.shape[-2:]
    require_divisible(height, width, require_positive_int(patch_size, "patch_size"))
    grid_w = width // patch_size
    count = (height // patch_size) * grid_w
    if tokens.shape != encoded.shape or tokens.shape[0] != 1 + count:
        raise ValueError(f"tokens and encoded must both have shape (1 + N, D) = ({1 + count}, D) for {count} "
                         f"patches, got {tuple(tokens.shape)} and {tuple(encoded.shape)}")
    classes = probabilities.shape[0]
    if label is not None and not 0 <= label < classes:
        raise ValueError(f"label must lie in [0, {classes}), got {label}")
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.6), layout="constrained",
                             gridspec_kw=dict(width_ratios=[1.1, 1.9, 1.9, 2.0]))
    ax = axes[0]
    show_image(ax, image)
    for k in range(1, width // patch_size):
        ax.axvline(k * patch_size - 0.5, color="C1", linewidth=line_width(2))
    for k in range(1, height // patch_size):
        ax.axhline(k * patch_size - 0.5, color="C1", linewidth=line_width(2))
    for n in range(count):
        row, col = divmod(n, grid_w)
        ax.text(col * patch_size, row * patch_size, str(n + 1), color="C1", fontsize="large",
                fontweight="bold", ha="left", va="top")
    ax.set_title(f"image {tuple(image.shape)}\n{count} patches of {patch_size}x{patch_size}")
    row_names = ["CLS"] + [str(n + 1) for n in range(count)]
    for ax, matrix, heading in [
        (axes[1], tokens, f"encoder input\nCLS + patches + positions\n(T, D) = {tuple(tokens.shape)}"),
        (axes[2], encoded, f"encoder output\n(T, D) = {tuple(encoded.shape)}\noutlined: row 0, the CLS output"),
    ]:
        limit = matrix.abs().max().item() or 1.0
        ax.imshow(matrix.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(row_names)), row_names if len(row_names) <= 20 else None)
        if len(row_names) > 20:
            ax.set_yticks([0], ["CLS"])
        ax.set_xlabel(f"channel (D = {matrix.shape[1]})")
        ax.set_ylabel("token")
        ax.set_title(heading)
    axes[2].add_patch(Rectangle((-0.5, -0.5), encoded.shape[1], 1, fill=False, edgecolor="C2", linewidth=line_width(3)))
    ax = axes[3]
    colors = ["C2" if k == label else "gray" for k in range(classes)]
    ax.bar(range(classes), probabilities.numpy(), color=colors)
    ax.axhline(1 / classes, color="black", linestyle="--", linewidth=line_width(1), label=f"chance 1/{classes}")
    ax.set_ylim(0, 1)
    ax.set_xticks(range(classes))
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.legend(loc="upper right")
    heading = f"head -> softmax(logits)\nK = {classes} classes"
    if label is not None:
        heading += f"\ntrue class {label} (green): p = {probabilities[label].item():.2f}"
    ax.set_title(heading)
    fig.suptitle(title or "One image through the ViT: image -> tokens -> encoder -> CLS output -> class probabilities",
                 fontsize="x-large")
    return fig
