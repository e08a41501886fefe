"""Cortical Maps page in headless Chromium: both views, ROI names on hover, threshold changes the map."""

import time

import dash
import pytest
from dash.testing.application_runners import import_app
from selenium.webdriver.common.keys import Keys

from tests.browser._helpers import wait_until

pytestmark = pytest.mark.browser

GRAPH = "#cortical-maps-graph .js-plotly-plot"


def _plot(dash_duo, expression):
    return dash_duo.driver.execute_script(f"const gd = document.querySelector('{GRAPH}'); return {expression};")



@pytest.fixture
def page(dash_duo):
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/cortical-maps")
    dash_duo.wait_for_element(GRAPH, timeout=60)
    wait_until(lambda: _plot(dash_duo, "gd.data ? gd.data.length : 0") == 3, 30)
    return dash_duo


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


def test_threshold_changes_the_colours_only(page):
    before = _plot(page, "JSON.stringify(gd.data[0].vertexcolor).length + ':' + "
                         "JSON.stringify(gd.data[0].vertexcolor).slice(0, 50000)")
    thumb = page.find_element("#cortical-maps-threshold [role='slider']")
    thumb.click()
    for _ in range(12):
        thumb.send_keys(Keys.ARROW_RIGHT)
    wait_until(lambda: _plot(page, "JSON.stringify(gd.data[0].vertexcolor).length + ':' + "
                              "JSON.stringify(gd.data[0].vertexcolor).slice(0, 50000)") != before, 30)
    assert _plot(page, "gd.layout.scene.camera.projection.type") == "orthographic"
    assert page.get_logs() == []
