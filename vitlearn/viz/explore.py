"""Live explorers: a course figure wired to sliders, for the front of the room and for a learner's questions.

Each ``*_explorer`` function returns an :class:`Explorer`: the controls (a slider or a choice each), and a
drawing made of the figure functions of ``vitlearn.viz`` (an explorer never draws a second copy of a
figure). Displayed in JupyterLab with a kernel and ipywidgets, it is live: moving a control redraws the
picture. Everywhere else it is one static picture of its first state with a one-line note: its output
carries the widget view beside ``image/png`` and ``text/plain``, so a static renderer (nbval, nbconvert,
GitHub's viewer) shows the picture; without a kernel (a plain script, a terminal IPython) it carries no
widget at all, and :meth:`Explorer.show` shows the figures with matplotlib.

Outputs are deterministic apart from the widget's model id, which nbval never compares: the ``text/plain``
note and the PNG depend only on the explorer's first state.

    viz.patch_explorer()                                    # chapter 01: the photograph cut at a chosen P
    viz.patch_vector_explorer(embed_fn=image2emb_naive)    # chapters 01-02: pixels -> vector -> embedding
    viz.position_explorer({"learned": table, ...}, (7, 7))  # chapter 04: similarity, and a resized table
    viz.attention_explorer(model, images)                   # chapters 05, 07: per layer and head, rollout
    viz.mask_explorer(mask_fn=causal_mask)                  # chapter 00: what each token may see
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from vitlearn import attention, interpret, patches, tokens
from vitlearn._validate import require_tensor
from vitlearn.data import digits, sample_image
from vitlearn.viz.ch00_transformer_anatomy import plot_attention_masks
from vitlearn.viz.ch01_image_to_patches import plot_patch_grid, plot_patch_sequence, plot_patch_vector
from vitlearn.viz.ch04_position_embedding import plot_position_interpolation, plot_position_similarity
from vitlearn.viz.ch05_transformer_encoder import plot_attention_maps
from vitlearn.viz.ch07_train_vit import plot_attention_rollout
from vitlearn.viz.style import STYLES, cycle_colors, line_width, projector

PIXEL_WIDTH = 1000  # the picture's width in pixels, live or static: readable projected, light in a notebook
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@dataclass(frozen=True)
class Control:
    """One control of an explorer: ``options`` (numbers: a slider; names: buttons), starting at ``value``."""

    label: str
    options: tuple
    value: Any

    def __post_init__(self) -> None:
        if self.value not in self.options:
            raise ValueError(f"{self.label}: the first value {self.value!r} is not one of the options {self.options}")


class Explorer:
    """A drawing of ``vitlearn.viz`` figures, redrawn as its controls move.

    ``draw(**values)`` returns the figures for one setting of the controls (one keyword per control);
    :meth:`figures` draws them for the current values, :meth:`png` as one picture, ``PIXEL_WIDTH`` wide.
    """

    def __init__(self, name: str, draw: Callable[..., Figure | list[Figure]], controls: dict[str, Control], *,
                 style: str = "notebook") -> None:
        if style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(map(repr, STYLES))}, got {style!r}")
        self.name, self.style, self.controls = name, style, controls
        self._draw = draw
        self.values = {key: control.value for key, control in controls.items()}
        self._widget = None

    def figures(self, **values: Any) -> list[Figure]:
        """The figures for the current values of the controls, or for ``values`` given here."""
        unknown = values.keys() - self.controls.keys()
        if unknown:
            raise ValueError(f"{self.name} has no control {', '.join(sorted(unknown))}; its controls: "
                             f"{', '.join(self.controls)}")
        with projector() if self.style == "projector" else nullcontext():  # as ``style=`` does for one figure
            drawn = self._draw(**{**self.values, **values})
        return list(drawn) if isinstance(drawn, (list, tuple)) else [drawn]

    def png(self, **values: Any) -> bytes:
        """The figures of :meth:`figures`, one above the other at one scale (the widest ``PIXEL_WIDTH``
        pixels wide, the others centred), as one PNG."""
        figures = self.figures(**values)
        dpi = (PIXEL_WIDTH + 0.5) / max(fig.get_figwidth() for fig in figures)  # Agg cuts to whole pixels
        picture = np.concatenate([_centred(_rgba(fig, dpi), PIXEL_WIDTH) for fig in figures])  # (H, PIXEL_WIDTH, 4)
        buffer = io.BytesIO()
        plt.imsave(buffer, picture, format="png", metadata={"Software": None})
        return buffer.getvalue()

    def note(self) -> str:
        """One line for where the explorer cannot be live: what it is and which state the picture shows."""
        state = ", ".join(f"{control.label} = {self.values[key]}" for key, control in self.controls.items())
        return (f"{self.name}: live in JupyterLab with a running kernel ({', '.join(c.label for c in self.controls.values())}"
                f" can be changed there); this picture shows {state}.")

    def __repr__(self) -> str:
        return self.note()

    def widget(self):
        """The live view (an ``ipywidgets.VBox``: the controls, a status line, the picture), built once."""
        if self._widget is None:
            self._widget = _build_widget(self)
        return self._widget

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        bundle = {"image/png": self.png(), "text/plain": self.note()}
        if _kernel_with_widgets():
            bundle[WIDGET_VIEW] = self.widget()._repr_mimebundle_()[WIDGET_VIEW]
        return bundle

    def show(self) -> None:
        """Display the explorer in a notebook; elsewhere (a plain script), show its figures with matplotlib."""
        if _kernel_with_widgets():
            from IPython.display import display

            display(self)
            return
        print(self.note())
        self.figures()
        plt.show()


def _kernel_with_widgets() -> bool:
    """True inside a Jupyter kernel (where a frontend may render widgets) that has ipywidgets."""
    ipython = sys.modules.get("IPython")  # never imported here: a plain script has no kernel anyway
    shell = ipython.get_ipython() if ipython is not None else None
    if getattr(shell, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _rgba(fig: Figure, dpi: float) -> np.ndarray:
    """Draw ``fig`` at ``dpi``, close it; return its ``(H, W, 4)`` uint8 pixels."""
    fig.set_dpi(dpi)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba()).copy()
    plt.close(fig)
    return rgba


def _centred(rgba: np.ndarray, width: int) -> np.ndarray:
    """``(H, W, 4)`` pixels, ``W <= width``, centred on a white ``(H, width, 4)`` band."""
    band = np.full((rgba.shape[0], width, 4), 255, dtype=np.uint8)
    left = (width - rgba.shape[1]) // 2
    band[:, left:left + rgba.shape[1]] = rgba
    return band


def _build_widget(explorer: Explorer):
    import ipywidgets as widgets

    picture = widgets.Image(value=explorer.png(), format="png", layout=widgets.Layout(max_width="100%"))
    status = widgets.HTML()

    def redraw(key: str, change: dict) -> None:
        explorer.values[key] = change["new"]
        try:
            picture.value = explorer.png()
            status.value = ""
        except Exception as error:  # noqa: BLE001 - the learner's own function failed: say so under the controls
            status.value = f"<b>{type(error).__name__}</b>: {error}"

    inputs = []
    for key, control in explorer.controls.items():
        if all(isinstance(option, (int, float)) for option in control.options):
            control_widget = widgets.SelectionSlider(options=control.options, value=control.value,
                                                     description=control.label, continuous_update=False,
                                                     style={"description_width": "initial"})
        else:
            control_widget = widgets.ToggleButtons(options=control.options, value=control.value,
                                                   description=control.label, style={"description_width": "initial"})
        control_widget.observe(lambda change, key=key: redraw(key, change), names="value")
        inputs.append(control_widget)
    return widgets.VBox([widgets.HBox(inputs, layout=widgets.Layout(flex_flow="row wrap")), status, picture])


def _caption(fig: Figure, text: str, *, warn: bool = False) -> Figure:
    """Add a line of ``text`` under ``fig`` (in the style's red when ``warn``); return ``fig``."""
    fig.supxlabel(text, color=cycle_colors()[3] if warn else "black", fontsize="large")
    return fig


def _frame(ax, left: float, top: float, width: float, height: float) -> None:
    """A thick frame in the style's orange around a box of ``ax`` (data coordinates, y down)."""
    ax.add_patch(Rectangle((left, top), width, height, fill=False, edgecolor=cycle_colors()[1],
                           linewidth=line_width(4), zorder=5))


def divisors(length: int, low: int = 2) -> tuple[int, ...]:
    """The patch sizes that cut ``length`` pixels exactly, from ``low`` up to ``length // 2``."""
    return tuple(p for p in range(low, length // 2 + 1) if length % p == 0)


def patch_explorer(image: torch.Tensor | None = None, *, patch_fn: Callable[..., torch.Tensor] | None = None,
                   dim: int = 8, patch_size: int = 32, style: str = "notebook") -> Explorer:
    """Chapter 01: the photograph cut at a patch size chosen by a slider, numbered in reading order
    (:func:`plot_patch_grid`), and the token sequence it becomes (:func:`plot_patch_sequence`).

    image ``(1, C, H, W)`` in [0, 1] (default: the course's photograph at 224x224); the slider offers
    the sizes that divide both H and W. ``patch_fn(image, P, weight)`` -> ``(1, N, D)`` (default the
    reference ``vitlearn.patches.image2emb_naive``; pass your own) is run on a random ``(C*P*P, dim)``
    weight, and the shape it returns is written under the grid.
    """
    image = require_tensor(sample_image(224) if image is None else image, "image", 4, "(1, C, H, W)")
    patch_fn = patch_fn or patches.image2emb_naive
    height, width = image.shape[-2:]
    sizes = tuple(p for p in divisors(min(height, width), 4) if height % p == 0 and width % p == 0)
    if not sizes:
        raise ValueError(f"no patch size from 4 up cuts a {height}x{width} image into at least 2x2 patches")
    first = patch_size if patch_size in sizes else sizes[len(sizes) // 2]

    def draw(patch_size: int) -> list[Figure]:
        weight = torch.randn(image.shape[1] * patch_size**2, dim, generator=torch.Generator().manual_seed(0))
        count = (height // patch_size) * (width // patch_size)
        embedded = patch_fn(image, patch_size, weight.to(image.dtype))  # (1, N, D) if right
        shape = tuple(embedded.shape) if isinstance(embedded, torch.Tensor) else type(embedded).__name__
        name = getattr(patch_fn, "__name__", "patch_fn")
        grid = _caption(plot_patch_grid(image, patch_size, numbers=count <= 196),
                        f"{name}(image, {patch_size}, W) -> {shape}\nexpected (1, N, D) = (1, {count}, {dim})",
                        warn=shape != (1, count, dim))
        per_line = min(width // patch_size, 8)  # one image row of patches a line, as far as it fits
        return [grid, plot_patch_sequence(image, patch_size, per_line=per_line, max_tokens=4 * per_line)]

    return Explorer("patch_explorer", draw, {"patch_size": Control("patch size P", sizes, first)}, style=style)


def patch_vector_explorer(image: torch.Tensor | None = None, *, patch_size: int = 32, dim: int = 16,
                          embed_fn: Callable[..., torch.Tensor] | None = None, style: str = "notebook") -> Explorer:
    """Chapters 01-02: the patch chosen by a slider as pixels, as a flattened vector and as its embedding
    (:func:`plot_patch_vector`), the embedding computed by ``embed_fn(image, P, weight)`` -> ``(1, N, D)``
    (default the reference ``vitlearn.patches.image2emb_naive``; pass your own).

    image ``(1, C, H, W)`` in [0, 1] (default: the photograph at 224x224); weight: a seeded random
    ``(C*P*P, dim)`` matrix.
    """
    image = require_tensor(sample_image(224) if image is None else image, "image", 4, "(1, C, H, W)")
    count = patches.patchify(image, patch_size).shape[1]  # validates P
    weight = torch.randn(image.shape[1] * patch_size**2, dim, generator=torch.Generator().manual_seed(0))
    weight = (weight / patch_size).to(image.dtype)  # (C*P*P, D), embeddings of order 1
    embedded = (embed_fn or patches.image2emb_naive)(image, patch_size, weight)  # (1, N, D)
    embedded = embedded if isinstance(embedded, torch.Tensor) else torch.as_tensor(embedded)

    def draw(index: int) -> Figure:
        return plot_patch_vector(image, patch_size, weight, index, embedded)

    return Explorer("patch_vector_explorer", draw, {"index": Control("patch", tuple(range(count)), 0)}, style=style)


def position_explorer(tables: dict[str, torch.Tensor] | None = None, grid: tuple[int, int] = (7, 7), *,
                      num_prefix_tokens: int = 0, new_sizes: Sequence[int] = (4, 5, 6, 8, 10, 12),
                      style: str = "notebook") -> Explorer:
    """Chapter 04: how alike the position embeddings are (:func:`plot_position_similarity`, the tile of
    the patch chosen by a slider framed), for a table chosen by buttons, and that table resized to a new
    ``n x n`` grid (:func:`plot_position_interpolation`).

    tables: name -> ``(num_prefix + grid_h*grid_w, D)`` (default: ViT's random initial "learned" table
    and the 2-D sine-cosine one, D = 64); pass a trained table to compare (``model.position_table``
    with ``num_prefix_tokens=1``).
    """
    grid_h, grid_w = grid
    if tables is None:
        seeded = torch.Generator().manual_seed(0)
        tables = {"learned (initial)": torch.randn(num_prefix_tokens + grid_h * grid_w, 64, generator=seeded) * 0.02,
                  "2-D sin-cos": torch.cat([torch.zeros(num_prefix_tokens, 64),
                                            tokens.sincos_position_embedding_2d(grid_h, grid_w, 64)])}
    if not tables:
        raise ValueError("tables must name at least one position table")
    for name, table in tables.items():
        require_tensor(table, f"tables[{name!r}]", 2, "(num_prefix + grid_h*grid_w, D)")

    def draw(table: str, patch: int, new_size: int) -> list[Figure]:
        chosen = tables[table]
        similarity = plot_position_similarity(chosen, grid, num_prefix_tokens)
        row, col = divmod(patch, grid_w)  # tiles sit a tenth of a tile apart, in reading order
        _frame(similarity.axes[0], col * 1.1 * grid_w, row * 1.1 * grid_h, grid_w, grid_h)
        _caption(similarity, f"{table}: patch {patch} (row {row}, column {col}) framed")
        dim = chosen.shape[1]
        channels = tuple(sorted({0, 1, dim // 2, dim // 2 + 1} & set(range(dim))))
        resized = plot_position_interpolation(chosen, grid, (new_size, new_size), num_prefix_tokens, channels)
        return [similarity, resized]

    controls = {"table": Control("table", tuple(tables), next(iter(tables))),
                "patch": Control("patch", tuple(range(grid_h * grid_w)), 0),
                "new_size": Control("new grid n x n", tuple(new_sizes), new_sizes[len(new_sizes) // 2])}
    return Explorer("position_explorer", draw, controls, style=style)


def attention_explorer(model: torch.nn.Module, images: torch.Tensor | None = None, *,
                       labels: Sequence[str] | None = None, style: str = "notebook") -> Explorer:
    """Chapters 05 and 07: what a chosen query token attends to in a chosen layer, one panel per head
    (:func:`plot_attention_maps`), and the attention rollout of the image (:func:`plot_attention_rollout`).

    model: a ``vitlearn.model.ViT`` with a CLS token (``pool="cls"``), e.g. the chapter's trained one;
    images ``(B, C, H, W)`` in [0, 1] (default: the first 8 test digits). The attention is computed
    once, here, without gradients.
    """
    if images is None:
        images = digits().test_images[:8]  # (8, 1, 8, 8)
    images = require_tensor(images, "images", 4, "(B, C, H, W)")
    if getattr(model, "num_prefix_tokens", None) != 1:
        raise ValueError("model must be a vitlearn ViT with a CLS token (pool='cls'): the rollout reads the CLS row")
    was_training = model.training
    model.eval()
    with torch.no_grad():
        _, attentions = model(images, return_attention=True)  # L x (B, h, T, T)
    model.train(was_training)
    grid, tokens_per_image = model.grid, attentions[0].shape[-1]
    names = list(labels) if labels is not None else [f"image {i}" for i in range(len(images))]

    def draw(image: int, layer: int, query: int) -> list[Figure]:
        weights = attentions[layer - 1][image]  # (h, T, T)
        heads = plot_attention_maps(weights, grid=grid, query=query, image=images[image:image + 1])
        _caption(heads, f"layer {layer} of {len(attentions)}, query token {query}"
                        f"{' (CLS)' if query == 0 else f' (patch {query - 1})'}")
        rollout = interpret.cls_rollout_map([a[image:image + 1] for a in attentions], grid)  # (1, grid_h, grid_w)
        return [heads, plot_attention_rollout(images[image:image + 1], rollout, labels=[names[image]])]

    controls = {"image": Control("image", tuple(range(len(images))), 0),
                "layer": Control("layer", tuple(range(1, len(attentions) + 1)), len(attentions)),
                "query": Control("query token", tuple(range(tokens_per_image)), 0)}
    return Explorer("attention_explorer", draw, controls, style=style)


def mask_explorer(*, mask_fn: Callable[[int], torch.Tensor] | None = None, lengths: Sequence[int] = (4, 6, 8, 12),
                  key_length: int = 4, style: str = "notebook") -> Explorer:
    """Chapter 00: the three attention masks (:func:`plot_attention_masks`) with the row of a chosen
    query token framed in the causal mask, and what ``mask_fn(T)`` (default the reference
    ``vitlearn.attention.causal_mask``; pass your own, ``(T, T)`` boolean) lets that token see.
    """
    mask_fn = mask_fn or attention.causal_mask
    longest = max(lengths)

    def draw(length: int, query: int) -> Figure:
        query = min(query, length - 1)
        fig = plot_attention_masks(query_length=length, key_length=key_length)
        _frame(fig.axes[1], -0.5, query - 0.5, length, 1)
        mask = torch.as_tensor(mask_fn(length))  # (T, T) if right
        seen = [int(k) for k in mask[query].nonzero().flatten()] if mask.shape == (length, length) else None
        right = seen == list(range(query + 1))
        name = getattr(mask_fn, "__name__", "mask_fn")
        verdict = f"sees keys {seen}" if seen is not None else f"is {tuple(mask.shape)}, not ({length}, {length})"
        return _caption(fig, f"{name}({length}): query {query} {verdict}" + ("" if right else
                        f"; causal: keys 0 .. {query}"), warn=not right)

    controls = {"length": Control("tokens T", tuple(lengths), 6 if 6 in lengths else lengths[0]),
                "query": Control("query t", tuple(range(longest)), 2 if longest > 2 else 0)}
    return Explorer("mask_explorer", draw, controls, style=style)
