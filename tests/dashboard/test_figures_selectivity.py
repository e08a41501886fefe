"""Tests for dashboard.figures.selectivity."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.figures import selectivity as fs
from dashboard.figures.encoding import STREAM_COLORS


def test_top_categories_sorted_descending_top_first():
    names = ["car", "face", "house", "tool"]
    dprime = np.array([0.5, 2.5, -0.4, 1.0])
    fig = fs.top_categories_figure(names, dprime, vertex_label="vertex 12 (FFC)")
    (bars,) = fig.data
    assert bars.orientation == "h"
    np.testing.assert_allclose(bars.x, [2.5, 1.0, 0.5, -0.4])
    assert list(bars.y) == ["face", "tool", "car", "house"]
    assert fig.layout.yaxis.autorange == "reversed"  # the largest bar is drawn on top
    assert bars.marker.color[-1] != bars.marker.color[0]  # negative d′ in another colour
    assert fig.layout.title.text == "Most selective categories: vertex 12 (FFC)"
    assert fig.layout.xaxis.title.text == "selectivity d′"
    with pytest.raises(ValueError, match="dprime has length 3 but category_names has length 4"):
        fs.top_categories_figure(names, dprime[:3])


def test_roi_selectivity_bars_coloured_and_grouped_by_stream():
    rois = ["MT", "V1", "FFC", "V2", "PHA1"]
    streams = ["lateral", "early", "ventral", "early", "ventral"]
    means = np.array([0.1, 0.2, 1.5, 0.3, 0.4])
    sds = np.array([0.01, 0.02, 0.03, 0.04, 0.05])
    fig = fs.roi_selectivity_figure(rois, means, sds, streams, category="faces")
    assert [t.name for t in fig.data] == ["early", "ventral", "lateral"]
    early, ventral, lateral = fig.data
    assert list(early.x) == ["V1", "V2"] and list(ventral.x) == ["FFC", "PHA1"] and list(lateral.x) == ["MT"]
    np.testing.assert_allclose(ventral.y, [1.5, 0.4])
    np.testing.assert_allclose(ventral.error_y.array, [0.03, 0.05])
    assert [t.marker.color for t in fig.data] == [STREAM_COLORS[s] for s in ("early", "ventral", "lateral")]
    assert list(fig.layout.xaxis.categoryarray) == ["V1", "V2", "FFC", "PHA1", "MT"]
    assert fig.layout.barmode == "overlay"
    assert "faces" in fig.data[0].hovertemplate
    assert fig.layout.title.text == "Selectivity for faces by region"
    with pytest.raises(ValueError, match="sds has length 4 but roi_names has length 5"):
        fs.roi_selectivity_figure(rois, means, sds[:4], streams, category="faces")
    with pytest.raises(ValueError, match="Unknown stream='frontal'"):
        fs.roi_selectivity_figure(rois, means, sds, ["frontal"] * 5, category="faces")
