"""Model–Brain RSA page: a zip of 8 small images and an RSA-toolbox .mat through a short run (the default network,
ResNet-50, on 8 images; 20 permutations, 40 bootstrap samples)."""

import zipfile

import dash
import numpy as np
import pytest
from dash.testing.application_runners import import_app
from PIL import Image
from scipy.io import savemat
from scipy.spatial.distance import pdist, squareform

from tests._internals import internals_in
from tests.browser._helpers import click, n_traces, wait_until

pytestmark = pytest.mark.browser

N = 8


def _inputs(tmp_path):
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(tmp_path / "stimuli.zip", "w") as archive:
        for i in range(N):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(tmp_path / f"img{i + 1}.png")
            archive.write(tmp_path / f"img{i + 1}.png", f"img{i + 1}.png")
    records = np.zeros(3, dtype=[("RDM", object), ("name", object)])
    for i, name in enumerate(("V1", "V1", "IT")):
        records[i] = (squareform(pdist(rng.standard_normal((N, 5)), "correlation")), name)
    savemat(tmp_path / "brain.mat", {"RDMs": records})
    savemat(tmp_path / "lopsided.mat", {"R": rng.uniform(size=(N, N))})
    return tmp_path / "stimuli.zip", [tmp_path / "brain.mat", tmp_path / "lopsided.mat"]


def _upload(dash_duo, upload_id, *paths):
    field = dash_duo.find_element(f"#{upload_id} input[type=file]")
    dash_duo.driver.execute_script("arguments[0].value = '';", field)
    field.send_keys("\n".join(str(p) for p in paths))


def _set_number(dash_duo, input_id, value):
    field = dash_duo.find_element(f"#{input_id}")
    field.clear()
    field.send_keys(str(value))


def test_upload_run_and_draw(dash_duo, tmp_path):
    stimuli, rdms = _inputs(tmp_path)
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.driver.get(dash_duo.server_url + "/model-brain-rsa")
    _upload(dash_duo, "model-brain-rsa-stimulus-upload", stimuli)
    dash_duo.wait_for_contains_text("#model-brain-rsa-stimulus-status", f"{N} stimuli", timeout=60)
    _upload(dash_duo, "model-brain-rsa-rdm-upload", *rdms)
    dash_duo.wait_for_contains_text("#model-brain-rsa-rdm-status", "V1 (2 subjects), IT (1 subject)", timeout=60)
    status = dash_duo.find_element("#model-brain-rsa-rdm-status").text
    assert "lopsided.mat:R is not symmetric" in status and internals_in(status) == []
    _set_number(dash_duo, "model-brain-rsa-n-permutations", 20)
    _set_number(dash_duo, "model-brain-rsa-n-bootstrap", 40)
    click(dash_duo, "#model-brain-rsa-run")
    dash_duo.wait_for_contains_text("#model-brain-rsa-status", "Best layer", timeout=300)
    assert "ResNet-50" in dash_duo.find_element("#model-brain-rsa-status").text
    wait_until(lambda: n_traces(dash_duo, "model-brain-rsa-profile") == 2 * 2 + 1, 60)  # line + star per region
    wait_until(lambda: n_traces(dash_duo, "model-brain-rsa-mds") == 2, 60)  # the network's layers, the brain RDMs
    wait_until(lambda: n_traces(dash_duo, "model-brain-rsa-pair") == 2, 60)
    text = dash_duo.driver.execute_script("return document.body.innerText")
    assert "conservative" in text and internals_in(text) == []
    assert dash_duo.get_logs() == []
