"""Virtual fMRI page: the experiment runs as a background job to completion, then maps and predictions render."""

import time

import dash
import pytest
from dash.testing.application_runners import import_app

from tests.browser._helpers import n_traces, wait_until

pytestmark = pytest.mark.browser




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
    wait_until(lambda: n_traces(dash_duo, "virtual-fmri-quality-graph") == 3, 300)
    wait_until(lambda: n_traces(dash_duo, "virtual-fmri-roi-graph") >= 1, 300)
    dash_duo.driver.execute_script("document.getElementById('virtual-fmri-image-a').scrollIntoView({block: 'center'})")
    time.sleep(1)
    dash_duo.select_dcc_dropdown("#virtual-fmri-image-a", index=0)
    wait_until(lambda: n_traces(dash_duo, "virtual-fmri-prediction-graph") == 3, 300)
    assert dash_duo.get_logs() == []

    dash_duo.driver.get(dash_duo.server_url + "/selectivity")
    wait_until(lambda: n_traces(dash_duo, "selectivity-graph") == 3, 180)
    wait_until(lambda: n_traces(dash_duo, "selectivity-roi-graph") >= 1, 60)
    assert dash_duo.get_logs() == []

    dash_duo.driver.get(dash_duo.server_url + "/rdm-clusters")
    dash_duo.wait_for_contains_text("#rdm-clusters-status", "categories", timeout=300)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-heatmap") >= 1, 60)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-scatter") >= 1, 300)
    assert dash_duo.get_logs() == []
