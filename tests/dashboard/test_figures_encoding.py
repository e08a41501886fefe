"""Tests for dashboard.figures.encoding: ROI bars, layer profiles, score histogram, image pair."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.figures import encoding as fe
from tests.dashboard.test_figures_faces import decode_png

ROIS = ["FFC", "V1", "MT", "V2", "IPS1"]
STREAMS = ["ventral", "early", "lateral", "early", "dorsal"]
MEANS = np.array([[0.30, 0.50, 0.20, 0.45, 0.10], [0.35, 0.40, 0.25, 0.42, 0.15]])
LOW = MEANS - np.array([[0.01, 0.02, 0.03, 0.04, 0.05], [0.06, 0.07, 0.08, 0.09, 0.10]])
HIGH = MEANS + np.array([[0.02, 0.02, 0.02, 0.02, 0.02], [0.03, 0.03, 0.03, 0.03, 0.03]])
ORDER = [1, 3, 0, 4, 2]  # early (V1, V2), ventral (FFC), dorsal (IPS1), lateral (MT)


def test_roi_accuracy_bars_grouped_by_stream_with_asymmetric_intervals():
    ceiling = np.array([0.6, 0.7, 0.5, 0.65, 0.4])
    fig = fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH, ["AlexNet", "ResNet-18"], streams=STREAMS, ceiling=ceiling,
                                 interval_label="95 % CI over images", title="Encoding accuracy")
    assert [t.type for t in fig.data] == ["bar", "bar", "scatter"]
    for m, bars in enumerate(fig.data[:2]):
        assert list(bars.x) == ["V1", "V2", "FFC", "IPS1", "MT"]
        np.testing.assert_allclose(bars.y, MEANS[m, ORDER])
        np.testing.assert_allclose(bars.error_y.array, (HIGH - MEANS)[m, ORDER])
        np.testing.assert_allclose(bars.error_y.arrayminus, (MEANS - LOW)[m, ORDER])
        assert bars.error_y.symmetric is False and "95 % CI over images" in bars.hovertemplate
    assert [t.name for t in fig.data] == ["AlexNet", "ResNet-18", "noise ceiling"]
    np.testing.assert_allclose(fig.data[2].y, ceiling[ORDER])
    assert fig.layout.barmode == "group"
    assert [a.text for a in fig.layout.annotations] == ["early", "ventral", "dorsal", "lateral"]
    shades = [(s.x0, s.x1) for s in fig.layout.shapes]
    assert shades == [(-0.5, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 4.5)]
    assert fig.layout.yaxis.title.text == "test r"
    assert fig.layout.xaxis.title.text == "region of interest"
    assert fig.layout.title.text == "Encoding accuracy"


def test_roi_accuracy_without_streams_keeps_the_given_order():
    fig = fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH, ["a", "b"], ylabel="R²")
    assert list(fig.data[0].x) == ROIS and len(fig.data) == 2
    assert not fig.layout.annotations
    assert fig.layout.yaxis.title.text == "R²"


def test_roi_comparison_draws_the_difference_with_its_interval_and_holm_marks():
    difference = MEANS[0] - MEANS[1]
    low, high = difference - 0.02, difference + 0.03
    p = np.array([0.01, 0.0001, 0.03, 0.004, 0.5])
    p_holm = np.array([0.04, 0.0005, 0.09, 0.016, 0.5])
    fig = fe.roi_comparison_figure(ROIS, MEANS, LOW, HIGH, ["ResNet-50", "EfficientNet"], difference, low, high,
                                   p_holm, p=p, streams=STREAMS, ceiling=np.full(5, 0.6))
    assert [t.name for t in fig.data] == ["ResNet-50", "EfficientNet", "noise ceiling", "difference",
                                          "Holm-adjusted significance"]
    points, marks = fig.data[3], fig.data[4]
    assert points.xaxis == marks.xaxis == "x2" and fig.data[0].xaxis == "x"
    np.testing.assert_allclose(points.y, difference[ORDER])
    np.testing.assert_allclose(points.error_y.array, 0.03)
    np.testing.assert_allclose(points.error_y.arrayminus, 0.02)
    # V1 p_holm .0005, V2 .016, FFC .04, IPS1 .5, MT .09
    assert list(marks.text) == ["***", "*", "*", "n.s.", "n.s."]
    assert np.all(np.asarray(marks.y) > high[ORDER])
    np.testing.assert_allclose(points.customdata[0, 2:], [p[1], p_holm[1]])
    assert fig.layout.yaxis2.title.text == "ResNet-50 − EfficientNet"
    assert any(shape.y0 == shape.y1 == 0 for shape in fig.layout.shapes)  # the zero line


def test_roi_figures_reject_bad_inputs():
    with pytest.raises(ValueError, match=r"means has shape \(2, 5\); expected \(3, 5\)"):
        fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"high has shape \(2, 4\); expected \(2, 5\)"):
        fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH[:, :4], ["a", "b"])
    with pytest.raises(ValueError, match="streams has length 2 but roi_names has length 5"):
        fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH, ["a", "b"], streams=["early", "early"])
    with pytest.raises(ValueError, match="Unknown stream='auditory'; choose from"):
        fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH, ["a", "b"], streams=["auditory"] * 5)
    with pytest.raises(ValueError, match="roi_names must be unique"):
        fe.roi_accuracy_figure(["V1"] * 5, MEANS, LOW, HIGH, ["a", "b"])
    with pytest.raises(ValueError, match="ceiling has length 2 but roi_names has length 5"):
        fe.roi_accuracy_figure(ROIS, MEANS, LOW, HIGH, ["a", "b"], ceiling=[1, 2])
    d = np.zeros(5)
    with pytest.raises(ValueError, match="compares exactly 2 models"):
        fe.roi_comparison_figure(ROIS, MEANS, LOW, HIGH, ["a"], d, d, d, d)
    with pytest.raises(ValueError, match="p_holm has length 2 but roi_names has length 5"):
        fe.roi_comparison_figure(ROIS, MEANS, LOW, HIGH, ["a", "b"], d, d, d, [0.1, 0.2])


def test_image_pair_figure_two_thumbnails():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (8, 6, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (320, 160, 3), dtype=np.uint8)
    fig = fe.image_pair_figure(a, b, titles=("frame", "nearest stimulus"))
    assert [t.type for t in fig.data] == ["image", "image"]
    np.testing.assert_array_equal(decode_png(fig.data[0].source), a)
    assert decode_png(fig.data[1].source).shape == (160, 80, 3)  # shrunk by 2 to fit 160 px
    assert [a.text for a in fig.layout.annotations] == ["frame", "nearest stimulus"]
    with pytest.raises(ValueError, match="image_b must have shape"):
        fe.image_pair_figure(a, b[..., 0])
