"""Identity & Expression and Reconstructions pages: their background jobs run to completion and draw."""


import dash
import pytest
from dash.testing.application_runners import import_app

from tests.browser._helpers import n_traces, wait_until

pytestmark = pytest.mark.browser




@pytest.fixture
def studio(dash_duo, monkeypatch):
    monkeypatch.setenv("VFS_EXPERIMENT_MAX_IMAGES", "160")
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    return dash_duo


def test_identity_expression_job_draws_every_figure(studio):
    studio.driver.get(studio.server_url + "/identity-expression")
    studio.wait_for_element("#identity-expression-run").click()
    studio.wait_for_contains_text("#identity-expression-status", "Done", timeout=1500)
    for graph in ("heatmap", "lines", "decoding", "strip"):
        wait_until(lambda g=graph: n_traces(studio, f"identity-expression-{g}") >= 1, 60)
    assert studio.get_logs() == []


def test_reconstruction_job_draws_the_gallery_and_accuracies(studio):
    studio.driver.get(studio.server_url + "/reconstructions")
    studio.wait_for_element("#reconstructions-run").click()
    studio.wait_for_contains_text("#reconstructions-status", "Done", timeout=1500)
    wait_until(lambda: n_traces(studio, "reconstructions-gallery") >= 1, 60)
    wait_until(lambda: n_traces(studio, "reconstructions-accuracy") >= 1, 60)
    assert studio.get_logs() == []
