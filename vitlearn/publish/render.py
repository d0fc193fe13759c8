"""What the slides and the site share: finding a chapter, its notebook made static, nbconvert run with
vitlearn's templates (``templates/``), and the offline front-end files (``static/``) copied beside the HTML.

The templates extend nbconvert's own (``reveal``, ``lab``) and replace every block that would load a file
from the network (require.js, jQuery, MathJax, Mermaid, the widget manager) with the copies carried here;
math is typeset in the browser by KaTeX.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from vitlearn.classroom.notebooks import CHAPTERS_DIR, chapter_paths, no_chapters

STATIC = Path(__file__).resolve().parent / "static"
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC_FOLDER = "_static"  # the static files' folder beside the HTML
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def add_chapters_option(parser: argparse.ArgumentParser) -> None:
    """``--chapters DIR``, which both commands take: the book to read, by default the one vitlearn carries."""
    parser.add_argument("--chapters", type=Path, default=CHAPTERS_DIR, metavar="DIR",
                        help="read the chapters from DIR (default: the book vitlearn carries)")


class PublishError(ValueError):
    """A chapter that cannot be found or read, or an output folder that cannot be written."""


def find_chapter(name: str, chapters: Path) -> Path:
    """The chapter of ``chapters`` that ``name`` means: a path to a notebook, its number (``1``, ``01``),
    or its file name with or without ``.ipynb``."""
    path = Path(name)
    if path.suffix == ".ipynb" and path.is_file():
        return path
    known = chapter_paths(chapters)
    if not known:
        raise PublishError(f"no chapters: {no_chapters(chapters)}")
    wanted = name.removesuffix(".ipynb")
    for chapter in known:
        number = chapter.name[:2]
        if wanted in (chapter.stem, number) or (wanted.isdigit() and int(wanted) == int(number)):
            return chapter
    raise PublishError(f"no chapter {name!r} in {chapters}; the chapters are: {', '.join(c.stem for c in known)}")


def read_static(path: Path):
    """The notebook at ``path`` (an nbformat node), its widget views dropped (:func:`drop_widget_views`)."""
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as error:
        raise PublishError(f"cannot read {path} as a notebook: {error}") from None
    return drop_widget_views(notebook)


def drop_widget_views(notebook):
    """``notebook`` as a static reader sees it: an output that carries a live widget view beside a
    picture or text (a ``vitlearn.viz`` explorer) keeps only the picture and the text."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data and len(data) > 1:
                del data[WIDGET_VIEW]
    return notebook


def title_of(notebook) -> str:
    """The notebook's title: its first markdown heading, without the ``#``s (or "Untitled")."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "Untitled"


def export(notebook, kind: str, source: Path, extra: dict[str, Any], **options: Any) -> str:
    """``notebook`` as HTML by nbconvert's ``kind`` exporter (``"slides"`` or ``"html"``) with vitlearn's
    template for it; ``source`` is the notebook's path (its images are embedded from its folder),
    ``extra`` reaches the template as ``resources.vitlearn``, ``options`` set the exporter's traits."""
    from nbconvert import HTMLExporter, SlidesExporter

    exporter_class, template = {"slides": (SlidesExporter, "vitlearn_slides"),
                                "html": (HTMLExporter, "vitlearn_site")}[kind]
    exporter = exporter_class(template_name=template, extra_template_basedirs=[str(TEMPLATES)], embed_images=True,
                              **options)
    resources = {"metadata": {"name": source.stem, "path": str(source.parent)}, "vitlearn": extra}
    html, _ = exporter.from_notebook_node(notebook, resources=resources)
    return html


def copy_static(out: Path) -> Path:
    """Copy the static files into ``out/_static`` (replacing an older copy); return that folder."""
    target = out / STATIC_FOLDER
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(STATIC, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))
    except OSError as error:
        raise PublishError(f"cannot write to {out}: {error.strerror or error}") from None
    return target


def write_page(path: Path, html: str) -> Path:
    try:
        path.write_text(html, encoding="utf-8")
    except OSError as error:
        raise PublishError(f"cannot write {path}: {error.strerror or error}") from None
    return path
