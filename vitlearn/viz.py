"""Every figure of the course, one function each; each returns a matplotlib ``Figure``.

The functions only draw: they take tensors, never train or download anything, and render
headless (the Agg backend) as well as inline in Jupyter. ``vitlearn figures`` renders the whole
set (``vitlearn.figures``).

Every ``plot_*`` function takes a keyword-only ``style``: ``"notebook"`` (the default: the current
rcParams, matplotlib's unless you changed them) or ``"projector"`` (large type readable from the
back of a room, thick lines, Okabe-Ito colours); ``with viz.projector():`` does the same for every
figure drawn inside, yours included. Sizes in this module are relative to the style's font size
and line width, so one drawing serves both.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch
from cycler import cycler
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Circle, ConnectionPatch, FancyBboxPatch, Rectangle

from vitlearn import patches as patch_ops
from vitlearn._validate import require_tensor
from vitlearn.anatomy import fit_quadratic
from vitlearn.attention import causal_mask
from vitlearn.data import translate
from vitlearn.tokens import interpolate_position_embedding

# ---- styles ------------------------------------------------------------------------------------

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
"""Okabe & Ito's colour-blind-safe palette, ordered like matplotlib's tab10: C0 blue, C1 orange,
C2 green, C3 red (vermillion)."""

PROJECTOR_RC: dict[str, object] = {
    "font.size": 17,  # 1.7 x matplotlib's 10 pt; every text size here is relative to it
    "axes.titlesize": "medium",  # bold instead of larger: panels' titles must fit above the panels
    "axes.titleweight": "bold",
    "figure.titleweight": "bold",
    "lines.linewidth": 3.0,  # 2 x the default; explicit widths scale with it (_thick)
    "lines.markersize": 9,
    "axes.linewidth": 1.8,
    "xtick.major.width": 1.8,
    "ytick.major.width": 1.8,
    "xtick.major.size": 7,
    "ytick.major.size": 7,
    "xtick.minor.visible": False,
    "ytick.minor.visible": False,
    "grid.linewidth": 1.2,
    "legend.framealpha": 1.0,
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "image.cmap": "viridis",
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "text.color": "black",
    "axes.edgecolor": "black",
    "axes.labelcolor": "black",
    "xtick.color": "black",
    "ytick.color": "black",
}

STYLES: dict[str, dict[str, object]] = {"notebook": {}, "projector": PROJECTOR_RC}
"""Style name -> the rcParams it sets; "notebook" keeps the current ones."""


@contextmanager
def _rc_scope(settings: dict[str, object]) -> Iterator[None]:
    """Set ``settings`` in rcParams for the ``with`` block, then restore just those keys.

    Unlike ``plt.rc_context``, which restores every key, this keeps what matplotlib sets on its
    own meanwhile: Jupyter turns on interactive mode when the kernel's first figure is made, and
    reverting that would stop later figures from being shown inline.
    """
    saved = {key: plt.rcParams[key] for key in settings}
    plt.rcParams.update(settings)
    try:
        yield
    finally:
        plt.rcParams.update(saved)


@contextmanager
def projector() -> Iterator[None]:
    """Figures created inside ``with viz.projector():`` use the projector style (any figure,
    not only this module's): like passing ``style="projector"`` to each figure function."""
    with _rc_scope(PROJECTOR_RC):
        yield


def styled(draw: Callable[..., Figure]) -> Callable[..., Figure]:
    """Decorator: give a figure function a keyword-only ``style`` ("notebook" or "projector") and
    draw the figure under that style's rcParams.

    Sizes are fixed when the figure is made, so it keeps its style when shown or saved later.
    Titles wrap at the figure's edge rather than run off it (long titles in large type).
    """

    @functools.wraps(draw)
    def draw_styled(*args, style: str = "notebook", **kwargs) -> Figure:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(map(repr, STYLES))}, got {style!r}")
        with _rc_scope(STYLES[style]):
            fig = draw(*args, **kwargs)
        for figure in (fig, *fig.subfigs):
            for text in figure.texts:  # suptitle, supxlabel, supylabel
                text.set_wrap(True)
        for ax in fig.axes:
            ax.title.set_wrap(True)
        return fig

    signature = inspect.signature(draw)
    style = inspect.Parameter("style", inspect.Parameter.KEYWORD_ONLY, default="notebook", annotation="str")
    draw_styled.__signature__ = signature.replace(parameters=[*signature.parameters.values(), style])
    return draw_styled


def _colors() -> list[str]:
    """The active style's colour cycle: tab10 in the notebook, Okabe-Ito on the projector."""
    return plt.rcParams["axes.prop_cycle"].by_key()["color"]


def _thick(width: float) -> float:
    """A line width given for matplotlib's default ``lines.linewidth``, scaled to the active style's."""
    return width * plt.rcParams["lines.linewidth"] / mpl.rcParamsDefault["lines.linewidth"]


def _marker_size(scale: float = 1.0) -> float:
    """A marker's diameter in points: ``scale`` x the active style's ``lines.markersize``."""
    return scale * plt.rcParams["lines.markersize"]


# ---- chapters 01-06: from the image to the encoder ---------------------------------------------


def _as_hwc(image: torch.Tensor) -> np.ndarray:
    """``(1, C, H, W)`` or ``(C, H, W)`` in [0, 1] -> ``(H, W, C)`` (or ``(H, W)`` for C=1) numpy."""
    if image.ndim == 4:
        image = image[0]
    array = image.detach().cpu().permute(1, 2, 0).clamp(0, 1).numpy()  # (H, W, C)
    return array[..., 0] if array.shape[-1] == 1 else array


def _show(ax, image: torch.Tensor) -> None:
    ax.imshow(_as_hwc(image), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _panel_grid(count: int, max_cols: int, panel_size: tuple[float, float],
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
    _show(ax, image)
    for k in range(1, grid_w):
        ax.axvline(k * patch_size - 0.5, color="white", linewidth=_thick(1.5))
    for k in range(1, grid_h):
        ax.axhline(k * patch_size - 0.5, color="white", linewidth=_thick(1.5))
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
    colors = _colors()  # one per image row of patches
    across, down = 1.25 * patch_size, 1.6 * patch_size  # from token to token along a line, from line to line
    for index in range(shown):
        line, place = divmod(index, per_line)
        left, top = place * across, line * down
        tile = sequence[index].reshape(channels, patch_size, patch_size)  # (C, P, P)
        ax.imshow(_as_hwc(tile), cmap="gray", vmin=0, vmax=1, extent=(left, left + patch_size, top + patch_size, top))
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


def _normalise(kernel: np.ndarray) -> np.ndarray:
    """Stretch one filter to [0, 1] for display (its sign and scale are not what we show)."""
    low, high = kernel.min(), kernel.max()
    return (kernel - low) / (high - low) if high > low else np.full_like(kernel, 0.5)


@styled
def plot_weight_and_kernels(weight: torch.Tensor, in_channels: int, patch_size: int,
                            *, max_kernels: int = 8) -> Figure:
    """The ``(C*P*P, D)`` projection matrix beside the conv2d kernels ``(D, C, P, P)`` it becomes.

    Column ``d`` of the matrix and kernel ``d`` share a frame colour: they are the same
    numbers, reshaped by :func:`vitlearn.patches.weight_to_kernel`.
    """
    kernels = patch_ops.weight_to_kernel(weight, in_channels, patch_size).detach().cpu()  # (D, C, P, P)
    shown = min(kernels.shape[0], max_kernels)
    colors = _colors()
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
        kax.imshow(_normalise(kernel[..., 0] if in_channels == 1 else kernel), cmap="gray",
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


@styled
def plot_attention_maps(weights: torch.Tensor, grid: tuple[int, int] | None = None, num_prefix_tokens: int = 1,
                        query: int = 0, image: torch.Tensor | None = None) -> Figure:
    """One image's attention, one panel per head.

    weights ``(h, T, T)`` (or ``(1, h, T, T)``), rows = queries, columns = keys. Without ``grid``
    each panel is the full ``T x T`` matrix. With ``grid = (grid_h, grid_w)`` each panel shows
    what token ``query`` (default 0, the CLS token) attends to among the patch tokens (those
    after the ``num_prefix_tokens`` prefix tokens) as a ``grid_h x grid_w`` map, laid over
    ``image`` ``(1, C, H, W)`` when given.
    """
    weights = weights.detach().cpu()
    if weights.ndim == 4 and weights.shape[0] == 1:
        weights = weights[0]  # (h, T, T)
    if weights.ndim != 3 or weights.shape[1] != weights.shape[2]:
        raise ValueError(f"weights must be one image's (h, T, T) attention, got {tuple(weights.shape)}")
    heads, tokens = weights.shape[0], weights.shape[1]
    if grid is not None:
        grid_h, grid_w = grid
        if tokens - num_prefix_tokens != grid_h * grid_w:
            raise ValueError(f"a {grid_h}x{grid_w} grid needs {grid_h * grid_w} patch tokens after "
                             f"{num_prefix_tokens} prefix token(s), but weights have T={tokens}")
        maps = weights[:, query, num_prefix_tokens:].reshape(heads, grid_h, grid_w)  # (h, grid_h, grid_w)
    fig, axes = _panel_grid(heads, 4, (3.2, 3.4))
    for head, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"head {head}")
        if grid is None:
            ax.imshow(weights[head].numpy(), cmap="viridis", vmin=0, interpolation="nearest")
            ax.set(xlabel="key", ylabel="query")
        elif image is None:
            ax.imshow(maps[head].numpy(), cmap="inferno", vmin=0, interpolation="nearest")
        else:
            _show(ax, image)
            height, width = image.shape[-2:]
            ax.imshow(maps[head].numpy(), cmap="inferno", alpha=0.6, interpolation="bilinear",
                      extent=(-0.5, width - 0.5, height - 0.5, -0.5))  # stretched over the image
    if grid is None:
        fig.suptitle(f"Attention weights, {tokens} x {tokens} per head: row = query, column = key (each row sums to 1)")
    else:
        who = "the CLS token" if query == 0 and num_prefix_tokens else f"token {query}"
        fig.suptitle(f"What {who} attends to among the {grid_h}x{grid_w} patches, one panel per head")
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
        _show(ax, picture)
        for k in range(1, width // patch_size):
            ax.axvline(k * patch_size - 0.5, color="white", linewidth=_thick(1))
        for k in range(1, height // patch_size):
            ax.axhline(k * patch_size - 0.5, color="white", linewidth=_thick(1))
        ax.set_title(title)
    fig.suptitle(f"{count} patches, two orders: without position embeddings, self-attention sees the same set "
                 "of tokens")
    return fig


BLOCK_COLORS = {"norm": "#fde68a", "attn": "#bfdbfe", "cross": "#fbcfe8", "mlp": "#bbf7d0", "io": "#e5e7eb"}
"""Box colours of the block flow charts: LayerNorm, self-attention, cross-attention, MLP, input/output."""


def _diagram_size(width: float, height: float) -> tuple[float, float]:
    """A text-heavy diagram's figure size, grown with the style's font size (from matplotlib's default),
    so that its labels keep fitting in their boxes when the type grows."""
    scale = max(1.0, plt.rcParams["font.size"] / mpl.rcParamsDefault["font.size"])
    return width * scale, height * scale


def _draw_block(ax, steps: list[tuple[str, str]], residuals: list[tuple[int, int]], title: str,
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
            ax.add_patch(Circle((centre, y), 0.32, facecolor="white", edgecolor="black", linewidth=_thick(1.8)))
            ax.text(centre, y, "+", ha="center", va="center", fontsize="xx-large", fontweight="bold")
        else:
            ax.add_patch(FancyBboxPatch((centre - 3.0, y - 0.48), 6.0, 0.96, boxstyle="round,pad=0.05",
                                        facecolor=BLOCK_COLORS[kind], edgecolor="black", linewidth=_thick(1.4)))
            ax.text(centre, y, text, ha="center", va="center", fontsize="large")
        if i + 1 < len(steps):
            ax.annotate("", xy=(centre, (i + 1) * step - half[i + 1]), xytext=(centre, y + half[i]),
                        arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": _thick(1.6)})
    for start, end in residuals:
        low, high = start * step + step / 2, end * step
        ax.plot([centre, 8.6, 8.6], [low, low, high], color="#6b7280", linewidth=_thick(2.2))
        ax.annotate("", xy=(centre + 0.34, high), xytext=(8.6, high),
                    arrowprops={"arrowstyle": "-|>", "color": "#6b7280", "linewidth": _thick(2.2)})
        ax.text(8.75, (low + high) / 2, "residual", rotation=90, va="center", fontsize="large", color="#374151")
    return [i * step for i in range(len(steps))]


_SELF_ATTENTION = ("attn", "multi-head self-attention\nmixes the tokens (spatial)")
_PRE_NORM_ENCODER = ([("io", "tokens x  (B, T, D)"), ("norm", "LayerNorm"), _SELF_ATTENTION, ("add", ""),
                      ("norm", "LayerNorm"), ("mlp", "MLP: D -> 4D, GELU, -> D\neach token on its own (channels)"),
                      ("add", ""), ("io", "(B, T, D) to the next block;\nafter the last one: a final LayerNorm")],
                     [(0, 3), (3, 6)])  # residuals: from the stream at step i to the plus at step j


@styled
def plot_encoder_blocks() -> Figure:
    """Chapter 05: the pre-norm encoder block ViT uses beside the post-norm block that
    ``nn.TransformerEncoderLayer`` builds by default, as two flow charts (input at the bottom).

    Takes no data. Tokens ``(B, T, D)`` flow up; each branch is added back to the residual stream
    at a circled plus. Attention mixes the tokens (spatial mixing); the MLP transforms each token
    on its own (channel mixing). Two axes, one per block.
    """
    post = ([("io", "tokens x  (B, T, D)"), _SELF_ATTENTION, ("add", ""), ("norm", "LayerNorm"),
             ("mlp", "MLP: D -> 2048, ReLU, -> D\neach token on its own (channels)"), ("add", ""),
             ("norm", "LayerNorm"), ("io", "(B, T, D) to the next block;\nno final LayerNorm")],
            [(0, 2), (3, 5)])
    fig, axes = plt.subplots(1, 2, figsize=_diagram_size(13, 8.5), layout="constrained")
    _draw_block(axes[0], *_PRE_NORM_ENCODER, "Pre-norm (ViT)\nx = x + attn(LN(x));  x = x + mlp(LN(x))")
    _draw_block(axes[1], *post, "Post-norm (nn.TransformerEncoderLayer's default)\n"
                                "x = LN(x + attn(x));  x = LN(x + mlp(x)),  dropout 0.1")
    fig.suptitle("One Transformer encoder block, two places for the LayerNorms", fontsize="x-large")
    return fig


@styled
def plot_matrices(matrices: dict[str, torch.Tensor], title: str, *, xlabel: str = "feature d",
                  ylabel: str = "row", row_labels: list[str] | None = None, highlight_rows: int = 0) -> Figure:
    """2-D tensors side by side as heatmaps on one shared colour scale, one panel per entry.

    matrices: panel title -> ``(R, D)`` tensor (e.g. one image's ``(T, D)`` token sequence, or
    the CLS rows of ``B`` images as ``(B, D)``); panels may differ in ``R`` and ``D``. Blue is
    negative, red positive, white 0, and the same number has the same colour in every panel. ``row_labels`` names the rows (every panel's ``R``
    must then equal its length); ``highlight_rows > 0`` frames the first rows of each panel
    (e.g. the CLS token at row 0).
    """
    if not matrices:
        raise ValueError("matrices must hold at least one (R, D) tensor")
    arrays = {}
    for name, matrix in matrices.items():
        arrays[name] = require_tensor(matrix, f"matrices[{name!r}]", 2, "(R, D)").detach().cpu().double().numpy()
    if row_labels is not None and any(a.shape[0] != len(row_labels) for a in arrays.values()):
        raise ValueError(f"row_labels has {len(row_labels)} names, but the panels have "
                         f"{[a.shape[0] for a in arrays.values()]} rows")
    limit = max(np.abs(a).max() for a in arrays.values()) or 1.0
    tallest = max(a.shape[0] for a in arrays.values())
    fig, axes = plt.subplots(1, len(arrays), figsize=(min(4.6 * len(arrays), 16) + 1.2, 1.2 + 0.42 * max(tallest, 5)),
                             squeeze=False, layout="constrained")
    for ax, (name, array) in zip(axes[0], arrays.items()):
        image = ax.imshow(array, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel(xlabel)
        ax.set_yticks(range(array.shape[0]), row_labels if row_labels is not None else range(array.shape[0]))
        ax.tick_params(labelsize="small")
        if highlight_rows:
            ax.add_patch(Rectangle((-0.5, -0.5), array.shape[1], highlight_rows, fill=False, edgecolor="black",
                                   linewidth=3))
    axes[0, 0].set_ylabel(ylabel)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9, label="value")
    fig.suptitle(title)
    return fig


@styled
def plot_accuracy_curves(curves: dict[str, list[float]], title: str, *, chance: float | None = None) -> Figure:
    """Test accuracy per epoch, one line per training run.

    curves: run label -> accuracies in [0, 1], one per epoch (e.g. ``History.test_accuracy``).
    Runs whose labels share the text before the first comma ("CLS, seed 0", "CLS, seed 1")
    share a colour, so repeated seeds of one setting read as one group. ``chance`` (in [0, 1])
    draws the accuracy of guessing as a dotted line. Drawn in percent.
    """
    if not curves or any(len(values) == 0 for values in curves.values()):
        raise ValueError("curves must map each run's label to a non-empty list of per-epoch accuracies")
    groups = list(dict.fromkeys(label.split(",")[0] for label in curves))
    palette = _colors()
    colors = {group: palette[i % len(palette)] for i, group in enumerate(groups)}
    styles = ["-", "--", ":", "-."]
    seen: dict[str, int] = {}
    fig, ax = plt.subplots(figsize=(9, 5.2), layout="constrained")
    for label, values in curves.items():
        group = label.split(",")[0]
        index = seen[group] = seen.get(group, -1) + 1
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, 100 * np.asarray(values, dtype=float), color=colors[group], linestyle=styles[index % 4],
                linewidth=_thick(2.2), marker="o", markersize=_marker_size(0.67),
                label=f"{label}: {100 * values[-1]:.0f} % at the end")
    lowest = min(min(values) for values in curves.values())
    if chance is not None:
        ax.axhline(100 * chance, color="gray", linestyle=":", linewidth=_thick(1.5),
                   label=f"chance ({100 * chance:.0f} %)")
        lowest = min(lowest, chance)
    ax.set_ylim(max(0.0, 100 * lowest - 5), 100.5)
    ax.set_xlabel("epoch", fontsize="large")
    ax.set_ylabel("test accuracy (%)", fontsize="large")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig


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
    if height % patch_size or width % patch_size:
        raise ValueError(f"the {height}x{width} image must be divisible by patch_size {patch_size}")
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
    _show(ax, image)
    for k in range(1, width // patch_size):
        ax.axvline(k * patch_size - 0.5, color="C1", linewidth=_thick(2))
    for k in range(1, height // patch_size):
        ax.axhline(k * patch_size - 0.5, color="C1", linewidth=_thick(2))
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
    axes[2].add_patch(Rectangle((-0.5, -0.5), encoded.shape[1], 1, fill=False, edgecolor="C2", linewidth=_thick(3)))
    ax = axes[3]
    colors = ["C2" if k == label else "gray" for k in range(classes)]
    ax.bar(range(classes), probabilities.numpy(), color=colors)
    ax.axhline(1 / classes, color="black", linestyle="--", linewidth=_thick(1), label=f"chance 1/{classes}")
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


# ---- chapter 07: a trained ViT, what it learned ------------------------------------------------


@styled
def plot_training_curves(step_loss: list[float], test_accuracy: list[float], *,
                         train_accuracy: list[float] | None = None, epoch_seconds: list[float] | None = None,
                         reference: tuple[str, float] | None = None, title: str = "Training") -> Figure:
    """Two panels: the loss of every training step (with its running mean), and accuracy per epoch.

    step_loss: one value per step; test_accuracy (and optional train_accuracy): one value per
    epoch, in [0, 1] (``History`` fields). With ``epoch_seconds`` (training seconds at the end of
    each epoch) the accuracy's x axis is seconds, else epochs. ``reference = (name, accuracy)``
    draws another model's accuracy (e.g. the SVC) as a dashed line. Drawn in percent.
    """
    if not step_loss or not test_accuracy:
        raise ValueError("need at least one step's loss and one epoch's test accuracy")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    loss = np.asarray(step_loss, dtype=float)
    steps = np.arange(1, len(loss) + 1)
    left.plot(steps, loss, color="0.7", linewidth=_thick(0.8), label="each step")
    window = max(1, len(loss) // 50)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    left.plot(steps[window - 1:], smooth, color="C0", linewidth=_thick(2.2), label=f"mean of {window} steps")
    left.set_yscale("log")
    left.set(xlabel="training step", ylabel="loss (log scale)")
    left.set_title("Training loss")
    left.grid(alpha=0.3, which="both")
    left.legend()
    x = np.asarray(epoch_seconds if epoch_seconds is not None else np.arange(1, len(test_accuracy) + 1), dtype=float)
    if len(x) != len(test_accuracy):
        raise ValueError(f"epoch_seconds needs one value per epoch ({len(test_accuracy)}), got {len(x)}")
    test = 100 * np.asarray(test_accuracy, dtype=float)
    right.plot(x, test, color="C1", linewidth=_thick(2.2), label=f"test: {test[-1]:.1f} % at the end")
    lowest = test.min()
    if train_accuracy is not None:
        train = 100 * np.asarray(train_accuracy, dtype=float)
        right.plot(x[:len(train)], train, color="C2", linewidth=_thick(1.5), linestyle="--",
                   label="train (its batches, while learning)")
        lowest = min(lowest, train.min())
    if reference is not None:
        right.axhline(100 * reference[1], color="k", linestyle=":", linewidth=_thick(1.5),
                      label=f"{reference[0]}: {100 * reference[1]:.1f} %")
    zoom = test[-1] > 85  # a model that ends well: show the top 20 %, where the runs differ
    right.set_ylim(max(lowest, 80.0) - 2 if zoom else 0.0, 100.3)
    right.set(xlabel="training seconds" if epoch_seconds is not None else "epoch", ylabel="accuracy (%)")
    right.set_title("Accuracy (zoomed to the top 20 %)" if zoom else "Accuracy")
    right.grid(alpha=0.3)
    right.legend(loc="lower right")
    fig.suptitle(title, fontsize="x-large")
    return fig


@styled
def plot_attention_rollout(images: torch.Tensor, maps: torch.Tensor, *, labels: list[str] | None = None) -> Figure:
    """Attention rollout over inputs (the ViT paper's Figure 6): per image, the image and the map laid over it.

    images ``(B, C, H, W)`` in [0, 1]; maps ``(B, grid_h, grid_w)`` (``interpret.cls_rollout_map``),
    upsampled bilinearly to ``H x W``; each map is scaled to its own maximum. ``labels`` titles the
    columns.
    """
    images = require_tensor(images, "images", 4, "(B, C, H, W)").detach().cpu()
    maps = require_tensor(maps, "maps", 3, "(B, grid_h, grid_w)").detach().cpu().float()
    if len(maps) != len(images):
        raise ValueError(f"need one map per image, got {len(images)} images and {len(maps)} maps")
    height, width = images.shape[-2:]
    up = torch.nn.functional.interpolate(maps[:, None], size=(height, width), mode="bilinear",
                                         align_corners=False)[:, 0]  # (B, H, W)
    up = up / up.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    count = len(images)
    fig, axes = plt.subplots(2, count, figsize=(2.3 * count + 0.6, 5.6), squeeze=False, layout="constrained")
    for i in range(count):
        _show(axes[0, i], images[i])
        axes[0, i].set_title(labels[i] if labels else f"image {i}", fontsize="medium")
        _show(axes[1, i], images[i])
        shown = axes[1, i].imshow(up[i].numpy(), cmap="inferno", alpha=0.65, vmin=0, vmax=1)
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("rollout")
    fig.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.9, label="share reaching\nCLS (max = 1)")
    fig.suptitle("Attention rollout: which pixels the CLS output draws on, through every layer")
    return fig


@styled
def plot_embedding_filters(components: torch.Tensor, explained: torch.Tensor | None = None, *,
                           title: str = "Patch-embedding filters: top principal components (share of variance)"
                           ) -> Figure:
    """The patch-embedding filters' principal components (the ViT paper's Figure 7, left).

    components ``(k, C, P, P)`` (``interpret.embedding_filter_components``); one-channel components
    are drawn blue (negative) to red (positive) on a shared symmetric scale; three-channel ones as
    RGB, each stretched to [0, 1]. ``explained`` ``(k,)`` adds each one's share of the variance.
    """
    components = require_tensor(components, "components", 4, "(k, C, P, P)").detach().cpu().float()
    count, channels = components.shape[:2]
    fig, axes = _panel_grid(count, 8, (1.7, 1.9), margin=(1.2, 0.9))
    scale = components.abs().max().item() or 1.0
    for i, ax in enumerate(axes):
        if channels == 1:
            shown = ax.imshow(components[i, 0].numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        else:
            ax.imshow(_normalise(components[i].permute(1, 2, 0).numpy()), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"PC {i + 1}" + (f": {100 * float(explained[i]):.0f} %" if explained is not None else ""),
                     fontsize="medium")
    if channels == 1:
        fig.colorbar(shown, ax=axes, shrink=0.8, label="weight")
    fig.suptitle(title)
    return fig


@styled
def plot_attention_distance(distances: torch.Tensor, *, max_distance: float | None = None,
                            title: str = "Mean attention distance per head") -> Figure:
    """Each head's mean attention distance against depth (the ViT paper's Figure 7, right).

    distances ``(L, h)`` in pixels (``interpret.mean_attention_distance``): one dot per head, one
    column per layer, the layer's mean as a line. ``max_distance`` (e.g. the distance between the
    two farthest patch centres) draws the ceiling as a dotted line.
    """
    distances = require_tensor(distances, "distances", 2, "(L, h)").detach().cpu().double().numpy()
    layers, heads = distances.shape
    fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
    depth = np.arange(1, layers + 1)
    colors = _colors()
    for head in range(heads):
        ax.scatter(depth, distances[:, head], s=_marker_size(1.3) ** 2, color=colors[head % len(colors)],
                   label=f"head {head}", zorder=3)
    ax.plot(depth, distances.mean(axis=1), color="0.4", linewidth=_thick(1.5), label="mean of the heads")
    if max_distance is not None:
        ax.axhline(max_distance, color="k", linestyle=":", linewidth=_thick(1.2), label="farthest two patches")
    ax.set_xticks(depth)
    ax.set_xlim(0.5, layers + 0.5)
    ax.set_ylim(0, 1.08 * max(distances.max(), max_distance or 0))
    ax.set(xlabel="layer (network depth)", ylabel="mean attention distance (pixels)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
    ax.set_title(title)
    return fig


SHIFTS = ((0.0, 0.0), (0.0, 0.5), (0.5, 0.0), (-0.5, -0.5), (0.0, 1.0), (1.0, 1.0))  # (down, right) pixels


@styled
def plot_shifts(image: torch.Tensor, offsets: tuple[tuple[float, float], ...] = SHIFTS, *,
                title: str = "One image moved by (down, right) pixels") -> Figure:
    """``image`` ``(C, H, W)`` in [0, 1] moved by each ``(down, right)`` offset in pixels, side by
    side: what the digits' augmentation (``vitlearn.data.random_shift``) shows the model. The
    moving is ``vitlearn.data.translate`` (bilinear, so half a pixel blurs a little)."""
    image = require_tensor(image, "image", 3, "(C, H, W)").detach().cpu()
    moves = torch.tensor(offsets, dtype=image.dtype).reshape(-1, 2)  # (n, 2)
    moved = translate(image.expand(len(moves), -1, -1, -1), moves)  # (n, C, H, W)
    fig, axes = _panel_grid(len(moves), 8, (2.2, 2.4), margin=(0.4, 0.8))
    for ax, picture, (down, right) in zip(axes, moved, moves.tolist()):
        _show(ax, picture)
        ax.set_title(f"({down:+g}, {right:+g})")
    fig.suptitle(title)
    return fig


@styled
def plot_misclassified(images: torch.Tensor, labels: torch.Tensor, predictions: torch.Tensor, *,
                       max_count: int = 16) -> Figure:
    """The test images a model got wrong, each titled ``true -> predicted``.

    images ``(n, C, H, W)`` in [0, 1], labels and predictions ``(n,)`` class indices; only the
    images where they differ are drawn (at most ``max_count``). None wrong: one panel saying so.
    """
    images = require_tensor(images, "images", 4, "(n, C, H, W)").detach().cpu()
    labels, predictions = labels.detach().cpu(), predictions.detach().cpu()
    if not (len(images) == len(labels) == len(predictions)):
        raise ValueError(f"need one label and one prediction per image, got {len(images)}, {len(labels)}, "
                         f"{len(predictions)}")
    wrong = (labels != predictions).nonzero().flatten()
    shown = wrong[:max_count]
    count = max(1, len(shown))
    fig, axes = _panel_grid(count, 8, (1.8, 2.1), margin=(0.8, 0.8))
    if len(shown) == 0:
        axes[0].text(0.5, 0.5, "none wrong", ha="center", va="center", fontsize="x-large")
        axes[0].set_axis_off()
    for ax, index in zip(axes, shown.tolist()):
        _show(ax, images[index])
        ax.set_title(f"{labels[index].item()} → {predictions[index].item()}", fontsize="large", color="C3")
    fig.suptitle(f"Misclassified: {len(wrong)} of {len(images)} (true → predicted)")
    return fig


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
    colors = {"cls": _colors()[1], "patch": _colors()[0], "position": _colors()[2]}
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
            ax.add_patch(Rectangle((x, y - 0.45), width, 0.9, fill=False, edgecolor="black", linewidth=_thick(1.2)))
    ax.set_xlim(0, left + len(patches) * step + width + 0.2)
    ax.set_ylim(-0.7, 1.4 * (len(rows) - 1) + 0.7)
    ax.axis("off")
    ax.set_title("The sequence the encoder reads: CLS first, then the patches; "
                 "position row n is added to token n (the CLS token gets e0)")
    return fig


# ---- chapter 00: Transformer anatomy ------------------------------------------------------------


def _encoder_steps(tokens: str, output: str) -> tuple[list[tuple[str, str]], list[tuple[int, int]]]:
    """The pre-norm encoder block's flow-chart steps and residuals, its input and output labelled."""
    return ([("io", tokens), ("norm", "LayerNorm"), _SELF_ATTENTION, ("add", ""), ("norm", "LayerNorm"),
             ("mlp", "MLP: D -> 4D, GELU, -> D\neach token on its own (channels)"), ("add", ""), ("io", output)],
            [(0, 3), (3, 6)])  # residuals: from the stream at step i to the plus at step j


@styled
def plot_transformer_blocks() -> Figure:
    """Chapter 00: the encoder block beside the decoder block, both pre-norm, as flow charts
    (input at the bottom), drawn like :func:`plot_encoder_blocks`.

    Takes no data. The encoder reads ``S`` source tokens ``(B, S, D)`` with full self-attention;
    its output, the memory ``(B, S, D)``, enters every decoder block's cross-attention. The
    decoder reads ``T`` target tokens ``(B, T, D)`` with causal (masked) self-attention. Two axes.
    """
    decoder = ([("io", "target tokens y  (B, T, D)"), ("norm", "LayerNorm"),
                ("attn", "causal (masked) self-attention\ntoken t sees tokens 0 .. t only"), ("add", ""),
                ("norm", "LayerNorm"), ("cross", "cross-attention: queries from y,\nkeys and values from the memory"),
                ("add", ""), ("norm", "LayerNorm"), ("mlp", "MLP: D -> 4D, GELU, -> D\neach token on its own"),
                ("add", ""),
                ("io", "(B, T, D) to the next block; after the last:\nLayerNorm, linear: next-token logits")],
               [(0, 3), (3, 6), (6, 9)])
    encoder = _encoder_steps("source tokens x  (B, S, D)",
                             "(B, S, D) to the next block; after the last:\nLayerNorm = the memory (B, S, D)")
    rows = len(decoder[0])
    fig, axes = plt.subplots(1, 2, figsize=_diagram_size(14, 10), layout="constrained")
    encoder_ys = _draw_block(axes[0], *encoder, "Encoder block (ViT, BERT; the encoder of a translator)\n"
                                                "every token sees every token", rows=rows)
    decoder_ys = _draw_block(axes[1], *decoder, "Decoder block (translation, speech recognition)\n"
                                                "GPT's block: the same without cross-attention", rows=rows)
    memory, output, turn = "#be185d", encoder_ys[-1], 9.7  # the memory line leaves the encoder at x = turn
    axes[0].plot([7.3, turn], [output, output], color=memory, linewidth=_thick(2.5))
    fig.add_artist(ConnectionPatch((turn, output), (1.1, decoder_ys[5]), "data", "data", axesA=axes[0], axesB=axes[1],
                                   connectionstyle="angle,angleA=90,angleB=180,rad=15", arrowstyle="-|>",
                                   color=memory, linewidth=_thick(2.5), mutation_scale=20))
    axes[0].text(4.2, output + 0.75, "the memory (B, S, D), read by every decoder block", color=memory,
                 fontsize="large", fontweight="bold", ha="center", va="bottom")
    fig.suptitle("The Transformer's two blocks: the encoder's output (the memory) feeds every decoder block",
                 fontsize="x-large")
    return fig


@styled
def plot_attention_masks(query_length: int = 6, key_length: int = 4) -> Figure:
    """Chapter 00: which key each query may attend to, for the three kinds of attention.

    Three panels, rows = queries, columns = keys, filled = may attend (``True`` in a boolean
    mask): full self-attention ``(T, T)`` (an encoder: every token sees every token), causal
    self-attention ``(T, T)`` (a decoder: token ``t`` sees ``0 .. t``), and cross-attention
    ``(T, S)`` (``T = query_length`` decoder queries, ``S = key_length`` encoder keys; all allowed).
    """
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in (query_length, key_length)):
        raise ValueError(f"query_length and key_length must be positive ints, got {query_length!r}, {key_length!r}")
    t, s = query_length, key_length
    panels = [(torch.ones(t, t, dtype=torch.bool), f"full ({t}, {t})\nencoder", "key s"),
              (causal_mask(t), f"causal ({t}, {t})\ndecoder: t sees 0 .. t", "key s"),
              (torch.ones(t, s, dtype=torch.bool), f"cross ({t}, {s})\nkeys from the memory", "memory key s")]
    allowed, blocked = _colors()[0], "#e5e7eb"
    fig, axes = plt.subplots(1, 3, figsize=(15, 7.6), layout="compressed",  # compressed: equal-aspect panels
                             gridspec_kw={"width_ratios": [t, t, s]})
    for ax, (mask, title, xlabel) in zip(axes, panels):
        ax.imshow(mask.numpy(), cmap=ListedColormap([blocked, allowed]), vmin=0, vmax=1)
        rows, cols = mask.shape
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=_thick(2.5))
        ax.tick_params(which="minor", length=0)
        ax.set_xlabel(xlabel, fontsize="large")
        ax.set_title(title, fontsize="large")
    axes[0].set_ylabel("query t", fontsize="large")
    fig.suptitle("Which keys each query may attend to: blue = True (may attend), grey = False (blocked)",
                 fontsize="x-large")
    return fig


def _quadratic_label(a: float, b: float, smallest: float, unit: str) -> str:
    """``"fit: a·N² + b unit"``, leaving out a ``b`` too small to matter next to the smallest value."""
    if abs(b) < 1e-6 * smallest:
        return f"fit: {a:.3g}·N² {unit}"
    return f"fit: {a:.3g}·N² {'+' if b >= 0 else '−'} {abs(b):.2g} {unit}"


@styled
def plot_attention_cost(cost: dict[str, list[float]], *, marks: dict[str, int] | None = None) -> Figure:
    """Chapter 00: the measured time and the memory of one attention layer against the sequence
    length N, each with its least-squares fit ``a*N^2 + b``, on log-log axes (where ``N^2`` is a
    line of slope 2).

    ``cost``: ``{"length": [...], "seconds": [...], "bytes": [...]}``, as returned by
    ``vitlearn.anatomy.measure_attention_cost``. ``marks``: label -> length, drawn as vertical lines
    (e.g. ViT's sequence length at several patch sizes); the fitted curves are extended to them,
    dashed beyond the measured lengths (an extrapolation). Two axes.
    """
    if not isinstance(cost, dict) or any(key not in cost for key in ("length", "seconds", "bytes")):
        raise ValueError("cost must be a dict with 'length', 'seconds' and 'bytes' lists (measure_attention_cost)")
    lengths = [float(n) for n in cost["length"]]
    if len(lengths) < 2 or not len(cost["seconds"]) == len(cost["bytes"]) == len(lengths):
        raise ValueError(f"cost needs at least two lengths and one time and size per length, got "
                         f"{len(lengths)}, {len(cost['seconds'])}, {len(cost['bytes'])}")
    marks = marks or {}
    measured_to = max(lengths)
    grid = np.geomspace(min(lengths), max([measured_to, *marks.values()]), 200)
    inside = grid <= measured_to
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.5), layout="constrained")
    milliseconds = [1e3 * s for s in cost["seconds"]]
    a_ms, b_ms = fit_quadratic(lengths, milliseconds)
    a_bytes, b_bytes = fit_quadratic(lengths, cost["bytes"])
    panels = [  # axes, measured values, fitted curve (both as drawn), fit's label, y label, title
        (axes[0], milliseconds, a_ms * grid**2 + b_ms, _quadratic_label(a_ms, b_ms, min(milliseconds), "ms"),
         "time of one forward pass (ms)", "Time, measured"),
        (axes[1], [b / 2**20 for b in cost["bytes"]], (a_bytes * grid**2 + b_bytes) / 2**20,
         _quadratic_label(a_bytes, b_bytes, min(cost["bytes"]), "bytes"), "attention weights (MiB)",
         "Memory of the (h, N, N) weights, computed"),
    ]
    for ax, values, fitted, fit_label, ylabel, title in panels:
        ax.plot(grid[inside], fitted[inside], color=_colors()[1], linewidth=_thick(2.5), label=fit_label)
        if not inside.all():
            ax.plot(grid[~inside], fitted[~inside], color=_colors()[1], linewidth=_thick(2.5), linestyle="--",
                    label="the same fit, extrapolated")
        ax.plot(lengths, values, "o", color=_colors()[0], markersize=_marker_size(1.2), label="measured")
        for label, length in marks.items():
            ax.axvline(length, color="gray", linestyle=":", linewidth=_thick(1.5))
            ax.text(length, 0.97, f"{label} ", transform=ax.get_xaxis_transform(), rotation=90, ha="right",
                    va="top", color="#374151")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N (tokens)", fontsize="large")
        ax.set_ylabel(ylabel, fontsize="large")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right")
        ax.set_title(title, fontsize="large")
    fig.suptitle("Self-attention's cost grows with the square of the sequence length", fontsize="x-large")
    return fig


@styled
def plot_data_efficiency(results: dict[str, dict[float, float]], *, train_size: int | None = None,
                         title: str = "Test accuracy against the share of the training set used") -> Figure:
    """Chapter 00: test accuracy against the fraction of the training set, one line per model.

    ``results``: model name -> {fraction in (0, 1]: test accuracy in [0, 1]} (as returned by
    ``vitlearn.anatomy.data_efficiency``). The fraction axis is logarithmic; with ``train_size``
    (the full training set's size) each tick also gives the number of images. Drawn in percent;
    each point is labelled with its accuracy. One axes.
    """
    if not results or any(not points for points in results.values()):
        raise ValueError("results must map each model's name to a non-empty {fraction: accuracy} dict")
    fractions = sorted({f for points in results.values() for f in points})
    fig, ax = plt.subplots(figsize=(10, 6), layout="constrained")
    for i, (name, points) in enumerate(results.items()):
        xs = sorted(points)
        ys = [100 * points[f] for f in xs]
        color = _colors()[i % len(_colors())]
        ax.plot(xs, ys, color=color, linewidth=_thick(2.5), marker="o", markersize=_marker_size(1.2), label=name)
        for x, y in zip(xs, ys):
            above = i % 2 == 0  # alternate models label above and below their points
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 8 if above else -8), ha="center",
                        va="bottom" if above else "top", color=color, fontsize="large", fontweight="bold")
    ax.set_xscale("log")
    ax.set_xticks(fractions, [f"{100 * f:.0f} %" + ("" if train_size is None else f"\n{int(f * train_size)} images")
                              for f in fractions])
    ax.minorticks_off()
    ax.tick_params(axis="x", labelsize="large")
    ax.set_xlim(min(fractions) / 1.3, max(fractions) * 1.3)
    lowest = min(100 * a for points in results.values() for a in points.values())
    ax.set_ylim(max(0.0, lowest - 6), 101)
    ax.set_xlabel("share of the training set used", fontsize="large")
    ax.set_ylabel("test accuracy (%)", fontsize="large")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="large")
    ax.set_title(title)
    return fig
