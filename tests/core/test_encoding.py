"""Known-answer tests for core.encoding on tiny seeded data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from core.encoding import (
    PCA_SOLVERS,
    Delayer,
    EncodingModel,
    LayerwisePCA,
    RidgeEncoder,
    cross_validated_predictions,
    cross_validated_scores,
    evaluate_predictions,
    fit_pca,
    fit_ridge,
    fit_ridge_cv,
    kfold_labels,
    layer_contributions,
    layer_refit_contributions,
    load_encoding_model,
    noise_ceiling,
    normalized_accuracy,
    roi_image_r,
    save_encoding_model,
    stack_layer_features,
)
from core.stats import pearson_r_columns, r_per_sample
from core.subject import true_noise_ceiling

ALPHAS = np.logspace(-2, 4, 7)


def _expected_failed_checks(estimator):
    if isinstance(estimator, Delayer):  # a row's output depends on its neighbours, by design
        reason = "delays mix consecutive samples"
        return {"check_methods_sample_order_invariance": reason, "check_methods_subset_invariance": reason}
    return {}


@parametrize_with_checks([RidgeEncoder(n_folds=3), LayerwisePCA(), Delayer(), EncodingModel(n_folds=3)],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_compatible(estimator, check):
    check(estimator)


def _planted(rng, n_samples=120, n_features=8, n_targets=6, noise=0.1):
    W = rng.standard_normal((n_features, n_targets))
    X = rng.standard_normal((n_samples, n_features)) + 3.0
    Y = X @ W + 2.0 + noise * rng.standard_normal((n_samples, n_targets))
    return X, Y, W


# ----------------------------------------------------------------------------- ridge


@pytest.mark.parametrize("alpha", [0.1, 10.0, 1000.0])
def test_fit_ridge_equals_sklearn_ridge(rng, alpha):
    X, Y, _ = _planted(rng)
    coef, intercept = fit_ridge(X, Y, alpha=alpha)
    reference = Ridge(alpha=alpha).fit(X, Y)
    np.testing.assert_allclose(coef, reference.coef_.T, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-3, atol=1e-3)


def test_fit_ridge_more_features_than_samples_equals_sklearn(rng):
    X, Y, _ = _planted(rng, n_samples=20, n_features=50, n_targets=3)  # the dual (Gram) path
    coef, intercept = fit_ridge(X, Y, alpha=3.0)
    reference = Ridge(alpha=3.0).fit(X, Y)
    np.testing.assert_allclose(coef, reference.coef_.T, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(intercept, reference.intercept_, rtol=1e-3, atol=1e-3)


def test_fit_ridge_per_target_alpha_equals_separate_fits(rng):
    X, Y, _ = _planted(rng, n_targets=4)
    alphas = np.array([0.1, 1e3, 0.1, 10.0])
    coef, _ = fit_ridge(X, Y, alpha=alphas, n_targets_batch=3)
    for j, alpha in enumerate(alphas):
        np.testing.assert_allclose(coef[:, j], Ridge(alpha=alpha).fit(X, Y[:, j]).coef_, rtol=1e-3, atol=1e-4)


def test_ridge_encoder_recovers_planted_weights(rng):
    X, Y, W = _planted(rng, n_samples=200, noise=0.5)
    model = RidgeEncoder(ALPHAS, n_folds=5).fit(X, Y)
    for j in range(W.shape[1]):
        assert np.corrcoef(model.coef_[:, j], W[:, j])[0, 1] > 0.95
    assert model.score(X, Y) > 0.9


def test_alpha_selection_follows_noise_level(rng):
    n_samples, n_features = 60, 30
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_features, 10)) * 0.3
    noise = np.r_[np.full(5, 0.05), np.full(5, 20.0)]
    Y = X @ W + noise * rng.standard_normal((n_samples, 10))
    fit = fit_ridge_cv(X, Y, alphas=np.logspace(-2, 5, 15), n_folds=5)
    assert fit.best_alphas[:5].max() < 10.0
    assert fit.best_alphas[5:].min() >= 100.0  # optimum sigma²/var(w) ~ 4e3; low-noise ~ 3e-2


def test_fit_ridge_cv_matches_sklearn_grid_search_per_target(rng):
    # sklearn RidgeCV(alpha_per_target=True) only supports leave-one-out (cv=None), where a
    # one-sample R² is undefined; GridSearchCV over Ridge per target is the same k-fold,
    # per-fold-centred, R²-scored search.
    X, Y, _ = _planted(rng, n_samples=90, n_features=20, n_targets=6)
    Y += np.linspace(0.2, 8, 6) * rng.standard_normal(Y.shape)
    alphas = np.logspace(-1, 4, 11)
    ours = fit_ridge_cv(X, Y, alphas=alphas, n_folds=5)
    for j in range(Y.shape[1]):
        search = GridSearchCV(Ridge(), {"alpha": alphas}, cv=KFold(5), scoring="r2").fit(X, Y[:, j])
        assert ours.best_alphas[j] == pytest.approx(search.best_params_["alpha"])
        assert ours.cv_scores[j] == pytest.approx(search.best_score_, abs=1e-4)


def test_fit_ridge_cv_matches_himalaya_on_identical_folds(rng):
    himalaya_ridge = pytest.importorskip("himalaya.ridge")
    from himalaya.scoring import r2_score

    X, Y, _ = _planted(rng, n_samples=100, n_features=15, n_targets=20)
    Y += np.linspace(0.2, 10, 20) * rng.standard_normal(Y.shape)
    X, Y = X.astype(np.float32), Y.astype(np.float32)
    alphas = np.logspace(-2, 5, 15)
    ours = fit_ridge_cv(X, Y, alphas=alphas, n_folds=5)
    # himalaya's RidgeCV scores with negative MSE unless told to use R²
    reference = himalaya_ridge.RidgeCV(alphas=alphas, cv=KFold(5), fit_intercept=True,
                                       solver_params={"score_func": r2_score}).fit(X, Y)
    np.testing.assert_allclose(ours.best_alphas, reference.best_alphas_, rtol=1e-5)
    np.testing.assert_allclose(ours.cv_scores, reference.cv_scores_, atol=1e-4)
    np.testing.assert_allclose(ours.coef, reference.coef_, rtol=1e-3, atol=1e-4)


def test_constant_target_warns_and_scores_zero(rng):
    X, Y, _ = _planted(rng, n_targets=3)
    Y[:, 1] = 5.0
    with pytest.warns(UserWarning, match="1 of 3 Y columns are constant"):
        fit = fit_ridge_cv(X, Y, alphas=ALPHAS, n_folds=3)
    assert fit.cv_scores[1] == 0
    assert fit.best_alphas[1] == ALPHAS.max()
    np.testing.assert_allclose(fit.coef[:, 1], 0, atol=1e-6)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"X": np.r_[[[np.nan, 1.0]] * 2, np.ones((8, 2))]}, "X contains 2 NaN"),
    ({"Y": np.r_[[[np.nan]], np.ones((9, 1))]}, "Y contains 1 NaN"),
    ({"Y": np.ones((9, 1))}, "Inconsistent numbers of samples"),
    ({"alphas": [1.0, -1.0]}, "positive"),
    ({"alphas": [0.0]}, "positive"),
    ({"n_folds": 11}, "n_folds=11"),
    ({"device": "tpu"}, "choose from"),
])
def test_fit_ridge_cv_rejects_bad_input(rng, kwargs, match):
    args = {"X": rng.standard_normal((10, 2)), "Y": rng.standard_normal((10, 1)), "n_folds": 3, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit_ridge_cv(args.pop("X"), args.pop("Y"), **args)


# ----------------------------------------------------------------------------- delayer


def test_delayer_hand_computed_and_zero_delay_is_identity():
    X = np.arange(1.0, 5.0)[:, None]
    out = Delayer(delays=(0, 1, -1)).fit_transform(X)
    np.testing.assert_array_equal(out, [[1, 0, 2], [2, 1, 3], [3, 2, 4], [4, 3, 0]])


def test_delayer_rejects_non_integer_delays():
    with pytest.raises(ValueError, match="integers"):
        Delayer(delays=(0.5,)).fit(np.ones((3, 2)))


# ----------------------------------------------------------------------------- PCA


def _layers(rng, n_samples=80):
    latent = rng.standard_normal((n_samples, 3))
    return {
        "conv": latent @ rng.standard_normal((3, 12)) + 0.01 * rng.standard_normal((n_samples, 12)),
        "fc": np.c_[latent[:, :2] * 5, rng.standard_normal((n_samples, 4)) * 0.01] + 1.0,
    }


def test_layerwise_pca_keeps_99_percent_variance(rng):
    X, slices = stack_layer_features(_layers(rng))
    pca = LayerwisePCA(slices).fit(X)
    for name, (start, stop) in slices.items():
        block = X[:, start:stop] - pca.layer_means_[name]
        comps = pca.layer_components_[name]
        residual = block - block @ comps @ comps.T
        assert 1 - (residual**2).sum() / (block**2).sum() >= 0.99
        assert comps.shape[1] < stop - start  # variance is concentrated: fewer components
    assert pca.explained_variance_ratio_.sum() >= 0.99
    assert pca.transform(X).shape == (80, pca.n_components_)


@pytest.mark.parametrize("solver", sorted(PCA_SOLVERS))
def test_pca_solvers_agree_with_numpy_svd(rng, solver):
    X = rng.standard_normal((40, 10)) @ np.diag(np.linspace(3, 0.1, 10))
    fit = fit_pca(X, variance=0.9, solver=solver, random_state=0)
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    ratio = s**2 / (s**2).sum()
    k = int(np.searchsorted(np.cumsum(ratio), 0.9)) + 1
    np.testing.assert_allclose(fit.explained_variance_ratio, ratio[:k], rtol=1e-4)
    np.testing.assert_allclose(fit.components.T @ fit.components, np.eye(k), atol=1e-5)


def test_transform_single_layer_equals_projecting_mean_padded_features(rng):
    features = _layers(rng)
    X, slices = stack_layer_features(features)
    pca = LayerwisePCA(slices).fit(X)
    padded = np.tile(np.concatenate([pca.layer_means_["conv"], pca.layer_means_["fc"]]), (len(X), 1))
    start, stop = slices["fc"]
    padded[:, start:stop] = X[:, start:stop]
    np.testing.assert_allclose(pca.transform_single_layer(X, "fc"), pca.transform(padded), atol=1e-4)
    # by hand: zero the other layer's stage-1 scores, then the global projection
    fc_scores = (X[:, start:stop] - pca.layer_means_["fc"]) @ pca.layer_components_["fc"]
    n_conv = pca.layer_components_["conv"].shape[1]
    stage1 = np.c_[np.zeros((len(X), n_conv)), fc_scores]
    np.testing.assert_allclose(pca.transform_single_layer(X, "fc"), (stage1 - pca.mean_) @ pca.components_,
                               atol=1e-4)
    with pytest.raises(ValueError, match="choose from"):
        pca.transform_single_layer(X, "pool")
    np.testing.assert_allclose(pca.layer_scores(X, "fc"), fc_scores, atol=1e-5)  # the layer's own stage-1 scores
    with pytest.raises(ValueError, match="choose from"):
        pca.layer_scores(X, "pool")


def test_layerwise_pca_rejects_bad_slices(rng):
    with pytest.raises(ValueError, match="must tile"):
        LayerwisePCA({"a": (0, 3), "b": (4, 6)}).fit(rng.standard_normal((10, 6)))
    with pytest.raises(ValueError, match="must tile"):
        LayerwisePCA({}).fit(rng.standard_normal((10, 6)))


def test_layer_contributions_find_the_driving_layer(rng):
    features = _layers(rng, n_samples=150)
    features["noise"] = rng.standard_normal((150, 6))
    X, slices = stack_layer_features(features)
    noise_cols = slice(*slices["noise"])
    Y = np.c_[X[:, noise_cols] @ rng.standard_normal((6, 3)), X[:, 12:14] @ rng.standard_normal((2, 3))]
    model = EncodingModel(slices, alphas=ALPHAS, n_folds=4).fit(X[:100], Y[:100])
    result = layer_contributions(model, X[100:], Y[100:])
    assert result.layers == ("conv", "fc", "noise")
    assert result.r2.shape == (3, 6)
    np.testing.assert_array_equal(result.best_layer[:3], 2)
    assert set(result.best_layer[3:]) <= {0, 1}


def test_layer_refit_contributions_equal_separate_fits_and_find_the_driving_layer(rng):
    features = _layers(rng, n_samples=150)
    features["noise"] = rng.standard_normal((150, 6))
    X, slices = stack_layer_features(features)
    noise_cols = slice(*slices["noise"])
    Y = np.c_[X[:, noise_cols] @ rng.standard_normal((6, 3)), X[:, 12:14] @ rng.standard_normal((2, 3))]
    Y += 0.1 * rng.standard_normal(Y.shape)
    model = EncodingModel(slices, alphas=ALPHAS, n_folds=4).fit(X[:100], Y[:100])
    pca = model.pca_
    calls = []
    result = layer_refit_contributions(model, X[:100], Y[:100], X[100:], Y[100:], alphas=ALPHAS, n_folds=4,
                                       progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert result.layers == ("conv", "fc", "noise") and result.r2.shape == (3, 6)
    np.testing.assert_array_equal(result.best_layer[:3], 2)
    assert set(result.best_layer[3:]) <= {0, 1}
    scores = (X[:, noise_cols] - pca.layer_means_["noise"]) @ pca.layer_components_["noise"]
    fit = fit_ridge_cv(scores[:100], Y[:100], alphas=ALPHAS, n_folds=4)
    expected = 1 - ((Y[100:] - scores[100:] @ fit.coef - fit.intercept) ** 2).sum(0) / (
        (Y[100:] - Y[100:].mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(result.r2[2], expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------- evaluation


def test_evaluate_predictions_perfect_and_null(rng):
    signal = rng.standard_normal((60, 40))
    sessions = np.stack([signal, signal])
    scores = evaluate_predictions(sessions, signal, block_size=5, n_permutations=99, random_state=0)
    np.testing.assert_allclose(scores.r, 1.0)
    np.testing.assert_allclose(scores.r2, 1.0)
    np.testing.assert_allclose(scores.p, 0.01)
    assert (scores.q <= 0.01 + 1e-12).all()


def test_evaluate_predictions_session_mean_of_r(rng):
    pred = rng.standard_normal((30, 5))
    sessions = pred + rng.standard_normal((3, 30, 5))
    scores = evaluate_predictions(sessions, pred, block_size=3, n_permutations=9, random_state=0)
    expected = np.mean([[scipy.stats.pearsonr(s[:, j], pred[:, j]).statistic for j in range(5)]
                        for s in sessions], axis=0)
    np.testing.assert_allclose(scores.r, expected, rtol=1e-10)


def test_evaluate_predictions_warns_on_constant_vertex(rng):
    pred = rng.standard_normal((20, 3))
    test = pred.copy()
    test[:, 2] = 1.0
    with pytest.warns(UserWarning, match="1 of 3 Y_test"):
        scores = evaluate_predictions(test, pred, block_size=2, n_permutations=9, random_state=0)
    assert scores.r[2] == 0


def test_noise_ceiling_matches_true_ceiling(rng):
    n_repeats, n_samples, n_vertices = 10, 1000, 6
    signal_sd = np.array([1.0, 1.0, 0.5, 2.0, 1.0, 0.0])
    noise_sd = np.array([0.5, 2.0, 1.0, 1.0, 4.0, 1.0])
    signal = rng.standard_normal((n_samples, n_vertices)) * signal_sd
    Y_rep = signal + rng.standard_normal((n_repeats, n_samples, n_vertices)) * noise_sd
    result = noise_ceiling(Y_rep, n_simulations=1000, random_state=0)
    true = pearson_r_columns(signal, Y_rep.mean(axis=0))
    np.testing.assert_allclose(result.ceiling, true, atol=0.05)
    expected = true_noise_ceiling(signal.var(axis=0), noise_sd**2, n_repeats)  # the simulated subject's formula
    np.testing.assert_allclose(result.ceiling, expected, atol=0.05)
    single = noise_ceiling(Y_rep, n_averaged=1, n_simulations=500, random_state=0)
    assert (single.ceiling[:5] < result.ceiling[:5]).all()
    assert result.ceiling[5] == 0


def test_noise_ceiling_monte_carlo_equals_direct_simulation(rng):
    # the shared-draw formula equals simulating r(signal, signal + noise) directly
    Y_rep = rng.standard_normal((3, 50, 2)) + rng.standard_normal((50, 2))
    result = noise_ceiling(Y_rep, n_simulations=200, random_state=7)
    draws = np.random.default_rng(7).standard_normal((2, 200, 50))
    for v in range(2):
        sd_s = np.sqrt(result.signal_variance[v])
        sd_n = np.sqrt(result.noise_variance[v] / 3)
        r = [np.corrcoef(sd_s * a, sd_s * a + sd_n * b)[0, 1] for a, b in zip(*draws, strict=True)]
        np.testing.assert_allclose(result.ceiling[v], np.median(r), rtol=1e-10)


def test_normalized_accuracy_divides_only_by_reliable_ceilings_and_never_clips():
    out = normalized_accuracy([0.2, 0.9, -0.1, 0.3, 0.5], [0.4, 0.6, 0.5, 0.0, 0.5], [True, True, True, True, False])
    np.testing.assert_allclose(out, [0.5, 1.5, -0.2, np.nan, np.nan])
    with pytest.raises(ValueError, match="same shape"):
        normalized_accuracy([0.2], [0.4, 0.5], [True])


def test_noise_ceiling_reliability_test_is_the_two_way_anova_f_test(rng):
    """p of the samples factor in a samples × repeats ANOVA without interaction, worked out by hand; session
    offsets do not change it; noise-only vertices are rarely reliable, strong-signal vertices always."""
    n_repeats, n_samples = 4, 30
    Y_rep = rng.standard_normal((n_repeats, n_samples, 400))
    Y_rep[:, :, :100] += 2 * rng.standard_normal((n_samples, 100))
    result = noise_ceiling(Y_rep, n_averaged=1, n_simulations=200, random_state=0)
    for v in (0, 150):
        y = Y_rep[:, :, v]
        ss_samples = n_repeats * ((y.mean(axis=0) - y.mean()) ** 2).sum()
        ss_repeats = n_samples * ((y.mean(axis=1) - y.mean()) ** 2).sum()
        ss_residual = ((y - y.mean()) ** 2).sum() - ss_samples - ss_repeats
        df = (n_samples - 1, (n_samples - 1) * (n_repeats - 1))
        F = (ss_samples / df[0]) / (ss_residual / df[1])
        assert result.p[v] == pytest.approx(scipy.stats.f.sf(F, *df), rel=1e-8)
    shifted = noise_ceiling(Y_rep + 5 * rng.standard_normal((n_repeats, 1, 400)), n_simulations=10).p
    np.testing.assert_allclose(shifted, result.p, rtol=1e-6, atol=1e-12)
    assert result.reliable[:100].all()
    assert result.reliable[100:].mean() < 0.02
    assert (result.ceiling[100:] > 0).mean() > 0.3  # the point estimate alone would keep many


def test_noise_ceiling_reliability_is_calibrated_on_noise():
    """Pure noise (smooth over vertices: irrelevant for a per-vertex test): p is uniform."""
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((5, 40, 4000))
    p = noise_ceiling(noise, n_simulations=10, random_state=0).p
    assert abs((p < 0.05).mean() - 0.05) < 0.012 and abs((p < 0.5).mean() - 0.5) < 0.03


def test_cross_validated_predictions_are_nested_fold_by_fold_fits(rng):
    X, Y, _ = _planted(rng, n_samples=40, n_features=5, n_targets=3, noise=1.0)
    out = cross_validated_predictions(X, Y, n_folds=2, inner_folds=4, alphas=ALPHAS)
    labels = kfold_labels(40, 2)
    for fold, (train, val) in enumerate(KFold(2).split(X)):
        np.testing.assert_array_equal(np.flatnonzero(labels == fold), val)
        fit = fit_ridge_cv(X[train], Y[train], alphas=ALPHAS, n_folds=4)  # penalties chosen inside the fold
        np.testing.assert_allclose(out[val], X[val] @ fit.coef + fit.intercept, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="n_folds=50"):
        cross_validated_predictions(X, Y, n_folds=50)


def test_cross_validated_scores_are_fold_wise_t_tests_combined_by_bonferroni(rng):
    X = rng.standard_normal((60, 6))
    Y = np.c_[X @ rng.standard_normal((6, 2)) + rng.standard_normal((60, 2)), rng.standard_normal((60, 2000))]
    scores = cross_validated_scores(X, Y, n_folds=2, inner_folds=3, alphas=ALPHAS)
    predicted = cross_validated_predictions(X, Y, n_folds=2, inner_folds=3, alphas=ALPHAS)
    np.testing.assert_allclose(scores.r, pearson_r_columns(Y, predicted), atol=1e-6)
    half = [scipy.stats.pearsonr(Y[s, 2], predicted[s, 2], alternative="greater").pvalue
            for s in (slice(0, 30), slice(30, 60))]
    assert scores.p[2] == pytest.approx(min(1.0, 2 * min(half)), rel=1e-5)
    assert (scores.q[:2] < 0.05).all()
    assert (scores.p[2:] < 0.05).mean() < 0.06  # nested: valid on noise (pooled permutations gave 6-12 %)


def test_roi_image_r_averages_to_roi_mean_r(rng):
    pred = rng.standard_normal((12, 10))
    sessions = pred + rng.standard_normal((3, 12, 10))
    rois = {"a": np.array([0, 1, 2]), "b": np.array([2, 5, 9, 7])}
    out = roi_image_r(sessions, pred, rois)
    assert out.shape == (12, 2) and out.dtype == np.float32
    r = np.mean([pearson_r_columns(s, pred) for s in sessions], axis=0)
    np.testing.assert_allclose(out.mean(axis=0), [r[[0, 1, 2]].mean(), r[[2, 5, 9, 7]].mean()], atol=1e-6)
    np.testing.assert_allclose(out[:, 1], r_per_sample(sessions, pred)[:, [2, 5, 9, 7]].mean(axis=1), atol=1e-6)
    with pytest.raises(ValueError, match="ROI 'c' needs integer vertex indices"):
        roi_image_r(sessions, pred, {"c": np.array([3, 10])})


# ----------------------------------------------------------------------------- save / load


def test_save_load_round_trip_identical_predictions(rng, tmp_path):
    X, slices = stack_layer_features(_layers(rng))
    Y = X[:, :4] @ rng.standard_normal((4, 5))
    model = EncodingModel(slices, alphas=ALPHAS, n_folds=4).fit(X, Y)
    npz_path, json_path = save_encoding_model(tmp_path / "model", model, {"subject": "sim-01"})
    loaded = load_encoding_model(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_layer(X, "fc"), model.predict_layer(X, "fc"))
    assert loaded.meta_ == {"subject": "sim-01"} and loaded.layers_ == model.layers_ == ("conv", "fc")
    np.testing.assert_array_equal(loaded.ridge_.alphas, ALPHAS)
    assert loaded.get_params()["n_folds"] == 4 and loaded.score(X, Y) == model.score(X, Y)


def test_load_encoding_model_errors(rng, tmp_path):
    X = rng.standard_normal((30, 4))
    model = EncodingModel(alphas=ALPHAS, n_folds=3).fit(X, X[:, :2])
    with pytest.raises(ValueError, match="missing"):
        load_encoding_model(tmp_path / "absent")
    npz_path, json_path = save_encoding_model(tmp_path / "m", model)
    npz_path.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="unreadable"):
        load_encoding_model(tmp_path / "m")
    save_encoding_model(tmp_path / "m", model)
    header = json.loads(json_path.read_text())
    header["encoder"]["n_features_in"] = 7
    json_path.write_text(json.dumps(header))
    with pytest.raises(ValueError, match="do not match"):
        load_encoding_model(tmp_path / "m")
    json_path.write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="is not a"):
        load_encoding_model(tmp_path / "m")
    with pytest.raises(ValueError, match="JSON"):
        save_encoding_model(tmp_path / "m", model, {"bad": object()})


@pytest.mark.gpu
def test_fit_ridge_cv_cuda_equals_cpu(rng):
    X, Y, _ = _planted(rng, n_samples=100, n_features=15, n_targets=20)
    Y += np.linspace(0.2, 10, 20) * rng.standard_normal(Y.shape)
    cpu = fit_ridge_cv(X, Y, alphas=ALPHAS, n_folds=5)
    gpu = fit_ridge_cv(X, Y, alphas=ALPHAS, n_folds=5, device="cuda", n_targets_batch=7)
    np.testing.assert_allclose(gpu.best_alphas, cpu.best_alphas)
    np.testing.assert_allclose(gpu.coef, cpu.coef, rtol=1e-3, atol=1e-4)
