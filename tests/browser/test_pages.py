"""Every page renders in headless Chromium without browser console errors."""

import time

import dash
import pytest
from dash.testing.application_runners import import_app

from tests._internals import internals_in
from tests.browser._helpers import click, n_traces, wait_until

pytestmark = pytest.mark.browser

PAGES = {
    "/": "Virtual fMRI Studio",
    "/cortical-maps": "Cortical Maps",
    "/virtual-fmri": "Virtual fMRI",
    "/selectivity": "Selectivity",
    "/rdm-clusters": "RDM Clusters",
    "/identity-expression": "Identity & Expression",
    "/reconstructions": "Reconstructions",
    "/model-brain-rsa": "Model–Brain RSA",
    "/studies": "Studies",
}
#: Pages not in the navbar.
HIDDEN_PAGES = {"/your-study": "Your study", "/your-study/clusters": "RDM Clusters"}


@pytest.fixture
def studio(dash_duo):
    """The real app served on loopback, with a browser attached."""
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    return dash_duo


def test_every_page_renders_without_console_errors_or_internals(studio):
    """Each page renders, the browser logs no error, and its visible text (including what the figures draw)
    shows no None, NaN, class names, server paths or Python reprs."""
    studio.driver.set_window_size(1366, 768)
    for path, heading in {**PAGES, **HIDDEN_PAGES}.items():
        studio.driver.get(studio.server_url + path)
        studio.wait_for_contains_text("#_pages_content", heading, timeout=20)
        time.sleep(3)  # the page's initial callbacks draw its figures
        logs = studio.get_logs()
        assert logs == [], f"console errors on {path}: {logs}"
        text = studio.driver.execute_script("return document.body.innerText")
        assert internals_in(text) == [], path
        # nothing wider than the window (a 1366-px screen): no horizontal scrolling
        assert studio.driver.execute_script(
            "const d = document.documentElement; return d.scrollWidth <= d.clientWidth"), path


def test_navbar_links_every_page(studio):
    studio.wait_for_element("#shell-navbar")
    hrefs = {a.get_attribute("pathname") for a in studio.find_elements("#shell-navbar a.nav-link")}
    assert set(PAGES) <= hrefs


def test_rdm_clusters_jobs_and_csv_export(dash_duo, fitted_experiment):
    """Layer-wise + finer clustering and a short feature visualisation run as jobs; a CSV export succeeds."""
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/rdm-clusters")
    dash_duo.wait_for_contains_text("#rdm-clusters-status", "adjusted Rand index", timeout=300)
    click(dash_duo, "#rdm-clusters-analyses-run")
    dash_duo.wait_for_contains_text("#rdm-clusters-analyses-status", "finer clustering computed", timeout=600)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-layer-modularity") == 1, 60)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-layer-semantic") == 2, 60)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-finer-heatmap") == 3, 60)
    steps = dash_duo.find_element("#rdm-clusters-vis-steps")
    steps.clear()
    steps.send_keys("10")
    click(dash_duo, "#rdm-clusters-vis-run")
    dash_duo.wait_for_contains_text("#rdm-clusters-vis-status", "predicted response raised", timeout=600)
    assert n_traces(dash_duo, "rdm-clusters-vis-graph") == 4
    click(dash_duo, "#rdm-clusters-download-button")
    time.sleep(2)
    assert dash_duo.find_element("#rdm-clusters-export-error").text == ""
    assert dash_duo.get_logs() == []
