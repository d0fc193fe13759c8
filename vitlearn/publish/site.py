"""``vitlearn site --out DIR`` (``make book``): the course as a static website that opens from disk, offline.

    vitlearn site --out build/book      # build/book/index.html: the contents, a search box, every chapter

Every chapter (``NN_name.ipynb``) becomes ``NN_name.html`` with its saved outputs (figures, tables,
math typeset by KaTeX) and links to the contents, the previous and the next chapter. The README beside
the chapters (in a checkout) becomes ``about.html``. The search box reads ``search-index.js``, every
section's text. Links are made to work in the site: a link to a chapter goes to its page, one to the
README to ``about.html``, one to another file of the repository to a copy of it under ``files/``; a
link to a file that is not there becomes plain text.

The builder is nbconvert, which JupyterLab already brings, with a small template (``templates/``) and
this module for the contents, the links and the search: Jupyter Book would add Sphinx and its stack to
the install for the same pages. The site publishes the chapters as they are in the book; a released
(student) copy is never read.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

from vitlearn.classroom.notebooks import chapter_paths, no_chapters
from vitlearn.publish.render import (
    STATIC_FOLDER,
    PublishError,
    add_chapters_option,
    copy_static,
    export,
    read_static,
    title_of,
    write_page,
)

ABOUT = "about.html"
FILES = "files"  # copies of the repository files the pages link to
LINK = re.compile(r'<a\b([^>]*?)\bhref="([^"]*)"([^>]*)>(.*?)</a>', re.DOTALL)


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``site`` subcommand to the ``vitlearn`` parser."""
    parser = commands.add_parser("site", help="the course as a static website that opens with no network",
                                 description="Write DIR/index.html (contents and search) and one page per "
                                 "chapter, with their saved outputs; opens from disk, offline.")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="the folder for the site")
    add_chapters_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    try:
        pages = build_site(args.chapters, args.out)
    except PublishError as error:
        print(f"vitlearn site: {error}", file=sys.stderr)
        return 1
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    print(args.out / "index.html")
    print(f"{len(pages)} pages, {size / 2**20:.1f} MiB, in {time.perf_counter() - start:.1f} s; open "
          f"{args.out / 'index.html'} in a browser (no network needed)", file=sys.stderr)
    return 0


@dataclass(frozen=True)
class Page:
    """One page of the site: the notebook or Markdown file it comes from, its file name and its title."""

    source: Path
    href: str
    title: str


def build_site(chapters: Path, out: Path) -> list[Page]:
    """Write the site of the chapters in ``chapters`` into ``out``: a page per chapter, ``about.html``
    from the README beside them when there is one, ``index.html``, ``search-index.js`` and the static
    files; return the pages in reading order (the contents first)."""
    paths = chapter_paths(chapters)
    if not paths:
        raise PublishError(f"no chapters: {no_chapters(chapters)}")
    notebooks = [read_static(path) for path in paths]
    pages = [Page(path, f"{path.stem}.html", title_of(notebook)) for path, notebook in zip(paths, notebooks)]
    readme = chapters.resolve().parent / "README.md"
    if readme.is_file():
        notebooks.append(markdown_notebook(readme))
        pages.append(Page(readme, ABOUT, "About the course"))
    if out.exists():
        shutil.rmtree(out / FILES, ignore_errors=True)
    copy_static(out)
    targets = {page.source.resolve(): page.href for page in pages}
    sections = []
    for index, (page, notebook) in enumerate(zip(pages, notebooks)):
        neighbours = {"previous": link_to(pages[index - 1]) if index else None,
                      "next": link_to(pages[index + 1]) if index + 1 < len(pages) else None}
        text = export(notebook, "html", page.source, {"static": STATIC_FOLDER, "page": neighbours},
                      exclude_input_prompt=True, exclude_output_prompt=True)
        text = github_anchors(fix_links(text, page.source, targets, out, base=chapters.resolve().parent))
        write_page(out / page.href, text)
        sections += search_sections(text, page)
    write_page(out / "search-index.js", "window.VITLEARN_SEARCH = " + json.dumps(sections, ensure_ascii=False) + ";\n")
    write_page(out / "index.html", contents_page(pages))
    return pages


def link_to(page: Page) -> dict[str, str]:
    return {"href": page.href, "title": page.title}


def markdown_notebook(path: Path):
    """A Markdown file as a notebook of one Markdown cell, for the same template as the chapters."""
    import nbformat

    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(path.read_text(encoding="utf-8"))])


def fix_links(page: str, source: Path, targets: dict[Path, str], out: Path, *, base: Path) -> str:
    """Every relative link of ``page`` (written from ``source``) made to resolve in the site ``out``: to the
    page of a chapter or of the README (``targets``: source path -> page), to a copy under ``files/`` of
    another file inside ``base`` (the repository); a link to any other file becomes its text alone."""
    root, pages = source.resolve().parent, {"index.html", *targets.values()}

    def fix(match: re.Match) -> str:
        before, href, after, text = match.groups()
        if re.match(r"[a-z][a-z0-9+.-]*:|#", href):  # https:, mailto:, data:, or a place on this page
            return match.group(0)
        path, _, fragment = html.unescape(href).partition("#")
        target = (root / path).resolve()
        if path in pages:  # the navigation's own links
            return match.group(0)
        if target in targets:
            link = targets[target]
        elif target.is_file() and target.is_relative_to(base):
            relative = target.relative_to(base).as_posix()
            (out / FILES / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(target, out / FILES / relative)
            link = f"{FILES}/{relative}"
        else:
            return text
        link += f"#{fragment}" if fragment else ""
        return f'<a{before}href="{html.escape(link)}"{after}>{text}</a>'

    return LINK.sub(fix, page)


HEADING = re.compile(r'(<h[1-6] id="([^"]+)">)')


def github_anchors(page: str) -> str:
    """Give each heading a second anchor, named as GitHub names it (``#credits`` for "Credits"), so that
    links written for GitHub's viewer (``README.md#credits``) land on it here too; nbconvert keeps the
    heading's case and punctuation (``#Credits``)."""

    def add(match: re.Match) -> str:
        slug = re.sub(r"[^\w-]", "", unquote(html.unescape(match.group(2))).lower())  # nbconvert %-encodes
        return match.group(1) + (f'<a id="{slug}"></a>' if slug != match.group(2) else "")

    return HEADING.sub(add, page)


class _Sections(HTMLParser):
    """Collects ``(heading id, heading text, text until the next heading)`` from a page's HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[list[str]] = []
        self._heading: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in ("script", "style", "nav"):
            self._skip += 1
        elif re.fullmatch(r"h[1-4]", tag):
            self._heading = dict(attrs).get("id") or ""
            self.sections.append([self._heading, "", ""])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "nav"):
            self._skip -= 1
        elif re.fullmatch(r"h[1-4]", tag):
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._skip or not self.sections:
            return
        self.sections[-1][1 if self._heading is not None else 2] += data


def search_sections(page_html: str, page: Page) -> list[dict[str, str]]:
    """The search index's entries for one page: one per heading, with the text that follows it."""
    parser = _Sections()
    parser.feed(page_html)
    entries = []
    for anchor, heading, text in parser.sections:
        heading = " ".join(heading.replace("¶", "").split())
        href = f"{page.href}#{anchor}" if anchor else page.href
        entries.append({"href": href, "page": page.title, "heading": heading, "text": " ".join(text.split())})
    return entries


def contents_page(pages: list[Page]) -> str:
    """``index.html``: the course's title, the search box and its results, and the list of pages."""
    items = "\n".join(f'<li><a href="{html.escape(page.href)}">{html.escape(page.title)}</a></li>' for page in pages)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>vitlearn: the Vision Transformer, line by line</title>
<link rel="stylesheet" href="{STATIC_FOLDER}/vitlearn.css">
<style>body {{ font-family: sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}</style>
</head>
<body>
<h1>vitlearn: the Vision Transformer, line by line</h1>
<p>The chapters with their outputs, to read without Python. To run them, change them and get your
exercises checked: <code>pip install "vitlearn[notebooks]"</code>, then <code>vitlearn lab</code>.</p>
<p><input id="search" type="search" placeholder="Search the course" aria-label="Search the course" autofocus></p>
<ul id="results" class="vitlearn-results"></ul>
<h2>Contents</h2>
<ul class="vitlearn-toc">
{items}
</ul>
<script src="search-index.js"></script>
<script src="{STATIC_FOLDER}/vitlearn.js"></script>
<script>vitlearnSearch(document.getElementById("search"), document.getElementById("results"));</script>
</body>
</html>
"""
