"""Chapter 03's figures: token sequences as heatmaps on one colour scale, and test accuracy per
epoch of the CLS-vs-mean-pooling runs."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vitlearn._validate import require_tensor
from vitlearn.viz.style import cycle_colors, line_width, marker_size, styled


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

    curves: run label -> accuracies in [0, 1], one per epoch (e.g. ``History.evaluation_accuracy``).
    Runs whose labels share the text before the first comma ("CLS, seed 0", "CLS, seed 1")
    share a colour, so repeated seeds of one setting read as one group. ``chance`` (in [0, 1])
    draws the accuracy of guessing as a dotted line. Drawn in percent.
    """
    if not curves or any(len(values) == 0 for values in curves.values()):
        raise ValueError("curves must map each run's label to a non-empty list of per-epoch accuracies")
    groups = list(dict.fromkeys(label.split(",")[0] for label in curves))
    palette = cycle_colors()
    colors = {group: palette[i % len(palette)] for i, group in enumerate(groups)}
    styles = ["-", "--", ":", "-."]
    seen: dict[str, int] = {}
    fig, ax = plt.subplots(figsize=(9, 5.2), layout="constrained")
    for label, values in curves.items():
        group = label.split(",")[0]
        index = seen[group] = seen.get(group, -1) + 1
        epochs = np.arange(1, len(values) + 1)
        ax.plot(epochs, 100 * np.asarray(values, dtype=float), color=colors[group], linestyle=styles[index % 4],
                linewidth=line_width(2.2), marker="o", markersize=marker_size(0.67),
                label=f"{label}: {100 * values[-1]:.0f} % at the end")
    lowest = min(min(values) for values in curves.values())
    if chance is not None:
        ax.axhline(100 * chance, color="gray", linestyle=":", linewidth=line_width(1.5),
                   label=f"chance ({100 * chance:.0f} %)")
        lowest = min(lowest, chance)
    ax.set_ylim(max(0.0, 100 * lowest - 5), 100.5)
    ax.set_xlabel("epoch", fontsize="large")
    ax.set_ylabel("test accuracy (%)", fontsize="large")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(title)
    return fig
