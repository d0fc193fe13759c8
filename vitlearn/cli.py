"""The ``vitlearn`` command.

    vitlearn chapters --out DIR   copy the book into a folder of yours; vitlearn lab [DIR] opens it (vitlearn/book.py)
    vitlearn exercises            list the exercises, their signatures and mistake catalogues
    vitlearn figures --out DIR    render the course figures headless (vitlearn/figures.py)
    vitlearn autograder CH --out Z  a Gradescope autograder zip (vitlearn/classroom/autograder.py)
    vitlearn slides CH --out DIR  a reveal.js deck of a chapter, offline (vitlearn/publish/slides.py)
    vitlearn site --out DIR       the course as a static offline website (vitlearn/publish/site.py)
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
COMMAND_MODULES: tuple[str, ...] = ("vitlearn.book", "vitlearn.classroom.commands", "vitlearn.train_command",
                                    "vitlearn.figures", "vitlearn.classroom.autograder", "vitlearn.publish.slides",
                                    "vitlearn.publish.site")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitlearn", description="The Vision Transformer, line by line.")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    commands.add_parser("exercises", help="list exercises and their mistake catalogues").set_defaults(run=_exercises)
    return parser


# Packages outside the core that a command imports when it runs, and the extra that brings each (pyproject.toml)
EXTRAS: dict[str, str] = {"nbformat": "classroom", "IPython": "classroom", "nbclient": "notebooks",
                          "jupyterlab": "notebooks", "ipykernel": "notebooks", "nbconvert": "notebooks",
                          "ipywidgets": "notebooks"}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ModuleNotFoundError as exc:  # an extra not installed: say which, not a traceback
        extra = EXTRAS.get((exc.name or "").partition(".")[0])
        if extra is None:
            raise
        print(f"vitlearn {args.command}: needs {exc.name}, which is not installed here: "
              f'pip install "vitlearn[{extra}]"', file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
