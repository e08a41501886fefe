"""Identity & Expression and Reconstructions pages: their background jobs run to completion and draw."""


import dash
import numpy as np
import pytest
from dash.testing.application_runners import import_app
from selenium.webdriver.common.keys import Keys

from tests.browser._helpers import click, n_traces, wait_until

pytestmark = pytest.mark.browser




@pytest.fixture
def studio(dash_duo, monkeypatch):
    monkeypatch.setenv("VFS_EXPERIMENT_MAX_IMAGES", "160")
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    return dash_duo


def test_identity_expression_job_draws_every_figure(studio, tmp_path):
    studio.driver.get(studio.server_url + "/identity-expression")
    studio.wait_for_element("#identity-expression-run")
    click(studio, "#identity-expression-run")  # a bar at the bottom of the window may cover it
    studio.wait_for_contains_text("#identity-expression-status", "Done", timeout=1500)
    for graph in ("heatmap", "lines", "decoding", "strip", "cortex", "difference"):
        wait_until(lambda g=graph: n_traces(studio, f"identity-expression-{g}") >= 1, 60)
    studio.wait_for_contains_text("#identity-expression-region-table tr.table-active", "FFC_R", timeout=30)
    trace, vertex = _mesh_vertex_in("R_STSvp")
    studio.driver.execute_script(  # a click on that vertex of the cortex mesh, as plotly reports it
        "document.querySelector('#identity-expression-cortex .js-plotly-plot')"
        ".emit('plotly_click', {points: [{curveNumber: arguments[0], pointNumber: arguments[1]}]});", trace, vertex)
    studio.wait_for_contains_text("#identity-expression-region-table tr.table-active", "STSvp_R", timeout=30)
    studio.wait_for_contains_text("#identity-expression-lines .gtitle", "STSvp_R", timeout=30)
    studio.wait_for_contains_text("#identity-expression-region-table", "identity − expression", timeout=30)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "short.npz", FFA=rng.standard_normal((40, 6)))
    _upload(studio, tmp_path / "short.npz")
    studio.wait_for_contains_text("#identity-expression-upload-status", "has 40 stimuli", timeout=120)
    np.savez(tmp_path / "mine.npz", myFFA=rng.standard_normal((3, 48, 6)))
    _upload(studio, tmp_path / "mine.npz")
    studio.wait_for_contains_text("#identity-expression-region-table", "myFFA (uploaded)", timeout=120)
    studio.wait_for_contains_text("#identity-expression-badge", "uploaded data", timeout=30)
    studio.wait_for_contains_text("#identity-expression-difference .gtitle", "uploaded mine.npz", timeout=30)
    assert "simulated from a declared ground truth" not in studio.find_element("#identity-expression-badge").text
    assert studio.get_logs() == []


def _upload(dash_duo, path):
    field = dash_duo.find_element("#identity-expression-upload input[type=file]")
    dash_duo.driver.execute_script("arguments[0].value = '';", field)
    field.send_keys(str(path))


def _mesh_vertex_in(area: str) -> tuple[int, int]:
    """(trace, mesh vertex) of a vertex of the Glasser ``area`` ("R_STSvp") on the picker's flat cortex."""
    from dashboard import services

    mesh, names = services.cortex_mesh("flat"), services.vertex_roi_names()
    index, n_left = names.index(area), len(mesh["left"]["vertex_index"])
    hemi = 0 if index < n_left else 1
    return hemi, int(mesh[("left", "right")[hemi]]["vertex_index"][index - hemi * n_left])


def test_reconstruction_job_draws_the_gallery_and_accuracies(studio):
    studio.driver.get(studio.server_url + "/reconstructions")
    studio.wait_for_element("#reconstructions-run")
    click(studio, "#reconstructions-run")
    studio.wait_for_contains_text("#reconstructions-status", "Done", timeout=1500)
    wait_until(lambda: n_traces(studio, "reconstructions-gallery") >= 1, 60)
    wait_until(lambda: n_traces(studio, "reconstructions-accuracy") >= 1, 60)
    for curve in ("size-curve", "snr-curve"):  # one line each for the GAN latent and the PCA baseline
        wait_until(lambda c=curve: n_traces(studio, f"reconstructions-{c}") == 2, 60)
    wait_until(lambda: n_traces(studio, "reconstructions-explorer") >= 1, 60)
    studio.wait_for_contains_text("#reconstructions-explorer .gtitle", "+0 SD", timeout=30)
    middle = _explorer_image(studio)
    thumb = studio.find_element("#reconstructions-explorer-offset [role='slider']")
    studio.driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus();", thumb)
    thumb.send_keys(Keys.END)
    studio.wait_for_contains_text("#reconstructions-explorer .gtitle", "+2.5 SD", timeout=30)
    wait_until(lambda: _explorer_image(studio) != middle, 30)
    assert studio.get_logs() == []


def _explorer_image(dash_duo) -> str:
    """The PNG data URI of the latent explorer's faces."""
    return dash_duo.driver.execute_script(
        "return document.querySelector('#reconstructions-explorer .js-plotly-plot').data[0].source;")
