"""Cortical Maps page in headless Chromium: both views, camera presets, hemispheres, area borders, full area
names on hover, a threshold in map units changes the codes only, computed maps of a (seeded) experiment by kind,
and uploaded maps."""

import time

import dash
import numpy as np
import pytest
from dash.testing.application_runners import import_app
from selenium.webdriver.support.ui import Select

from dashboard import services
from dashboard.figures.cortex import BORDER_CODE, GREY_FIRST, GREY_LAST, POS_FIRST
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


def _choose(dash_duo, group: str, value: str) -> None:
    dash_duo.driver.execute_script("arguments[0].click()",
                                   dash_duo.find_element(f"#cortical-maps-{group} input[value='{value}']"))


def test_views_camera_presets_hemispheres_and_borders(page):
    assert _plot(page, "gd.data[0].type") == "mesh3d" and _plot(page, "gd.data[1].type") == "mesh3d"
    assert _plot(page, "gd.layout.scene.camera.projection.type") == "orthographic"
    assert "simulated subject" in page.find_element(".alert").text
    _choose(page, "view", "inflated")
    wait_until(lambda: _plot(page, "(gd.layout.scene.camera.projection || {}).type") != "orthographic", 30)
    assert _plot(page, "gd.data[0].x.length || gd.data[0].x.bdata.length") > 0
    # lateral: each hemisphere in its own scene, seen from its own side
    assert _plot(page, "[gd.data[0].scene, gd.data[1].scene]") == ["scene", "scene2"]
    assert _plot(page, "gd._fullLayout.scene.camera.eye.x") < 0 < _plot(page, "gd._fullLayout.scene2.camera.eye.x")
    _choose(page, "camera", "ventral")
    wait_until(lambda: _plot(page, "gd._fullLayout.scene.camera.eye.z") < 0, 30)
    _choose(page, "hemisphere", "right")
    wait_until(lambda: _plot(page, "gd.data[1].visible") is True and _plot(page, "gd.data[0].visible") is False, 30)
    _choose(page, "camera", "medial")
    wait_until(lambda: _plot(page, "gd._fullLayout.scene.camera.eye.x") < 0, 30)  # the right hemisphere's medial side
    page.driver.execute_script("arguments[0].click()", page.find_element("#cortical-maps-borders input"))
    wait_until(lambda: BORDER_CODE in _codes(page, 1), 30)
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
    assert any(" — " in text for text in names), names  # "V1 — Primary Visual Cortex"


def _codes(dash_duo, trace: int = 0):
    """A mesh's intensity codes as plotly.js holds them: uint8, one per mesh vertex."""
    return _plot(dash_duo, f"Array.from(gd._fullData[{trace}].intensity)")


def test_threshold_in_map_units_turns_codes_grey_and_keeps_the_view(page):
    # plotly.js accepted the combined colour scale (it falls back to its default for an invalid one)
    gyrus = _plot(page, f"gd._fullData[0].colorscale.find(s => Math.abs(s[0] - {GREY_FIRST} / 255) < 1e-9)[1]")
    assert gyrus == "rgb(205,205,205)"
    assert _plot(page, "[gd._fullData[0].cmin, gd._fullData[0].cmax]") == [0, 255]
    before = _codes(page)
    assert len(before) == _plot(page, "gd._fullData[0].x.length") and max(before) <= 255
    shown = sum(c >= POS_FIRST for c in before)
    field = page.find_element("#cortical-maps-threshold")
    field.send_keys("10")  # home layer >= 10 (map units; "debounce": sent on Enter or blur)
    field.send_keys("\n")
    wait_until(lambda: _codes(page) != before, 30)
    after = _codes(page)
    # a threshold turns coloured vertices grey (the rest keep a colour: the scale now starts at the threshold),
    # never a grey one coloured, and keeps the view
    pairs = list(zip(before, after, strict=True))
    assert all(b == a for a, b in pairs if GREY_FIRST <= a <= GREY_LAST)
    assert any(a >= POS_FIRST and GREY_FIRST <= b <= GREY_LAST for a, b in pairs)
    assert 0 < sum(c >= POS_FIRST for c in after) < shown
    assert _plot(page, "gd.layout.scene.camera.projection.type") == "orthographic"
    assert page.get_logs() == []


def test_computed_maps_of_the_experiment_are_offered(dash_duo, cache):
    seed_experiment()
    page = _open_page(dash_duo)
    kind = Select(page.find_element("#cortical-maps-kind"))
    wait_until(lambda: not page.find_element("#cortical-maps-kind option[value='quality']").get_attribute("disabled"),
               30)
    kind.select_by_value("quality")
    wait_until(lambda: _colorbar_title(page) == "r", 30)  # the first quality map, test r, sequential from 0
    assert _plot(page, "gd.data[2].marker.cmin") == 0
    page.select_dcc_dropdown("#cortical-maps-map", value=services.QUALITY_MAPS["best_layer_refit"][0])
    wait_until(lambda: _colorbar_title(page) == "layer", 30)
    assert _plot(page, "[gd.data[2].marker.cmin, gd.data[2].marker.cmax]") == [0.5, 18.5]  # a band per layer
    assert page.get_logs() == []


def test_uploaded_maps_render_and_bad_files_say_why(dash_duo, cache, tmp_path):
    page = _open_page(dash_duo)
    page.wait_for_contains_text("#cortical-maps-map-status", "Virtual fMRI", timeout=30)
    assert page.find_element("#cortical-maps-kind option[value='quality']").get_attribute("disabled")
    assert page.find_element("#cortical-maps-map-status a").get_attribute("href").endswith("/virtual-fmri")

    np.savez(tmp_path / "wrong.npz", data=np.ones(1000, np.float32))
    _upload(page, tmp_path / "wrong.npz")
    page.wait_for_contains_text("#cortical-maps-upload-status", "expected 59,412", timeout=30)

    np.savez(tmp_path / "gradient.npz", data=np.linspace(-1, 1, 59412, dtype=np.float32))
    _upload(page, tmp_path / "gradient.npz")
    page.wait_for_contains_text("#cortical-maps-upload-status", "Loaded 1 map", timeout=30)
    wait_until(lambda: _colorbar_title(page) == "value", 30)
    assert _plot(page, "gd.data[2].marker.cmin") == -_plot(page, "gd.data[2].marker.cmax")  # signed: centred on 0
    assert "gradient.npz" in page.find_element("#cortical-maps-map").text

    np.savez(tmp_path / "fsaverage5.npz", data=np.linspace(0, 1, 20484, dtype=np.float32))
    _upload(page, tmp_path / "fsaverage5.npz")
    wait_until(lambda: _plot(page, "gd._fullData[0].x.length") == 10242, 60)
    assert page.get_logs() == []
