"""Chapter 04's figures: the sequence the encoder reads (CLS and position rows), shuffled patches,
the position embeddings' similarity map (also chapter 07's, for a trained table) and a table
resized to a new grid."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vitlearn import patches as patch_ops
from vitlearn._validate import require_tensor
from vitlearn.tokens import interpolate_position_embedding
from vitlearn.viz.drawing import show_image
from vitlearn.viz.style import cycle_colors, line_width, styled


@styled
def plot_cls_and_positions(num_patches: int = 196, dim: int = 768, *, shown: int = 3) -> Figure:
    """Chapters 03-04 as one diagram: the ``N`` patch tokens ``(B, N, D)``, the CLS token
    prepended ``(B, N+1, D)``, the position table ``(N+1, D)`` added row by row, and the encoder's
    input ``(B, N+1, D)``.

    Each token is a box (CLS, patches ``p1 .. pN``, position rows ``e0 .. eN``); the first
    ``shown`` patches and the last are drawn, the rest elided. Takes no data: ``num_patches`` and
    ``dim`` only label the shapes (defaults: ViT-B/16 on a 224x224 image). One axes.
    """
    if not all(isinstance(n, int) and n >= 1 for n in (num_patches, dim, shown)):
        raise ValueError(f"num_patches, dim and shown must be positive ints, got {num_patches!r}, {dim!r}, {shown!r}")
    patches = list(range(1, num_patches + 1)) if num_patches <= shown + 1 else [*range(1, shown + 1), None, num_patches]
    colors = {"cls": cycle_colors()[1], "patch": cycle_colors()[0], "position": cycle_colors()[2]}
    rows = [  # what the row does, its shape, what the CLS slot holds, what each patch slot holds
        ("patch tokens x", f"(B, N, D) = (B, {num_patches}, {dim})", None, "patch"),
        ("prepend_cls(x, cls)", f"(B, N+1, D) = (B, {num_patches + 1}, {dim})", "cls", "patch"),
        ("+ position table", f"(N+1, D) = ({num_patches + 1}, {dim}), every image", "position", "position"),
        ("= encoder input", f"(B, N+1, D) = (B, {num_patches + 1}, {dim})", "sum", "sum"),
    ]
    width, step, left = 2.0, 2.3, 8.0  # box width and pitch; the boxes start at x = left
    fig, ax = plt.subplots(figsize=(13, 5.6), layout="constrained")
    for r, (operation, shape, first, rest) in enumerate(rows):
        y = 1.4 * (len(rows) - 1 - r)
        ax.text(left - 0.4, y + 0.05, operation, ha="right", va="bottom", fontsize="large", fontweight="bold")
        ax.text(left - 0.4, y - 0.05, shape, ha="right", va="top")
        for slot, patch in enumerate([0, *patches]):  # slot 0: the CLS token, position row e0
            kind, x = (first if slot == 0 else rest), left + slot * step
            if kind is None:
                continue
            if patch is None:
                ax.text(x + width / 2, y, "…", ha="center", va="center", fontsize="xx-large")
                continue
            token = "CLS" if slot == 0 else f"p{patch}"
            if kind == "sum":  # the token's colour above, its position row's below
                ax.add_patch(Rectangle((x, y), width, 0.45, facecolor=colors["cls" if slot == 0 else "patch"],
                                       alpha=0.35, linewidth=0))
                ax.add_patch(Rectangle((x, y - 0.45), width, 0.45, facecolor=colors["position"], alpha=0.35,
                                       linewidth=0))
                ax.text(x + width / 2, y + 0.22, token, ha="center", va="center")
                ax.text(x + width / 2, y - 0.22, f"+ e{patch}", ha="center", va="center")
            else:
                ax.add_patch(Rectangle((x, y - 0.45), width, 0.9, facecolor=colors[kind], alpha=0.35, linewidth=0))
                ax.text(x + width / 2, y, f"e{patch}" if kind == "position" else token, ha="center", va="center",
                        fontsize="large")
            ax.add_patch(Rectangle((x, y - 0.45), width, 0.9, fill=False, edgecolor="black", linewidth=line_width(1.2)))
    ax.set_xlim(0, left + len(patches) * step + width + 0.2)
    ax.set_ylim(-0.7, 1.4 * (len(rows) - 1) + 0.7)
    ax.axis("off")
    ax.set_title("The sequence the encoder reads: CLS first, then the patches; "
                 "position row n is added to token n (the CLS token gets e0)")
    return fig


@styled
def plot_shuffled_patches(image: torch.Tensor, patch_size: int, permutation: torch.Tensor) -> Figure:
    """The image beside the same image with its patches put back in another order.

    image ``(1, C, H, W)`` in [0, 1], H and W divisible by ``patch_size``; permutation ``(N,)``,
    a reordering of ``0 .. N-1`` (patch ``k`` of the right image is patch ``permutation[k]`` of
    the left). Both hold the same ``N`` patches: the same set of tokens for a Transformer
    that has no position information.
    """
    image = require_tensor(image, "image", 4, "(1, C, H, W)")
    sequence = patch_ops.patchify(image, patch_size)  # (1, N, C*P*P); validates P
    count = sequence.shape[1]
    if (not isinstance(permutation, torch.Tensor) or permutation.shape != (count,)
            or not torch.equal(permutation.sort().values.cpu(), torch.arange(count))):
        raise ValueError(f"permutation must be a (N,) = ({count},) tensor holding 0 .. {count - 1} once each")
    height, width = image.shape[-2:]
    shuffled = patch_ops.unpatchify(sequence[:, permutation.to(sequence.device)], patch_size, height, width)
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.4 * height / width), layout="constrained")
    for ax, picture, title in zip(axes, (image, shuffled),
                                  ("patches in reading order", "the same patches, shuffled")):
        show_image(ax, picture)
        for k in range(1, width // patch_size):
            ax.axvline(k * patch_size - 0.5, color="white", linewidth=line_width(1))
        for k in range(1, height // patch_size):
            ax.axhline(k * patch_size - 0.5, color="white", linewidth=line_width(1))
        ax.set_title(title)
    fig.suptitle(f"{count} patches, two orders: without position embeddings, self-attention sees the same set "
                 "of tokens")
    return fig


@styled
def plot_position_similarity(table: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int = 0) -> Figure:
    """The ViT paper's Figure 7 (centre): how alike the position embeddings of the patches are.

    table ``(num_prefix + grid_h*grid_w, D)``, patch rows in reading order. Tile ``(i, j)`` shows
    the cosine similarity of patch ``(i, j)``'s embedding with every patch's, as a
    ``grid_h x grid_w`` image; all tiles share one colour scale, from the lowest similarity to 1.
    One axes holds the tiles (one image each, in reading order), a second the colour bar.
    """
    table = require_tensor(table, "table", 2, "(num_prefix + grid_h*grid_w, D)")
    grid_h, grid_w = grid
    if table.shape[0] != num_prefix_tokens + grid_h * grid_w:
        raise ValueError(f"table must have shape ({num_prefix_tokens} + {grid_h}*{grid_w}, D) for a {grid_h}x{grid_w} "
                         f"grid and {num_prefix_tokens} prefix token(s), got {tuple(table.shape)}")
    rows = torch.nn.functional.normalize(table[num_prefix_tokens:].detach().cpu().double(), dim=1)  # (N, D)
    similarity = (rows @ rows.T).reshape(grid_h, grid_w, grid_h, grid_w).numpy()  # [i, j] is a (grid_h, grid_w) map
    lowest = min(similarity.min(), 0.99)
    largest = max(grid_h, grid_w)
    tile = min(max(0.9, 4.5 / largest), 9 / largest)  # inches: the grid spans 4.5 to 9 inches
    fig, ax = plt.subplots(figsize=(tile * grid_w + 2.2, tile * grid_h + 1.4), layout="constrained")
    across, down = 1.1 * grid_w, 1.1 * grid_h  # from tile to tile, in cells: a tenth of a tile apart
    for i, j in np.ndindex(grid_h, grid_w):
        left, top = j * across, i * down
        image = ax.imshow(similarity[i, j], cmap="viridis", vmin=lowest, vmax=1, interpolation="nearest",
                          extent=(left, left + grid_w, top + grid_h, top))
        ax.add_patch(Rectangle((left, top), grid_w, grid_h, fill=False, linewidth=plt.rcParams["axes.linewidth"]))
    ax.set_xlim(-0.05 * grid_w, (grid_w - 1) * across + 1.05 * grid_w)
    ax.set_ylim((grid_h - 1) * down + 1.05 * grid_h, -0.05 * grid_h)
    ax.set_xticks(np.arange(grid_w) * across + grid_w / 2, range(grid_w))
    ax.set_yticks(np.arange(grid_h) * down + grid_h / 2, range(grid_h))
    ax.tick_params(length=0, labelsize="small")
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set(xlabel="patch column", ylabel="patch row")
    fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    fig.suptitle("Position embedding similarity: tile (row, column) = that patch's cosine similarity with every patch")
    return fig


@styled
def plot_position_interpolation(table: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int],
                                num_prefix_tokens: int = 1, channels: tuple[int, ...] = (0, 1, 2, 3)) -> Figure:
    """A few channels of a position table as ``old_h x old_w`` maps, above the same channels after
    :func:`vitlearn.tokens.interpolate_position_embedding` resized them to ``new_h x new_w``.

    Each channel keeps one colour scale in both rows, so the resized map can be compared directly.
    """

    resized = interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens)  # validates the table
    if any(not 0 <= c < table.shape[1] for c in channels):
        raise ValueError(f"channels must lie in [0, D) = [0, {table.shape[1]}), got {tuple(channels)}")
    maps = [t[num_prefix_tokens:].detach().cpu().reshape(*g, -1) for t, g in ((table, old_grid), (resized, new_grid))]
    fig, axes = plt.subplots(2, len(channels), figsize=(2.8 * len(channels) + 0.6, 6), squeeze=False,
                             layout="constrained")
    for col, channel in enumerate(channels):
        limit = max(m[..., channel].abs().max().item() for m in maps) or 1.0
        for row, (grid_map, (h, w)) in enumerate(zip(maps, (old_grid, new_grid))):
            ax = axes[row, col]
            ax.imshow(grid_map[..., channel].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"channel {channel}, {h}x{w}")
    fig.suptitle(f"Position table resized from a {old_grid[0]}x{old_grid[1]} to a {new_grid[0]}x{new_grid[1]} "
                 "patch grid (bicubic): top before, bottom after")
    return fig
