"""Each page's headline flow through the app as README starts it (``tests/e2e/conftest.py``).

The first test runs the small default experiment through the Virtual fMRI page of ``studio``; its other
flows reuse it (``fitted`` runs it when that test was not selected). Selectivity and clustering run on
``debug_studio``, whose experiment is large enough for them.
"""

from __future__ import annotations

import time

import pytest

from dashboard.ids import IdentityExpression, RdmClusters, Reconstructions, Selectivity, VirtualFmri
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
def fitted(browser, studio):
    """The small default experiment, fitted (through the page when no earlier test did)."""
    _open(browser, studio, "/virtual-fmri", VirtualFmri.STATUS)
    wait_until(lambda: text(browser, VirtualFmri.STATUS), 60, "the experiment's status line")
    if "Fitted on" not in text(browser, VirtualFmri.STATUS):
        click(browser, VirtualFmri.RUN)
        wait_for_text(browser, VirtualFmri.STATUS, "Fitted on", EXPERIMENT_TIMEOUT_S)
    return browser


def test_default_experiment_runs_with_elapsed_time_and_estimate(browser, studio):
    _open(browser, studio, "/virtual-fmri", VirtualFmri.STATUS)
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
    driver.find_element("css selector", f"#{VirtualFmri.UPLOAD} input[type=file]").send_keys(str(image))
    wait_until(lambda: (text(driver, VirtualFmri.PREDICTION_ERROR)
                        or (image.name in text(driver, VirtualFmri.IMAGE_A)
                            and (drawn := graph(driver, VirtualFmri.PREDICTION_GRAPH))["traces"] == 3
                            and drawn["signature"] != before)), timeout, f"the predicted map of {image.name}")
    seconds = time.monotonic() - start
    assert text(driver, VirtualFmri.PREDICTION_ERROR) == ""
    assert graph(driver, VirtualFmri.PREDICTION_GRAPH)["title"] == "Predicted response: Image A"
    return seconds


def _predict_two_uploads(driver, server, tmp_path, images: tuple[str, str]) -> None:
    """Two photographs never uploaded before in the session (predicted maps are cached by content)."""
    _open(driver, server, "/virtual-fmri", VirtualFmri.STATUS)
    wait_for_text(driver, VirtualFmri.STATUS, "Fitted on", 60)
    cold = _predict_upload(driver, server, jpeg(tmp_path / f"{images[0]}.jpg", images[0]), 300)
    warm = _predict_upload(driver, server, jpeg(tmp_path / f"{images[1]}.jpg", images[1]), 120)
    print(f"{server.url}: uploaded JPEG drawn after {cold:.1f} s (cold worker), then {warm:.1f} s (warm)")


def test_uploaded_jpeg_is_predicted_by_the_production_server(fitted, studio, tmp_path):
    _predict_two_uploads(fitted, studio, tmp_path, ("chelsea", "coffee"))


def test_uploaded_jpeg_is_predicted_by_the_development_server(browser, debug_studio, tmp_path):
    _predict_two_uploads(browser, debug_studio, tmp_path, ("astronaut", "rocket"))


def test_selectivity_maps(browser, debug_studio):
    _open(browser, debug_studio, "/selectivity", Selectivity.GRAPH)
    wait_until(lambda: graph(browser, Selectivity.GRAPH)["traces"] == 3, 180, "the selectivity map")
    wait_until(lambda: graph(browser, Selectivity.ROI_GRAPH)["traces"] >= 1, 60, "the region chart")


def test_category_clustering(browser, debug_studio):
    _open(browser, debug_studio, "/rdm-clusters", RdmClusters.STATUS)
    wait_for_text(browser, RdmClusters.STATUS, "categories", 300)
    wait_until(lambda: graph(browser, RdmClusters.HEATMAP)["traces"] >= 1, 60, "the category RDM")
    wait_until(lambda: graph(browser, RdmClusters.CLUSTER_MAP)["traces"] == 3, 120, "a cluster's mean map")


def test_identity_expression_runs_and_is_restored_on_reload(fitted, studio):
    _open(fitted, studio, "/identity-expression", IdentityExpression.RUN)
    click(fitted, IdentityExpression.RUN)
    wait_for_text(fitted, IdentityExpression.STATUS, "Done", EXPERIMENT_TIMEOUT_S)
    wait_until(lambda: graph(fitted, IdentityExpression.HEATMAP)["traces"] >= 1, 60, "the region × layer heatmap")
    fitted.refresh()
    wait_for_text(fitted, IdentityExpression.STATUS, "Done", 60)
    for graph_id in (IdentityExpression.HEATMAP, IdentityExpression.DIFFERENCE, IdentityExpression.STRIP):
        wait_until(lambda g=graph_id: graph(fitted, g)["traces"] >= 1, 60, f"#{graph_id} after the reload")


def _set_faces(driver, n_faces: int) -> None:
    field = driver.find_element("id", Reconstructions.N_FACES)
    field.clear()
    field.send_keys(str(n_faces))


def test_reconstruction_runs_and_is_restored_on_reload(fitted, studio):
    _open(fitted, studio, "/reconstructions", Reconstructions.RUN)
    _set_faces(fitted, 40)
    click(fitted, Reconstructions.RUN)
    wait_for_text(fitted, Reconstructions.STATUS, "Done", EXPERIMENT_TIMEOUT_S)
    wait_until(lambda: graph(fitted, Reconstructions.GALLERY)["traces"] >= 1, 60, "the reconstruction gallery")
    drawn = graph(fitted, Reconstructions.GALLERY)["signature"]
    fitted.refresh()
    wait_until(lambda: graph(fitted, Reconstructions.GALLERY)["signature"] == drawn, 60, "the gallery after the reload")
    wait_until(lambda: graph(fitted, Reconstructions.ACCURACY)["traces"] >= 1, 60, "the accuracy chart after the reload")


def test_cancel_ends_the_job_with_a_message_and_resets_the_controls(fitted, studio):
    _open(fitted, studio, "/reconstructions", Reconstructions.RUN)
    _set_faces(fitted, 2000)  # minutes of work: still running when Cancel is pressed
    click(fitted, Reconstructions.RUN)
    wait_until(lambda: _progress(fitted, Reconstructions.PROGRESS)["text"], 120, "the job's first progress report")
    click(fitted, Reconstructions.CANCEL)
    wait_for_text(fitted, Reconstructions.STATUS, "Cancelled", 30)
    wait_until(lambda: _enabled(fitted, Reconstructions.RUN) and not _enabled(fitted, Reconstructions.CANCEL), 30,
               "Run enabled and Cancel disabled after the cancel")
    wait_until(lambda: _progress(fitted, Reconstructions.PROGRESS) == {"value": 0, "text": ""}, 30, "an empty bar")
    time.sleep(3)  # the job's last poll comes and goes: no "stopped before it finished", no stale progress
    assert "Cancelled" in text(fitted, Reconstructions.STATUS)
    assert _progress(fitted, Reconstructions.PROGRESS) == {"value": 0, "text": ""}
    assert text(fitted, "shell-error") == ""
