"""Chapter 01 in JupyterLab in a real browser, as a learner runs it: Run → Run All Cells, then the
check cell's verdict read off the page.

`vitlearn lab` starts JupyterLab (on a free port, with a token), headless Chromium from the system
(Debian's ``chromium`` and ``chromium-driver``; Selenium is pointed at both, so nothing downloads
a browser or a driver) opens the solution chapter and a released one, and a screenshot of each is
saved in the test's temporary folder. Without Chromium the test is skipped with the reason, unless
``VITLEARN_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vitlearn.classroom.notebooks import CHAPTERS_DIR, nbgrader
from vitlearn.classroom.release import release_chapters

CHAPTER = "01_image_to_patches.ipynb"
CHECK_CELL = next(i for i, cell in enumerate(json.loads((CHAPTERS_DIR / CHAPTER).read_text())["cells"])
                  if nbgrader(cell).get("grade_id") == "check_image2emb_naive")
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# As root in a container: no sandbox, no GPU, and none of the background connections Chromium makes
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")
# Scroll a cell to the top of the view; true once it stays there (cells off screen are laid out
# only as they come into view, so the first scroll can land short)
SCROLL_TO = """const cell = arguments[0], top = cell.getBoundingClientRect().top;
cell.scrollIntoView({block: 'start'});
return Math.abs(top - cell.getBoundingClientRect().top) < 1 && top >= 0 && top < window.innerHeight / 2;"""
RUN_TIMEOUT = 120  # seconds for the whole chapter to run (about 15 s on two cores)


def require_browser() -> None:
    """Skip (or, with VITLEARN_REQUIRE_BROWSER=1, fail) when Chromium, its driver or Selenium is missing."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (requirements.txt)")
    if missing:
        reason = (f"no browser to test in: {', '.join(missing)} missing (apt-get install chromium "
                  "chromium-driver)")
        if os.environ.get("VITLEARN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason}; VITLEARN_REQUIRE_BROWSER=1 requires it")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: where to reach it, and what it serves."""

    url: str
    token: str
    root: Path


@pytest.fixture
def lab(tmp_path) -> Iterator[Lab]:
    """`vitlearn lab` on a new folder, which it fills with the book, beside chapter 01 released in
    student/; stopped at the end, kernels included, whatever happens."""
    book = tmp_path / "book"
    release_chapters([CHAPTERS_DIR / CHAPTER], book / "student")
    port, token = free_port(), secrets.token_hex(16)
    settings = tmp_path / "jupyter_config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')  # no news prompt
    env = {**os.environ, "JUPYTER_TOKEN": token, "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter_config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter_runtime")}
    with open(tmp_path / "jupyterlab.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "vitlearn", "lab", str(book), "--port", str(port),
                                   "--no-browser"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_server(f"{url}/api/status?token={token}", server, tmp_path / "jupyterlab.log")
        yield Lab(url, token, book)
    finally:
        stop(server)


def wait_for_server(status: str, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(status, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop(server: subprocess.Popen) -> None:
    """Stop JupyterLab: SIGTERM to its process group (the server then shuts its kernels down), SIGKILL
    after 10 s."""
    for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """Headless Chromium through its system driver; Selenium Manager (which downloads) may not run."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    def no_download(self, args):
        raise AssertionError(f"Selenium Manager was asked for a driver or browser: {args}")

    monkeypatch.setattr(SeleniumManager, "binary_paths", no_download)
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium_profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def run_all_and_read_check(driver, lab: Lab, notebook: str, screenshot: Path) -> str:
    """Open ``notebook`` in a new tab of JupyterLab, Run → Run All Cells, wait until every code cell
    has run, and return the text of the check cell's output; a screenshot of the page (the check
    cell in view) is saved either way."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.switch_to.new_window("tab")
    driver.get(f"{lab.url}/lab/workspaces/{screenshot.stem}/tree/{notebook}?reset&token={lab.token}")
    wait = WebDriverWait(driver, 60)
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden)"
    try:
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, f"{panel} .jp-Cell")) > CHECK_CELL)
        wait.until(ready.element_to_be_clickable((By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel')]"
                                                            "[normalize-space()='Run']"))).click()
        wait.until(ready.element_to_be_clickable((By.XPATH, "//li[contains(@class, 'lm-Menu-item')]"
                                                            "[.//div[normalize-space()='Run All Cells']]"))).click()

        def every_cell_ran(d) -> bool:  # each code cell's prompt shows its execution count, [1]: ...
            prompts = d.find_elements(By.CSS_SELECTOR, f"{panel} .jp-CodeCell .jp-InputArea-prompt")
            return bool(prompts) and all(re.fullmatch(r"\[\d+\]:", p.get_attribute("textContent").strip())
                                         for p in prompts)

        WebDriverWait(driver, RUN_TIMEOUT).until(every_cell_ran)
        cell = driver.find_elements(By.CSS_SELECTOR, f"{panel} .jp-Cell")[CHECK_CELL]
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
