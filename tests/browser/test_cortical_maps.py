"""Cortical Maps page in headless Chromium: both views, ROI names on hover, threshold changes the map,
computed maps of a (seeded) experiment and uploaded maps."""

import time

import dash
import numpy as np
import pytest
from dash.testing.application_runners import import_app
from selenium.webdriver.common.keys import Keys

from dashboard import services
from dashboard.figures.cortex import DATA_FIRST_CODE
from tests._experiments import seed_experiment
from tests.browser._helpers import wait_until

pytestmark = pytest.mark.browser

GRAPH = "#cortical-maps-graph .js-plotly-plot"


def _plot(dash_duo, expression):
    return dash_duo.driver.execute_script(f"const gd = document.querySelector('{GRAPH}'); return {expression};")



def _open_page(dash_duo):
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/cortical-maps")
    dash_duo.wait_for_element(GRAPH, timeout=60)
    wait_until(lambda: _plot(dash_duo, "gd.data ? gd.data.length : 0") == 3, 30)
    return dash_duo


@pytest.fixture
def page(dash_duo):
    return _open_page(dash_duo)


@pytest.fixture
def cache(vfs_folders):
    """The test's empty cache (no experiment, no uploads), also the server thread's."""
    return vfs_folders.cache


def _colorbar_title(dash_duo):
    return _plot(dash_duo, "gd.data[2].marker.colorbar.title.text")


def _upload(dash_duo, path):
    field = dash_duo.find_element("#cortical-maps-upload input[type=file]")
    dash_duo.driver.execute_script("arguments[0].value = '';", field)  # chromedriver appends to a multiple input
    field.send_keys(str(path))


def test_flat_and_inflated_views_render_both_hemispheres(page):
    assert _plot(page, "gd.data[0].type") == "mesh3d" and _plot(page, "gd.data[1].type") == "mesh3d"
    assert _plot(page, "gd.layout.scene.camera.projection.type") == "orthographic"
    assert "simulated subject" in page.find_element(".alert").text
    page.find_element("#cortical-maps-view input[value='inflated']").click()
    wait_until(lambda: _plot(page, "(gd.layout.scene.camera.projection || {}).type") != "orthographic", 30)
    assert _plot(page, "gd.data[0].x.length || gd.data[0].x.bdata.length") > 0
    assert page.get_logs() == []


def test_hover_names_the_glasser_area(page):
    assert "%{text}" in _plot(page, "gd.data[0].hovertemplate")
    names = set()
    for fx in (0.35, 0.42, 0.5, 0.58, 0.65):
        page.driver.execute_script(
            f"const gd = document.querySelector('{GRAPH}');"
            "const c = gd.querySelector('.gl-container canvas') || gd.querySelector('canvas');"
            "const r = c.getBoundingClientRect();"
            f"const x = r.left + r.width * {fx}, y = r.top + r.height * 0.55;"
            "for (const t of ['mouseover', 'mousemove']) c.dispatchEvent(new MouseEvent(t, "
            "{clientX: x, clientY: y, bubbles: true, buttons: 0}));")
        time.sleep(0.8)
        names |= {el.text for el in page.driver.find_elements("css selector", f"{GRAPH} .hovertext")}
    assert any(name.startswith(("L_", "R_")) for text in names for name in text.split())


def _codes(dash_duo):
    """The left mesh's intensity codes as plotly.js holds them: uint8, one per mesh vertex."""
    return _plot(dash_duo, "Array.from(gd._fullData[0].intensity)")


def test_threshold_changes_the_intensity_codes_only(page):
    # plotly.js accepted the combined colour scale (it falls back to its default for an invalid one)
    assert _plot(page, "gd._fullData[0].colorscale[0][1]") == "rgb(205,205,205)"
    assert _plot(page, "[gd._fullData[0].cmin, gd._fullData[0].cmax]") == [0, 255]
    before = _codes(page)
    assert len(before) == _plot(page, "gd._fullData[0].x.length") and max(before) <= 255
    scale = _plot(page, "JSON.stringify(gd._fullData[0].colorscale)")
    thumb = page.find_element("#cortical-maps-threshold [role='slider']")
    thumb.click()
    for _ in range(12):
        thumb.send_keys(Keys.ARROW_RIGHT)
    wait_until(lambda: _codes(page) != before, 30)
    after = _codes(page)
    # thresholding only turns data codes into grey ones, and keeps the colour scale and the view
    grey = [b for a, b in zip(before, after, strict=True) if a != b]
    assert grey and max(grey) < DATA_FIRST_CODE
    assert sum(c < DATA_FIRST_CODE for c in after) > sum(c < DATA_FIRST_CODE for c in before)
    assert _plot(page, "JSON.stringify(gd._fullData[0].colorscale)") == scale
    assert _plot(page, "gd.layout.scene.camera.projection.type") == "orthographic"
    assert page.get_logs() == []


def test_computed_maps_of_the_experiment_are_offered(dash_duo, cache):
    seed_experiment()
    page = _open_page(dash_duo)
    page.wait_for_text_to_equal("#cortical-maps-map-status", "", timeout=30)
    page.find_element("#cortical-maps-map").click()
    menu = page.find_element(".dash-dropdown-options").text
    assert "Computed by the default experiment" in menu and "Selectivity d′" in menu and "Uploaded" in menu
    page.find_element("#cortical-maps-map").click()
    page.select_dcc_dropdown("#cortical-maps-map", value="Test r (mean over sessions)")
    wait_until(lambda: _colorbar_title(page) == "r", 30)
    page.select_dcc_dropdown("#cortical-maps-map", value=services.QUALITY_MAPS["best_layer_refit"][0])
    wait_until(lambda: _colorbar_title(page) == "layer", 30)
    assert _plot(page, "[gd.data[2].marker.cmin, gd.data[2].marker.cmax]") == [0.5, 18.5]  # a band per layer
    assert page.get_logs() == []


def test_uploaded_maps_render_and_bad_files_say_why(dash_duo, cache, tmp_path):
    page = _open_page(dash_duo)
    page.wait_for_contains_text("#cortical-maps-map-status", "Virtual fMRI", timeout=30)
    assert page.find_element("#cortical-maps-map-status a").get_attribute("href").endswith("/virtual-fmri")

    np.savez(tmp_path / "wrong.npz", data=np.ones(1000, np.float32))
    _upload(page, tmp_path / "wrong.npz")
    page.wait_for_contains_text("#cortical-maps-upload-status", "expected 59,412", timeout=30)

    np.savez(tmp_path / "gradient.npz", data=np.linspace(-1, 1, 59412, dtype=np.float32))
    _upload(page, tmp_path / "gradient.npz")
    page.wait_for_contains_text("#cortical-maps-upload-status", "Loaded 1 map", timeout=30)
    wait_until(lambda: _colorbar_title(page) == "value", 30)
    assert "gradient.npz" in page.find_element("#cortical-maps-map").text

    np.savez(tmp_path / "fsaverage5.npz", data=np.linspace(0, 1, 20484, dtype=np.float32))
    _upload(page, tmp_path / "fsaverage5.npz")
    wait_until(lambda: _plot(page, "gd._fullData[0].x.length") == 10242, 60)
    assert page.get_logs() == []
