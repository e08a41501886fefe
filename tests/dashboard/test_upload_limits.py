"""Every upload area of every page is size-limited in the browser (``size_limited_upload``), with the
limit of the services check behind it and a status line that exists on the page."""

import dash
import pytest
from dash import dcc
from dash.testing.application_runners import import_app

from dashboard import services
from dashboard.components import size_limited_upload
from dashboard.components.uploads import SIZE_LIMITED_UPLOAD_CLASS
from dashboard.services import model_brain_rsa

#: Upload id -> the services limit its files are checked against.
LIMITS = {"virtual-fmri-upload": services.MAX_UPLOAD_BYTES, "cortical-maps-upload": services.MAX_MAP_UPLOAD_BYTES,
          "identity-expression-upload": services.MAX_FACE_UPLOAD_BYTES,
          "model-brain-rsa-stimulus-upload": model_brain_rsa.MAX_STIMULUS_UPLOAD_BYTES,
          "model-brain-rsa-rdm-upload": model_brain_rsa.MAX_RDM_UPLOAD_BYTES,
          "studies-zip-upload": services.MAX_STUDY_ZIP_BYTES, "study-views-upload": services.MAX_UPLOAD_BYTES}


def _walk(component, parent=None):
    """(component, parent) pairs of a layout tree, depth first."""
    yield component, parent
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "_type"):
            yield from _walk(child, component)


@pytest.fixture(scope="module")
def layouts():
    dash.page_registry.clear()
    import_app("app")
    return {page["path"]: page["layout"]() for page in dash.page_registry.values()}


def test_size_limited_upload_carries_its_limit_and_message_target():
    wrapper = size_limited_upload("x-upload", "x-status", 3 * 2**20, multiple=True)
    assert wrapper.className == SIZE_LIMITED_UPLOAD_CLASS
    assert wrapper.to_plotly_json()["props"]["data-max-bytes"] == str(3 * 2**20)
    assert wrapper.to_plotly_json()["props"]["data-message-id"] == "x-status"
    assert isinstance(wrapper.children, dcc.Upload) and wrapper.children.multiple is True


def test_every_upload_is_size_limited_with_the_services_limit(layouts):
    found = {}
    for layout in layouts.values():
        ids = {getattr(c, "id", None) for c, _ in _walk(layout)}
        for component, parent in _walk(layout):
            if isinstance(component, dcc.Upload):
                props = parent.to_plotly_json()["props"]
                assert parent.className == SIZE_LIMITED_UPLOAD_CLASS, f"{component.id} is not size-limited"
                assert props["data-message-id"] in ids
                assert getattr(component, "max_size", None) is None  # no silent drop by the browser
                found[component.id] = int(props["data-max-bytes"])
    assert found == LIMITS
