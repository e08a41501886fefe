"""Every page renders in headless Chromium without browser console errors."""

import dash
import pytest
from dash.testing.application_runners import import_app

pytestmark = pytest.mark.browser

PAGES = {
    "/": "Virtual fMRI Studio",
    "/cortical-maps": "Cortical Maps",
    "/virtual-fmri": "Virtual fMRI",
    "/selectivity": "Selectivity",
    "/rdm-clusters": "RDM Clusters",
    "/identity-expression": "Identity & Expression",
    "/reconstructions": "Reconstructions",
}


@pytest.fixture
def studio(dash_duo):
    """The real app served on loopback, with a browser attached."""
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    return dash_duo


def test_every_page_renders_without_console_errors(studio):
    for path, heading in PAGES.items():
        studio.driver.get(studio.server_url + path)
        studio.wait_for_contains_text("#_pages_content", heading, timeout=20)
        logs = studio.get_logs()
        assert logs == [], f"console errors on {path}: {logs}"


def test_navbar_links_every_page(studio):
    studio.wait_for_element("#shell-navbar")
    hrefs = {a.get_attribute("pathname") for a in studio.find_elements("#shell-navbar a.nav-link")}
    assert set(PAGES) <= hrefs
