"""Bring your own study through the app as README starts it: import a small folder-layout study from an allowed root
(``VFS_DATA_ROOTS``) on the Studies page, fit its encoding model (ResNet-50 on its 24 images), choose it in the
navbar, and see its maps on Cortical Maps and an uploaded photograph predicted by its model on Virtual fMRI."""

from __future__ import annotations

import time

import pytest
from selenium.webdriver.support.ui import Select

from core.studies.simulate import write_simulated_study
from dashboard.ids import Shell, Studies, StudyViews
from tests._isolation import linked_cache
from tests.e2e._browser import click, graph, text, wait_for_text, wait_until
from tests.e2e.conftest import Server, jpeg
from tests.integration._servers import app_server, free_port

#: Longest wait for the import, the fit and the prediction (loaded 2-core machine).
JOB_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def study_studio(tmp_path_factory):
    """``python app.py --port P`` with one allowed data folder holding a 24-image folder-layout study."""
    import os

    folder = tmp_path_factory.mktemp("study-e2e")
    write_simulated_study(folder / "data" / "lab-study", "folder-npy", n_stimuli=24)
    env = {**os.environ, "VFS_CACHE": str(linked_cache(folder / "cache")), "VFS_UPLOADS": str(folder / "uploads"),
           "VFS_DATA_ROOTS": str(folder / "data")}
    port, log = free_port(), folder / "app.log"
    with app_server(env, port, log):
        yield Server(f"http://127.0.0.1:{port}", log), folder / "data" / "lab-study"


def _nav(driver, path: str) -> None:
    """Follow the navbar's link to ``path`` (it carries the chosen study)."""
    link = driver.execute_script(
        "return [...document.querySelectorAll('#shell-nav a.nav-link')].find(a => a.pathname === arguments[0]);", path)
    driver.execute_script("arguments[0].click()", link)


def test_study_is_imported_fitted_chosen_and_drawn(browser, study_studio, tmp_path):
    server, folder = study_studio
    start = time.monotonic()
    browser.get(server.url + "/studies")
    wait_until(lambda: browser.find_elements("id", Studies.PATH), 60, "the Studies page")
    browser.find_element("id", Studies.PATH).send_keys(str(folder))
    browser.find_element("id", Studies.NAME).send_keys("lab")
    click(browser, Studies.IMPORT)
    wait_for_text(browser, Studies.IMPORT_STATUS, "Imported study lab", JOB_TIMEOUT_S)
    wait_for_text(browser, Studies.LIST, "lab (folder, fsaverage5, 24 stimuli, 20,484 vertices)", 30)
    assert "noise ceiling: not available" in text(browser, Studies.LIST)
    wait_until(lambda: Select(browser.find_element("id", Studies.FIT_STUDY)).first_selected_option.text == "lab", 30,
               "the study to fit")
    click(browser, Studies.FIT)
    wait_for_text(browser, Studies.FIT_STATUS, "Fitted lab", JOB_TIMEOUT_S)
    wait_for_text(browser, Studies.LIST, "Fitted on resnet50 features", 30)

    Select(browser.find_element("id", Shell.STUDY)).select_by_value("lab")
    wait_until(lambda: browser.current_url.endswith("/studies?study=lab"), 30, "the study in the URL")
    wait_for_text(browser, Shell.STUDY_LABEL, "Your data: lab (folder, fsaverage5, 24 stimuli, 20,484 vertices)", 30)
    _nav(browser, "/cortical-maps")
    wait_until(lambda: browser.current_url.endswith("/cortical-maps?study=lab"), 30, "the study kept by the link")
    wait_until(lambda: graph(browser, StudyViews.GRAPH)["traces"] >= 2, 120, "the study's r map")
    assert graph(browser, StudyViews.GRAPH)["title"].startswith("lab: Prediction accuracy r")
    assert "vertices predicted (FDR q < 0.05)" in text(browser, StudyViews.MAP_STATUS)
    Select(browser.find_element("id", StudyViews.MAP)).select_by_value("noise_ceiling")
    wait_for_text(browser, StudyViews.MAP_STATUS, "Noise ceiling not available", 30)

    _nav(browser, "/virtual-fmri")
    wait_until(lambda: browser.current_url.endswith("/virtual-fmri?study=lab"), 30, "the study kept by the link")
    upload = wait_until(lambda: browser.find_elements("css selector", f"#{StudyViews.UPLOAD} input[type=file]"), 60,
                        "the image upload")[0]
    upload.send_keys(str(jpeg(tmp_path / "chelsea.jpg")))
    wait_for_text(browser, StudyViews.UPLOAD_STATUS, "Uploaded", 60)
    click(browser, StudyViews.PREDICT)
    wait_for_text(browser, StudyViews.PREDICT_STATUS, "Predicted", JOB_TIMEOUT_S)
    wait_until(lambda: graph(browser, StudyViews.PREDICTION_GRAPH)["traces"] >= 2, 60, "the predicted map")
    assert graph(browser, StudyViews.PREDICTION_GRAPH)["title"] == "Predicted response to chelsea.jpg (lab's model)"
    print(f"study import → fit → maps → prediction in {time.monotonic() - start:.0f} s")
    log = server.new_log()
    assert "Traceback" not in log, log[-5000:]
