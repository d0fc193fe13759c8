"""Build hook: the wheel carries the book. Everything else is declared in pyproject.toml.

``chapters/`` sits beside the package in the repository (the notebooks import ``vitlearn`` and are
executed there), so setuptools' package data, which only reaches files under ``vitlearn/``, cannot
name it. This ``build_py`` copies the chapter notebooks and nbval's ``sanitize.cfg`` into the built
package as ``vitlearn/chapters/``, where :mod:`vitlearn.classroom.notebooks` finds them in an
installed wheel. An editable install copies nothing: it keeps reading ``chapters/`` in the checkout.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BOOK = Path("chapters")
BOOK_FILES = ("[0-9][0-9]_*.ipynb", "sanitize.cfg")  # the chapters, and nbval's sanitizer for them


class BuildWithChapters(build_py):
    """``build_py`` that also copies the chapters into ``vitlearn/chapters/`` of the build."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        chapters = sorted(path for pattern in BOOK_FILES for path in BOOK.glob(pattern))
        if not any(path.suffix == ".ipynb" for path in chapters):
            raise SystemExit(f"no chapter notebooks in {BOOK.resolve()}: the wheel would carry no book")
        target = Path(self.build_lib, "vitlearn", "chapters")
        self.mkpath(str(target))
        for path in chapters:
            self.copy_file(str(path), str(target / path.name))


setup(cmdclass={"build_py": BuildWithChapters})
