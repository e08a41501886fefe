"""Headless Chromium for the end-to-end tests (selenium, as dash.testing drives it) and small waits."""

from __future__ import annotations

import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.common.by import By


def chromium() -> webdriver.Chrome:
    """Headless Chromium (Debian ``chromium`` + ``chromedriver``) recording console errors, 1400 × 1000."""
    options = Options()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})
    return webdriver.Chrome(options=options)


def console_errors(driver) -> list[str]:
    """Console errors since the last call."""
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_until(condition, timeout: float, what="condition", interval: float = 0.25):
    """Poll ``condition()`` until it returns a true value (returned); fail after ``timeout`` seconds, saying
    ``what`` (a string, or a function giving one then)."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what() if callable(what) else what} not met within {timeout} s")
        time.sleep(interval)


def text(driver, element_id: str) -> str:
    """Visible text of the element ``element_id`` ("" while it is not on the page)."""
    found = driver.find_elements(By.ID, element_id)
    return found[0].text if found else ""


def wait_for_text(driver, element_id: str, expected: str, timeout: float) -> str:
    """Wait until the text of ``element_id`` contains ``expected``; returns the text."""
    return wait_until(lambda: expected in (seen := text(driver, element_id)) and seen, timeout,
                      lambda: f"{expected!r} in #{element_id} (it says {text(driver, element_id)!r})")


def graph(driver, graph_id: str) -> dict:
    """``{"traces": n, "title": str, "signature": str}`` of the plotly graph in the ``dcc.Graph`` ``graph_id``;
    the signature changes whenever other data are drawn."""
    return driver.execute_script(
        "const gd = document.querySelector(`#${arguments[0]} .js-plotly-plot`);"
        "if (!gd || !gd.data) return {traces: 0, title: '', signature: ''};"
        "const values = JSON.stringify(gd.data.map(t => t.intensity || t.z || (t.marker && t.marker.color) || null));"
        "let hash = 0; for (let i = 0; i < values.length; i++) hash = (31 * hash + values.charCodeAt(i)) | 0;"
        "return {traces: gd.data.length, title: (gd.layout.title && gd.layout.title.text) || '',"
        "        signature: `${values.length}:${hash}`};", graph_id)


def click(driver, element_id: str) -> None:
    """Click an element even where a label, an open menu or the sticky navbar covers it."""
    driver.execute_script("arguments[0].click()", driver.find_element(By.ID, element_id))
