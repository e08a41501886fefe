"""Tests for dashboard.figures.cortex on a tiny two-hemisphere mesh built in code."""

from __future__ import annotations

import base64

import numpy as np
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


def _rgb(hex_color):
    return tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))


def test_figure_has_two_meshes_with_right_counts():
    fig = fc.surface_figure(_mesh(), VALUES)
    assert isinstance(fig, go.Figure)
    assert [t.type for t in fig.data] == ["mesh3d", "mesh3d", "scatter3d"]
    left, right = fig.data[0], fig.data[1]
    assert len(left.x) == 5 and len(left.i) == 4
    assert len(right.x) == 4 and len(right.k) == 2
    assert len(left.vertexcolor) == 5 and len(right.vertexcolor) == 4
    # hemispheres side by side: every left vertex lies left of every right vertex
    assert max(left.x) < min(right.x)
    assert np.asarray(left.x).dtype == np.float32


def test_customdata_holds_values_in_mesh_order():
    fig = fc.surface_figure(_mesh(), VALUES)
    np.testing.assert_allclose(fig.data[0].customdata[:4], VALUES[:4])
    assert np.isnan(fig.data[0].customdata[4])
    np.testing.assert_allclose(fig.data[1].customdata, VALUES[4:][[3, 2, 1, 0]])


def test_threshold_shows_sulcal_background():
    sulc = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    fig = fc.surface_figure(_mesh(), VALUES, threshold=0.4, colorscale="Reds", vmin=0, vmax=1, sulc=sulc)
    no_threshold = fc.surface_figure(_mesh(), VALUES, colorscale="Reds", vmin=0, vmax=1, sulc=sulc)
    left = [_rgb(c) for c in fig.data[0].vertexcolor]
    # vertex 0 (value 0) is below threshold and in a sulcus: dark grey
    assert left[0][0] == left[0][1] == left[0][2] == round(fc._SULCUS_GREY)
    # vertex 1 (value 0.5) is above threshold: unchanged data colour, not grey
    assert fig.data[0].vertexcolor[1] == no_threshold.data[0].vertexcolor[1]
    assert len(set(left[1])) > 1
    # |value| = 1 passes the threshold even when negative (clipped to vmin here)
    assert fig.data[0].vertexcolor[3] == no_threshold.data[0].vertexcolor[3]
    # the data-less vertex shows the medial-wall grey
    assert set(left[4]) == {round(fc._MEDIAL_WALL_GREY)}
    right_rgb = {int(mesh): _rgb(c) for mesh, c in enumerate(fig.data[1].vertexcolor)}
    # data vertex 7 (value 0.05, sulc -1 = gyrus) sits on right mesh vertex 0
    assert right_rgb[0] == (round(fc._GYRUS_GREY),) * 3


def test_color_range_defaults_and_colorbar():
    fig = fc.surface_figure(_mesh(), VALUES, colorscale="RdBu_r")
    marker = fig.data[2].marker
    assert (marker.cmin, marker.cmax) == (-1.0, 1.0)
    assert marker.showscale
    positive = fc.surface_figure(_mesh(), np.abs(VALUES) + 1)
    assert (positive.data[2].marker.cmin, positive.data[2].marker.cmax) == (1.0, 2.0)
    with pytest.raises(ValueError, match="vmin"):
        fc.surface_figure(_mesh(), VALUES, vmin=1, vmax=0)


def test_colorscale_ends_map_to_vmin_and_vmax():
    fig = fc.surface_figure(
        _mesh(), VALUES, colorscale=[[0, "rgb(0,0,255)"], [1, "rgb(255,0,0)"]], vmin=-1, vmax=1
    )
    colors = fig.data[0].vertexcolor
    assert colors[2] == "#ff0000"  # value 1 = vmax
    assert colors[3] == "#0000ff"  # value -1 = vmin
    assert _rgb(colors[0]) in {(127, 0, 128), (128, 0, 127)}  # value 0: midway


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


def test_patch_matches_a_new_figure():
    new = -VALUES
    patch = fc.surface_intensity_patch(_mesh(), new, threshold=0.1)
    fig = fc.surface_figure(_mesh(), new, threshold=0.1)
    assert set(patch) == {0, 1, 2}
    for index in (0, 1):
        assert patch[index]["vertexcolor"] == list(fig.data[index].vertexcolor)
        spec = patch[index]["customdata"]
        assert spec["dtype"] == "f4"
        decoded = np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f4")
        np.testing.assert_array_equal(decoded, fig.data[index].customdata)
    decoded_left = np.frombuffer(base64.b64decode(patch[0]["customdata"]["bdata"]), dtype="<f4")
    np.testing.assert_allclose(decoded_left[:4], new[:4])
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
