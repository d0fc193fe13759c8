"""The ``vitlearn`` command.

    vitlearn exercises            list the exercises, their signatures and mistake catalogues
    vitlearn figures --out DIR    render the course figures headless (PNG, SVG or PDF)
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path


def _exercises(args: argparse.Namespace) -> int:
    from vitlearn.checks import EXERCISES

    for exercise in EXERCISES.values():
        print(f"{exercise.signature}\n    catalogued mistakes: {', '.join(m.name for m in exercise.mistakes)}")
    return 0


def course_figures() -> dict:
    """Figure name -> a function drawing it, in chapter order (file names say the chapter)."""
    import torch

    from vitlearn import viz
    from vitlearn.data import sample_image

    photo = sample_image(224)  # (1, 3, 224, 224)
    weight = torch.randn(3 * 16 * 16, 8, generator=torch.Generator().manual_seed(0)) * 0.02  # (C*P*P, D)
    return {
        "01_patch_grid": lambda: viz.plot_patch_grid(photo, 32),
        "01_patch_sequence": lambda: viz.plot_patch_sequence(photo, 32),
        "02_weight_to_kernel": lambda: viz.plot_weight_and_kernels(weight, 3, 16),
    }


def _figures(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in course_figures().items():
        fig = draw()
        path = args.out / f"{name}.{args.format}"
        fig.savefig(path, dpi=args.dpi)
        plt.close(fig)
        print(path)
    return 0


# Modules that add their own subcommands: each has ``register(commands)``, which adds a subparser
# with ``set_defaults(run=...)``; ``run(args) -> int`` is the exit status. Imports stay lazy so that
# ``vitlearn --help`` does not pay for torch.
COMMAND_MODULES: tuple[str, ...] = ("vitlearn.classroom.commands", "vitlearn.train_command")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitlearn", description="The Vision Transformer, line by line.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    commands.add_parser("exercises", help="list exercises and their mistake catalogues").set_defaults(run=_exercises)
    figures = commands.add_parser("figures", help="render the course figures headless")
    figures.add_argument("--out", type=Path, required=True, help="folder to write the figures to")
    figures.add_argument("--format", choices=["png", "svg", "pdf"], default="png")
    figures.add_argument("--dpi", type=int, default=150)
    figures.set_defaults(run=_figures)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
