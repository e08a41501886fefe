"""Virtual fMRI page: the experiment runs as a background job to completion, then maps and predictions render."""

import time

import dash
import pytest
from dash.testing.application_runners import import_app

pytestmark = pytest.mark.browser


def _n_traces(dash_duo, graph_id):
    return dash_duo.driver.execute_script(
        f"const gd = document.querySelector('#{graph_id} .js-plotly-plot'); return gd && gd.data ? gd.data.length : 0;")


def _wait(condition, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if condition():
            return
        time.sleep(1)
    raise AssertionError("condition not met in time")


def test_experiment_job_runs_and_maps_render(dash_duo, monkeypatch):
    monkeypatch.setenv("VFS_EXPERIMENT_MAX_IMAGES", "160")
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/virtual-fmri")
    dash_duo.wait_for_contains_text("#virtual-fmri-status", "", timeout=30)
    assert "simulated subject" in dash_duo.find_element(".alert").text
    if "Fitted on" not in dash_duo.find_element("#virtual-fmri-status").text:
        dash_duo.find_element("#virtual-fmri-run").click()
    dash_duo.wait_for_contains_text("#virtual-fmri-status", "Fitted on", timeout=900)
    _wait(lambda: _n_traces(dash_duo, "virtual-fmri-quality-graph") == 3, 300)
    _wait(lambda: _n_traces(dash_duo, "virtual-fmri-roi-graph") >= 1, 300)
    dash_duo.driver.execute_script("document.getElementById('virtual-fmri-image-a').scrollIntoView({block: 'center'})")
    time.sleep(1)
    dash_duo.select_dcc_dropdown("#virtual-fmri-image-a", index=0)
    _wait(lambda: _n_traces(dash_duo, "virtual-fmri-prediction-graph") == 3, 300)
    assert dash_duo.get_logs() == []

    dash_duo.driver.get(dash_duo.server_url + "/selectivity")
    _wait(lambda: _n_traces(dash_duo, "selectivity-graph") == 3, 180)
    _wait(lambda: _n_traces(dash_duo, "selectivity-roi-graph") >= 1, 60)
    assert dash_duo.get_logs() == []

    dash_duo.driver.get(dash_duo.server_url + "/rdm-clusters")
    dash_duo.wait_for_contains_text("#rdm-clusters-status", "categories", timeout=300)
    _wait(lambda: _n_traces(dash_duo, "rdm-clusters-heatmap") >= 1, 60)
    _wait(lambda: _n_traces(dash_duo, "rdm-clusters-scatter") >= 1, 300)
    assert dash_duo.get_logs() == []
