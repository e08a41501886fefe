"""Virtual fMRI page: with the session's fitted experiment (``fitted_experiment``; ``tests/e2e`` runs the job
itself), maps and predictions render; an uploaded image is predicted; the EfficientNet-Lite0 comparison job adds a second model to the region chart."""

import time

import dash
import numpy as np
import pytest
from dash.testing.application_runners import import_app
from PIL import Image
from selenium.webdriver.support.ui import Select

from dashboard import services
from tests.browser._helpers import click, n_traces, wait_until

pytestmark = pytest.mark.browser




def test_experiment_job_runs_and_maps_render(dash_duo, fitted_experiment, tmp_path):
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
    refit_label = services.QUALITY_MAPS["best_layer_refit"][0]
    dash_duo.select_dcc_dropdown("#virtual-fmri-map", value=refit_label)
    # the title may add "(no vertex passes FDR q < 0.05)" on a small run
    wait_until(lambda: _graph_title(dash_duo, "virtual-fmri-quality-graph").startswith(refit_label), 120)
    assert _colorbar_range(dash_duo, "virtual-fmri-quality-graph") == [0.5, 18.5]  # one band per layer
    dash_duo.driver.execute_script("document.getElementById('virtual-fmri-image-a').scrollIntoView({block: 'center'})")
    time.sleep(1)
    dash_duo.select_dcc_dropdown("#virtual-fmri-image-a", index=0)
    wait_until(lambda: n_traces(dash_duo, "virtual-fmri-prediction-graph") == 3, 300)
    assert dash_duo.get_logs() == []

    _upload_and_compare(dash_duo, tmp_path)

    dash_duo.driver.get(dash_duo.server_url + "/selectivity")
    wait_until(lambda: n_traces(dash_duo, "selectivity-graph") == 3, 180)
    dash_duo.wait_for_contains_text("#selectivity-mask-status", "vertices the encoding model predicts", timeout=60)
    Select(dash_duo.find_element("#selectivity-mask-q")).select_by_value("1.0")  # FDR: any
    wait_until(lambda: n_traces(dash_duo, "selectivity-roi-graph") >= 1, 60)  # r > 0.2 alone keeps areas
    assert dash_duo.get_logs() == []

    dash_duo.driver.get(dash_duo.server_url + "/rdm-clusters")
    dash_duo.wait_for_contains_text("#rdm-clusters-status", "categories", timeout=300)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-heatmap") >= 1, 60)
    wait_until(lambda: n_traces(dash_duo, "rdm-clusters-scatter") >= 1, 300)
    assert dash_duo.get_logs() == []


def _graph_title(dash_duo, graph_id: str) -> str:
    return dash_duo.driver.execute_script(
        f"const gd = document.querySelector('#{graph_id} .js-plotly-plot');"
        "return gd && gd.layout && gd.layout.title ? gd.layout.title.text : '';")


def _colorbar_range(dash_duo, graph_id: str) -> list:
    return dash_duo.driver.execute_script(
        f"const m = document.querySelector('#{graph_id} .js-plotly-plot').data[2].marker;"
        "return [m.cmin, m.cmax];")


def _upload(dash_duo, path) -> None:
    dash_duo.find_element("#virtual-fmri-upload input[type=file]").send_keys(str(path))


def _upload_and_compare(dash_duo, tmp_path):
    """Upload an image as B and draw A − B; a broken file gives a message; then the model comparison job."""
    image = tmp_path / "grey ramp.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 160, dtype=np.uint8)[None, :, None], (120, 1, 3))).save(image)
    click(dash_duo, "#virtual-fmri-upload-target input[value='b']")
    _upload(dash_duo, image)
    dash_duo.wait_for_contains_text("#virtual-fmri-upload-status", "Uploaded grey ramp.png", timeout=60)
    dash_duo.wait_for_contains_text("#virtual-fmri-image-b", "uploaded — grey ramp.png", timeout=30)
    click(dash_duo, "#virtual-fmri-prediction-mode input[value='diff']")
    wait_until(lambda: _graph_title(dash_duo, "virtual-fmri-prediction-graph").startswith("Predicted response: A − B"),
               300)
    assert n_traces(dash_duo, "virtual-fmri-prediction-graph") == 3
    assert n_traces(dash_duo, "virtual-fmri-pair-graph") == 2
    assert dash_duo.find_element("#virtual-fmri-prediction-error").text == ""

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not an image")
    _upload(dash_duo, broken)
    dash_duo.wait_for_contains_text("#virtual-fmri-upload-status", "broken.png", timeout=60)
    assert "not a recognised image format" in dash_duo.find_element("#virtual-fmri-upload-status").text
    assert dash_duo.get_logs() == []

    if "Holm" not in dash_duo.find_element("#virtual-fmri-compare-status").text:
        click(dash_duo, "#virtual-fmri-compare-run")
    dash_duo.wait_for_contains_text("#virtual-fmri-compare-status", "after Holm correction", timeout=900)
    # 2 models, ceiling, the difference with its interval, the Holm marks
    wait_until(lambda: n_traces(dash_duo, "virtual-fmri-roi-graph") == 5, 60)
    assert dash_duo.get_logs() == []

