"""Chapter 07's figures: a trained ViT's curves and mistakes, the augmentation, and what it learned
(attention rollout, filter components, mean attention distance: the ViT paper's Figures 6 and 7)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from vitlearn._validate import require_tensor
from vitlearn.data import translate
from vitlearn.viz.drawing import panel_grid, show_image, stretch_to_unit
from vitlearn.viz.style import cycle_colors, line_width, marker_size, styled


@styled
def plot_training_curves(step_loss: list[float], accuracy: list[float], *,
                         train_accuracy: list[float] | None = None, epoch_seconds: list[float] | None = None,
                         reference: tuple[str, float] | None = None, evaluated_on: str = "test",
                         title: str = "Training") -> Figure:
    """Two panels: the loss of every training step (with its running mean), and accuracy per epoch.

    step_loss: one value per step; accuracy (``History.evaluation_accuracy``, on the images that
    ``evaluated_on`` names, e.g. "validation") and optional train_accuracy: one value per epoch,
    in [0, 1]. With ``epoch_seconds`` (training seconds at the end of each epoch) the accuracy's x
    axis is seconds, else epochs. ``reference = (name, accuracy)`` draws another model's accuracy
    (e.g. the SVC) as a dashed line. Drawn in percent.
    """
    if not step_loss or not accuracy:
        raise ValueError(f"need at least one step's loss and one epoch's {evaluated_on} accuracy")
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8), layout="constrained")
    loss = np.asarray(step_loss, dtype=float)
    steps = np.arange(1, len(loss) + 1)
    left.plot(steps, loss, color="0.7", linewidth=line_width(0.8), label="each step")
    window = max(1, len(loss) // 50)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    left.plot(steps[window - 1:], smooth, color="C0", linewidth=line_width(2.2), label=f"mean of {window} steps")
    left.set_yscale("log")
    left.set(xlabel="training step", ylabel="loss (log scale)")
    left.set_title("Training loss")
    left.grid(alpha=0.3, which="both")
    left.legend()
    x = np.asarray(epoch_seconds if epoch_seconds is not None else np.arange(1, len(accuracy) + 1), dtype=float)
    if len(x) != len(accuracy):
        raise ValueError(f"epoch_seconds needs one value per epoch ({len(accuracy)}), got {len(x)}")
    held_out = 100 * np.asarray(accuracy, dtype=float)
    right.plot(x, held_out, color="C1", linewidth=line_width(2.2),
               label=f"{evaluated_on}: {held_out[-1]:.1f} % at the end")
    lowest = held_out.min()
    if train_accuracy is not None:
        train = 100 * np.asarray(train_accuracy, dtype=float)
        right.plot(x[:len(train)], train, color="C2", linewidth=line_width(1.5), linestyle="--",
                   label="train (its batches, while learning)")
        lowest = min(lowest, train.min())
    if reference is not None:
        right.axhline(100 * reference[1], color="k", linestyle=":", linewidth=line_width(1.5),
                      label=f"{reference[0]}: {100 * reference[1]:.1f} %")
    zoom = held_out[-1] > 85  # a model that ends well: show the top 20 %, where the runs differ
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
        show_image(axes[0, i], images[i])
        axes[0, i].set_title(labels[i] if labels else f"image {i}", fontsize="medium")
        show_image(axes[1, i], images[i])
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
    fig, axes = panel_grid(count, 8, (1.7, 1.9), margin=(1.2, 0.9))
    scale = components.abs().max().item() or 1.0
    for i, ax in enumerate(axes):
        if channels == 1:
            shown = ax.imshow(components[i, 0].numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
        else:
            ax.imshow(stretch_to_unit(components[i].permute(1, 2, 0).numpy()), interpolation="nearest")
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
    colors = cycle_colors()
    for head in range(heads):
        ax.scatter(depth, distances[:, head], s=marker_size(1.3) ** 2, color=colors[head % len(colors)],
                   label=f"head {head}", zorder=3)
    ax.plot(depth, distances.mean(axis=1), color="0.4", linewidth=line_width(1.5), label="mean of the heads")
    if max_distance is not None:
        ax.axhline(max_distance, color="k", linestyle=":", linewidth=line_width(1.2), label="farthest two patches")
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
    fig, axes = panel_grid(len(moves), 8, (2.2, 2.4), margin=(0.4, 0.8))
    for ax, picture, (down, right) in zip(axes, moved, moves.tolist()):
        show_image(ax, picture)
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
    fig, axes = panel_grid(count, 8, (1.8, 2.1), margin=(0.8, 0.8))
    if len(shown) == 0:
        axes[0].text(0.5, 0.5, "none wrong", ha="center", va="center", fontsize="x-large")
        axes[0].set_axis_off()
    for ax, index in zip(axes, shown.tolist()):
        show_image(ax, images[index])
        ax.set_title(f"{labels[index].item()} → {predictions[index].item()}", fontsize="large", color="C3")
    fig.suptitle(f"Misclassified: {len(wrong)} of {len(images)} (true → predicted)")
    return fig
