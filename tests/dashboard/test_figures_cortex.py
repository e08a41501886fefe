"""Tests for dashboard.figures.cortex on a tiny two-hemisphere mesh built in code."""

from __future__ import annotations

import base64

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go
import pytest

from dashboard.figures import cortex as fc


def _mesh():
    """Left: 5 vertices, vertex 4 carries no data (medial wall); right: 4 vertices."""
    left = {
        "vertices": np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0], [0.5, 0.5, 1]], np.float32)
        - [2, 0, 0],
        "faces": np.array([[0, 1, 2], [1, 3, 2], [0, 1, 4], [2, 3, 4]]),
        "vertex_index": np.array([0, 1, 2, 3]),
    }
    right = {
        "vertices": np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], np.float32),
        "faces": np.array([[0, 1, 2], [1, 3, 2]]),
        "vertex_index": np.array([3, 2, 1, 0]),  # data order differs from mesh order
    }
    return {"left": left, "right": right}


VALUES = np.array([0.0, 0.5, 1.0, -1.0, 0.2, 0.9, -0.1, 0.05])
NAMES = ["V1", "V1", "V2", "FFC", "V1", "MT", "MT", "PHA1"]


BLUE_TO_RED = [[0, "rgb(0,0,255)"], [1, "rgb(255,0,0)"]]


def _shown_rgb(trace) -> np.ndarray:
    """(n_mesh, 3) RGB that plotly.js draws at each mesh vertex: the trace's colour scale at intensity / cmax."""
    stops = np.array([stop for stop, _ in trace.colorscale])
    colors = np.array([pcolors.hex_to_rgb(c) if c.startswith("#") else pcolors.unlabel_rgb(c)
                       for _, c in trace.colorscale], float)
    position = np.asarray(trace.intensity, float) / trace.cmax
    return np.stack([np.interp(position, stops, colors[:, channel]) for channel in range(3)], axis=1)


def test_figure_has_two_meshes_with_right_counts():
    fig = fc.surface_figure(_mesh(), VALUES)
    assert isinstance(fig, go.Figure)
    assert [t.type for t in fig.data] == ["mesh3d", "mesh3d", "scatter3d"]
    left, right = fig.data[0], fig.data[1]
    assert len(left.x) == 5 and len(left.i) == 4
    assert len(right.x) == 4 and len(right.k) == 2
    assert len(left.intensity) == 5 and len(right.intensity) == 4
    assert left.intensity.dtype == np.uint8 and (left.cmin, left.cmax) == (0, 255) and not left.showscale
    # hemispheres side by side: every left vertex lies left of every right vertex
    assert max(left.x) < min(right.x)
    assert np.asarray(left.x).dtype == np.float32


def test_customdata_holds_values_in_mesh_order():
    fig = fc.surface_figure(_mesh(), VALUES)
    np.testing.assert_allclose(fig.data[0].customdata[:4], VALUES[:4])
    assert np.isnan(fig.data[0].customdata[4])
    np.testing.assert_allclose(fig.data[1].customdata, VALUES[4:][[3, 2, 1, 0]])


def test_threshold_shows_sulcal_grey_and_data_colours():
    # |sulc| has its 80th percentile at 1: sulc 1 = deepest sulcus, -1 = gyrus, 0 = halfway
    sulc = np.array([1.0, -1.0, 1.0, -1.0, 0.0, -1.0, 1.0, -1.0])
    fig = fc.surface_figure(_mesh(), VALUES, threshold=0.4, colorscale=BLUE_TO_RED, vmin=-1, vmax=1, sulc=sulc)
    left, right = _shown_rgb(fig.data[0]), _shown_rgb(fig.data[1])
    # vertex 0 (value 0) is below threshold and in a sulcus: dark grey
    np.testing.assert_array_equal(left[0], [fc._SULCUS_GREY] * 3)
    # vertex 1 (value 0.5, 3/4 of the range) is above threshold: 3/4 of the way from blue to red
    np.testing.assert_allclose(left[1], [0.75 * 255, 0, 0.25 * 255], atol=1.5)
    # value 1 = vmax is red; |value| = 1 passes the threshold even when negative: vmin is blue
    np.testing.assert_array_equal(left[2], [255, 0, 0])
    np.testing.assert_array_equal(left[3], [0, 0, 255])
    # the data-less (medial wall) vertex shows the grey halfway between gyrus and sulcus
    np.testing.assert_array_equal(left[4], [(fc._GYRUS_GREY + fc._SULCUS_GREY) / 2] * 3)
    # right mesh vertex m carries data vertex 7 - m: 7 (0.05, gyrus) and 4 (0.2, sulc 0) are grey, 5 (0.9) red-ish
    np.testing.assert_array_equal(right[0], [fc._GYRUS_GREY] * 3)
    np.testing.assert_array_equal(right[3], [(fc._GYRUS_GREY + fc._SULCUS_GREY) / 2] * 3)
    np.testing.assert_allclose(right[2], [0.95 * 255, 0, 0.05 * 255], atol=1.5)
    # without a threshold every data vertex shows its data colour; the medial wall keeps its grey without sulc
    no_threshold = _shown_rgb(fc.surface_figure(_mesh(), VALUES, colorscale=BLUE_TO_RED, vmin=-1, vmax=1).data[0])
    np.testing.assert_allclose(no_threshold[0], [127.5, 0, 127.5], atol=1.5)
    np.testing.assert_array_equal(no_threshold[4], [(fc._GYRUS_GREY + fc._SULCUS_GREY) / 2] * 3)


def test_grey_and_data_codes_never_share_the_colour_scale():
    fig = fc.surface_figure(_mesh(), VALUES, threshold=0.4, sulc=np.linspace(-3, 3, 8))
    codes = np.concatenate([fig.data[0].intensity, fig.data[1].intensity])
    assert set(codes[codes <= fc.SULCUS_CODE]) and set(codes[codes >= fc.DATA_FIRST_CODE])
    assert not ((codes > fc.SULCUS_CODE) & (codes < fc.DATA_FIRST_CODE)).any()
    stops = [stop for stop, _ in fig.data[0].colorscale]
    assert stops[0] == 0 and stops[-1] == 1 and stops == sorted(stops)
    assert stops[1] == fc.SULCUS_CODE / 255 and stops[2] == fc.DATA_FIRST_CODE / 255


def test_stepped_colour_scale_keeps_categories_apart():
    steps = [[0, "rgb(255,0,0)"], [1 / 3, "rgb(255,0,0)"], [1 / 3, "rgb(0,255,0)"], [2 / 3, "rgb(0,255,0)"],
             [2 / 3, "rgb(0,0,255)"], [1, "rgb(0,0,255)"]]
    layers = np.array([1, 2, 3, np.nan, 3, 2, 1, 1], float)
    fig = fc.surface_figure(_mesh(), layers, colorscale=steps)
    np.testing.assert_array_equal(_shown_rgb(fig.data[0])[:3], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    np.testing.assert_array_equal(_shown_rgb(fig.data[0])[3], [fc._GYRUS_GREY] * 3)  # NaN: background
    assert (fig.data[2].marker.cmin, fig.data[2].marker.cmax) == (1, 3)
    assert fig.data[2].marker.colorscale == tuple(tuple(s) for s in steps)


def test_layer_color_options_give_each_layer_its_own_band():
    options = fc.layer_color_options(3, colorscale=BLUE_TO_RED)
    assert (options["vmin"], options["vmax"]) == (0.5, 3.5)
    layers = np.array([1, 2, 3, 3, 3, 2, 1, 1], float)
    shown = _shown_rgb(fc.surface_figure(_mesh(), layers, **options).data[0])[:4]
    np.testing.assert_allclose(shown, [[0, 0, 255], [127.5, 0, 127.5], [255, 0, 0], [255, 0, 0]], atol=1)
    one = fc.layer_color_options(1, colorscale=BLUE_TO_RED)["colorscale"]
    assert [stop for stop, _ in one] == [0.0, 1.0] and one[0][1] == one[1][1]
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        fc.layer_color_options(0)


def test_color_range_defaults_and_colorbar():
    fig = fc.surface_figure(_mesh(), VALUES, colorscale="RdBu_r")
    marker = fig.data[2].marker
    assert (marker.cmin, marker.cmax) == (-1.0, 1.0)
    assert marker.showscale
    positive = fc.surface_figure(_mesh(), np.abs(VALUES) + 1)
    assert (positive.data[2].marker.cmin, positive.data[2].marker.cmax) == (1.0, 2.0)
    with pytest.raises(ValueError, match="vmin"):
        fc.surface_figure(_mesh(), VALUES, vmin=1, vmax=0)
    constant = fc.surface_figure(_mesh(), np.full_like(VALUES, 3.0))  # a constant map still draws
    assert (constant.data[2].marker.cmin, constant.data[2].marker.cmax) == (0.0, 3.0)


def test_flat_view_is_orthographic_from_above():
    fig = fc.surface_figure(_mesh(), VALUES, view="flat")
    camera = fig.layout.scene.camera
    assert camera.projection.type == "orthographic"
    assert (camera.eye.x, camera.eye.y) == (0, 0) and camera.eye.z > 0
    assert fig.layout.scene.xaxis.visible is False and fig.layout.scene.zaxis.visible is False
    assert fig.data[0].lighting.diffuse == 0
    inflated = fc.surface_figure(_mesh(), VALUES, camera="ventral")
    assert inflated.layout.scene.camera.projection.type != "orthographic"
    assert inflated.layout.scene.camera.eye.z < 0


def test_hover_text_names_the_roi():
    fig = fc.surface_figure(_mesh(), VALUES, vertex_names=NAMES)
    assert list(fig.data[0].text) == ["V1", "V1", "V2", "FFC", "medial wall"]
    assert list(fig.data[1].text) == ["PHA1", "MT", "MT", "V1"]
    assert "%{text}" in fig.data[0].hovertemplate and "%{customdata" in fig.data[0].hovertemplate


def _decoded(spec):
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype={"u1": np.uint8, "f4": "<f4"}[spec["dtype"]])


def test_patch_matches_a_new_figure():
    new = -VALUES
    patch = fc.surface_intensity_patch(_mesh(), new, threshold=0.1, colorscale="Viridis")
    fig = fc.surface_figure(_mesh(), new, threshold=0.1, colorscale="Viridis")
    assert set(patch) == {0, 1, 2}
    for index in (0, 1):
        np.testing.assert_array_equal(_decoded(patch[index]["intensity"]), fig.data[index].intensity)
        np.testing.assert_array_equal(_decoded(patch[index]["customdata"]), fig.data[index].customdata)
        assert [tuple(s) for s in patch[index]["colorscale"]] == list(fig.data[index].colorscale)
    np.testing.assert_allclose(_decoded(patch[0]["customdata"])[:4], new[:4])
    assert patch[2]["marker"]["cmin"] == fig.data[2].marker.cmin


def test_patch_applies_to_the_figure_dict():
    fig = fc.surface_figure(_mesh(), VALUES).to_plotly_json()
    for index, attributes in fc.surface_intensity_patch(_mesh(), VALUES * 2).items():
        for attribute, value in attributes.items():
            fig["data"][index][attribute] = value
    rebuilt = go.Figure(fig)
    assert rebuilt.data[2].marker.cmax == 2.0


def test_bad_inputs_name_the_problem():
    with pytest.raises(ValueError, match="choose from"):
        fc.surface_figure(_mesh(), VALUES, view="pial")
    with pytest.raises(ValueError, match="choose from"):
        fc.surface_figure(_mesh(), VALUES, camera="medial_top")
    with pytest.raises(ValueError, match=r"expected \(8,\)"):
        fc.surface_figure(_mesh(), VALUES[:5])
    with pytest.raises(ValueError, match="sulc"):
        fc.surface_figure(_mesh(), VALUES, sulc=np.zeros(3))
    with pytest.raises(ValueError, match="camera is fixed"):
        fc.surface_figure(_mesh(), VALUES, view="flat", camera="ventral")


def test_patch_never_resends_the_mesh_or_the_names():
    patch = fc.surface_intensity_patch(_mesh(), -VALUES, sulc=np.ones(8))
    mesh_attributes = {"x", "y", "z", "i", "j", "k", "text", "hovertemplate", "lighting", "vertexcolor"}
    assert all(not mesh_attributes & set(attributes) for attributes in patch.values())
    assert set(patch[0]) == {"intensity", "colorscale", "customdata"} and set(patch[2]) == {"marker"}
    # one byte per mesh vertex (base64: 4 characters per 3 bytes)
    assert len(patch[0]["intensity"]["bdata"]) == 4 * -(-5 // 3)
