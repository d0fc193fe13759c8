"""Chapter 02's figures: the projection matrix beside the conv kernels it becomes, and the patch
embeddings as one feature map per channel (also used in chapter 04)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vitlearn import patches as patch_ops
from vitlearn.viz.drawing import stretch_to_unit
from vitlearn.viz.style import cycle_colors, styled


@styled
def plot_weight_and_kernels(weight: torch.Tensor, in_channels: int, patch_size: int,
                            *, max_kernels: int = 8) -> Figure:
    """The ``(C*P*P, D)`` projection matrix beside the conv2d kernels ``(D, C, P, P)`` it becomes.

    Column ``d`` of the matrix and kernel ``d`` share a frame colour: they are the same
    numbers, reshaped by :func:`vitlearn.patches.weight_to_kernel`.
    """
    kernels = patch_ops.weight_to_kernel(weight, in_channels, patch_size).detach().cpu()  # (D, C, P, P)
    shown = min(kernels.shape[0], max_kernels)
    colors = cycle_colors()
    fig = plt.figure(figsize=(12, 5), layout="constrained")
    left, right = fig.subfigures(1, 2, width_ratios=[1, 1.4])
    ax = left.subplots()
    limit = weight.detach().abs().max().item()
    ax.imshow(weight.detach().cpu().numpy(), aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit,
              interpolation="nearest")
    for d in range(shown):
        ax.add_patch(Rectangle((d - 0.5, -0.5), 1, weight.shape[0], fill=False,
                               edgecolor=colors[d % len(colors)], linewidth=3))
    if weight.shape[1] <= 16:
        ax.set_xticks(range(weight.shape[1]))
    ax.set_xlabel("column d = output channel")
    ax.set_ylabel("row = (channel, row, column)\ninside a patch")
    ax.set_title(f"weight {tuple(weight.shape)}  (C*P*P, D)")
    cols = min(shown, 4)
    kernel_axes = right.subplots(-(-shown // cols), cols, squeeze=False)
    for d, kax in enumerate(kernel_axes.flat):
        kax.set_xticks([])
        kax.set_yticks([])
        if d >= shown:
            kax.axis("off")
            continue
        kernel = kernels[d].permute(1, 2, 0).numpy()  # (P, P, C)
        kax.imshow(stretch_to_unit(kernel[..., 0] if in_channels == 1 else kernel), cmap="gray",
                   interpolation="nearest")
        for spine in kax.spines.values():
            spine.set_edgecolor(colors[d % len(colors)])
            spine.set_linewidth(4)
        kax.set_title(f"kernel {d}", fontsize="medium")
    right.suptitle(f"kernel {tuple(kernels.shape)}  (D, C, P, P), first {shown} shown as images")
    return fig


@styled
def plot_embedding_channels(embeddings: torch.Tensor, grid_shape: tuple[int, int],
                            titles: list[str] | None = None, suptitle: str | None = None) -> Figure:
    """Each channel of one image's patch embeddings shown as a map over the patch grid.

    embeddings ``(1, N, D)`` or ``(N, D)`` with ``N = grid_h * grid_w`` (reading order);
    channel ``d`` is drawn as a ``grid_h x grid_w`` image, what the conv view calls a feature map.
    """
    embeddings = embeddings.detach().cpu()
    if embeddings.ndim == 3:
        embeddings = embeddings[0]  # (N, D)
    grid_h, grid_w = grid_shape
    if embeddings.ndim != 2 or embeddings.shape[0] != grid_h * grid_w:
        raise ValueError(f"embeddings must be (N, D) with N = {grid_h}*{grid_w}, got {tuple(embeddings.shape)}")
    maps = embeddings.T.reshape(-1, grid_h, grid_w)  # (D, grid_h, grid_w)
    fig, axes = plt.subplots(1, maps.shape[0], figsize=(3.2 * maps.shape[0], 3.6), squeeze=False,
                             layout="constrained")
    for d, ax in enumerate(axes[0]):
        limit = maps[d].abs().max().item() or 1.0
        image = ax.imshow(maps[d].numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(titles[d] if titles else f"channel {d}")
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.suptitle(suptitle or f"Patch embeddings as {grid_h}x{grid_w} maps, one per channel "
                 f"(token n sits at row n // {grid_w}, column n % {grid_w})")
    return fig
