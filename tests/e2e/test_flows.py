"""Each page's headline flow through the app as README starts it (``tests/e2e/conftest.py``).

``debug_studio`` runs the small default experiment through its Virtual fMRI page (``fitted`` runs it when
that test was not selected); ``studio`` has the suite's 160-image experiment, large enough for selectivity
and clustering.
"""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.support.ui import Select

from dashboard.ids import RdmClusters, Reconstructions, Selectivity, VirtualFmri
from tests.e2e._browser import click, graph, text, wait_for_text, wait_until
from tests.e2e.conftest import jpeg

#: Longest wait for the small default experiment (loaded 2-core machine).
EXPERIMENT_TIMEOUT_S = 900


def _open(driver, server, path: str, ready_id: str) -> None:
    driver.get(server.url + path)
    wait_until(lambda: text(driver, ready_id) or driver.find_elements("id", ready_id), 60, f"#{ready_id} on {path}")


def _progress(driver, progress_id: str) -> dict:
    return driver.execute_script(
        "const bar = document.querySelector(`#${arguments[0]} .progress-bar`);"
        "const line = document.getElementById(arguments[0] + '-text');"
        "return {value: bar ? Number(bar.getAttribute('aria-valuenow')) : null, text: line ? line.innerText : ''};",
        progress_id)


def _enabled(driver, element_id: str) -> bool:
    return driver.find_element("id", element_id).is_enabled()


@pytest.fixture
def fitted(browser, debug_studio):
    """The small default experiment of ``debug_studio``, fitted (through the page when no earlier test did)."""
    _open(browser, debug_studio, "/virtual-fmri", VirtualFmri.STATUS)
    wait_until(lambda: text(browser, VirtualFmri.STATUS), 60, "the experiment's status line")
    if "Fitted on" not in text(browser, VirtualFmri.STATUS):
        click(browser, VirtualFmri.RUN)
        wait_for_text(browser, VirtualFmri.STATUS, "Fitted on", EXPERIMENT_TIMEOUT_S)
    return browser


def test_default_experiment_runs_with_elapsed_time_and_estimate(browser, debug_studio):
    _open(browser, debug_studio, "/virtual-fmri", VirtualFmri.STATUS)
    waiting = wait_for_text(browser, VirtualFmri.STATUS, "Not fitted yet", 60)
    assert "No result yet" not in waiting
    click(browser, VirtualFmri.RUN)
    wait_until(lambda: not _enabled(browser, VirtualFmri.RUN) and _enabled(browser, VirtualFmri.CANCEL), 30,
               "Run disabled and Cancel enabled while the job runs")
    seen = wait_until(lambda: "left" in (line := _progress(browser, VirtualFmri.PROGRESS)["text"]) and line, 300,
                      "an estimate of the time left")
    assert "elapsed" in seen
    wait_for_text(browser, VirtualFmri.STATUS, "Fitted on", EXPERIMENT_TIMEOUT_S)
    wait_until(lambda: graph(browser, VirtualFmri.QUALITY_GRAPH)["traces"] == 3, 120, "the model-quality map")
    assert _enabled(browser, VirtualFmri.RUN) and not _enabled(browser, VirtualFmri.CANCEL)
    assert _progress(browser, VirtualFmri.PROGRESS) == {"value": 0, "text": ""}

    browser.refresh()  # a finished experiment is there after a reload
    wait_for_text(browser, VirtualFmri.STATUS, "Fitted on", 60)
    wait_until(lambda: graph(browser, VirtualFmri.QUALITY_GRAPH)["traces"] == 3, 120, "the model-quality map")


def _predict_upload(driver, server, image, timeout: float) -> float:
    """Upload ``image`` as image A on the Virtual fMRI page; seconds until its predicted map is drawn."""
    before = graph(driver, VirtualFmri.PREDICTION_GRAPH)["signature"]
    start = time.monotonic()
    field = driver.find_element("css selector", f"#{VirtualFmri.UPLOAD} input[type=file]")
    driver.execute_script("arguments[0].value = '';", field)  # the input still holds the previous upload
    field.send_keys(str(image))
    wait_until(lambda: (text(driver, VirtualFmri.PREDICTION_ERROR)
                        or (image.name in text(driver, VirtualFmri.IMAGE_A)
                            and (drawn := graph(driver, VirtualFmri.PREDICTION_GRAPH))["traces"] == 3
                            and drawn["signature"] != before)), timeout,
               lambda: f"the predicted map of {image.name} (image A: {text(driver, VirtualFmri.IMAGE_A)!r}, upload: "
                       f"{text(driver, VirtualFmri.UPLOAD_STATUS)!r}, graph: {graph(driver, VirtualFmri.PREDICTION_GRAPH)}, "
                       f"before: {before!r})")
    seconds = time.monotonic() - start
    assert text(driver, VirtualFmri.PREDICTION_ERROR) == ""
    assert graph(driver, VirtualFmri.PREDICTION_GRAPH)["title"].startswith("Predicted response: Image A")
    return seconds


def _predict_two_uploads(driver, server, tmp_path, images: tuple[str, str]) -> None:
    """Two photographs never uploaded before in the session (predicted maps are cached by content)."""
    _open(driver, server, "/virtual-fmri", VirtualFmri.STATUS)
    wait_for_text(driver, VirtualFmri.STATUS, "Fitted on", 60)
    fdr = driver.find_element("css selector", f"#{VirtualFmri.FDR} input[value=fdr]")
    if fdr.is_selected():  # the whole map: on the small experiment no vertex passes, and every masked map is blank
        driver.execute_script("arguments[0].click()", fdr)
    cold = _predict_upload(driver, server, jpeg(tmp_path / f"{images[0]}.jpg", images[0]), 300)
    warm = _predict_upload(driver, server, jpeg(tmp_path / f"{images[1]}.jpg", images[1]), 120)
    print(f"{server.url}: uploaded JPEG drawn after {cold:.1f} s (cold worker), then {warm:.1f} s (warm)")


def test_uploaded_jpeg_is_predicted_by_the_production_server(browser, studio, tmp_path):
    _predict_two_uploads(browser, studio, tmp_path, ("chelsea", "coffee"))


def test_uploaded_jpeg_is_predicted_by_the_development_server(fitted, debug_studio, tmp_path):
    _predict_two_uploads(fitted, debug_studio, tmp_path, ("astronaut", "rocket"))


def test_selectivity_and_category_clustering_maps(browser, studio):
    _open(browser, studio, "/selectivity", Selectivity.GRAPH)
    wait_until(lambda: graph(browser, Selectivity.GRAPH)["traces"] == 3, 180, "the selectivity map")
    Select(browser.find_element("id", Selectivity.MASK_Q)).select_by_value("1.0")  # FDR: any; r > 0.2 keeps areas
    wait_until(lambda: graph(browser, Selectivity.ROI_GRAPH)["traces"] >= 1, 60, "the region chart")
    _open(browser, studio, "/rdm-clusters", RdmClusters.STATUS)
    wait_for_text(browser, RdmClusters.STATUS, "categories", 300)
    wait_until(lambda: graph(browser, RdmClusters.HEATMAP)["traces"] >= 1, 60, "the category RDM")
    wait_until(lambda: graph(browser, RdmClusters.CLUSTER_MAP)["traces"] == 3, 120, "a cluster's mean map")


def test_finished_job_is_restored_on_reload(browser, studio):
    """The shortest job (a 10-step feature visualisation); Identity & Expression and Reconstructions keep their
    last result the same way (a ``dcc.Store`` in the browser's local storage)."""
    _open(browser, studio, "/rdm-clusters", RdmClusters.VIS_RUN)
    steps = browser.find_element("id", RdmClusters.VIS_STEPS)
    steps.clear()
    steps.send_keys("10")
    click(browser, RdmClusters.VIS_RUN)
    done = wait_for_text(browser, RdmClusters.VIS_STATUS, "predicted response raised", EXPERIMENT_TIMEOUT_S)
    browser.refresh()
    wait_for_text(browser, RdmClusters.VIS_STATUS, done, 60)
    wait_until(lambda: graph(browser, RdmClusters.VIS_GRAPH)["traces"] >= 1, 60, "the optimised images after the reload")


def _set_faces(driver, n_faces: int) -> None:
    field = driver.find_element("id", Reconstructions.N_FACES)
    field.clear()
    field.send_keys(str(n_faces))


def test_cancel_ends_the_job_with_a_message_and_resets_the_controls(browser, studio):
    _open(browser, studio, "/reconstructions", Reconstructions.RUN)
    _set_faces(browser, 2000)  # minutes of work: still running when Cancel is pressed
    click(browser, Reconstructions.RUN)
    wait_until(lambda: "elapsed" in _progress(browser, Reconstructions.PROGRESS)["text"], 120,
               "the job's first progress report, with the time elapsed")
    click(browser, Reconstructions.CANCEL)
    wait_for_text(browser, Reconstructions.STATUS, "Cancelled", 30)
    wait_until(lambda: _enabled(browser, Reconstructions.RUN) and not _enabled(browser, Reconstructions.CANCEL), 30,
               "Run enabled and Cancel disabled after the cancel")
    wait_until(lambda: _progress(browser, Reconstructions.PROGRESS) == {"value": 0, "text": ""}, 30, "an empty bar")
    time.sleep(3)  # the job's last poll comes and goes: no "stopped before it finished", no stale progress
    assert "Cancelled" in text(browser, Reconstructions.STATUS)
    assert _progress(browser, Reconstructions.PROGRESS) == {"value": 0, "text": ""}
    assert text(browser, "shell-error") == ""
