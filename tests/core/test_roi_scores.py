"""core.workflows.roi_scores: per-area accuracy, its comparison between two experiments and per-area spreads, on tiny
synthetic results."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.workflows.roi_scores import area_spread, roi_accuracy, roi_comparison


def _result(image_r, network="resnet50", responses="same"):
    return SimpleNamespace(roi_image_r=image_r, rois=("V1", "FFC", "PPA"),
                           maps={"noise_ceiling": np.arange(10, dtype=np.float32) / 10},
                           meta={"network": network, "test_responses": responses})


def test_roi_accuracy_and_comparison(rng):
    image_r = rng.normal(0.3, 0.1, (30, 3))
    rois = {"PPA": np.array([0, 1]), "V1": np.array([8, 9])}
    accuracy = roi_accuracy(_result(image_r), rois, n_resamples=500)
    assert accuracy.roi_names == ("PPA", "V1") and accuracy.n_test == 30
    np.testing.assert_allclose(accuracy.means, image_r[:, [2, 0]].mean(axis=0))
    np.testing.assert_allclose(accuracy.ceiling, [0.05, 0.85], atol=1e-6)
    assert (accuracy.ci_low < accuracy.means).all() and (accuracy.means < accuracy.ci_high).all()
    shifted = image_r.copy()
    shifted[:, 0] -= 0.2  # V1 worse under model b
    test = roi_comparison(_result(image_r), _result(shifted, "efficientnet_lite0"), rois, n_resamples=500)
    assert test.networks == ("resnet50", "efficientnet_lite0")
    np.testing.assert_allclose(test.difference, [0.0, 0.2], atol=1e-12)
    assert test.p_holm[1] < 0.01 and test.p_holm[0] == 1.0
    with pytest.raises(ValueError, match="not tested on the same responses"):
        roi_comparison(_result(image_r), _result(image_r, responses="other"), rois)
    with pytest.raises(ValueError, match="no test scores for the areas"):
        roi_accuracy(_result(image_r), {"MT": np.array([0])})


def test_area_spread_skips_left_out_vertices():
    values = np.array([1.0, 3.0, np.nan, 5.0, np.nan], dtype=np.float32)
    kept, means, sds, n = area_spread(values, {"a": np.array([0, 1, 2]), "b": np.array([3]), "c": np.array([4])})
    assert kept == ["a", "b"] and n.tolist() == [2, 1]
    np.testing.assert_allclose(means, [2.0, 5.0])
    np.testing.assert_allclose(sds, [np.sqrt(2.0), 0.0])
