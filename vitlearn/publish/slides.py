"""``vitlearn slides CHAPTER --out DIR``: a reveal.js deck of one chapter, opening from disk with no network.

    vitlearn slides 01 --out slides                  # slides/01_image_to_patches.html, its saved outputs
    vitlearn slides 04 --out slides --code hide      # the figures and text only
    vitlearn slides 07 --out slides --projector      # re-run the chapter: figures in the projector style

Cells are laid out on slides by the ``slideshow`` metadata nbconvert and Jupyter use (``slide_type``:
``slide``, ``subslide``, ``fragment``, ``skip``, ``notes``, ``-`` to continue). A chapter with none gets
one slide per ``#`` or ``##`` heading and one vertical slide per ``###`` heading. A slide longer than the
screen scrolls. Press S for the speaker view (``notes`` cells), F for full screen.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from vitlearn.publish.render import (
    STATIC_FOLDER,
    PublishError,
    add_chapters_option,
    copy_static,
    drop_widget_views,
    export,
    find_chapter,
    read_static,
    write_page,
)

SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
# Set before the chapter's first cell when it is re-run for the projector: every figure it draws in the
# default style takes the projector's rcParams (vitlearn.viz.style), and the rest of the notebook is unchanged
PROJECTOR_SETUP = ("import matplotlib.pyplot as plt\nfrom vitlearn.viz.style import PROJECTOR_RC\n"
                   "plt.rcParams.update(PROJECTOR_RC)")


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``slides`` subcommand to the ``vitlearn`` parser."""
    parser = commands.add_parser("slides", help="a reveal.js deck of one chapter, that opens with no network",
                                 description="Write DIR/<chapter>.html, a reveal.js deck of the chapter, with "
                                 f"reveal.js and KaTeX copied into DIR/{STATIC_FOLDER}: it opens from disk, offline.")
    parser.add_argument("chapter", help="the chapter: its number (1 or 01), its name, or a notebook's path")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder for the deck")
    parser.add_argument("--code", choices=("show", "hide"), default="show",
                        help="show the code cells, or only their outputs (default: show)")
    parser.add_argument("--projector", action="store_true",
                        help="re-run the chapter first so that its figures are drawn in the projector style "
                             "(takes as long as the chapter runs)")
    add_chapters_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        deck = write_deck(find_chapter(args.chapter, args.chapters), args.out, code=args.code,
                          projector=args.projector)
    except PublishError as error:
        print(f"vitlearn slides: {error}", file=sys.stderr)
        return 1
    print(deck)
    print(f"{deck.name}: {count_slides(deck.read_text(encoding='utf-8'))} slides, "
          f"{deck.stat().st_size / 2**20:.1f} MiB, in {time.perf_counter() - start:.1f} s; "
          "open it in a browser (no network needed)", file=sys.stderr)
    return 0


def count_slides(html: str) -> int:
    """The number of slides in a deck (vertical ones included): its ``<section>`` elements that hold
    no other section."""
    tags = re.findall(r"<(/?)section\b", html)
    return sum(1 for opening, closing in zip(tags, tags[1:]) if opening == "" and closing == "/")


def slide_types(notebook) -> list[str]:
    """Each cell's ``slide_type``: its ``slideshow`` metadata where any cell has some, else one slide
    per ``#``/``##`` heading and one vertical slide per ``###`` heading (a ``ValueError`` for a type
    nbconvert does not know)."""
    given = [cell.metadata.get("slideshow", {}).get("slide_type") for cell in notebook.cells]
    if any(given):
        unknown = sorted({kind for kind in given if kind and kind not in SLIDE_TYPES})
        if unknown:
            raise PublishError(f"unknown slide_type {', '.join(unknown)}: use one of {', '.join(SLIDE_TYPES)}")
        return [kind or "-" for kind in given]
    return [heading_slide_type(cell) for cell in notebook.cells]


def heading_slide_type(cell) -> str:
    if cell.cell_type != "markdown":
        return "-"
    first = cell.source.lstrip().split("\n", 1)[0]
    level = len(first) - len(first.lstrip("#"))
    return "slide" if level in (1, 2) and first[level:level + 1] == " " else "subslide" if level == 3 else "-"


def prepare(notebook, *, code: str = "show"):
    """Set each cell's ``slideshow.slide_type`` (:func:`slide_types`); with ``code="hide"`` a code cell
    that shows nothing without its code (no outputs) is skipped."""
    for cell, kind in zip(notebook.cells, slide_types(notebook)):
        if code == "hide" and cell.cell_type == "code" and not cell.get("outputs") and kind in ("-", "fragment"):
            kind = "skip"
        cell.metadata["slideshow"] = {"slide_type": kind}
    return notebook


def run_for_projector(notebook, source: Path, timeout: int = 900):
    """Re-run ``notebook`` in a fresh kernel in ``source``'s folder with the projector style set first;
    the setup cell is removed again. A cell that fails stops it with a :class:`PublishError`."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    setup = nbformat.v4.new_code_cell(PROJECTOR_SETUP)
    notebook.cells.insert(0, setup)
    try:
        NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(source.parent)}}).execute()
    except CellExecutionError as error:
        raise PublishError(f"{source.name} failed when re-run for the projector: {str(error).strip()[-500:]}") from None
    finally:
        notebook.cells.remove(setup)
    return notebook


def write_deck(chapter: Path, out: Path, *, code: str = "show", projector: bool = False) -> Path:
    """Write ``out/<chapter>.html``, the chapter's reveal.js deck, and the static files beside it; return
    the deck's path. ``code``: ``"show"`` or ``"hide"`` the code cells' input. ``projector``: re-run the
    chapter so its figures are drawn in the projector style (else its saved outputs are shown)."""
    if code not in ("show", "hide"):
        raise ValueError(f"code must be 'show' or 'hide', got {code!r}")
    notebook = read_static(chapter)
    if projector:
        notebook = drop_widget_views(run_for_projector(notebook, chapter))
    html = export(prepare(notebook, code=code), "slides", chapter, {"static": STATIC_FOLDER},
                  exclude_input=code == "hide", exclude_input_prompt=True, exclude_output_prompt=True,
                  reveal_url_prefix=f"{STATIC_FOLDER}/reveal", reveal_theme="white")
    copy_static(out)
    return write_page(out / f"{chapter.stem}.html", html)

