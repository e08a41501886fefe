"""Bring your own study through the app as README starts it: import a small folder-layout study from an allowed root
(``VFS_DATA_ROOTS``) on the Studies page, fit its encoding model (ResNet-50 on its 24 images), choose it in the
navbar, and see its maps on Cortical Maps and an uploaded photograph predicted by its model on Virtual fMRI. On the
same app process: a zipped study refused with the file and the problem named, then one imported with its report;
a fit cancelled while it runs."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import numpy as np
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
    """``python app.py --port P`` with one allowed data folder holding a 24-image folder-layout study; yields the
    server, the study's folder and the app's cache folder."""
    import os

    folder = tmp_path_factory.mktemp("study-e2e")
    write_simulated_study(folder / "data" / "lab-study", "folder-npy", n_stimuli=24)
    cache = linked_cache(folder / "cache")
    env = {**os.environ, "VFS_CACHE": str(cache), "VFS_UPLOADS": str(folder / "uploads"),
           "VFS_DATA_ROOTS": str(folder / "data")}
    port, log = free_port(), folder / "app.log"
    with app_server(env, port, log):
        yield Server(f"http://127.0.0.1:{port}", log), folder / "data" / "lab-study", cache


def _nav(driver, path: str) -> None:
    """Follow the navbar's link to ``path`` (it carries the chosen study)."""
    link = driver.execute_script(
        "return [...document.querySelectorAll('#shell-nav a.nav-link')].find(a => a.pathname === arguments[0]);", path)
    driver.execute_script("arguments[0].click()", link)


def test_study_is_imported_fitted_chosen_and_drawn(browser, study_studio, tmp_path):
    server, folder, _ = study_studio
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


def _zip(folder: Path, path: Path, replace: dict | None = None) -> Path:
    """``folder`` zipped at ``path`` (members below the folder's name), the files named in ``replace`` (name → bytes)
    replaced."""
    with zipfile.ZipFile(path, "w") as archive:
        for member in sorted(folder.rglob("*")):
            if member.is_file():
                data = (replace or {}).get(member.name) or member.read_bytes()
                archive.writestr(str(member.relative_to(folder.parent)), data)
    return path


def _import_zip(driver, path: Path, name: str) -> None:
    """Choose the zip ``path`` on the Studies page, name the study, press the zip's Import."""
    field = driver.find_element("css selector", f"#{Studies.ZIP_UPLOAD} input[type=file]")
    driver.execute_script("arguments[0].value = '';", field)  # the input may still hold the previous zip
    field.send_keys(str(path))
    wait_for_text(driver, Studies.ZIP_STATUS, f"Chosen: {path.name}", 30)
    name_field = driver.find_element("id", Studies.ZIP_NAME)
    name_field.clear()
    name_field.send_keys(name)
    click(driver, Studies.ZIP_IMPORT)


def _open_studies(driver, server) -> None:
    driver.get(server.url + "/studies")
    wait_until(lambda: driver.find_elements("css selector", f"#{Studies.ZIP_UPLOAD} input[type=file]"), 60,
               "the Studies page")


def _study_card(driver, name: str) -> str:
    """Text of study ``name``'s card in the list ("" when it is not listed)."""
    found = driver.find_elements("css selector", f"#{Studies.LIST} [id*='\"study\":\"{name}\"']")
    return found[0].text if found else ""


def test_a_bad_zip_is_refused_naming_file_and_problem_then_a_good_zip_is_imported_with_its_report(
        browser, study_studio, tmp_path):
    server, _, cache = study_studio
    server.new_log()
    study = tmp_path / "zipped-study"
    write_simulated_study(study, "folder-npy", n_stimuli=12)
    rows = io.BytesIO()
    np.save(rows, np.load(study / "responses.npy")[:-1])
    bad, good = _zip(study, tmp_path / "bad.zip", {"responses.npy": rows.getvalue()}), _zip(study, tmp_path / "lab.zip")
    _open_studies(browser, server)

    _import_zip(browser, bad, "bad")
    refusal = wait_for_text(browser, Studies.ZIP_STATUS, "bad.zip/responses.npy has 11 rows but bad.zip/stimuli "
                                                         "holds 12 images", JOB_TIMEOUT_S)
    assert str(cache.parent) not in refusal, refusal  # no server path
    page = browser.find_element("tag name", "body").text
    assert not [word for word in ("Traceback", "UserError", "ValueError") if word in page], page
    assert _study_card(browser, "bad") == "" and not (cache / "studies" / "bad").exists()
    assert not list((cache / "studies").glob(".*")), "a half-written import was left"

    _import_zip(browser, good, "zipped")  # the server is alive and imports the good one
    wait_for_text(browser, Studies.ZIP_STATUS, "Imported study zipped from the zip", JOB_TIMEOUT_S)
    card = wait_until(lambda: _study_card(browser, "zipped"), 30, "the zipped study's card")
    for line in ("zipped (folder, fsaverage5, 12 stimuli, 20,484 vertices)", "stimuli: 12 images, 12 presentations",
                 "categories: face 4, object 4, place 4", "from zip upload lab.zip", "images copied into the study",
                 "Not fitted yet"):
        assert line in card, card
    assert (cache / "studies" / "zipped" / "study.json").is_file()
    log = server.new_log()
    assert "Traceback" not in log, log[-5000:]


def test_cancel_of_a_running_fit_says_cancelled_writes_no_fit_and_reenables_fit(browser, study_studio, tmp_path):
    server, _, cache = study_studio
    server.new_log()
    write_simulated_study(tmp_path / "cancel-study", "folder-npy", n_stimuli=12)
    _open_studies(browser, server)
    _import_zip(browser, _zip(tmp_path / "cancel-study", tmp_path / "cancel.zip"), "tocancel")
    wait_for_text(browser, Studies.ZIP_STATUS, "Imported study tocancel", JOB_TIMEOUT_S)
    wait_until(lambda: "tocancel" in [o.get_attribute("value") for o in
                                      Select(browser.find_element("id", Studies.FIT_STUDY)).options], 30, "the study")
    Select(browser.find_element("id", Studies.FIT_STUDY)).select_by_value("tocancel")

    click(browser, Studies.FIT)
    wait_until(lambda: "elapsed" in text(browser, Studies.FIT_PROGRESS + "-text"), 60, "the fit's first progress")
    assert not browser.find_element("id", Studies.FIT).is_enabled()
    click(browser, Studies.FIT_CANCEL)
    wait_for_text(browser, Studies.FIT_STATUS, "Cancelled.", 30)
    wait_until(lambda: browser.find_element("id", Studies.FIT).is_enabled()
               and not browser.find_element("id", Studies.FIT_CANCEL).is_enabled(), 30, "Fit enabled, Cancel disabled")
    time.sleep(3)  # the job's last poll comes and goes: the status and the list stay as they are
    assert text(browser, Studies.FIT_STATUS) == "Cancelled."
    assert "Not fitted yet" in _study_card(browser, "tocancel")
    assert not list((cache / "study_fits").rglob("tocancel/*/encoding.json")), "a fit was written"
    log = server.new_log()
    assert "Traceback" not in log, log[-5000:]
