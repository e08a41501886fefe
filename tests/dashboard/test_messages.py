"""Messages the user reads: dashboard.messages turns exceptions into sentences, and no page or bad-input message
shows internals (None, NaN, exception class names, server paths, Python reprs).

The bad inputs are those of the bad-input suites (tests/integration/test_bad_inputs.py, the face and map upload
tests); the pages are rendered by the real app, served in this process, with a seeded experiment.
"""

from __future__ import annotations

import base64
import io
import logging
import traceback

import numpy as np
import pytest
from dash.exceptions import BackgroundCallbackError

from bench.load import DashSession
from core.errors import UserError
from dashboard import messages, services
from dashboard.jobs import JOB_LOST_MESSAGE
from dashboard.messages import GENERIC_MESSAGE, user_message
from tests._experiments import seed_experiment
from tests._internals import internals_in, page_internals, render_page, shown_text
from tests.integration._servers import in_process_app


def _background_error(exc: Exception) -> BackgroundCallbackError:
    """The error Dash hands the web process for ``exc`` raised in a background job (message + traceback)."""
    try:
        raise exc
    except Exception as raised:  # noqa: BLE001 - any exception, as Dash's job wrapper catches it
        return BackgroundCallbackError(f"An error occurred inside a background callback: {raised}\n"
                                       f"{traceback.format_exc()}")


def test_user_errors_are_shown_as_written_and_other_errors_generically(caplog):
    assert user_message(UserError("Faces must be a whole number from 40 to 2000 (got 5)")) == (
        "Faces must be a whole number from 40 to 2000 (got 5)")
    try:
        {}["cortical-maps-graph"]
    except KeyError as bug:
        with caplog.at_level(logging.ERROR, logger="virtual_fmri_studio"):
            shown = user_message(bug)
    assert shown == GENERIC_MESSAGE and not internals_in(shown)
    assert "KeyError" in caplog.text and "Traceback" in caplog.text  # the details go to the server log
    assert user_message(ValueError("plain ValueError from a bug")) == GENERIC_MESSAGE


def test_background_job_errors_keep_their_kind():
    from core.stimuli import StimulusError

    assert user_message(_background_error(UserError("Run the analysis first"))) == "Run the analysis first"
    assert user_message(_background_error(StimulusError("x.png: cannot be decoded\nsecond line"))) == (
        "x.png: cannot be decoded\nsecond line")
    assert user_message(_background_error(RuntimeError("CUDA out of memory"))) == GENERIC_MESSAGE
    assert user_message(_background_error(ValueError("UserError: not really"))) == GENERIC_MESSAGE
    lost = BackgroundCallbackError(f"An error occurred inside a background callback: {JOB_LOST_MESSAGE}\n")
    assert user_message(lost) == JOB_LOST_MESSAGE
    alert = messages.error_alert(UserError("Click a vertex on the map first"), color="warning")
    assert alert.children == "Click a vertex on the map first" and alert.color == "warning"


@pytest.mark.parametrize("planted", [
    "Cluster None: mean predicted map", "value: NaN", "Could not read a.nii: ImageFileError: no",
    "Cannot work out file type of \"/tmp/virtual-fmri-studio-uploads-0/tmpab/notamap.nii\"",
    "choose from ['.dtseries.nii', '.dscalar.nii']", "holds {'a': 1}", "dtype=float32", "r = nan",
])
def test_the_scan_finds_each_kind_of_internal(planted):
    assert internals_in(planted)


def test_the_scan_passes_plain_sentences():
    for text in ("FFC — Fusiform Face Complex (left hemisphere, vertex 1,234): 0.123", "GIFTI (L/R .func.gii)",
                 "Mean test r per region (± SE over vertices)", "r / ceiling", "p < 0.001", "image/*",
                 "Press 'Run experiment' (top left) to see this", "noise ceiling: 0.21–0.35"):
        assert internals_in(text) == [], text


# --------------------------------------------------------------------------------------- bad inputs


def _bad_input_cases():
    """(name, function raising the error) for the inputs of the bad-input suites, run through services."""
    from tests.dashboard.test_identity_services import _bad_uploads
    from tests.integration.test_bad_inputs import BAD_IMAGES, BAD_MAPS

    cases = {}
    for filename, (make, _) in BAD_IMAGES.items():
        cases[f"image {filename}"] = lambda tmp, f=filename, m=make: services.save_upload(
            "data:image/png;base64," + base64.b64encode(m(tmp)).decode(), f)
    for filename, (make, _) in BAD_MAPS.items():
        cases[f"map {filename}"] = lambda tmp, f=filename, m=make: services.save_uploaded_maps([(f, m())])
    cases["map two arrays"] = lambda tmp: services.save_uploaded_maps([("two.npz", _two_arrays())])
    cases["map pair"] = lambda tmp: services.save_uploaded_maps([("a.func.gii", b""), ("b.func.gii", b"")])
    for name, (data, _) in _bad_uploads().items():
        cases[f"faces {name}"] = lambda tmp, d=data: services.read_face_patterns(d, "mine.npz")
    cases["reconstruction 5 faces"] = lambda tmp: services.run_reconstruction(5, 1.0)
    cases["visualisation 5 steps"] = lambda tmp: services.run_feature_visualisation("key", "cluster:0", 5)
    cases["no experiment"] = lambda tmp: services.predicted_map(services.default_experiment_key(), "library/x.jpg")
    cases["lost upload"] = lambda tmp: services.image_thumbnail("upload:0123456789abcdef/x.png")
    return cases


def _two_arrays() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, a=np.zeros((2, 20484)), b=np.zeros((3, 20484)))
    return buffer.getvalue()


@pytest.fixture
def cache(vfs_folders, monkeypatch):
    """The test's empty cache (and upload folder), for the experiment of the current settings."""
    monkeypatch.delenv("VFS_EXPERIMENT_MAX_IMAGES", raising=False)
    return vfs_folders.cache


@pytest.mark.parametrize("case", sorted(_bad_input_cases()))
def test_bad_inputs_get_a_sentence_for_the_user_without_internals(cache, tmp_path, case):
    with pytest.raises(UserError) as error:  # a UserError: the page shows its own sentence, not the generic one
        _bad_input_cases()[case](tmp_path)
    assert internals_in(user_message(error.value)) == []


# --------------------------------------------------------------------------------------- rendered pages

PAGES = ("/", "/cortical-maps", "/virtual-fmri", "/selectivity", "/rdm-clusters", "/identity-expression",
         "/reconstructions", "/studies", "/your-study")


@pytest.fixture(scope="module")
def served():
    """A fresh app (its pages registered again) served in this process on a free loopback port; its services can be
    patched by the tests."""
    with in_process_app() as url:
        yield url


@pytest.mark.parametrize("seeded", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["before any run", "after the experiment"])
def test_rendered_pages_show_no_internals(served, cache, seeded):
    if seeded:
        seed_experiment()
    for path in PAGES:
        session = DashSession(served, timeout=120)
        alerts = render_page(session, path)
        assert page_internals(session) == [], path
        assert GENERIC_MESSAGE not in alerts and internals_in(" ".join(alerts)) == [], (path, alerts)


def _interact(session: DashSession, values: dict) -> None:
    """Run every callback that reads one of ``values`` (``{(id, property): value}``), as a user's change does."""
    session.props.update({i: {**session.props.get(i, {}), p: v} for (i, p), v in values.items()})
    for entry in session.callbacks:
        if entry.get("background") or not any({"id": i, "property": p} in entry["inputs"] for i, p in values):
            continue
        session.run_callback(entry, values)  # a danger alert raises CallbackError: none is expected here


@pytest.mark.slow
def test_cortex_pages_show_no_internals_while_used(served, cache, monkeypatch):
    """Every map kind, the inflated views, one hemisphere, borders, a threshold and a range, clicks on the medial
    wall and on an area, the predicted-map modes and the clustering controls."""
    from dashboard.ids import CorticalMaps, RdmClusters, Selectivity, VirtualFmri

    seed_experiment()
    # the seeded experiment's images are not in the library: draw them grey
    monkeypatch.setattr(services, "image_thumbnail", lambda stimulus_id, size=128: np.full((size, size, 3), 128, np.uint8))
    session = DashSession(served, timeout=120)
    render_page(session, "/cortical-maps")
    for kind in services.MAP_KINDS:
        _interact(session, {(CorticalMaps.KIND, "value"): kind})
    _interact(session, {(CorticalMaps.KIND, "value"): "declared"})
    for values in ({(CorticalMaps.VIEW, "value"): "inflated"}, {(CorticalMaps.CAMERA, "value"): "ventral"},
                   {(CorticalMaps.HEMISPHERE, "value"): "left"}, {(CorticalMaps.BORDERS, "value"): ["on"]},
                   {(CorticalMaps.THRESHOLD, "value"): 50, (CorticalMaps.THRESHOLD_UNIT, "value"): "percent"},
                   {(CorticalMaps.VMIN, "value"): 1, (CorticalMaps.VMAX, "value"): 0}):
        _interact(session, values)
    assert page_internals(session) == []
    clicks = {}
    left = services.cortex_mesh("inflated")["left"]
    wall = int(np.setdiff1d(np.arange(len(left["vertices"])), left["vertex_index"])[0])
    for name, point in (("medial wall", {"curveNumber": 0, "pointNumber": wall}),
                        ("area", {"curveNumber": 1, "pointNumber": 20000})):
        response = session.fire(CorticalMaps.CLICK_INFO, "children",
                                {(CorticalMaps.GRAPH, "clickData"): {"points": [point]}})
        clicks[name] = " ".join(shown_text(response))
    assert clicks["medial wall"] == "medial wall  (left hemisphere): no value"
    assert " — " in clicks["area"] and "(right hemisphere, vertex " in clicks["area"]
    assert internals_in(" ".join(clicks.values())) == []

    render_page(session, "/virtual-fmri")
    for values in ({(VirtualFmri.IMAGE_A, "value"): "library/face_a.jpg"},
                   {(VirtualFmri.IMAGE_B, "value"): "library/place_b.jpg"},
                   {(VirtualFmri.PREDICTION_MODE, "value"): "diff"}, {(VirtualFmri.FDR, "value"): []},
                   {(VirtualFmri.MAP, "value"): "best_layer_refit"}, {(VirtualFmri.VIEW, "value"): "inflated"}):
        _interact(session, values)
    assert page_internals(session) == []

    render_page(session, "/selectivity")
    _interact(session, {(Selectivity.CATEGORY, "value"): "face"})
    _interact(session, {(Selectivity.GRAPH, "clickData"): {"points": [{"curveNumber": 0, "pointNumber": 1000}]}})
    assert page_internals(session) == []

    render_page(session, "/rdm-clusters")
    _interact(session, {(RdmClusters.CLUSTER, "value"): None})
    assert page_internals(session) == []


def test_a_planted_internal_is_found_on_the_page(served, cache, monkeypatch):
    """The page scan can fail: a service that leaks "None" into the page is caught."""
    monkeypatch.setattr(services, "subject_spec_summary", lambda: "driver None for FFC")
    session = DashSession(served, timeout=120)
    render_page(session, "/cortical-maps")
    assert any("None" in found for found in page_internals(session))
