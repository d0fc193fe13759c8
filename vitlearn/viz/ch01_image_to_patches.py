"""Chapter 01's figures: the image cut into a numbered patch grid, and the token sequence it becomes."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vitlearn import patches as patch_ops
from vitlearn._validate import require_tensor
from vitlearn.viz.drawing import as_hwc, show_image
from vitlearn.viz.style import cycle_colors, line_width, styled


@styled
def plot_patch_grid(image: torch.Tensor, patch_size: int, *, numbers: bool = True) -> Figure:
    """The image with its P x P patch grid drawn on, each patch numbered in reading order.

    image ``(1, C, H, W)`` in [0, 1], H and W divisible by ``patch_size``.
    """
    image = require_tensor(image, "image", 4, "(1, C, H, W)")
    sequence = patch_ops.patchify(image, patch_size)  # (1, N, C*P*P); validates P
    height, width = image.shape[-2:]
    grid_h, grid_w = height // patch_size, width // patch_size
    fig, ax = plt.subplots(figsize=(7, 7 * height / width), layout="constrained")
    show_image(ax, image)
    for k in range(1, grid_w):
        ax.axvline(k * patch_size - 0.5, color="white", linewidth=line_width(1.5))
    for k in range(1, grid_h):
        ax.axhline(k * patch_size - 0.5, color="white", linewidth=line_width(1.5))
    if numbers:
        size = plt.rcParams["font.size"] * max(0.6, min(1.4, 12 / max(grid_h, grid_w)))  # smaller on finer grids
        for index in range(sequence.shape[1]):
            row, col = divmod(index, grid_w)
            ax.text(col * patch_size + 2, row * patch_size + 2, str(index), color="white", fontsize=size,
                    va="top", ha="left", fontweight="bold",
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="black", alpha=0.55, linewidth=0))
    ax.set_title(f"{height}x{width} image, {patch_size}x{patch_size} patches: "
                 f"{grid_h} x {grid_w} = {grid_h * grid_w} tokens, numbered in reading order")
    return fig


@styled
def plot_patch_sequence(image: torch.Tensor, patch_size: int, *, per_line: int | None = None,
                        max_tokens: int = 64) -> Figure:
    """The patches laid out as the token sequence the Transformer reads, in reading order.

    Each token is framed in the colour of the image row it came from, so the row-by-row
    order is visible. Shows at most ``max_tokens`` tokens, ``per_line`` to a line
    (default: two image rows per line, at most 16 tokens), numbered; one axes.
    """
    image = require_tensor(image, "image", 4, "(1, C, H, W)")
    sequence = patch_ops.patchify(image, patch_size)[0]  # (N, C*P*P)
    channels = image.shape[1]
    grid_w = image.shape[-1] // patch_size
    shown = min(sequence.shape[0], max_tokens)
    per_line = per_line or min(2 * grid_w, 16, shown)
    lines = -(-shown // per_line)
    fig, ax = plt.subplots(figsize=(1.0 * per_line, 1.25 * lines), layout="constrained")
    colors = cycle_colors()  # one per image row of patches
    across, down = 1.25 * patch_size, 1.6 * patch_size  # from token to token along a line, from line to line
    for index in range(shown):
        line, place = divmod(index, per_line)
        left, top = place * across, line * down
        tile = sequence[index].reshape(channels, patch_size, patch_size)  # (C, P, P)
        ax.imshow(as_hwc(tile), cmap="gray", vmin=0, vmax=1, extent=(left, left + patch_size, top + patch_size, top))
        ax.add_patch(Rectangle((left, top), patch_size, patch_size, fill=False, linewidth=4,
                               edgecolor=colors[(index // grid_w) % len(colors)]))
        ax.text(left + patch_size / 2, top - 0.08 * patch_size, str(index), ha="center", va="bottom",
                fontweight=plt.rcParams["axes.titleweight"])
    ax.set_xlim(-0.1 * patch_size, (per_line - 1) * across + 1.1 * patch_size)
    ax.set_ylim(lines * down - 0.5 * patch_size, -0.5 * patch_size)  # y grows downwards, as in the image
    ax.axis("off")
    rest = f" (first {shown} of {sequence.shape[0]})" if shown < sequence.shape[0] else ""
    fig.suptitle(f"The token sequence{rest}: left to right, then the next row; frame colour = image row")
    return fig
