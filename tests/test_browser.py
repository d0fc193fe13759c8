"""Chapter 01 in JupyterLab in a real browser, as a learner runs it: Run → Run All Cells, then the
check cell's verdict read off the page.

`vitlearn lab` starts JupyterLab (on a free port, with a token), headless Chromium from the system
(tests/browser.py: Debian's ``chromium`` and ``chromium-driver``, nothing downloaded) opens the
solution chapter and a released one, and a screenshot of each is saved in the test's temporary folder.
Without Chromium the test is skipped with the reason, unless ``VITLEARN_REQUIRE_BROWSER=1`` (set by
``.ci/run``) makes that a failure.
"""

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser import Lab, chromium, run_all_cells, running_lab
from vitlearn.classroom.notebooks import CHAPTERS_DIR, nbgrader
from vitlearn.classroom.release import release_chapters

CHAPTER = "01_image_to_patches.ipynb"
CHECK_CELL = next(i for i, cell in enumerate(json.loads((CHAPTERS_DIR / CHAPTER).read_text())["cells"])
                  if nbgrader(cell).get("grade_id") == "check_image2emb_naive")
# Scroll a cell to the top of the view; true once it stays there (cells off screen are laid out
# only as they come into view, so the first scroll can land short)
SCROLL_TO = """const cell = arguments[0], top = cell.getBoundingClientRect().top;
cell.scrollIntoView({block: 'start'});
return Math.abs(top - cell.getBoundingClientRect().top) < 1 && top >= 0 && top < window.innerHeight / 2;"""
RUN_TIMEOUT = 120  # seconds for the whole chapter to run (about 15 s on two cores)


@pytest.fixture
def lab(tmp_path) -> Iterator[Lab]:
    """`vitlearn lab` on a new folder, which it fills with the book, beside chapter 01 released in student/."""
    book = tmp_path / "book"
    release_chapters([CHAPTERS_DIR / CHAPTER], book / "student")
    with running_lab(book, tmp_path) as running:
        yield running


@pytest.fixture
def browser(tmp_path, monkeypatch):
    with chromium(tmp_path, monkeypatch) as driver:
        yield driver


def run_all_and_read_check(driver, lab: Lab, notebook: str, screenshot: Path) -> str:
    """Open ``notebook`` in a new tab of JupyterLab, Run → Run All Cells, wait until every code cell
    has run, and return the text of the check cell's output; a screenshot of the page (the check
    cell in view) is saved either way."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        cells = run_all_cells(driver, lab, notebook, screenshot.stem, min_cells=CHECK_CELL + 1, timeout=RUN_TIMEOUT)
        cell = cells[CHECK_CELL]
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(SCROLL_TO, cell))
        return cell.find_element(By.CSS_SELECTOR, ".jp-OutputArea").get_attribute("textContent") or ""
    finally:
        driver.save_screenshot(str(screenshot))


def test_chapter_01_runs_in_jupyterlab_and_its_check_reads_right(browser, lab, tmp_path):
    start = time.perf_counter()
    solved = run_all_and_read_check(browser, lab, CHAPTER, tmp_path / "solution.png")
    assert "✅ image2emb_naive: all 7 cases pass." in solved and "❌" not in solved, solved
    released = run_all_and_read_check(browser, lab, f"student/{CHAPTER}", tmp_path / "released.png")
    assert "❌ image2emb_naive" in released and "not attempted" in released and "✅" not in released, released
    assert (tmp_path / "solution.png").stat().st_size > 10_000 and (tmp_path / "released.png").is_file()
    print(f"browser test: two notebooks run in JupyterLab in {time.perf_counter() - start:.1f} s; "
          f"screenshots in {tmp_path}")
