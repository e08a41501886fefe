"""Upload size limits in headless Chromium: a file over an upload's limit is refused in the browser with
"<name> is N MiB; the limit is M MiB" in the upload's status line, and never reaches the server
(``assets/upload_size_limit.js``); a file at the limit still goes to the server's own checks."""

import dash
import pytest
from dash.testing.application_runners import import_app

from dashboard import services
from dashboard.services import cortical_maps as cortical_maps_services
from tests._experiments import seed_experiment
from tests.browser._helpers import click, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def received(monkeypatch):
    """The test's cache holding a seeded experiment; returns the names of the files that reached ``services``."""
    monkeypatch.setattr(services, "start_predictor", lambda key: None)  # no ResNet-50 worker for a fake result
    seed_experiment()
    names = []
    save_upload, save_uploaded_maps = services.save_upload, services.save_uploaded_maps

    def record_image(contents, filename):
        names.append(filename)
        return save_upload(contents, filename)

    def record_maps(files):
        names.extend(name for name, _ in files)
        return save_uploaded_maps(files)

    monkeypatch.setattr(services, "save_upload", record_image)
    monkeypatch.setattr(services, "save_uploaded_maps", record_maps)
    return names


def _open(dash_duo, path):
    dash.page_registry.clear()
    dash_duo.start_server(import_app("app"))
    dash_duo.driver.set_window_size(1400, 1000)
    dash_duo.driver.get(dash_duo.server_url + path)


def _sparse_file(path, n_bytes):
    """A file of ``n_bytes`` zero bytes that takes no disk space."""
    with open(path, "wb") as handle:
        handle.truncate(n_bytes)
    return path


def _choose(dash_duo, upload_id, *paths):
    field = dash_duo.find_element(f"#{upload_id} input[type=file]")
    dash_duo.driver.execute_script("arguments[0].value = '';", field)  # chromedriver appends to a multiple input
    field.send_keys("\n".join(str(p) for p in paths))


def _drag(dash_duo, upload_id, event_types, name, n_bytes):
    """Fire drag events carrying one file of ``n_bytes`` bytes at the upload area, as a user's drag does."""
    dash_duo.driver.execute_script(
        "const zone = document.querySelector(arguments[0]);"
        "const files = new DataTransfer(); files.items.add(new File([new Uint8Array(arguments[3])], arguments[2]));"
        "for (const type of arguments[1]) zone.dispatchEvent(new DragEvent(type, "
        "{bubbles: true, cancelable: true, dataTransfer: files}));",
        f"#{upload_id} > div", event_types, name, n_bytes)


def _drop(dash_duo, upload_id, name, n_bytes):
    """Drag a file over the upload area (its style turns "drag active"), then drop it."""
    _drag(dash_duo, upload_id, ["dragenter", "dragover"], name, n_bytes)
    wait_until(lambda: "background-color" in _zone_style(dash_duo, upload_id), 10, interval=0.1)
    _drag(dash_duo, upload_id, ["drop"], name, n_bytes)


def _zone_style(dash_duo, upload_id):
    return dash_duo.find_element(f"#{upload_id} > div").get_attribute("style")


def test_image_over_the_limit_is_refused_before_upload(dash_duo, received, tmp_path):
    _open(dash_duo, "/virtual-fmri")
    dash_duo.wait_for_contains_text("#virtual-fmri-image-a", "", timeout=30)
    click(dash_duo, "#virtual-fmri-upload-target input[value='b']")  # no prediction of the upload is drawn
    _choose(dash_duo, "virtual-fmri-upload", _sparse_file(tmp_path / "big photo.png", 11 * 2**20))
    dash_duo.wait_for_text_to_equal("#virtual-fmri-upload-status",
                                    "big photo.png is 11.0 MiB; the limit is 10 MiB", timeout=30)
    assert received == []

    _choose(dash_duo, "virtual-fmri-upload", _sparse_file(tmp_path / "at limit.png", services.MAX_UPLOAD_BYTES))
    dash_duo.wait_for_contains_text("#virtual-fmri-upload-status", "not a recognised image format", timeout=60)
    assert received == ["at limit.png"]
    assert dash_duo.get_logs() == []


def test_maps_over_the_limit_are_refused_before_upload(dash_duo, received, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "MAX_MAP_UPLOAD_BYTES", 2**20)  # read by the page layout and by services
    monkeypatch.setattr(cortical_maps_services, "MAX_MAP_UPLOAD_BYTES", 2**20)
    _open(dash_duo, "/cortical-maps")
    dash_duo.wait_for_contains_text("#cortical-maps-map-status", "", timeout=30)
    status = "#cortical-maps-upload-status"
    left = _sparse_file(tmp_path / "maps.L.func.gii", 2**20)
    right = _sparse_file(tmp_path / "maps.R.func.gii", 3 * 2**20)
    _choose(dash_duo, "cortical-maps-upload", left, right)
    dash_duo.wait_for_text_to_equal(status, "maps.R.func.gii is 3.0 MiB; the limit is 1 MiB", timeout=30)
    assert received == []

    _drop(dash_duo, "cortical-maps-upload", "dropped.npz", 2**20 + 2**19)
    dash_duo.wait_for_text_to_equal(status, "dropped.npz is 1.5 MiB; the limit is 1 MiB", timeout=30)
    # the refused drop also ended the drag: the area lost its "drag active" style (grey background)
    assert "background-color" not in _zone_style(dash_duo, "cortical-maps-upload")
    assert received == []

    _drop(dash_duo, "cortical-maps-upload", "at limit.npz", 2**20)
    dash_duo.wait_for_contains_text(status, "at limit.npz", timeout=60)
    assert received == ["at limit.npz"]
    assert "the limit is" not in dash_duo.find_element(status).text
    assert dash_duo.get_logs() == []
