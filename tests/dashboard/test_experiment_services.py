"""Services of the Virtual fMRI and Selectivity pages on tiny experiment results in a temporary cache:
the model comparison over test images, and maps shown only on the vertices the model predicts."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from core.experiments import _save_result, experiment_dir
from core.workflows.visualisation import area_vertices
from dashboard import services
from dashboard.services import experiment as experiment_services
from tests._experiments import seed_experiment


def _rewrite(network: str, **changes):
    """Replace fields of the seeded result of ``network`` on disk."""
    key = services.default_experiment_key(network)
    result = dataclasses.replace(services.experiment_result(key), **changes)
    _save_result(experiment_dir(key) / "result", result)
    experiment_services._cached_experiment.cache_clear()
    return result


def test_model_comparison_tests_over_images_not_vertices():
    """Model A's r is higher than B's at every vertex by a hair (a paired t-test over vertices calls every area
    different), but over the 40 test images the two models' area scores are exchangeable, except in V1."""
    rng = np.random.default_rng(0)
    a = seed_experiment()
    seed_experiment(random_state=1, network=services.COMPARISON_NETWORK)
    areas = list(experiment_services._driven_roi_vertices())
    shared = 0.3 + 0.2 * rng.standard_normal((40, len(a.rois)))
    scores_a = shared + 0.05 * rng.standard_normal(shared.shape)
    scores_b = shared + 0.05 * rng.standard_normal(shared.shape)
    v1 = a.rois.index("V1")
    scores_b[:, v1] -= 0.1
    common = dict(test_indices=np.arange(40), meta={**a.meta, "test_responses": "same"})
    r_a = a.maps["r"] + 0.01 + 0.002 * rng.standard_normal(a.maps["r"].shape).astype(np.float32)
    _rewrite("resnet50", roi_image_r=scores_a.astype(np.float32), maps={**a.maps, "r": r_a}, **common)
    _rewrite(services.COMPARISON_NETWORK, roi_image_r=scores_b.astype(np.float32), maps=a.maps,
             **{**common, "meta": {**common["meta"], "network": services.COMPARISON_NETWORK}})
    vertex_t = [scipy.stats.ttest_rel(r_a[idx], a.maps["r"][idx]).pvalue
                for idx in experiment_services._driven_roi_vertices().values()]
    assert max(vertex_t) < 1e-10  # the old test: every area differs
    c = services.model_comparison(services.default_experiment_key(), services.default_experiment_key(services.COMPARISON_NETWORK))
    assert c["roi_names"] == areas and c["models"] == ["ResNet-50", "EfficientNet-Lite0"] and c["n_test"] == 40
    columns = [a.rois.index(name) for name in areas]
    np.testing.assert_allclose(c["difference"], (scores_a - scores_b)[:, columns].mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(c["means"][0], scores_a[:, columns].mean(axis=0), atol=1e-6)
    assert (c["difference_low"] <= c["difference"]).all() and (c["difference"] <= c["difference_high"]).all()
    significant = [areas[i] for i in np.flatnonzero(c["p_holm"] < 0.05)]
    assert significant == ["V1"]
    assert (c["p_holm"] >= c["p"]).all()
    _rewrite(services.COMPARISON_NETWORK, meta={**common["meta"], "test_responses": "other"})
    with pytest.raises(ValueError, match="not tested on the same responses"):
        services.model_comparison(services.default_experiment_key(), services.default_experiment_key(services.COMPARISON_NETWORK))


def test_roi_scores_interval_over_test_images():
    result = seed_experiment()
    rois = services.roi_scores(services.default_experiment_key())
    columns = [result.rois.index(name) for name in rois["roi_names"]]
    np.testing.assert_allclose(rois["means"], result.roi_image_r[:, columns].mean(axis=0), atol=1e-6)
    assert (rois["ci_low"] <= rois["means"] + 1e-9).all() and (rois["means"] <= rois["ci_high"] + 1e-9).all()
    assert rois["n_test"] == 3


def test_the_job_stores_the_roi_scores_that_requests_read(monkeypatch):
    """store_roi_scores (run by the experiment job) computes the accuracies and the comparison; the page's
    requests then only read them (the bootstrap and the sign-flip test never run in a request)."""
    import core.workflows.roi_scores as roi_scores

    seed_experiment()
    seed_experiment(random_state=1, network=services.COMPARISON_NETWORK)
    _rewrite(services.COMPARISON_NETWORK, meta={**services.experiment_result(services.default_experiment_key()).meta,
                                                "network": services.COMPARISON_NETWORK})
    services.store_roi_scores()
    monkeypatch.setattr(roi_scores, "roi_accuracy", lambda *a, **k: pytest.fail("computed in the request"))
    monkeypatch.setattr(roi_scores, "roi_comparison", lambda *a, **k: pytest.fail("computed in the request"))
    keys = services.default_experiment_key(), services.default_experiment_key(services.COMPARISON_NETWORK)
    assert services.roi_scores(keys[0])["n_test"] == services.model_comparison(*keys)["n_test"] == 3


def test_selectivity_only_on_predicted_vertices():
    result = seed_experiment()
    key = services.default_experiment_key()
    predicted = (result.maps["q"] < 0.01) & (result.maps["r"] > 0.2)
    assert 0 < predicted.sum() < predicted.size
    values = services.selectivity_map(key, "face")
    np.testing.assert_array_equal(np.isfinite(values), predicted)
    np.testing.assert_allclose(values[predicted], result.dprime[0][predicted])
    loose = services.selectivity_map(key, "__max__", q_max=0.05, r_min=0.0)
    assert np.isfinite(loose).sum() > predicted.sum()
    with pytest.raises(ValueError, match="does not predict vertex"):
        services.top_categories_at(key, int(np.flatnonzero(~predicted)[0]))
    names, _ = services.top_categories_at(key, int(np.flatnonzero(predicted)[0]))
    assert sorted(names) == ["face", "place"]
    rois = services.roi_selectivity(key, "face")
    assert (rois["n_vertices"] > 0).all()
    v1 = area_vertices("V1")
    i = rois["roi_names"].index("V1")
    assert rois["n_vertices"][i] == predicted[v1].sum()
    np.testing.assert_allclose(rois["means"][i], result.dprime[0][v1][predicted[v1]].mean(), rtol=1e-5)
    _, text = services.selectivity_table(key, "dprime_map", category="face")
    table = pd.read_csv(io.StringIO(text))
    np.testing.assert_array_equal(table["grayordinate"], np.flatnonzero(predicted))
    assert "on the" in services.selectivity_summary(key) and f"{int(predicted.sum()):,}" in services.selectivity_summary(key)
    none = services.selectivity_summary(key, q_max=0.01, r_min=0.95)
    assert "No vertex passes. Loosen the rule" in none
    _rewrite("resnet50", meta={**result.meta, "n_permutations": 200})
    none = services.selectivity_summary(key, q_max=0.01, r_min=0.95)
    assert "the smallest test p is 0.005, so FDR q < 0.01 needs at least 29,559 vertices" in none


def test_normalized_accuracy_map_masked_and_values_above_one_kept():
    seed_experiment()
    key = services.default_experiment_key()
    result = services.experiment_result(key)
    accuracy = result.maps["normalized_accuracy"].copy()
    accuracy[::2] = np.nan  # unreliable ceilings
    accuracy[1::4] = 1.7  # r above the estimated ceiling
    result = _rewrite("resnet50", maps={**result.maps, "normalized_accuracy": accuracy})
    predicted = (result.maps["q"] < 0.01) & (result.maps["r"] > 0.2)
    shown = services.quality_map(key, "normalized_accuracy", fdr=False)
    np.testing.assert_array_equal(np.isfinite(shown), predicted & np.isfinite(accuracy))
    assert shown[np.isfinite(shown)].max() == pytest.approx(1.7)
    n_above = int((predicted & (accuracy > 1)).sum())
    assert f"{n_above:,} exceed 1" in services.normalized_accuracy_summary(key)
    assert services.predicted_mask("0.05", None) == {"q_max": 0.05, "r_min": services.PREDICTED_R_MIN}
    with pytest.raises(ValueError, match="needs numbers"):
        services.predicted_mask("abc", 0.2)


# --------------------------------------------------------------------------------------- the pages' callbacks

@pytest.fixture(scope="module")
def pages():
    import dash
    from dash.testing.application_runners import import_app

    dash.page_registry.clear()
    import_app("app")
    from dashboard.pages import selectivity, virtual_fmri

    return virtual_fmri, selectivity


def test_virtual_fmri_draws_the_comparison_and_the_masked_accuracy(pages):
    virtual_fmri, _ = pages
    seed_experiment()
    figure, status = virtual_fmri.draw_roi_accuracy(None, None)
    assert status.startswith("No EfficientNet-Lite0 fit yet") and figure.data[0].error_y.arrayminus is not None
    seed_experiment(random_state=1, network=services.COMPARISON_NETWORK)
    figure, status = virtual_fmri.draw_roi_accuracy(None, None)
    assert [t.name for t in figure.data][-2:] == ["difference", "Holm-adjusted significance"]
    assert "after Holm correction (sign-flip test over 3 test images" in status
    assert virtual_fmri.describe_mask(None, "normalized_accuracy", "0.05", 0.0).startswith("Normalised accuracy on")
    assert "applies to the normalised accuracy" in virtual_fmri.describe_mask(None, "r", None, None)


def test_selectivity_page_masks_maps_top_lists_and_tables(pages):
    _, selectivity = pages
    result = seed_experiment()
    figure, roi_figure, summary = selectivity.draw_selectivity([{"value": "face"}], "face", "flat", None, None)
    assert figure.data and roi_figure.data and "sulcal grey" in summary
    predicted = (result.maps["q"] < 0.01) & (result.maps["r"] > 0.2)
    mesh = services.cortex_mesh("flat")["left"]["vertex_index"]
    off, on = (int(np.flatnonzero(predicted[: len(mesh)] == flag)[0]) for flag in (False, True))
    click = {"points": [{"curveNumber": 0, "pointNumber": int(mesh[off])}]}
    top, vertex, message = selectivity.draw_top_categories(click, "flat", None, None)
    assert vertex is None and "does not predict vertex" in message.children
    click = {"points": [{"curveNumber": 0, "pointNumber": int(mesh[on])}]}
    top, vertex, message = selectivity.draw_top_categories(click, "flat", None, None)
    assert vertex == on and message is None and top.data
    download, error = selectivity.download_table(1, "roi", "face", None, None, None)
    assert error is None and "n_predicted_vertices" in download["content"]
