"""Every figure of the course, one function each; each returns a matplotlib ``Figure``.

The functions only draw: they take tensors, never train or download anything, and render
headless (the Agg backend) as well as inline in Jupyter.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyBboxPatch, Rectangle

from vitlearn import patches as patch_ops
from vitlearn._validate import require_tensor
from vitlearn.tokens import interpolate_position_embedding

ROW_COLORS = plt.get_cmap("tab10").colors  # one colour per image row of patches (colour-blind safer than jet)


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
        ax.axvline(k * patch_size - 0.5, color="white", linewidth=1.5)
    for k in range(1, grid_h):
        ax.axhline(k * patch_size - 0.5, color="white", linewidth=1.5)
    if numbers:
        size = max(6, min(14, 120 / max(grid_h, grid_w)))
        for index in range(sequence.shape[1]):
            row, col = divmod(index, grid_w)
            ax.text(col * patch_size + 2, row * patch_size + 2, str(index), color="white", fontsize=size,
                    va="top", ha="left", fontweight="bold",
                    bbox=dict(boxstyle="square,pad=0.1", facecolor="black", alpha=0.55, linewidth=0))
    ax.set_title(f"{height}x{width} image, {patch_size}x{patch_size} patches: "
                 f"{grid_h} x {grid_w} = {grid_h * grid_w} tokens, numbered in reading order")
    return fig


def plot_patch_sequence(image: torch.Tensor, patch_size: int, *, per_line: int | None = None,
                        max_tokens: int = 64) -> Figure:
    """The patches laid out as the token sequence the Transformer reads, in reading order.

    Each token is framed in the colour of the image row it came from, so the row-by-row
    order is visible. Shows at most ``max_tokens`` tokens, ``per_line`` to a line
    (default: two image rows per line, at most 16 tokens).
    """
    image = require_tensor(image, "image", 4, "(1, C, H, W)")
    sequence = patch_ops.patchify(image, patch_size)[0]  # (N, C*P*P)
    channels = image.shape[1]
    grid_w = image.shape[-1] // patch_size
    shown = min(sequence.shape[0], max_tokens)
    per_line = per_line or min(2 * grid_w, 16, shown)
    lines = -(-shown // per_line)
    fig, axes = plt.subplots(lines, per_line, figsize=(1.0 * per_line, 1.25 * lines), squeeze=False,
                             layout="constrained")
    for index, ax in enumerate(axes.flat):
        ax.axis("off")
        if index >= shown:
            continue
        tile = sequence[index].reshape(channels, patch_size, patch_size)  # (C, P, P)
        ax.imshow(_as_hwc(tile), cmap="gray", vmin=0, vmax=1)
        color = ROW_COLORS[(index // grid_w) % len(ROW_COLORS)]
        ax.add_patch(Rectangle((-0.5, -0.5), patch_size, patch_size, fill=False, edgecolor=color,
                               linewidth=4, transform=ax.transData, clip_on=False))
        ax.set_title(str(index), fontsize=10)
    rest = f" (first {shown} of {sequence.shape[0]})" if shown < sequence.shape[0] else ""
    fig.suptitle(f"The token sequence{rest}: left to right, then the next row; frame colour = image row")
    return fig


def _normalise(kernel: np.ndarray) -> np.ndarray:
    """Stretch one filter to [0, 1] for display (its sign and scale are not what we show)."""
    low, high = kernel.min(), kernel.max()
    return (kernel - low) / (high - low) if high > low else np.full_like(kernel, 0.5)


def plot_weight_and_kernels(weight: torch.Tensor, in_channels: int, patch_size: int,
                            *, max_kernels: int = 8) -> Figure:
    """The ``(C*P*P, D)`` projection matrix beside the conv2d kernels ``(D, C, P, P)`` it becomes.

    Column ``d`` of the matrix and kernel ``d`` share a frame colour: they are the same
    numbers, reshaped by :func:`vitlearn.patches.weight_to_kernel`.
    """
    kernels = patch_ops.weight_to_kernel(weight, in_channels, patch_size).detach().cpu()  # (D, C, P, P)
    shown = min(kernels.shape[0], max_kernels)
    colors = plt.get_cmap("tab10").colors
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
    ax.set_ylabel("row = (channel, row, column) inside a patch")
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
        kax.set_title(f"kernel {d}", fontsize=10)
    right.suptitle(f"kernel {tuple(kernels.shape)}  (D, C, P, P), first {shown} shown as images")
    return fig


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


def plot_position_similarity(table: torch.Tensor, grid: tuple[int, int], num_prefix_tokens: int = 0) -> Figure:
    """The ViT paper's Figure 7 (centre): how alike the position embeddings of the patches are.

    table ``(num_prefix + grid_h*grid_w, D)``, patch rows in reading order. Tile ``(i, j)`` shows
    the cosine similarity of patch ``(i, j)``'s embedding with every patch's, as a
    ``grid_h x grid_w`` image; all tiles share one colour scale, from the lowest similarity to 1.
    """
    table = require_tensor(table, "table", 2, "(num_prefix + grid_h*grid_w, D)")
    grid_h, grid_w = grid
    if table.shape[0] != num_prefix_tokens + grid_h * grid_w:
        raise ValueError(f"table must have shape ({num_prefix_tokens} + {grid_h}*{grid_w}, D) for a {grid_h}x{grid_w} "
                         f"grid and {num_prefix_tokens} prefix token(s), got {tuple(table.shape)}")
    rows = torch.nn.functional.normalize(table[num_prefix_tokens:].detach().cpu().double(), dim=1)  # (N, D)
    similarity = (rows @ rows.T).reshape(grid_h, grid_w, grid_h, grid_w).numpy()  # [i, j] is a (grid_h, grid_w) map
    lowest = min(similarity.min(), 0.99)
    tile = min(0.9, 9 / max(grid_h, grid_w))
    fig, axes = plt.subplots(grid_h, grid_w, figsize=(tile * grid_w + 2.2, tile * grid_h + 1.4), squeeze=False,
                             gridspec_kw=dict(wspace=0.08, hspace=0.08))
    for (i, j), ax in np.ndenumerate(axes):
        image = ax.imshow(similarity[i, j], cmap="viridis", vmin=lowest, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        if i == grid_h - 1:
            ax.set_xlabel(str(j), fontsize=9)
        if j == 0:
            ax.set_ylabel(str(i), fontsize=9, rotation=0, ha="right", va="center")
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="cosine similarity")
    fig.supxlabel("patch column")
    fig.supylabel("patch row")
    fig.suptitle("Position embedding similarity: tile (row, column) = that patch's cosine similarity with every patch")
    return fig


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
            ax.axvline(k * patch_size - 0.5, color="white", linewidth=1)
        for k in range(1, height // patch_size):
            ax.axhline(k * patch_size - 0.5, color="white", linewidth=1)
        ax.set_title(title, fontsize=13)
    fig.suptitle(f"{count} patches, two orders: without position embeddings, self-attention sees the same set of tokens",
                 fontsize=13)
    return fig


def plot_encoder_blocks() -> Figure:
    """Chapter 05: the pre-norm encoder block ViT uses beside the post-norm block that
    ``nn.TransformerEncoderLayer`` builds by default, as two flow charts (input at the bottom).

    Takes no data. Tokens ``(B, T, D)`` flow up; each branch is added back to the residual stream
    at a circled plus. Attention mixes the tokens (spatial mixing); the MLP transforms each token
    on its own (channel mixing). Two axes, one per block.
    """

    colors = {"norm": "#fde68a", "attn": "#bfdbfe", "mlp": "#bbf7d0", "io": "#e5e7eb"}
    attn = ("attn", "multi-head self-attention\nmixes the tokens (spatial)")
    pre = ([("io", "tokens x  (B, T, D)"), ("norm", "LayerNorm"), attn, ("add", ""), ("norm", "LayerNorm"),
            ("mlp", "MLP: D -> 4D, GELU, -> D\neach token on its own (channels)"), ("add", ""),
            ("io", "(B, T, D) to the next block;\nafter the last one: a final LayerNorm")],
           [(0, 3), (3, 6)])  # residuals: from the stream at step i to the plus at step j
    post = ([("io", "tokens x  (B, T, D)"), attn, ("add", ""), ("norm", "LayerNorm"),
             ("mlp", "MLP: D -> 2048, ReLU, -> D\neach token on its own (channels)"), ("add", ""),
             ("norm", "LayerNorm"), ("io", "(B, T, D) to the next block;\nno final LayerNorm")],
            [(0, 2), (3, 5)])
    fig, axes = plt.subplots(1, 2, figsize=(13, 8.5), layout="constrained")
    for ax, (steps, residuals), title in [
        (axes[0], pre, "Pre-norm (ViT)\nx = x + attn(LN(x));  x = x + mlp(LN(x))"),
        (axes[1], post, ("Post-norm (nn.TransformerEncoderLayer's default)\n"
                         "x = LN(x + attn(x));  x = LN(x + mlp(x)),  dropout 0.1")),
    ]:
        centre, step = 4.2, 1.5
        ax.set_xlim(0, 10)
        ax.set_ylim(-0.6, len(steps) * step - 0.4)
        ax.axis("off")
        ax.set_title(title, fontsize=13)
        half = [0.34 if kind == "add" else 0.53 for kind, _ in steps]  # half height of each shape
        for i, (kind, text) in enumerate(steps):
            y = i * step
            if kind == "add":
                ax.add_patch(Circle((centre, y), 0.32, facecolor="white", edgecolor="black", linewidth=1.8))
                ax.text(centre, y, "+", ha="center", va="center", fontsize=20, fontweight="bold")
            else:
                ax.add_patch(FancyBboxPatch((centre - 3.0, y - 0.48), 6.0, 0.96, boxstyle="round,pad=0.05",
                                            facecolor=colors[kind], edgecolor="black", linewidth=1.4))
                ax.text(centre, y, text, ha="center", va="center", fontsize=11.5)
            if i + 1 < len(steps):
                ax.annotate("", xy=(centre, (i + 1) * step - half[i + 1]), xytext=(centre, y + half[i]),
                            arrowprops={"arrowstyle": "-|>", "color": "black", "linewidth": 1.6})
        for start, end in residuals:
            low, high = start * step + step / 2, end * step
            ax.plot([centre, 8.6, 8.6], [low, low, high], color="#6b7280", linewidth=2.2)
            ax.annotate("", xy=(centre + 0.34, high), xytext=(8.6, high),
                        arrowprops={"arrowstyle": "-|>", "color": "#6b7280", "linewidth": 2.2})
            ax.text(8.75, (low + high) / 2, "residual", rotation=90, va="center", fontsize=11, color="#374151")
    fig.suptitle("One Transformer encoder block, two places for the LayerNorms", fontsize=15)
    return fig


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
        ax.set_title(name, fontsize=12)
        ax.set_xlabel(xlabel, fontsize=11)
        ax.set_yticks(range(array.shape[0]), row_labels if row_labels is not None else range(array.shape[0]))
        ax.tick_params(labelsize=9)
        if highlight_rows:
            ax.add_patch(Rectangle((-0.5, -0.5), array.shape[1], highlight_rows, fill=False, edgecolor="black",
                                   linewidth=3))
    axes[0, 0].set_ylabel(ylabel, fontsize=11)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.9, label="value")
    fig.suptitle(title, fontsize=13)
    return fig


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
    colors = {group: plt.get_cmap("tab10").colors[i % 10] for i, group in enumerate(groups)}
    styles = ["-", "--", ":", "-."]
    seen: dict[str, int] = {}
    fig, ax = plt.subplots(figsize=(9, 5.2), layout="constrained")
    for label, values in curves.items():
        group = label.split(",")[0]
        index = seen[group] = seen.get(group, -1) + 1
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, 100 * np.asarray(values, dtype=float), color=colors[group], linestyle=styles[index % 4],
                linewidth=2.2, marker="o", markersize=4, label=f"{label}: {100 * values[-1]:.0f} % at the end")
    lowest = min(min(values) for values in curves.values())
    if chance is not None:
        ax.axhline(100 * chance, color="gray", linestyle=":", linewidth=1.5, label=f"chance ({100 * chance:.0f} %)")
        lowest = min(lowest, chance)
    ax.set_ylim(max(0.0, 100 * lowest - 5), 100.5)
    ax.set_xlabel("epoch", fontsize=12)
    ax.set_ylabel("test accuracy (%)", fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=10, loc="lower right")
    ax.set_title(title, fontsize=13)
    return fig


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
                             gridspec_kw=dict(width_ratios=[1.1, 2, 2, 1.7]))
    ax = axes[0]
    _show(ax, image)
    for k in range(1, width // patch_size):
        ax.axvline(k * patch_size - 0.5, color="tab:orange", linewidth=2)
    for k in range(1, height // patch_size):
        ax.axhline(k * patch_size - 0.5, color="tab:orange", linewidth=2)
    for n in range(count):
        row, col = divmod(n, grid_w)
        ax.text(col * patch_size, row * patch_size, str(n + 1), color="tab:orange", fontsize=12,
                fontweight="bold", ha="left", va="top")
    ax.set_title(f"image {tuple(image.shape)}\n{count} patches of {patch_size}x{patch_size}", fontsize=12)
    row_names = ["CLS"] + [str(n + 1) for n in range(count)]
    for ax, matrix, name in [(axes[1], tokens, "encoder input: CLS + patches + positions"),
                             (axes[2], encoded, "encoder output")]:
        limit = matrix.abs().max().item() or 1.0
        ax.imshow(matrix.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="nearest")
        ax.set_yticks(range(len(row_names)), row_names if len(row_names) <= 20 else None)
        if len(row_names) > 20:
            ax.set_yticks([0], ["CLS"])
        ax.set_xlabel(f"channel (D = {matrix.shape[1]})")
        ax.set_ylabel("token")
        ax.set_title(f"{name}\n(T, D) = {tuple(matrix.shape)}", fontsize=12)
    axes[2].add_patch(Rectangle((-0.5, -0.5), encoded.shape[1], 1, fill=False, edgecolor="tab:green", linewidth=3))
    axes[2].set_title(f"encoder output (T, D) = {tuple(encoded.shape)}\nrow 0, outlined: the CLS output (D,)",
                      fontsize=12)
    ax = axes[3]
    colors = ["tab:green" if k == label else "tab:gray" for k in range(classes)]
    ax.bar(range(classes), probabilities.numpy(), color=colors)
    ax.axhline(1 / classes, color="black", linestyle="--", linewidth=1, label=f"chance 1/{classes}")
    ax.set_ylim(0, 1)
    ax.set_xticks(range(classes))
    ax.set_xlabel("class")
    ax.set_ylabel("probability")
    ax.legend(loc="upper right", fontsize=10)
    heading = f"head -> softmax(logits), K = {classes}"
    if label is not None:
        heading += f"\ntrue class {label} (green): p = {probabilities[label].item():.2f}"
    ax.set_title(heading, fontsize=12)
    fig.suptitle(title or "One image through the ViT: image -> tokens -> encoder -> CLS output -> class probabilities",
                 fontsize=14)
    return fig


# ---- chapter 07: a trained ViT, what it learned ------------------------------------------------


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
    left.plot(steps, loss, color="0.7", linewidth=0.8, label="each step")
    window = max(1, len(loss) // 50)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    left.plot(steps[window - 1:], smooth, color="C0", linewidth=2.2, label=f"mean of {window} steps")
    left.set_yscale("log")
    left.set(xlabel="training step", ylabel="loss (log scale)")
    left.set_title("Training loss", fontsize=13)
    left.grid(alpha=0.3, which="both")
    left.legend(fontsize=10)
    x = np.asarray(epoch_seconds if epoch_seconds is not None else np.arange(1, len(test_accuracy) + 1), dtype=float)
    if len(x) != len(test_accuracy):
        raise ValueError(f"epoch_seconds needs one value per epoch ({len(test_accuracy)}), got {len(x)}")
    test = 100 * np.asarray(test_accuracy, dtype=float)
    right.plot(x, test, color="C1", linewidth=2.2, label=f"test: {test[-1]:.1f} % at the end")
    lowest = test.min()
    if train_accuracy is not None:
        train = 100 * np.asarray(train_accuracy, dtype=float)
        right.plot(x[:len(train)], train, color="C2", linewidth=1.5, linestyle="--",
                   label="train (the batches as trained on, while learning)")
        lowest = min(lowest, train.min())
    if reference is not None:
        right.axhline(100 * reference[1], color="k", linestyle=":", linewidth=1.5,
                      label=f"{reference[0]}: {100 * reference[1]:.1f} %")
    right.set_ylim(max(0.0, max(lowest, 80.0) - 2), 100.3)
    right.set(xlabel="training seconds" if epoch_seconds is not None else "epoch", ylabel="accuracy (%)")
    right.set_title("Accuracy (zoomed to the top 20 %)", fontsize=13)
    right.grid(alpha=0.3)
    right.legend(fontsize=10, loc="lower right")
    fig.suptitle(title, fontsize=14)
    return fig


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
    fig, axes = plt.subplots(2, count, figsize=(2.3 * count + 0.6, 5.0), squeeze=False, layout="constrained")
    for i in range(count):
        _show(axes[0, i], images[i])
        axes[0, i].set_title(labels[i] if labels else f"image {i}", fontsize=11)
        _show(axes[1, i], images[i])
        shown = axes[1, i].imshow(up[i].numpy(), cmap="inferno", alpha=0.65, vmin=0, vmax=1)
    axes[0, 0].set_ylabel("input", fontsize=11)
    axes[1, 0].set_ylabel("rollout", fontsize=11)
    fig.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.8, label="share reaching CLS (max = 1)")
    fig.suptitle("Attention rollout: which pixels the CLS output draws on, through every layer", fontsize=13)
    return fig


def plot_embedding_filters(components: torch.Tensor, explained: torch.Tensor | None = None) -> Figure:
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
                     fontsize=10)
    if channels == 1:
        fig.colorbar(shown, ax=axes, shrink=0.8, label="weight")
    fig.suptitle("Patch-embedding filters: top principal components (share of variance)", fontsize=13)
    return fig


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
    for head in range(heads):
        ax.scatter(depth, distances[:, head], s=60, color=plt.get_cmap("tab10").colors[head % 10],
                   label=f"head {head}", zorder=3)
    ax.plot(depth, distances.mean(axis=1), color="0.4", linewidth=1.5, label="mean of the heads")
    if max_distance is not None:
        ax.axhline(max_distance, color="k", linestyle=":", linewidth=1.2, label="farthest two patches")
    ax.set_xticks(depth)
    ax.set_xlim(0.5, layers + 0.5)
    ax.set_ylim(0, 1.08 * max(distances.max(), max_distance or 0))
    ax.set(xlabel="layer (network depth)", ylabel="mean attention distance (pixels)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, loc="best")
    ax.set_title(title, fontsize=13)
    return fig


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
        axes[0].text(0.5, 0.5, "none wrong", ha="center", va="center", fontsize=14)
        axes[0].set_axis_off()
    for ax, index in zip(axes, shown.tolist()):
        _show(ax, images[index])
        ax.set_title(f"{labels[index].item()} → {predictions[index].item()}", fontsize=12, color="C3")
    fig.suptitle(f"Misclassified: {len(wrong)} of {len(images)} (true → predicted)", fontsize=13)
    return fig
