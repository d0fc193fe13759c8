"""A live explorer in JupyterLab in a real browser: a notebook calls ``viz.patch_explorer()``, Run All, the
widget appears (slider and picture), the slider is moved with the keyboard as a teacher would, and the
picture changes (its PNG bytes, read back from the page). A screenshot is saved in the test's
temporary folder (docs/figures/front_of_room_explorer.png is one).
"""

import time

import nbformat
import pytest

from browser import PANEL, chromium, console_errors, running_lab

# The picture's PNG, read back from the page as a short fingerprint (length and a checksum of its bytes)
PICTURE_BYTES = """
const done = arguments[arguments.length - 1], img = arguments[0];
fetch(img.src).then(r => r.arrayBuffer()).then(buffer => {
  const bytes = new Uint8Array(buffer);
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i]) >>> 0;
  done([bytes.length, sum, img.naturalWidth]);
}).catch(error => done(String(error)));
"""


def run_first_cell(driver):
    """Run the open notebook's first cell with Shift+Enter once its kernel is idle (again if a run was
    lost while the kernel connected); return the cell once it shows an output."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    def kernel_idle(d) -> bool:  # the notebook's kernel is Python's (not "No Kernel") and idle
        name = d.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-Toolbar-kernelName")
        status = d.find_elements(By.CSS_SELECTOR, f"{PANEL} .jp-Notebook-ExecutionIndicator[data-status='idle']")
        return bool(name and "Python" in name[0].text and status)

    for _ in range(3):
        WebDriverWait(driver, 60).until(kernel_idle)
        cell = driver.find_element(By.CSS_SELECTOR, f"{PANEL} .jp-CodeCell")
        cell.find_element(By.CSS_SELECTOR, ".cm-content").click()
        ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        try:
            WebDriverWait(driver, 30).until(lambda d: cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output"))
            return cell
        except TimeoutException:
            continue
    raise AssertionError("the explorer's cell never ran")


@pytest.fixture
def browser(tmp_path, monkeypatch):
    with chromium(tmp_path, monkeypatch) as driver:
        yield driver


def test_moving_the_patch_slider_redraws_the_picture_in_jupyterlab(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    book = tmp_path / "book"
    book.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "from vitlearn import viz\nviz.patch_explorer(style='projector')")],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}}), book / "explorer.ipynb")
    start = time.perf_counter()
    with running_lab(book, tmp_path) as lab:
        try:
            browser.get(f"{lab.url}/lab/workspaces/explorer/tree/explorer.ipynb?reset&token={lab.token}")
            cell = run_first_cell(browser)
            wait = WebDriverWait(browser, 60)
            picture = wait.until(lambda d: cell.find_element(By.CSS_SELECTOR, ".jupyter-widgets img"))
            readout = cell.find_element(By.CSS_SELECTOR, ".widget-readout")
            wait.until(lambda d: readout.text == "32")
            before = browser.execute_async_script(PICTURE_BYTES, picture)
            handle = cell.find_element(By.CSS_SELECTOR, ".noUi-handle")
            handle.click()
            handle.send_keys(Keys.ARROW_LEFT)  # one size smaller: 32 -> 28
            wait.until(lambda d: readout.text == "28")
            wait.until(lambda d: d.execute_async_script(PICTURE_BYTES, picture) != before)
            after = browser.execute_async_script(PICTURE_BYTES, picture)
            browser.execute_script("arguments[0].scrollIntoView({block: 'start'})", cell)
            errors = [e for e in console_errors(browser) if "favicon" not in e]
        finally:
            browser.save_screenshot(str(tmp_path / "explorer.png"))
    assert isinstance(before, list) and before[2] == after[2] == 1000  # both pictures load, PIXEL_WIDTH wide
    assert after[:2] != before[:2]
    assert errors == []
    assert (tmp_path / "explorer.png").stat().st_size > 10_000
    print(f"explorer in JupyterLab: slider moved and picture redrawn in {time.perf_counter() - start:.1f} s; "
          f"screenshot {tmp_path / 'explorer.png'}")
