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


def _rgb_at(scale, position: float) -> np.ndarray:
    """RGB of a plotly colour scale (a list of [stop, colour]) at ``position`` in 0..1."""
    stops = np.array([stop for stop, _ in scale])
    colors = np.array([pcolors.unlabel_rgb(c) for _, c in scale], float)
    return np.array([np.interp(position, stops, colors[:, channel]) for channel in range(3)])


def test_hover_values_are_rounded_numbers_in_mesh_order_and_never_nan():
    fig = fc.surface_figure(_mesh(), VALUES * 1.23456)
    assert list(fig.data[0].customdata) == [0.0, 0.617, 1.23, -1.23, "-"]  # the medial wall has no value
    assert list(fig.data[1].customdata) == [0.0617, -0.123, 1.11, 0.247]
    assert "%{customdata}" in fig.data[0].hovertemplate and "NaN" not in str(fig.to_plotly_json())
    assert fig.data[0].hovertemplate.startswith("%{meta}: ") and fig.data[0].meta == "value"
    titled = fc.surface_figure(_mesh(), VALUES, colorbar_title="r", vertex_names=NAMES)
    assert titled.data[0].hovertemplate == "%{text}<br>%{meta}: %{customdata}<extra>left</extra>" and titled.data[0].meta == "r"


def test_threshold_shows_sulcal_grey_and_data_colours():
    # |sulc| has its 80th percentile at 1: sulc 1 = deepest sulcus, -1 = gyrus, 0 = halfway
    sulc = np.array([1.0, -1.0, 1.0, -1.0, 0.0, -1.0, 1.0, -1.0])
    fig = fc.surface_figure(_mesh(), VALUES, scale="diverging", threshold=0.4, colorscale=BLUE_TO_RED, sulc=sulc)
    left, right = _shown_rgb(fig.data[0]), _shown_rgb(fig.data[1])
    # vertex 0 (value 0) is below threshold and in a sulcus: dark grey
    np.testing.assert_array_equal(left[0], [fc._SULCUS_GREY] * 3)
    # vertex 1 (value 0.5, 3/4 of the range -1..1) is above threshold: 3/4 of the way from blue to red
    np.testing.assert_allclose(left[1], [0.75 * 255, 0, 0.25 * 255], atol=2)
    # value 1 = vmax is red; |value| = 1 passes the threshold even when negative: vmin is blue
    np.testing.assert_array_equal(left[2], [255, 0, 0])
    np.testing.assert_array_equal(left[3], [0, 0, 255])
    # the data-less (medial wall) vertex shows the grey halfway between gyrus and sulcus
    np.testing.assert_allclose(left[4], [(fc._GYRUS_GREY + fc._SULCUS_GREY) / 2] * 3, atol=3)
    # right mesh vertex m carries data vertex 7 - m: 7 (0.05, gyrus) and 4 (0.2, sulc 0) are grey, 5 (0.9) red-ish
    np.testing.assert_array_equal(right[0], [fc._GYRUS_GREY] * 3)
    np.testing.assert_allclose(right[3], [(fc._GYRUS_GREY + fc._SULCUS_GREY) / 2] * 3, atol=1)
    np.testing.assert_allclose(right[2], [0.95 * 255, 0, 0.05 * 255], atol=2)


def test_codes_keep_the_background_between_the_signs(rng):
    """A thresholded random map: every shown positive code lies above every grey code, every negative one below,
    so a triangle from a shown vertex to the background passes only through colours of shown values of its
    sign (between the threshold and its own value) and greys, never through the other sign."""
    values = rng.uniform(-1, 1, 8)
    fig = fc.surface_figure(_mesh(), values, scale="diverging", threshold=0.5, sulc=rng.normal(size=8))
    codes = np.concatenate([fig.data[0].intensity, fig.data[1].intensity]).astype(int)
    mesh_values = np.concatenate([np.append(values[:4], np.nan), values[4:][[3, 2, 1, 0]]])
    positive, negative = mesh_values >= 0.5, mesh_values <= -0.5
    grey = ~positive & ~negative
    assert positive.any() and negative.any() and grey.any()
    assert codes[positive].min() >= fc.POS_FIRST and codes[negative].max() <= fc.NEG_LAST
    assert fc.GREY_FIRST <= codes[grey].min() and codes[grey].max() <= fc.GREY_LAST
    # the first positive code has the colour bar's colour at the threshold, the last one at vmax
    combined, bar = fig.data[0].colorscale, fig.data[2].marker
    fraction = (0.5 - bar.cmin) / (bar.cmax - bar.cmin)
    colours = [pcolors.unlabel_rgb(c) for _, c in bar.colorscale]
    np.testing.assert_allclose(_rgb_at(combined, fc.POS_FIRST / 255), _rgb_at(bar.colorscale, fraction + 1e-9),
                               atol=1)
    np.testing.assert_allclose(_rgb_at(combined, 1.0), colours[-1], atol=1)


def test_colour_bar_greys_the_values_that_are_not_shown():
    fig = fc.surface_figure(_mesh(), VALUES, scale="diverging", threshold=0.25, colorscale=BLUE_TO_RED)
    bar = fig.data[2].marker
    assert (bar.cmin, bar.cmax) == (-1.0, 1.0)
    grey = [stop for stop, colour in bar.colorscale if colour == fc._HIDDEN_GREY]
    assert grey == [0.375, 0.625]  # -0.25 .. 0.25 on a -1 .. 1 bar
    np.testing.assert_allclose(_rgb_at(bar.colorscale, 0.0), [0, 0, 255])
    np.testing.assert_allclose(_rgb_at(bar.colorscale, 1.0), [255, 0, 0])


def test_sequential_scale_starts_at_zero_and_hides_values_at_or_below_it():
    """r with FDR off: values near 0 take the lowest colour of the scale (not its middle), negatives the
    background."""
    r = np.array([0.01, 0.3, -0.2, 0.6, 0.0, 0.6, 0.02, -0.01])
    fig = fc.surface_figure(_mesh(), r, scale="sequential", colorscale="YlOrRd", sulc=np.zeros(8))
    bar = fig.data[2].marker
    assert (bar.cmin, bar.cmax) == (0.0, 0.6)
    codes = fig.data[0].intensity
    assert codes[0] == fc.POS_FIRST + 1 and codes[3] == fc.POS_LAST  # 0.01 of 0.6: the bottom of the scale
    assert fc.GREY_FIRST <= codes[2] <= fc.GREY_LAST  # -0.2: background
    assert fc.GREY_FIRST <= fig.data[1].intensity[3] <= fc.GREY_LAST  # 0 (right mesh vertex 3 = data 4)
    auto = fc.surface_figure(_mesh(), np.abs(VALUES) + 3)  # all positive: sequential from 0, not min..max
    assert (auto.data[2].marker.cmin, auto.data[2].marker.cmax) == (0.0, 4.0)


def test_difference_of_a_map_with_itself_is_all_background_on_a_symmetric_bar():
    fig = fc.surface_figure(_mesh(), VALUES - VALUES, scale="diverging", sulc=np.zeros(8))
    codes = np.concatenate([fig.data[0].intensity, fig.data[1].intensity])
    assert ((codes >= fc.GREY_FIRST) & (codes <= fc.GREY_LAST)).all()
    assert fig.data[2].marker.cmin == -fig.data[2].marker.cmax
    signed = fc.surface_figure(_mesh(), VALUES * 3 + 1, scale="diverging")
    assert signed.data[2].marker.cmin == -signed.data[2].marker.cmax == -4.0


def test_stepped_colour_scale_keeps_categories_apart():
    steps = [[0, "rgb(255,0,0)"], [1 / 3, "rgb(255,0,0)"], [1 / 3, "rgb(0,255,0)"], [2 / 3, "rgb(0,255,0)"],
             [2 / 3, "rgb(0,0,255)"], [1, "rgb(0,0,255)"]]
    layers = np.array([1, 2, 3, np.nan, 3, 2, 1, 1], float)
    fig = fc.surface_figure(_mesh(), layers, colorscale=steps, vmin=0.5, vmax=3.5)
    np.testing.assert_array_equal(_shown_rgb(fig.data[0])[:3], [[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    np.testing.assert_array_equal(_shown_rgb(fig.data[0])[3], [fc._GYRUS_GREY] * 3)  # NaN: background
    assert (fig.data[2].marker.cmin, fig.data[2].marker.cmax) == (0.5, 3.5)


def test_layer_color_options_give_each_layer_its_own_band():
    options = fc.layer_color_options(3, colorscale=BLUE_TO_RED)
    assert (options["vmin"], options["vmax"], options["scale"]) == (0.5, 3.5, "sequential")
    layers = np.array([1, 2, 3, 3, 3, 2, 1, 1], float)
    shown = _shown_rgb(fc.surface_figure(_mesh(), layers, **options).data[0])[:4]
    np.testing.assert_allclose(shown, [[0, 0, 255], [127.5, 0, 127.5], [255, 0, 0], [255, 0, 0]], atol=1)
    one = fc.layer_color_options(1, colorscale=BLUE_TO_RED)["colorscale"]
    assert [stop for stop, _ in one] == [0.0, 1.0] and one[0][1] == one[1][1]
    with pytest.raises(ValueError, match="n_layers must be >= 1"):
        fc.layer_color_options(0)


def test_color_range_in_data_units_clips_and_checks():
    fig = fc.surface_figure(_mesh(), VALUES, scale="diverging", colorscale=BLUE_TO_RED, vmin=-0.5, vmax=0.5)
    assert (fig.data[2].marker.cmin, fig.data[2].marker.cmax) == (-0.5, 0.5)
    np.testing.assert_array_equal(_shown_rgb(fig.data[0])[2], [255, 0, 0])  # 1.0 clipped to vmax
    with pytest.raises(ValueError, match="lower end below its upper end"):
        fc.surface_figure(_mesh(), VALUES, vmin=1, vmax=0)


def test_borders_draw_their_own_colour_over_data_and_background():
    borders = np.array([True, False, False, False, False, False, True, False])
    fig = fc.surface_figure(_mesh(), VALUES, borders=borders)
    assert fig.data[0].intensity[0] == fc.BORDER_CODE and fig.data[1].intensity[1] == fc.BORDER_CODE
    np.testing.assert_array_equal(_shown_rgb(fig.data[0])[0], pcolors.unlabel_rgb(fc._BORDER_COLOR))
    assert fc.BORDER_CODE not in fc.surface_figure(_mesh(), VALUES).data[0].intensity


def test_flat_view_is_orthographic_from_above_in_one_scene():
    fig = fc.surface_figure(_mesh(), VALUES, view="flat")
    camera = fig.layout.scene.camera
    assert camera.projection.type == "orthographic"
    assert (camera.eye.x, camera.eye.y) == (0, 0) and camera.eye.z > 0
    assert fig.layout.scene.xaxis.visible is False and fig.layout.scene.zaxis.visible is False
    assert fig.data[0].lighting.diffuse == 0
    assert {t.scene for t in fig.data} == {"scene"} and "scene2" not in fig.to_plotly_json()["layout"]


@pytest.mark.parametrize(("preset", "left_x", "right_x"), [("lateral", -1, 1), ("medial", 1, -1)])
def test_lateral_and_medial_presets_look_at_each_hemisphere_from_its_own_side(preset, left_x, right_x):
    fig = fc.surface_figure(_mesh(), VALUES, camera=preset)
    assert (fig.data[0].scene, fig.data[1].scene) == ("scene", "scene2")
    assert np.sign(fig.layout.scene.camera.eye.x) == left_x and np.sign(fig.layout.scene2.camera.eye.x) == right_x
    assert fig.layout.scene.domain.x == (0, 0.5) and fig.layout.scene2.domain.x == (0.5, 1)
    assert fig.layout.uirevision == f"inflated|both|{preset}"


def test_ventral_and_posterior_presets_and_one_hemisphere():
    ventral = fc.surface_figure(_mesh(), VALUES, camera="ventral", hemisphere="right")
    assert ventral.layout.scene.camera.eye.z < 0 and ventral.layout.scene.camera.up.y == 1
    assert [t.visible for t in ventral.data[:2]] == [False, True] and ventral.data[1].scene == "scene"
    assert ventral.layout.scene.domain.x == (0, 1)
    posterior = fc.camera_layout("inflated", "both", "posterior")
    assert posterior["scene"]["camera"]["eye"]["y"] < 0 and posterior["scene2"]["camera"]["eye"]["y"] < 0
    assert set(fc.camera_layout("inflated", "left", "medial")) == {"scene", "uirevision"}
    flat_left = fc.surface_figure(_mesh(), VALUES, view="flat", hemisphere="left")
    assert [t.visible for t in flat_left.data[:2]] == [True, False]


def test_hover_text_names_the_roi():
    fig = fc.surface_figure(_mesh(), VALUES, vertex_names=NAMES)
    assert list(fig.data[0].text) == ["V1", "V1", "V2", "FFC", "medial wall"]
    assert list(fig.data[1].text) == ["PHA1", "MT", "MT", "V1"]
    assert "%{text}" in fig.data[0].hovertemplate and "%{customdata" in fig.data[0].hovertemplate


def _decoded(spec):
    return np.frombuffer(base64.b64decode(spec["bdata"]), dtype={"u1": np.uint8, "f4": "<f4"}[spec["dtype"]])


def test_patch_matches_a_new_figure():
    new = -VALUES
    options = dict(threshold=0.1, colorscale="Viridis", borders=np.arange(8) == 2)
    patch = fc.surface_intensity_patch(_mesh(), new, **options)
    fig = fc.surface_figure(_mesh(), new, **options)
    assert set(patch) == {0, 1, 2}
    for index in (0, 1):
        np.testing.assert_array_equal(_decoded(patch[index]["intensity"]), fig.data[index].intensity)
        assert patch[index]["customdata"] == list(fig.data[index].customdata)
        assert patch[index]["meta"] == fig.data[index].meta == "value"
        assert [tuple(s) for s in patch[index]["colorscale"]] == list(fig.data[index].colorscale)
    assert patch[2]["marker"]["cmin"] == fig.data[2].marker.cmin
    assert "customdata" not in fc.surface_intensity_patch(_mesh(), new, hover=False, **options)[0]


def test_hover_names_the_value_by_the_units_of_the_map_and_a_patch_renames_it():
    """The hover template reads the value's name from the trace's meta, so a new map's units reach the hover
    (a patch never resends the template)."""
    fig = fc.surface_figure(_mesh(), VALUES, colorbar_title="layer")
    assert fig.data[0].meta == "layer" and "%{meta}: %{customdata}" in fig.data[0].hovertemplate
    patch = fc.surface_intensity_patch(_mesh(), VALUES, colorbar_title="mm")
    assert patch[0]["meta"] == patch[1]["meta"] == "mm"
    assert patch[2]["marker"]["colorbar"]["title"]["text"] == "mm"


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
    with pytest.raises(ValueError, match="choose from"):
        fc.surface_figure(_mesh(), VALUES, hemisphere="top")
    with pytest.raises(ValueError, match="choose from"):
        fc.surface_figure(_mesh(), VALUES, scale="log")
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
    assert set(patch[0]) == {"intensity", "colorscale", "customdata", "meta"} and set(patch[2]) == {"marker"}
    # one byte per mesh vertex (base64: 4 characters per 3 bytes)
    assert len(patch[0]["intensity"]["bdata"]) == 4 * -(-5 // 3)
