"""Cortical Maps page: map choices (truth / computed / uploaded), uploads, exports and the update payload.

The computed maps come from a tiny experiment result written into a temporary cache (``tests._experiments``),
so no network runs here.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile

import dash
import nibabel as nib
import numpy as np
import pytest
from dash.testing.application_runners import import_app

from core.cortex import N_VERTICES, load_brain_data, save_gifti
from core.errors import UserError
from dashboard import services
from dashboard.services import cortical_maps as cortical_maps_services
from tests._experiments import seed_experiment

N_FSLR = N_VERTICES["fsLR32k"]
N_FS5 = N_VERTICES["fsaverage5"]


@pytest.fixture
def cache(vfs_folders):
    """The test's empty cache for experiment results."""
    return vfs_folders.cache


def _npz(array) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, data=array)
    return buffer.getvalue()


def test_no_computed_maps_before_the_experiment(cache):
    assert services.computed_map_choices(services.default_experiment_key()) == []


def test_computed_maps_come_from_the_cached_experiment(cache):
    result = seed_experiment()
    values = [o["value"] for o in services.computed_map_choices(services.default_experiment_key())]
    assert {f"quality:{name}" for name in services.QUALITY_MAPS} <= set(values)
    assert {"dprime:__max__", "dprime:face", "category:place", "predicted:library/face_c.jpg"} <= set(values)
    np.testing.assert_array_equal(services.cortex_map("category:place").values, 2.0)
    np.testing.assert_array_equal(services.cortex_map("predicted:library/face_c.jpg").values, 3.0)
    np.testing.assert_array_equal(services.cortex_map("quality:best_layer").values, result.maps["best_layer"] + 1)
    np.testing.assert_array_equal(services.cortex_map("quality:best_layer_refit").values,
                                  result.maps["best_layer_refit"] + 1)
    assert services.is_layer_map("quality:best_layer_refit") and services.is_layer_map("home_layer")
    assert not services.is_layer_map("quality:r") and services.is_layer_map("best_layer")
    assert services.N_MAP_LAYERS == 18
    predicted = (result.maps["q"] < 0.01) & (result.maps["r"] > 0.2)  # the paper's rule: d′ only there
    np.testing.assert_array_equal(services.cortex_map("dprime:__max__").values,
                                  np.where(predicted, result.dprime.max(axis=0), np.nan))
    units = {choice: services.cortex_map(choice).units for choice in ("quality:r", "dprime:face", "category:place",
                                                                       "predicted:library/face_c.jpg", "sulcal_depth")}
    assert units == {"quality:r": "r", "dprime:face": "d′", "category:place": "a.u.",
                     "predicted:library/face_c.jpg": "a.u.", "sulcal_depth": "mm"}
    shown = services.cortex_map("quality:r")
    assert (shown.space, shown.name) == ("fsLR32k", "quality:r")
    with pytest.raises(ValueError, match="map families"):
        services.cortex_map("nonsense:r")


def test_every_choice_exports_to_gifti_and_cifti(cache):
    seed_experiment()
    uploaded = services.save_uploaded_maps([("small.npz", _npz(np.ones(N_FS5, np.float32)))])
    choices = [o["value"] for o in services.declared_map_choices()[:1]]
    choices += [o["value"] for o in services.computed_map_choices(services.default_experiment_key())]
    for choice in choices + [uploaded[0]["value"]]:
        for fmt in services.EXPORT_FORMATS:
            filename, content = services.export_map(choice, fmt)
            assert content and "/" not in filename and ":" not in filename


@pytest.mark.parametrize("n_vertices", [N_FSLR, N_FS5])
def test_uploaded_map_survives_upload_and_export(cache, tmp_path, n_vertices, rng):
    maps = rng.standard_normal((2, n_vertices)).astype(np.float32)
    options = services.save_uploaded_maps([("two maps.npz", _npz(maps))])
    assert [o["label"].endswith(f"[map {i + 1} of 2]") for i, o in enumerate(options)] == [True, True]
    shown = services.cortex_map(options[1]["value"])
    space = "fsLR32k" if n_vertices == N_FSLR else "fsaverage5"
    np.testing.assert_array_equal(shown.values, maps[1])
    assert (shown.space, shown.units) == (space, "value")
    assert services.map_surface(shown.space, "very inflated")["space"] == space
    _, content = services.export_map(options[1]["value"], "gifti")
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        archive.extractall(tmp_path / "export")
        left, right = sorted(archive.namelist())
    reloaded = load_brain_data(tmp_path / "export" / left, path_right=tmp_path / "export" / right)
    np.testing.assert_allclose(reloaded[0], maps[1])
    written = nib.load(tmp_path / "export" / left).darrays[0].meta
    assert (written["space"], written["units"]) == (space, "value")
    filename, content = services.export_map(options[1]["value"], "cifti")
    assert filename.endswith(".dscalar.nii") and ("fsaverage5" in filename) == (n_vertices == N_FS5)
    (tmp_path / filename).write_bytes(content)
    np.testing.assert_allclose(load_brain_data(tmp_path / filename)[0], maps[1])
    scalars = nib.load(tmp_path / filename).header.get_axis(0)
    assert dict(scalars.meta[0]) == {"space": space, "units": "value"}


def test_clicked_vertex_is_read_in_the_space_of_the_map(cache, rng):
    """An fsaverage5 upload is read on the fsaverage5 mesh (its vertex, no Glasser area); an fsLR-32k map on the
    grayordinates, with the area of the vertex and nothing on the medial wall."""
    maps = rng.standard_normal(N_FS5).astype(np.float32)
    upload = services.save_uploaded_maps([("fs5.npz", _npz(maps))])[0]["value"]
    info = services.vertex_info("flat", 1, 7, upload)
    assert info == {"hemisphere": "right", "grayordinate": N_FS5 // 2 + 7, "area": "fsaverage5 (no Glasser areas)",
                    "value": pytest.approx(float(maps[N_FS5 // 2 + 7]))}
    left = services.cortex_mesh("flat")["left"]
    vertex = int(left["vertex_index"][100])
    info = services.vertex_info("flat", 0, vertex, "sulcal_depth")
    assert (info["grayordinate"], info["area"]) == (100, services.vertex_area_labels()[100])
    assert info["value"] == pytest.approx(float(services.cortex_sulc()[100]))
    wall = int(np.setdiff1d(np.arange(len(left["vertices"])), left["vertex_index"])[0])
    assert services.vertex_info("flat", 0, wall, "sulcal_depth")["area"] == "medial wall"


def test_gifti_pair_is_ordered_left_then_right_by_name(cache, tmp_path):
    left = save_gifti(np.zeros(N_FSLR), tmp_path / "zeros")[0].read_bytes()
    right = save_gifti(np.ones(N_FSLR), tmp_path / "ones")[1].read_bytes()
    options = services.save_uploaded_maps([("sub-01_hemi-R.func.gii", right), ("sub-01_hemi-L.func.gii", left)])
    values = services.cortex_map(options[0]["value"]).values
    n_left = len(services.cortex_mesh("flat")["left"]["vertex_index"])
    assert values[:n_left].max() == 0 and values[n_left:].min() == 1


@pytest.mark.parametrize(("files", "message"), [
    ([("short.npz", _npz(np.ones(100)))], "expected 59,412"),
    ([("holes.npz", _npz(np.full(N_FSLR, np.nan)))], "missing or infinite"),
    ([("map.txt", b"1 2 3")], "Unknown file type"),
    ([("left.func.gii", b"")], "one hemisphere"),
    ([("a.func.gii", b""), ("b.func.gii", b"")], "Cannot tell left from right"),
    ([("a.npz", b""), ("b.npz", b""), ("c.npz", b"")], "got 3 files"),
    ([("many.npz", _npz(np.ones((51, N_FS5))))], "at most 50"),
    ([("..", _npz(np.ones(N_FS5)))], "names no file"),
])
def test_bad_uploads_name_the_problem(vfs_folders, files, message):
    with pytest.raises(UserError, match=message):
        services.save_uploaded_maps(files)
    assert not list(vfs_folders.uploads.rglob("*.np[yz]"))


def test_map_upload_interrupted_while_written_leaves_no_file(vfs_folders, monkeypatch):
    def killed(handle, *args, **kwargs):  # half the array written, then the process ends
        handle.write(b"\x93NUMPY half an array")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        services.save_uploaded_maps([("map.npz", _npz(np.ones(N_FS5, np.float32)))])
    assert [p.name for p in vfs_folders.uploads.rglob("*")] == []


def test_upload_size_is_limited(cache, monkeypatch):
    monkeypatch.setattr(services, "MAX_MAP_UPLOAD_BYTES", 2**20)
    monkeypatch.setattr(cortical_maps_services, "MAX_MAP_UPLOAD_BYTES", 2**20)
    with pytest.raises(ValueError, match="limit is 1 MiB"):
        services.save_uploaded_maps([("big.npz", _npz(np.ones((3, N_FSLR))))])


def test_lost_upload_asks_to_upload_again(cache):
    with pytest.raises(ValueError, match="upload the file again"):
        services.cortex_map("upload:0123456789abcdef:0")
    with pytest.raises(ValueError, match="Malformed"):
        services.cortex_map("upload:../../etc:0")


# --------------------------------------------------------------------------------------- the page's callbacks

@pytest.fixture(scope="module")
def client():
    dash.page_registry.clear()
    test_client = import_app("app").server.test_client()
    test_client.get("/")  # the first request registers the pages' callbacks
    return test_client


_DRAW_OUTPUTS = ("cortical-maps-graph.figure", "cortical-maps-rendered.data", "cortical-maps-error.children",
                 "cortical-maps-range-message.children")


def _draw(client, map_name, rendered, changed, **settings):
    """POST one draw_map update as the browser does; returns (response bytes, parsed response)."""
    values = {"map": map_name, "modelled": ["on"], "view": "flat", "camera": "lateral", "hemisphere": "both", "borders": [],
              "threshold": None, "threshold-unit": "percent", "vmin": None, "vmax": None, **settings}
    body = {
        "output": f"..{'...'.join(_DRAW_OUTPUTS)}..",
        "outputs": [{"id": i.split(".")[0], "property": i.split(".")[1]} for i in _DRAW_OUTPUTS],
        "inputs": [{"id": f"cortical-maps-{name}", "property": "value", "value": value}
                   for name, value in values.items()],
        "changedPropIds": [f"cortical-maps-{changed}.value"],
        "state": [{"id": "cortical-maps-rendered", "property": "data", "value": rendered}],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data[:500]
    return len(response.data), json.loads(response.data)["response"]


def _changed(response) -> set:
    return {tuple(op["location"][:3]) if op["location"][0] == "layout" else op["location"][-1]
            for op in response["cortical-maps-graph"]["figure"]["operations"]}


def test_map_and_threshold_updates_send_intensity_codes_not_colours_or_the_mesh(client):
    full_bytes, full = _draw(client, "home_layer", None, "view")
    traces = full["cortical-maps-graph"]["figure"]["data"]
    n_mesh = sum(len(base64.b64decode(t["x"]["bdata"])) // 4 for t in traces[:2])  # float32 x per mesh vertex
    rendered = full["cortical-maps-rendered"]["data"]
    assert rendered == {"view": "flat", "space": "fsLR32k", "hemisphere": "both"} and n_mesh == 2 * 32_492

    map_bytes, by_map = _draw(client, "amplitude", rendered, "map")
    threshold_bytes, by_threshold = _draw(client, "amplitude", rendered, "threshold", threshold=40)
    borders_bytes, by_borders = _draw(client, "amplitude", rendered, "borders", borders=["on"])
    assert _changed(by_map) == {"intensity", "colorscale", "customdata", "meta", "marker"}
    assert _changed(by_threshold) == _changed(by_borders) == {"intensity", "colorscale", "marker"}
    # base64 costs 4/3 characters per byte and plotly's JSON writes its "/" as "\u002f" (so no code writes runs of
    # "/": see figures.cortex.MEDIAL_WALL_CODE): a threshold or border update (one uint8 code per mesh vertex, the
    # colour scale and the colour bar) measured 1.5 bytes per vertex, a map update (adding the hover value of each
    # vertex, rounded to 3 digits, or "-") 5.5 here and 7.6 for a dense map, of a 66 bytes per vertex full figure
    # (mesh, full area names). Colour strings (10 bytes per vertex), float intensities (>= 5.3) or the mesh sent
    # again break these.
    assert threshold_bytes < 2.5 * n_mesh and borders_bytes < 2.5 * n_mesh and map_bytes < 10 * n_mesh
    assert map_bytes < 0.2 * full_bytes and threshold_bytes < 0.05 * full_bytes


def test_camera_preset_patches_the_cameras_only(client):
    _, full = _draw(client, "home_layer", None, "view", view="inflated")
    rendered = full["cortical-maps-rendered"]["data"]
    camera_bytes, by_camera = _draw(client, "home_layer", rendered, "camera", view="inflated", camera="ventral")
    assert _changed(by_camera) == {("layout", "scene", "camera"), ("layout", "scene2", "camera"),
                                   ("layout", "uirevision")}
    assert camera_bytes < 2000
    _, by_hemisphere = _draw(client, "home_layer", rendered, "hemisphere", view="inflated", hemisphere="left")
    figure = by_hemisphere["cortical-maps-graph"]["figure"]
    assert [t["visible"] for t in figure["data"][:2]] == [True, False]  # a new figure: one scene


def test_map_picker_offers_each_kind_and_groups_images_by_category(client, cache):
    from dashboard.pages.cortical_maps import list_maps

    options, value, status, kinds = list_maps("declared", [], "home_layer")
    assert value == "home_layer" and status.href == "/virtual-fmri"  # where the computed maps come from
    assert {k["value"]: k["disabled"] for k in kinds} == {"declared": False, "quality": True, "dprime": True,
                                                        "category": True, "predicted": True, "upload": True}
    options, value, status, _ = list_maps("quality", [], "home_layer")
    assert options == [] and value is None and status.href == "/virtual-fmri"

    seed_experiment()
    options, value, status, kinds = list_maps("quality", [], "home_layer")
    assert value == "quality:r" and status is None and not any(k["disabled"] for k in kinds[:5])
    options, value, _, _ = list_maps("predicted", [], value)
    labels = [o["label"] for o in options]
    # a header per category, then its images labelled with the category, so typing "face" finds them
    assert labels == ["── face (2 images) ──", "face — face_a.jpg", "face — face_c.jpg", "── place (1 images) ──",
                      "place — place_b.jpg"]
    assert options[0]["disabled"] and value == "predicted:library/face_a.jpg"
    uploaded = [{"label": "mine.npz", "value": "upload:0123456789abcdef:0"}]
    options, value, _, kinds = list_maps("upload", uploaded, "quality:r")
    assert options == uploaded and value == uploaded[0]["value"] and not kinds[-1]["disabled"]
    assert list_maps("upload", uploaded + [{"label": "b", "value": "upload:1:0"}], "upload:1:0")[1] == "upload:1:0"


def test_computed_map_groups_hold_every_computed_map_once(cache):
    seed_experiment()
    key = services.default_experiment_key()
    groups = services.computed_map_groups(key)
    grouped = {o["value"] for options in groups.values() for o in options if not o.get("disabled")}
    assert grouped == {o["value"] for o in services.computed_map_choices(key)}
    assert services.map_kind("quality:r") == "quality" and services.map_kind("home_layer") == "declared"
    assert [o["label"] for o in groups["dprime"]][:2] == ["max over categories (general selectivity)", "face"]


def test_response_maps_show_only_the_vertices_the_model_predicts_with_the_switch(client, cache):
    result = seed_experiment()
    hidden = {}
    for modelled in (["on"], []):
        _, full = _draw(client, "predicted:library/face_c.jpg", None, "view", modelled=modelled)
        traces = full["cortical-maps-graph"]["figure"]["data"]
        hidden[bool(modelled)] = sum(value == "-" for t in traces[:2] for value in t["customdata"])
    assert hidden[True] - hidden[False] == int((result.maps["q"] >= 0.05).sum()) > 0
