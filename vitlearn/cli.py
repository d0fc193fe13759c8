"""The ``vitlearn`` command.

    vitlearn exercises            list the exercises, their signatures and mistake catalogues
    vitlearn figures --out DIR    render the course figures headless (vitlearn/figures.py)
"""

from __future__ import annotations

import argparse
import importlib
import sys


def _exercises(args: argparse.Namespace) -> int:
    from vitlearn.checks import EXERCISES

    for exercise in EXERCISES.values():
        print(f"{exercise.signature}\n    catalogued mistakes: {', '.join(m.name for m in exercise.mistakes)}")
    return 0


# Modules that add their own subcommands: each has ``register(commands)``, which adds a subparser
# with ``set_defaults(run=...)``; ``run(args) -> int`` is the exit status. Imports stay lazy so that
# ``vitlearn --help`` does not pay for torch.
COMMAND_MODULES: tuple[str, ...] = ("vitlearn.classroom.commands", "vitlearn.train_command", "vitlearn.figures")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitlearn", description="The Vision Transformer, line by line.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    commands.add_parser("exercises", help="list exercises and their mistake catalogues").set_defaults(run=_exercises)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
