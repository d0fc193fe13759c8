"""``vitlearn figures``: the course's figures, rendered headless, one file each plus a PDF handout.

    vitlearn figures --out figures                                   # notebook style, PNGs 1200 px wide
    vitlearn figures --out slides --style projector                  # large type, thick lines, 1920 px
    vitlearn figures --out figures --checkpoint runs/digits/model.pt # also what a trained ViT learned

Files are named after their chapter (``01_patch_grid.png``, ...); ``course_figures.pdf`` holds every
figure, one a page, in chapter order, to project or print. ``course_figures()`` is the figure set
itself (each entry one ``vitlearn.viz`` function), ``write_figures()`` what the command does with it.
Light at import, so that ``vitlearn --help`` stays quick: torch and matplotlib load when used.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from vitlearn.model import ViT

PIXEL_WIDTH = {"notebook": 1200, "projector": 1920}  # a PNG's width in each style of vitlearn.viz.STYLES
HANDOUT = "course_figures.pdf"
COST_LENGTHS = (64, 128, 256, 512, 1024)  # sequence lengths at which chapter 00's attention cost is measured
VIT_LENGTHS = {"224², patch 16: 197 tokens": 197, "patch 8: 785": 785, "patch 4: 3137": 3137}  # marked on it


def register(commands) -> None:
    """Add the ``figures`` subcommand to ``vitlearn``'s subparsers."""
    parser = commands.add_parser("figures", help="render the course's figures headless, and a PDF handout",
                                 description="Render the course's figures headless, one file each named after its "
                                             f"chapter, plus {HANDOUT} with every figure, one a page.")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the figures to")
    parser.add_argument("--style", choices=list(PIXEL_WIDTH), default="notebook",
                        help="notebook (PNGs 1200 px wide) or projector (large type, thick lines, "
                             "colour-blind-safe colours; PNGs 1920 px wide)")
    parser.add_argument("--format", choices=["png", "svg", "pdf"], default="png", help="file format of each figure")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="a ViT trained on the digits (vitlearn train's model.pt): adds chapter 06-07's figures "
                             "of what it learned")
    parser.add_argument("--dpi", type=_positive_int, default=None,
                        help="dots per inch, instead of the style's fixed PNG width")
    parser.set_defaults(run=run)


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    start = time.perf_counter()
    try:
        figures = course_figures(args.checkpoint)
    except ValueError as error:  # the checkpoint is missing, unreadable, or not a digits ViT
        print(f"vitlearn figures: {error}", file=sys.stderr)
        return 2
    paths = write_figures(figures, args.out, style=args.style, fmt=args.format, dpi=args.dpi)
    print("\n".join(map(str, paths)))
    size = f", {args.dpi} dpi" if args.dpi else f", {PIXEL_WIDTH[args.style]} px wide" if args.format == "png" else ""
    print(f"{len(figures)} figures ({args.format}{size}, {args.style} style) and {HANDOUT}, "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


def course_figures(checkpoint: str | Path | None = None) -> dict[str, Callable[..., Figure]]:
    """The course's figures in chapter order: name (the file name without extension) -> a function
    drawing it, which takes ``style=`` like every ``vitlearn.viz`` function.

    Without ``checkpoint``: the figures that need no trained model (chapters 00-05, and chapter
    07's augmentation; chapter 00's attention cost is measured on this machine, about a second).
    With the path of a ``vitlearn.train.save_checkpoint`` file of a ViT trained on the digits
    (``vitlearn train``'s ``model.pt``), also what that model does and learned (chapters 06-07; for a
    DeiT, ``--model deit``, chapter 08's instead); a checkpoint that is missing, unreadable or not
    such a model raises ``ValueError`` saying so.
    The figures come sorted by chapter, each chapter's in the order drawn here.
    """
    from functools import partial

    import torch

    from vitlearn import anatomy, tokens, viz
    from vitlearn.data import digits, sample_image

    photo = sample_image(224)  # (1, 3, 224, 224): 7 x 7 patches of 32, or 14 x 14 of 16
    seeded = torch.Generator().manual_seed(0)
    weight = torch.randn(3 * 16 * 16, 8, generator=seeded) * 0.02  # (C*P*P, D)
    order = torch.randperm(7 * 7, generator=seeded)  # the 49 patches, shuffled
    sincos = tokens.sincos_position_embedding_2d(7, 7, 64, dtype=torch.float64)  # (49, D)
    small_table = torch.cat([torch.zeros(1, 16), tokens.sincos_position_embedding_2d(4, 4, 16)])  # (1 + 16, D)
    figures = {
        "00_transformer_blocks": viz.plot_transformer_blocks,
        "00_attention_masks": viz.plot_attention_masks,
        "00_attention_cost": partial(viz.plot_attention_cost, anatomy.measure_attention_cost(COST_LENGTHS),
                                     marks=VIT_LENGTHS),
        "01_patch_grid": partial(viz.plot_patch_grid, photo, 32),
        "01_patch_sequence": partial(viz.plot_patch_sequence, photo, 32),
        "02_weight_to_kernel": partial(viz.plot_weight_and_kernels, weight, 3, 16),
        "04_shuffled_patches": partial(viz.plot_shuffled_patches, photo, 32, order),
        "04_cls_and_positions": viz.plot_cls_and_positions,
        "04_sincos_similarity": partial(viz.plot_position_similarity, sincos, (7, 7)),
        "04_position_interpolation": partial(viz.plot_position_interpolation, small_table, (4, 4), (6, 6),
                                             channels=(0, 1, 8, 9)),
        "05_encoder_blocks": viz.plot_encoder_blocks,
        "07_shifted_digit": partial(viz.plot_shifts, digits().train_images[0],
                                    title="The recipe's augmentation: a digit moved (down, right) by up to half a "
                                          "pixel; a whole pixel scored lower"),
        "08_distillation_token": viz.plot_deit_tokens,
    }
    if checkpoint is not None:
        model = load_digits_model(checkpoint)
        figures.update(_deit_figures(model) if model.config.distillation_token else _trained_figures(model))
    return dict(sorted(figures.items(), key=lambda item: item[0][:2]))  # stable: by the chapter prefix only


def load_digits_model(path: str | Path) -> ViT:
    """The ViT saved at ``path`` by ``vitlearn.train.save_checkpoint``, checked to be a CLS-token
    model of the digits' 1-channel 8x8 images; a ``ValueError`` saying what is wrong otherwise."""
    from vitlearn.train import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no checkpoint file at {path}")
    try:
        model = load_checkpoint(path)
    except Exception as error:  # torch.load and ViT(**config) reject a file that is no checkpoint in many ways
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no details"
        raise ValueError(f"cannot load {path} as a vitlearn checkpoint ({type(error).__name__}: {reason})") from error
    config = model.config
    if config["in_channels"] != 1 or tuple(config["image_size"]) != (8, 8) or config["pool"] != "cls":
        height, width = config["image_size"]
        raise ValueError(f"{path} holds a ViT of {config['in_channels']}-channel {height}x{width} images with "
                         f"pool={config['pool']!r}; the figures need one trained on the digits (1 channel, 8x8, "
                         "pool='cls'), as `vitlearn train` makes")
    return model


def _trained_figures(model: ViT) -> dict[str, Callable[..., Figure]]:
    """Chapters 06-07 for a trained digits ViT: one test digit's forward pass, the training curves
    (when the checkpoint's metadata has a ``history`` with test accuracies), the last layer's
    attention per head, attention rollout, and the paper's Fig. 7 set (filters, position
    similarity, mean attention distance). For a hybrid the filters are its 3x3 stem's, the
    layer that meets the pixels."""
    from functools import partial

    import torch

    from vitlearn import interpret, viz
    from vitlearn.data import digits
    from vitlearn.model import cls_token_output

    split = digits()
    examples, labels = split.test_images[:6], split.test_labels[:6]  # (6, 1, 8, 8), (6,)
    with torch.no_grad():
        logits, attentions = model(examples, return_attention=True)  # (6, K), L x (6, h, T, T)
        _, many = model(split.test_images[:64], return_attention=True)  # L x (64, h, T, T)
        tokens = model.embed(examples[:1])  # (1, T, D)
        encoded = model.encoder(tokens)  # (1, T, D)
        probabilities = model.head(cls_token_output(encoded)).softmax(dim=-1)[0]  # (K,)
    grid, patch = model.grid, model.patch_size
    farthest = patch * ((grid[0] - 1) ** 2 + (grid[1] - 1) ** 2) ** 0.5  # between two patch centres, in pixels
    names = [f"{int(y)} (predicted {int(p)})" for y, p in zip(labels, logits.argmax(dim=-1))]
    figures = {"06_forward_pass": partial(viz.plot_forward_pass, examples[0], patch, tokens[0], encoded[0],
                                          probabilities, int(labels[0]),
                                          title="One test digit through the trained ViT")}
    metadata = getattr(model, "checkpoint_metadata", {})
    history = metadata.get("history") or {}
    curve = history.get("evaluation_accuracy") or history.get("test_accuracy")  # its name before the validation split
    if history.get("step_loss") and curve:
        accuracy = f": {100 * metadata['test_accuracy']:.2f} % test accuracy" if "test_accuracy" in metadata else ""
        figures["07_training_curves"] = partial(viz.plot_training_curves, history["step_loss"], curve,
                                                train_accuracy=history.get("train_accuracy") or None,
                                                epoch_seconds=history.get("epoch_seconds") or None,
                                                title=f"The ViT on the digits{accuracy}")
    first_layer = model.patch_embedding if model.stem is None else model.stem[0]  # what the pixels meet first
    components, explained = interpret.embedding_filter_components(first_layer.weight, 8)
    filters = "Patch-embedding" if model.stem is None else "The hybrid's 3x3 stem"
    return {
        **figures,
        "07_attention_heads": partial(viz.plot_attention_maps, attentions[-1][0], grid=grid, image=examples[0]),
        "07_attention_rollout": partial(viz.plot_attention_rollout, examples,
                                        interpret.cls_rollout_map(attentions, grid), labels=names),
        "07_position_similarity": partial(viz.plot_position_similarity, model.position_table, grid,
                                          num_prefix_tokens=1),
        "07_embedding_filters": partial(viz.plot_embedding_filters, components, explained,
                                        title=f"{filters} filters: top principal components (share of variance)"),
        "07_attention_distance": partial(viz.plot_attention_distance,
                                         interpret.mean_attention_distance(many, grid, patch), max_distance=farthest),
    }


def _deit_figures(model: ViT) -> dict[str, Callable[..., Figure]]:
    """Chapter 08 for a DeiT trained on the digits (``vitlearn train --model deit``): how alike its two
    tokens grow layer by layer, each head's test accuracy (and the teacher's, from the checkpoint's
    metadata), and where each token looks (attention rollout)."""
    from functools import partial

    import torch

    from vitlearn import viz
    from vitlearn.data import digits
    from vitlearn.distill import prefix_rollout_maps, token_similarity_by_layer

    split = digits()
    examples, labels = split.test_images[:6], split.test_labels[:6]  # (6, 1, 8, 8), (6,)
    with torch.no_grad():
        (cls_logits, distillation_logits), attentions = model.heads(examples, return_attention=True)
        every_cls, every_distillation = model.heads(split.test_images)  # (360, K) each
    maps = prefix_rollout_maps(attentions, model.grid)  # (6, 2, grid_h, grid_w)

    def accuracy(logits: torch.Tensor) -> float:
        return (logits.argmax(dim=-1) == split.test_labels).float().mean().item()

    teacher = model.checkpoint_metadata.get("teacher_test_accuracy") if hasattr(model, "checkpoint_metadata") else None
    accuracies = {**({"teacher CNN": teacher} if teacher is not None else {}), "CLS head": accuracy(every_cls),
                  "distillation head": accuracy(every_distillation),
                  "both averaged (DeiT)": accuracy(every_cls + every_distillation)}
    predicted = ((cls_logits + distillation_logits) / 2).argmax(dim=-1)
    names = [f"{int(y)} (predicted {int(p)})" for y, p in zip(labels, predicted)]
    return {
        "08_token_similarity": partial(viz.plot_token_similarity, token_similarity_by_layer(model, split.test_images)),
        "08_head_accuracy": partial(viz.plot_head_accuracies, accuracies, total=len(split.test_labels)),
        "08_token_rollout": partial(viz.plot_token_rollout, examples, maps[:, 0], maps[:, 1], labels=names),
    }


def write_figures(figures: dict[str, Callable[..., Figure]], out: str | Path, *, style: str = "notebook",
                  fmt: str = "png", dpi: int | None = None) -> list[Path]:
    """Draw each figure in ``style``, save it as ``out/<name>.<fmt>`` and as one page of
    ``out/course_figures.pdf``; return the paths written, the handout last.

    Each file is ``PIXEL_WIDTH[style]`` pixels wide (for PNG) unless ``dpi`` is given.
    """
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    if style not in PIXEL_WIDTH:
        raise ValueError(f"style must be one of {', '.join(map(repr, PIXEL_WIDTH))}, got {style!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with PdfPages(out / HANDOUT, metadata={"Title": "vitlearn: the Vision Transformer, line by line. Figures"}) as pdf:
        for name, draw in figures.items():
            fig = draw(style=style)
            # Agg cuts the canvas to whole pixels, so aim half a pixel above the width
            fig.savefig(out / f"{name}.{fmt}", dpi=dpi or (PIXEL_WIDTH[style] + 0.5) / fig.get_figwidth())
            fig.set_layout_engine("none")  # keep the layout just computed: the page needs no second one
            pdf.savefig(fig)
            plt.close(fig)
            written.append(out / f"{name}.{fmt}")
    return [*written, out / HANDOUT]
