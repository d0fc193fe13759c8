"""`vitlearn site --out DIR` (`make book`): every chapter as a page with its outputs, contents, previous and
next links, a search box, links that resolve inside the site; opened page by page in headless Chromium
with no network."""

import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from browser import OFFLINE, chromium, console_errors
from test_slides import PNG, WEB_URL, figure_cell, notebook, write
from vitlearn.cli import main
from vitlearn.publish.render import WIDGET_VIEW, PublishError
from vitlearn.publish.site import build_site

ROOT = Path(__file__).resolve().parents[1]
HREF = re.compile(r'<a\b[^>]*\bhref="([^"]*)"')


def small_book(tmp_path: Path) -> Path:
    """A repository of two chapters and a README, linking to each other, to a doc and to nothing."""
    md = nbformat.v4.new_markdown_cell
    repo = tmp_path / "repo"
    write(notebook(md("# 00 · First\n*About the post: [README › Credits](../README.md#credits).*"),
                   md("## 1. The idea\nSee [the next chapter](01_second.ipynb#2.-Details) and $a^2 + b^2$."),
                   figure_cell()), repo / "chapters", "00_first.ipynb")
    write(notebook(md("# 01 · Second"), md("## 2. Details\nA [missing page](../docs/nowhere.md).")),
          repo / "chapters", "01_second.ipynb")
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# Guide\n")
    (repo / "README.md").write_text("# The course\n[Chapter 0](chapters/00_first.ipynb), [the guide](docs/guide.md)"
                                    "\n\n## Credits\nThe post.\n")
    return repo / "chapters"


def internal_links(page: Path) -> list[str]:
    return [href for href in HREF.findall(page.read_text()) if not re.match(r"[a-z]+:|#", href)]


def test_each_chapter_is_a_page_with_contents_previous_and_next(tmp_path):
    pages = build_site(small_book(tmp_path), tmp_path / "site")
    assert [page.href for page in pages] == ["00_first.html", "01_second.html", "about.html"]
    assert [page.title for page in pages] == ["00 · First", "01 · Second", "About the course"]
    first, second = (tmp_path / "site" / name for name in ("00_first.html", "01_second.html"))
    assert '<a href="01_second.html" rel="next">01 · Second →</a>' in first.read_text()
    assert 'rel="prev"' not in first.read_text() and '<a href="index.html">Contents</a>' in first.read_text()
    assert '<a href="00_first.html" rel="prev">← 00 · First</a>' in second.read_text()
    contents = (tmp_path / "site" / "index.html").read_text()
    assert [href for href in HREF.findall(contents)] == ["00_first.html", "01_second.html", "about.html"]


def test_the_pages_carry_their_outputs_and_load_nothing_from_the_web(tmp_path):
    build_site(small_book(tmp_path), tmp_path / "site")
    page = (tmp_path / "site" / "00_first.html").read_text()
    assert f"data:image/png;base64,{PNG}" in page and WIDGET_VIEW not in page
    assert "$a^2 + b^2$" in page and 'src="_static/katex/katex.min.js"' in page
    for path in (tmp_path / "site").glob("*.html"):
        assert not WEB_URL.search(path.read_text()), (path.name, WEB_URL.search(path.read_text()).group(0))


def test_links_are_made_to_resolve_inside_the_site(tmp_path):
    build_site(small_book(tmp_path), tmp_path / "site")
    site = tmp_path / "site"
    assert 'href="about.html#credits"' in (site / "00_first.html").read_text()
    assert 'href="01_second.html#2.-Details"' in (site / "00_first.html").read_text()
    assert "missing page" in (site / "01_second.html").read_text() and "nowhere.md" not in (site / "01_second.html").read_text()
    about = (site / "about.html").read_text()
    assert 'href="00_first.html"' in about and 'href="files/docs/guide.md"' in about
    assert (site / "files" / "docs" / "guide.md").read_text() == "# Guide\n"
    assert '<a id="credits"></a>' in about  # GitHub's name for the heading, beside nbconvert's "Credits"
    for page in site.glob("*.html"):
        for href in internal_links(page):
            assert (site / unquote(urlsplit(href).path)).is_file(), (page.name, href)


def test_the_search_index_has_a_section_per_heading(tmp_path):
    build_site(small_book(tmp_path), tmp_path / "site")
    index = (tmp_path / "site" / "search-index.js").read_text()
    assert index.startswith("window.VITLEARN_SEARCH = [")
    assert '"href": "01_second.html#2.-Details", "page": "01 · Second", "heading": "2. Details", ' \
           '"text": "A missing page."' in index


def test_the_command_builds_the_site_and_says_where(tmp_path, capsys):
    chapters = small_book(tmp_path)
    assert main(["site", "--out", str(tmp_path / "site"), "--chapters", str(chapters)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(tmp_path / "site" / "index.html") and "3 pages" in err
    assert main(["site", "--out", str(tmp_path / "site"), "--chapters", str(tmp_path / "empty")]) == 1
    assert "vitlearn site: no chapters: no folder" in capsys.readouterr().err
    with pytest.raises(PublishError):
        build_site(tmp_path / "empty", tmp_path / "site")


PAGE_CHECK = """
const broken = [...document.images].filter(img => !img.complete || img.naturalWidth === 0).map(img => img.alt || img.src.slice(0, 60));
const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
return {broken, images: document.images.length, ids, math: document.querySelectorAll('.katex').length,
        links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href'))};
"""


@pytest.fixture(scope="module")
def book_site(tmp_path_factory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("book") / "site"
    start = time.perf_counter()
    build_site(ROOT / "chapters", out)
    return out, time.perf_counter() - start


def test_every_page_of_the_course_loads_offline_in_chromium_with_its_images_and_links(book_site, tmp_path,
                                                                                        monkeypatch):
    site, built = book_site
    start = time.perf_counter()
    pages, ids = {}, {}
    with chromium(tmp_path, monkeypatch, OFFLINE) as driver:
        for page in sorted(site.glob("*.html")):
            driver.get(page.as_uri())
            pages[page.name] = driver.execute_script(PAGE_CHECK)
            ids[page.name] = set(pages[page.name]["ids"])
            assert console_errors(driver) == [], page.name
        driver.get((site / "index.html").as_uri() + "?q=rollout")  # the search box, given a word from a page
        results = driver.execute_script("return [...document.querySelectorAll('#results a')].map(a => a.getAttribute('href'))")
        assert console_errors(driver) == []
    assert len(pages) == len(list((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))) + 2  # + about, index
    for name, found in pages.items():
        assert found["broken"] == [], (name, found["broken"])
        for href in found["links"]:
            if re.match(r"[a-z]+:", href):
                continue
            target, _, fragment = (href if not href.startswith("#") else name + href).partition("#")
            assert (site / target).is_file(), (name, href)
            if fragment and target.endswith(".html") and target in ids:
                assert {fragment, unquote(fragment)} & ids[target], (name, href)  # as the browser looks
    assert sum(found["images"] for found in pages.values()) > 30
    assert pages["00_transformer_anatomy.html"]["math"] > 0
    assert any(href.startswith("07_train_vit.html#") for href in results)  # chapter 07 teaches the rollout
    assert all((site / href.partition("#")[0]).is_file() for href in results)
    print(f"site: {len(pages)} pages built in {built:.1f} s, opened in Chromium in {time.perf_counter() - start:.1f} s")
