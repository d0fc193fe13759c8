"""What the browser tests share: headless Chromium from the system (Debian's ``chromium`` and
``chromium-driver``; Selenium is pointed at both, so nothing downloads a browser or a driver), and
`vitlearn lab` started on a free port with a token. Without Chromium a browser test is skipped with the
reason, unless ``VITLEARN_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
# As root in a container: no sandbox, no GPU, and none of the background connections Chromium makes
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1000")
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in view
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND"  # no host name resolves: anything fetched from the web fails


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


@contextmanager
def chromium(profile: Path, monkeypatch, *flags: str):
    """Headless Chromium through its system driver, with ``flags`` added and its console log kept
    (``driver.get_log("browser")``); Selenium Manager (which downloads) may not run."""
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
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    for flag in (*CHROMIUM_FLAGS, *flags, f"--user-data-dir={profile / 'chromium_profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The console messages at level SEVERE since the last call (errors, failed loads)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


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


@contextmanager
def running_lab(book: Path, tmp_path: Path) -> Iterator[Lab]:
    """`vitlearn lab` on ``book`` (which it fills with the chapters where missing), on a free port with a
    token; stopped at the end, kernels included, whatever happens."""
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


def run_all_cells(driver, lab: Lab, notebook: str, workspace: str, *, min_cells: int = 1, timeout: float = 120) -> list:
    """Open ``notebook`` in a new tab of JupyterLab (a fresh ``workspace``), Run → Run All Cells, wait until
    every code cell has run; return the notebook's cells (Selenium elements)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    driver.switch_to.new_window("tab")
    driver.get(f"{lab.url}/lab/workspaces/{workspace}/tree/{notebook}?reset&token={lab.token}")
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-Cell")) >= min_cells)
    wait.until(ready.element_to_be_clickable((By.XPATH, "//div[contains(@class, 'lm-MenuBar-itemLabel')]"
                                                        "[normalize-space()='Run']"))).click()
    wait.until(ready.element_to_be_clickable((By.XPATH, "//li[contains(@class, 'lm-Menu-item')]"
                                                        "[.//div[normalize-space()='Run All Cells']]"))).click()

    def every_cell_ran(d) -> bool:  # each code cell's prompt shows its execution count, [1]: ...
        prompts = d.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-CodeCell .jp-InputArea-prompt")
        return bool(prompts) and all(re.fullmatch(r"\[\d+\]:", p.get_attribute("textContent").strip())
                                     for p in prompts)

    WebDriverWait(driver, timeout).until(every_cell_ran)
    return driver.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-Cell")
