"""Drawing pieces shared by several chapters' figures: images in panels, grids of panels,
and the Transformer blocks as flow charts."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch

from vitlearn.viz.style import line_width


def as_hwc(image: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` or ``(C, H, W)`` in [0, 1] -> ``(H, W, C)`` (or ``(H, W)`` for C=1) numpy."""
    if image.ndim == 4:
        image = image[0]
    array = image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()  # (H, W, C)
    return array[..., 0] if array.shape[-1] == 1 else array


def show_image(ax, image: torch.Tensor) -> None:
    ax.imshow(as_hwc(image), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def panel_grid(count: int, max_cols: int, panel_size: tuple[float, float],
               margin: tuple[float, float] = (0.0, 0.0)) -> tuple[Figure, list]:
    """A figure with ``count`` panels wrapped into rows of at most ``max_cols``; returns the
    figure and exactly ``count`` axes (the unused cells of the last row are removed)."""
    cols = min(count, max_cols)
    rows = -(-count // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(panel_size[0] * cols + margin[0], panel_size[1] * rows + margin[1]),
                             squeeze=False, layout="constrained")
    for ax in axes.flat[count:]:
        fig.delaxes(ax)
    return fig, list(axes.flat[:count])


def stretch_to_unit(kernel: np.ndarray) -> np.ndarray:
    """Stretch one filter to [0, 1] for display (its sign and scale are not what we show)."""
    low, high = kernel.min(), kernel.max()
    return (kernel - low) / (high - low) if high > low else np.full_like(kernel, 0.5)


BLOCK_COLORS = {"norm": "#fde68a", "attn": "#bfdbfe", "cross": "#fbcfe8", "mlp": "#bbf7d0", "io": "#e5e7eb"}
"""Box colours of the block flow charts: LayerNorm, self-attention, cross-attention, MLP, input/output."""


def draw_block(ax, steps: list[tuple[str, str]], residuals: list[tuple[int, int]], title: str,
               rows: int | None = None) -> list[float]:
    """Draw one Transformer block on ``ax`` as a flow chart, input at the bottom; return each step's y.

    ``steps``: ``(kind, text)`` from the input up; kind is a key of :data:`BLOCK_COLORS` (a box)
    or ``"add"`` (a circled plus). ``residuals``: ``(i, j)`` pairs, a skip line from the stream
    just above step ``i`` to the plus at step ``j``, drawn on the right. ``rows`` (default
    ``len(steps)``) sets the height the axes holds, so blocks of different lengths share a scale.
    """
    centre, step = 4.2, 1.5
    ax.set_xlim(0, 10)
    ax.set_ylim(-0.6, (rows or len(steps)) * step - 0.4)
    ax.axis("off")
    ax.set_title(title, fontsize="large")
    half = [0.34 if kind == "add" else 0.53 for kind, _ in steps]  # half height of each shape
    for i, (kind, text) in enumerate(steps):
        y = i * step
        if kind == "add":
            ax.add_patch(Circle((centre, y), 0.32, facecolor="white", edgecolor="black", linewidth=line_width(1.8)))
            ax.text(centre, y, "+", ha="center", va="center", fontsize="xx-large", fontweight="bold")
        else:
            ax.add_patch(FancyBboxPatch((centre - 3.0, y - 0.48), 6.0, 0.96, boxstyle="round,pad=0.05",
                                        facecolor=BLOCK_COLORS[kind], edgecolor="black", linewidth=line_width(1.4)))
            ax.text(centre, y, text, ha="center", va="center", fontsize="large")
        if i + 1 < len(steps):
            ax.annotate("", xy=(centre, (i + 1) * step - half[i + 1]), xytext=(centre, y + half[i]),
                        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": line_width(1.6)})
    for start, end in residuals:
        low, high = start * step + step / 2, end * step
        ax.plot([centre, 8.6, 8.6], [low, low, high], color="#6b7280", linewidth=line_width(2.2))
        ax.annotate("", xy=(centre + 0.34, high), xytext=(8.6, high),
                    arrowprops={"arrowstyle": "-|>", "color": "#6b7280", "linewidth": line_width(2.2)})
        ax.text(8.75, (low + high) / 2, "residual", rotation=90, va="center", fontsize="large", color="#374151")
    return [i * step for i in range(len(steps))]


SELF_ATTENTION_STEP = ("attn", "multi-head self-attention\nmixes the tokens (spatial)")


def encoder_block_steps(tokens: str, output: str) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """The pre-norm encoder block's flow-chart steps and residuals, its input and output labelled."""
    return ([("io", tokens), ("norm", "LayerNorm"), SELF_ATTENTION_STEP, ("add", ""), ("norm", "LayerNorm"),
             ("mlp", "MLP: D -> 4D, GELU, -> D\neach token on its own (channels)"), ("add", ""), ("io", output)],
            [(0, 3), (3, 6)])  # residuals: from the stream at step i to the plus at step j
