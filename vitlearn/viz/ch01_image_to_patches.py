"""Chapter 01's figures: the image cut into a numbered patch grid, the token sequence it becomes, and one
patch as pixels, flattened vector and embedding."""

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


@styled
def plot_patch_vector(image: torch.Tensor, patch_size: int, weight: torch.Tensor, index: int,
                      embedded: torch.Tensor) -> Figure:
    """One patch three ways, side by side: its ``(C, P, P)`` pixels, the flattened ``(C*P*P,)`` row of
    the unfolded image, and its ``(D,)`` embedding (row ``index`` of ``embedded`` ``(1, N, D)``).

    image ``(1, C, H, W)``, weight ``(C*P*P, D)``. The embedding is checked against ``vector @ weight``,
    and the verdict written under it. Three axes.
    """
    rows = patch_ops.patchify(image, patch_size)[0]  # (N, C*P*P), validates P
    vector = rows[index]  # (C*P*P,)
    expected = vector @ weight  # (D,)
    mine = embedded.detach()[0, index] if embedded.ndim == 3 and embedded.shape[1] > index else None  # (D,)
    agrees = mine is not None and mine.shape == expected.shape and torch.allclose(mine, expected, atol=1e-5)
    fig, axes = plt.subplots(1, 3, figsize=(12, 5), layout="constrained", gridspec_kw={"width_ratios": [3, 1, 1]})
    tile = vector.reshape(image.shape[1], patch_size, patch_size)  # (C, P, P)
    axes[0].imshow(as_hwc(tile), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_title(f"patch {index}: pixels (C, P, P) = {tuple(tile.shape)}")
    axes[1].imshow(vector[:, None].numpy(), cmap="gray", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axes[1].set_title(f"flattened\n({vector.numel()},)")
    shown = (mine if mine is not None else expected).float()
    limit = shown.abs().max().item() or 1.0
    axes[2].imshow(shown[:, None].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto",
                   interpolation="nearest")
    axes[2].set_title(f"embedding\n({shown.numel()},)")
    for ax in axes:
        ax.set_xticks([])
    axes[0].set_yticks([])
    axes[2].set_xlabel("= vector @ W" if agrees else "≠ vector @ W", color="black" if agrees else cycle_colors()[3],
                       fontsize="large", fontweight="bold")
    fig.suptitle(f"Patch {index} of {rows.shape[0]}: pixels → one row of (N, C·P·P) → @ W {tuple(weight.shape)} "
                 "→ its embedding")
    return fig
