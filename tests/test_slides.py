"""`vitlearn slides CHAPTER --out DIR`: a reveal.js deck of one chapter, laid out by its slideshow metadata
(or by its headings), that opens from disk with no network; stepped through in headless Chromium."""

import re
import time
from pathlib import Path

import nbformat
import pytest

from browser import OFFLINE, chromium, console_errors
from vitlearn.cli import main
from vitlearn.publish.render import WIDGET_VIEW, PublishError, find_chapter
from vitlearn.publish.slides import count_slides, slide_types, write_deck

PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAFElEQVR4nGP4z8DwHwyBNAMDA8N/AE7qB/k3e0tGAAAAAElF"
       "TkSuQmCC")  # a 2x2 picture
WEB_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)  # anything loaded from the web


def notebook(*cells) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=list(cells), metadata={"kernelspec": {"name": "python3",
                                                                                "display_name": "Python 3"}})


def tagged(cell, slide_type: str):
    cell.metadata["slideshow"] = {"slide_type": slide_type}
    return cell


def figure_cell(source: str = "draw()"):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>",
                                                                 WIDGET_VIEW: {"model_id": "abc", "version_major": 2,
                                                                               "version_minor": 0}})]
    return cell


def write(nb, folder: Path, name: str = "05_demo.ipynb") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / name)
    return folder / name


def untagged():
    md = nbformat.v4.new_markdown_cell
    return notebook(md("# 05 · Demo\n*The idea.*"), md("## 1. First\nText with $x_i^2$."), figure_cell(),
                    md("### A detail"), nbformat.v4.new_code_cell("secret_code = 1"), md("## 2. Second"))


def test_a_chapter_without_slide_metadata_gets_one_slide_per_heading():
    assert slide_types(untagged()) == ["slide", "slide", "-", "subslide", "-", "slide"]


def test_slide_metadata_is_followed_where_the_chapter_has_some():
    nb = untagged()
    tagged(nb.cells[2], "fragment")
    tagged(nb.cells[4], "skip")
    assert slide_types(nb) == ["-", "-", "fragment", "-", "skip", "-"]
    tagged(nb.cells[5], "slides")
    with pytest.raises(PublishError, match="unknown slide_type slides: use one of slide, subslide"):
        slide_types(nb)


def test_the_deck_opens_offline_with_its_files_beside_it(tmp_path):
    deck = write_deck(write(untagged(), tmp_path / "book"), tmp_path / "out")
    html = deck.read_text()
    assert deck == tmp_path / "out" / "05_demo.html"
    assert not WEB_URL.search(html), WEB_URL.search(html).group(0)
    for used in re.findall(r'(?:src|href)="(_static/[^"]+)"', html):
        assert (tmp_path / "out" / used).is_file(), used
    assert {"_static/reveal/dist/reveal.js", "_static/katex/katex.min.js"} <= set(re.findall(r'src="([^"]+)"', html))
    assert (tmp_path / "out" / "_static" / "reveal" / "LICENSE").is_file()
    assert (tmp_path / "out" / "_static" / "katex" / "LICENSE").is_file()
    assert count_slides(html) == 4  # three headed slides, the second with a vertical one
    assert f"data:image/png;base64,{PNG}" in html and WIDGET_VIEW not in html  # the picture, not the dead widget
    assert "secret_code" in html


def test_code_can_be_hidden_leaving_the_outputs(tmp_path):
    html = write_deck(write(untagged(), tmp_path / "book"), tmp_path / "out", code="hide").read_text()
    assert "secret_code" not in html and "draw()" not in html and f"base64,{PNG}" in html


def test_skip_and_notes_cells_stay_off_the_slides(tmp_path):
    nb = untagged()
    tagged(nb.cells[0], "slide")
    tagged(nb.cells[4], "skip")
    tagged(nb.cells[5], "notes")
    html = write_deck(write(nb, tmp_path / "book"), tmp_path / "out").read_text()
    assert "secret_code" not in html and re.search(r'<aside class="notes">.*2\. Second', html, re.DOTALL)
    assert count_slides(html) == 1


def test_projector_reruns_the_chapter_with_the_projector_style_set(tmp_path):
    code = nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nprint('font size', plt.rcParams['font.size'])")
    source = write(notebook(nbformat.v4.new_markdown_cell("# 05 · Demo"), code), tmp_path / "book")
    html = write_deck(source, tmp_path / "out", projector=True).read_text()
    assert "font size 17.0" in html and "PROJECTOR_RC" not in html  # set, and the setup cell gone
    assert nbformat.read(source, as_version=4).cells[1].outputs == []  # the chapter itself is untouched


def test_a_chapter_is_found_by_number_name_or_path(tmp_path):
    folder = write(untagged(), tmp_path / "book").parent
    for name in ("5", "05", "05_demo", "05_demo.ipynb", str(folder / "05_demo.ipynb")):
        assert find_chapter(name, folder) == folder / "05_demo.ipynb"
    with pytest.raises(PublishError, match="no chapter '9' in .*; the chapters are: 05_demo"):
        find_chapter("9", folder)


def test_the_command_writes_the_deck_and_says_how_large_it_is(tmp_path, capsys):
    folder = write(untagged(), tmp_path / "book").parent
    assert main(["slides", "5", "--out", str(tmp_path / "out"), "--chapters", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(tmp_path / "out" / "05_demo.html") and "05_demo.html: 4 slides" in err
    assert main(["slides", "12", "--out", str(tmp_path / "out"), "--chapters", str(folder)]) == 1
    assert "vitlearn slides: no chapter '12'" in capsys.readouterr().err


STEP_THROUGH = """
const images = () => [...Reveal.getCurrentSlide().querySelectorAll('img')];
const seen = [];
Reveal.slide(0, 0);
for (let i = 0; i < Reveal.getTotalSlides(); i++) {
  seen.push({index: Reveal.getIndices(), broken: images().filter(img => !img.complete || img.naturalWidth === 0).length,
             images: images().length});
  Reveal.next();
}
return {seen, last: Reveal.isLastSlide(), total: Reveal.getTotalSlides(), math: document.querySelectorAll('.katex').length};
"""


def test_a_chapters_deck_steps_through_every_slide_offline_in_chromium(tmp_path, monkeypatch):
    start = time.perf_counter()
    deck = write_deck(find_chapter("00", Path(__file__).resolve().parents[1] / "chapters"), tmp_path / "deck")
    built = time.perf_counter() - start
    with chromium(tmp_path, monkeypatch, OFFLINE) as driver:
        driver.get(deck.as_uri())
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return window.Reveal && Reveal.isReady()"))
        walk = driver.execute_script(STEP_THROUGH)
        errors = console_errors(driver)
    assert walk["total"] == count_slides(deck.read_text()) > 5 and walk["last"]
    assert [s for s in walk["seen"] if s["broken"]] == [] and sum(s["images"] for s in walk["seen"]) >= 3
    assert walk["math"] > 0  # chapter 00's formulas, typeset by the KaTeX carried beside the deck
    assert errors == []
    print(f"slides of chapter 00: {walk['total']} slides, {deck.stat().st_size / 2**20:.1f} MiB, built in "
          f"{built:.1f} s, stepped through in {time.perf_counter() - start - built:.1f} s")
