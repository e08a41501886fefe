"""Tests for dashboard.figures.rdm (and the shared look in dashboard.figures.base) on tiny synthetic matrices."""

from __future__ import annotations

import numpy as np
import plotly.colors as pcolors
import pytest
import scipy.cluster.hierarchy

from dashboard.figures import base as fb
from dashboard.figures import rdm as fr

LABELS = ["dog", "cat", "car", "bus", "cup", "mug"]
CLUSTERS = np.array([0, 0, 1, 1, 2, 2])


@pytest.fixture
def similarity():
    """Three blocks of two: within-block similarity 0.9, between 0.1, diagonal 1."""
    S = np.full((6, 6), 0.1)
    for start in (0, 2, 4):
        S[start : start + 2, start : start + 2] = 0.9
    np.fill_diagonal(S, 1.0)
    S[0, 5] = S[5, 0] = -0.3  # one asymmetric-position value to check the reordering
    return S


def _strip_color(trace, code):
    """Colour the discrete strip colour scale gives to an integer cluster code."""
    k = trace.zmax + 0.5
    position = (code + 0.5) / k
    for (lo, color), (hi, _) in zip(trace.colorscale[::2], trace.colorscale[1::2], strict=True):
        if lo <= position <= hi:
            return color
    raise AssertionError(f"code {code} not in the colour scale")


def test_rdm_figure_z_is_the_reordered_matrix(similarity):
    order = np.array([5, 3, 1, 0, 2, 4])
    fig = fr.rdm_figure(similarity, LABELS, order=order, title="RDM", zmid=0)
    heatmap = fig.data[0]
    assert heatmap.type == "heatmap"
    np.testing.assert_array_equal(heatmap.z, similarity[np.ix_(order, order)])
    assert list(heatmap.x) == [LABELS[i] for i in order] == list(heatmap.y)
    assert heatmap.zmid == 0
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.template.layout.paper_bgcolor == "white"
    assert fig.layout.title.text == "RDM"
    assert "%{y} × %{x}" in heatmap.hovertemplate and "similarity" in heatmap.hovertemplate
    np.testing.assert_array_equal(heatmap.z, np.asarray(heatmap.z).T)


def test_rdm_figure_repeated_labels_stay_distinct(similarity):
    fig = fr.rdm_figure(similarity, ["a", "a", "b", "b", "a", "c"])
    assert list(fig.data[0].x) == ["a", "a #2", "b", "b #2", "a #3", "c"]


def test_rdm_figure_cluster_strips_match_cluster_labels(similarity):
    order = np.array([4, 0, 2, 5, 1, 3])
    clusters = np.array(["animal", "animal", "vehicle", "vehicle", "object", "object"])
    fig = fr.rdm_figure(similarity, LABELS, order=order, cluster_labels=clusters)
    assert [t.type for t in fig.data] == ["heatmap"] * 3
    top, left = fig.data[1], fig.data[2]
    assert np.asarray(top.z).shape == (1, 6) and np.asarray(left.z).shape == (6, 1)
    np.testing.assert_array_equal(np.ravel(top.z), np.ravel(left.z))
    expected = fr._cluster_colors(clusters)
    assert list(expected) == ["animal", "object", "vehicle"]
    assert len(set(expected.values())) == 3
    for position, item in enumerate(order):
        code = int(np.ravel(top.z)[position])
        assert _strip_color(top, code) == expected[clusters[item]]
        assert np.ravel(top.text)[position] == clusters[item]
    # the strips share the heatmap's category axes
    assert list(top.x) == list(fig.data[0].x) and list(left.y) == list(fig.data[0].y)


def test_rdm_figure_rejects_bad_inputs(similarity):
    with pytest.raises(ValueError, match="labels has length 5 but matrix has length 6"):
        fr.rdm_figure(similarity, LABELS[:5])
    with pytest.raises(ValueError, match="square"):
        fr.rdm_figure(similarity[:, :5], LABELS)
    with pytest.raises(ValueError, match="permutation of range"):
        fr.rdm_figure(similarity, LABELS, order=[0, 0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="cluster_labels has length 2 but matrix has length 6"):
        fr.rdm_figure(similarity, LABELS, cluster_labels=[0, 1])


def test_dendrogram_leaf_order_equals_scipy(similarity):
    linkage = scipy.cluster.hierarchy.linkage(1 - similarity[np.triu_indices(6, 1)], "average")
    fig = fr.dendrogram_figure(linkage, LABELS, title="tree")
    leaves = scipy.cluster.hierarchy.leaves_list(linkage)
    assert list(fig.layout.xaxis.ticktext) == [LABELS[i] for i in leaves]
    np.testing.assert_allclose(fig.layout.xaxis.tickvals, 5 + 10 * np.arange(6))
    marker_trace = fig.data[-1]
    assert list(marker_trace.text) == [LABELS[i] for i in leaves]
    # every link drawn: 5 merges x (4 points + None separator)
    assert sum(len(t.x) for t in fig.data[:-1]) == 5 * 5
    assert max(y for t in fig.data[:-1] for y in t.y if y is not None) == pytest.approx(linkage[-1, 2])
    assert "distance" in fig.layout.yaxis.title.text


def test_dendrogram_links_take_their_cluster_colour(similarity):
    linkage = scipy.cluster.hierarchy.linkage(1 - similarity[np.triu_indices(6, 1)], "average")
    fig = fr.dendrogram_figure(linkage, LABELS, cluster_labels=CLUSTERS)
    colors = fr._cluster_colors(CLUSTERS)
    names = {t.name: t.line.color for t in fig.data[:-1]}
    # each block of two merges first: one link per cluster in its colour; the rest are grey
    assert names == {
        "cluster 0": colors[0],
        "cluster 1": colors[1],
        "cluster 2": colors[2],
        "between clusters": fr._LINK_GREY,
    }
    leaves = scipy.cluster.hierarchy.leaves_list(linkage)
    assert list(fig.data[-1].marker.color) == [colors[c] for c in CLUSTERS[leaves]]


def test_dendrogram_rejects_wrong_linkage_shape():
    with pytest.raises(ValueError, match=r"expected \(5, 4\)"):
        fr.dendrogram_figure(np.zeros((4, 4)), LABELS)


def test_modularity_figure_marks_best_k_and_null_band():
    ks, q = [2, 3, 4, 5], [0.1, 0.35, 0.3, 0.2]
    null = np.array([[-0.05, 0.05]] * 4)
    fig = fr.modularity_figure(ks, q, null_q=null)
    band, line, best = fig.data
    assert band.fill == "toself" and band.mode == "lines"
    np.testing.assert_allclose(band.y, [0.05] * 4 + [-0.05] * 4)
    np.testing.assert_allclose(line.y, q)
    assert (best.x[0], best.y[0]) == (3, 0.35) and best.name == "best k = 3"
    assert fig.layout.xaxis.title.text == "number of clusters k"
    assert fr.modularity_figure(ks, q, best_k=5).data[-1].x[0] == 5
    with pytest.raises(ValueError, match=r"best_k=7 is not one of ks=\[2, 3, 4, 5\]"):
        fr.modularity_figure(ks, q, best_k=7)
    with pytest.raises(ValueError, match="q has length 3 but ks has length 4"):
        fr.modularity_figure(ks, q[:3])


def test_layer_line_figure_series_bands_and_hlines():
    layers = ["conv1", "conv2", "fc"]
    fig = fr.layer_line_figure(
        layers,
        {"identity": [0.3, 0.5, 0.9], "expression": [0.2, 0.4, 0.3]},
        bands={"identity": ([0.8, 0.8, 0.8], [0.9, 0.95, 1.0]), "null": ([0, 0, 0], [0.1, 0.1, 0.1])},
        hlines={"identity": 0.1, "chance": 1 / 7},
        ylabel="decoding accuracy",
    )
    assert [t.name for t in fig.data] == ["identity (band)", "null", "identity", "expression"]
    ident_band, null_band, ident, expr = fig.data
    assert list(ident.x) == layers
    np.testing.assert_allclose(ident.y, [0.3, 0.5, 0.9])
    np.testing.assert_allclose(ident_band.y, [0.9, 0.95, 1.0, 0.8, 0.8, 0.8])
    assert list(ident_band.x) == layers + layers[::-1]
    # a band or line named like a series takes its colour, others are grey
    assert ident.line.color == fb.PALETTE[0] and expr.line.color == fb.PALETTE[1]
    assert ident_band.fillcolor == fb._rgba(fb.PALETTE[0], fb._BAND_OPACITY)
    assert null_band.fillcolor == fb._rgba(fb._NEUTRAL, fb._BAND_OPACITY)
    lines = {a.text: s for a, s in zip(fig.layout.annotations, fig.layout.shapes, strict=True)}
    assert lines["chance"].y0 == lines["chance"].y1 == pytest.approx(1 / 7)
    assert lines["identity"].line.color == fb.PALETTE[0]
    assert lines["chance"].line.color == fb._NEUTRAL
    assert fig.layout.yaxis.title.text == "decoding accuracy"


def test_layer_line_figure_length_mismatch_names_both_lengths():
    with pytest.raises(ValueError, match=r"series\['a'\] has length 2 but x has length 3"):
        fr.layer_line_figure(["l1", "l2", "l3"], {"a": [1, 2]})
    with pytest.raises(ValueError, match=r"bands\['a'\] upper has length 1 but x has length 3"):
        fr.layer_line_figure(["l1", "l2", "l3"], {"a": [1, 2, 3]}, bands={"a": ([0, 0, 0], [1])})
    with pytest.raises(ValueError, match="series is empty"):
        fr.layer_line_figure(["l1"], {})


def test_similarity_scatter_fits_the_line_and_titles_r_p():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = 2 * x + 1
    fig = fr.similarity_scatter_figure(
        x,
        y,
        xlabel="semantic similarity (LCH)",
        ylabel="cortical r",
        pair_labels=["a–b", "a–c", "b–c", "c–d"],
        r=0.5,
        p=0.0004,
        title="Semantics",
    )
    points, line = fig.data
    assert list(points.text) == ["a–b", "a–c", "b–c", "c–d"]
    np.testing.assert_allclose(line.x, [0, 3])
    np.testing.assert_allclose(line.y, [1, 7])
    assert fig.layout.title.text == "Semantics (r = 0.500, p < 0.001)"
    assert fig.layout.xaxis.title.text == "semantic similarity (LCH)"
    with pytest.raises(ValueError, match="pair_labels has length 1 but x has length 4"):
        fr.similarity_scatter_figure(x, y, xlabel="a", ylabel="b", pair_labels=["a"])
    with pytest.raises(ValueError, match="y has length 3 but x has length 4"):
        fr.similarity_scatter_figure(x, y[:3], xlabel="a", ylabel="b")


def test_region_layer_heatmap_figure():
    values = np.arange(6.0).reshape(2, 3) - 2
    fig = fr.region_layer_heatmap_figure(values, ["V1", "FFC"], ["c1", "c2", "fc"], title="brain–net")
    heatmap = fig.data[0]
    np.testing.assert_array_equal(heatmap.z, values)
    assert list(heatmap.y) == ["V1", "FFC"] and list(heatmap.x) == ["c1", "c2", "fc"]
    assert heatmap.zmid == 0
    assert [c for _, c in heatmap.colorscale] == [c for _, c in pcolors.get_colorscale("RdBu_r")]
    with pytest.raises(ValueError, match=r"shape \(2, 3\); expected \(2, 2\)"):
        fr.region_layer_heatmap_figure(values, ["V1", "FFC"], ["c1", "c2"])


def test_feature_images_figure_one_image_per_start_titled_with_objectives():
    images = np.zeros((3, 8, 8, 3), dtype=np.uint8)
    images[1, ..., 0] = 255
    objective = np.array([[0.1, 0.2, 0.3], [1.0, 2.0, 3.0]])
    fig = fr.feature_images_figure(images, objective, title="FFC")
    assert [t.type for t in fig.data] == ["image"] * 3
    np.testing.assert_array_equal(fig.data[1].z, images[1])
    assert [a.text for a in fig.layout.annotations] == ["start 0: 0.1 → 1", "start 1: 0.2 → 2", "start 2: 0.3 → 3"]
    with pytest.raises(ValueError, match="uint8"):
        fr.feature_images_figure(images.astype(float), objective)
    with pytest.raises(ValueError, match="objective"):
        fr.feature_images_figure(images, objective[:, :2])


def test_png_export_config_names_the_file():
    config = fr.png_export_config("similarity")
    assert config["toImageButtonOptions"] == {"format": "png", "filename": "similarity", "scale": 2}


def test_titles_sit_below_the_mode_bar_and_legends_above_the_plot():
    """The mode bar covers the top right of a graph: titles start below its band, left-aligned, and the top margin
    holds the band, every title line and the legend's rows, so the legend never covers the x-axis title."""
    from dashboard.figures.base import LEGEND_ROW_PX, MODEBAR_PX

    series = {f"a long series name {i}": np.arange(3.0) for i in range(4)}
    fig = fr.layer_line_figure(["l1", "l2", "l3"], series, xlabel="layer", ylabel="r", title="One<br><sup>two</sup>")
    title = fig.layout.title
    assert (title.yref, title.y, title.yanchor, title.xanchor) == ("container", 1, "top", "left")
    assert title.pad.t >= MODEBAR_PX
    legend = fig.layout.legend
    assert (legend.orientation, legend.y, legend.yanchor) == ("h", 1, "bottom")  # above the plot, not below it
    assert fig.layout.margin.t >= MODEBAR_PX + 2 * 20 + 2 * LEGEND_ROW_PX  # two title lines, two legend rows
    untitled = fr.layer_line_figure(["l1", "l2", "l3"], {"r": np.arange(3.0)}, title="")
    assert untitled.layout.margin.t < fig.layout.margin.t
