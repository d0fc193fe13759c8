"""Chapter 00's figures: the encoder and decoder blocks, the three attention masks, attention's
cost against the sequence length, and the CNN against the ViT on less data."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import ConnectionPatch

from vitlearn.attention import causal_mask
from vitlearn.measure import fit_quadratic
from vitlearn.viz.drawing import draw_block, encoder_block_steps
from vitlearn.viz.style import cycle_colors, diagram_size, line_width, marker_size, styled


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
    encoder = encoder_block_steps("source tokens x  (B, S, D)",
                             "(B, S, D) to the next block; after the last:\nLayerNorm = the memory (B, S, D)")
    rows = len(decoder[0])
    fig, axes = plt.subplots(1, 2, figsize=diagram_size(14, 10), layout="constrained")
    encoder_ys = draw_block(axes[0], *encoder, "Encoder block (ViT, BERT; the encoder of a translator)\n"
                                               "every token sees every token", rows=rows)
    decoder_ys = draw_block(axes[1], *decoder, "Decoder block (translation, speech recognition)\n"
                                               "GPT's block: the same without cross-attention", rows=rows)
    memory, output, turn = "#be185d", encoder_ys[-1], 9.7  # the memory line leaves the encoder at x = turn
    axes[0].plot([7.3, turn], [output, output], color=memory, linewidth=line_width(2.5))
    fig.add_artist(ConnectionPatch((turn, output), (1.1, decoder_ys[5]), "data", "data", axesA=axes[0], axesB=axes[1],
                                   connectionstyle="angle,angleA=90,angleB=180,rad=15", arrowstyle="-|>",
                                   color=memory, linewidth=line_width(2.5), mutation_scale=20))
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
    allowed, blocked = cycle_colors()[0], "#e5e7eb"
    fig, axes = plt.subplots(1, 3, figsize=(15, 7.6), layout="compressed",  # compressed: equal-aspect panels
                             gridspec_kw={"width_ratios": [t, t, s]})
    for ax, (mask, title, xlabel) in zip(axes, panels):
        ax.imshow(mask.numpy(), cmap=ListedColormap([blocked, allowed]), vmin=0, vmax=1)
        rows, cols = mask.shape
        ax.set_xticks(range(cols))
        ax.set_yticks(range(rows))
        ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=line_width(2.5))
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
        ax.plot(grid[inside], fitted[inside], color=cycle_colors()[1], linewidth=line_width(2.5), label=fit_label)
        if not inside.all():
            ax.plot(grid[~inside], fitted[~inside], color=cycle_colors()[1], linewidth=line_width(2.5), linestyle="--",
                    label="the same fit, extrapolated")
        ax.plot(lengths, values, "o", color=cycle_colors()[0], markersize=marker_size(1.2), label="measured")
        for label, length in marks.items():
            ax.axvline(length, color="gray", linestyle=":", linewidth=line_width(1.5))
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
        color = cycle_colors()[i % len(cycle_colors())]
        ax.plot(xs, ys, color=color, linewidth=line_width(2.5), marker="o", markersize=marker_size(1.2), label=name)
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
