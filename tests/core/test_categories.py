"""Tests for core.categories: category maps, d′, ROI summaries, localizer GLM, cluster contrasts."""

from __future__ import annotations

import numpy as np
import pytest

from core.categories import (
    category_maps,
    category_selectivity,
    cluster_specific_vertices,
    general_selectivity,
    glm_contrast,
    roi_summary,
    single_layer_category_maps,
    top_categories,
)
from core.rsa import compute_rdm

# --- category maps ----------------------------------------------------------------------------


def test_category_maps_mean_and_streaming_agree(rng):
    maps = rng.normal(size=(12, 5))
    labels = np.array(list("abcabcabcaab"))
    cats, means = category_maps(maps, labels)
    assert cats == ("a", "b", "c")
    np.testing.assert_allclose(means, [maps[labels == c].mean(axis=0) for c in cats])
    chunks = [(maps[i:i + 5], labels[i:i + 5]) for i in range(0, 12, 5)]
    cats_s, means_s = category_maps(iter(chunks), categories=("c", "a", "b"))
    assert cats_s == ("c", "a", "b")
    np.testing.assert_allclose(means_s, means[[2, 0, 1]])


def test_category_maps_errors():
    with pytest.raises(ValueError, match="no exemplars"):
        category_maps(iter([]))
    with pytest.raises(ValueError, match=r"\['dog'\] have no exemplars"):
        category_maps(np.ones((2, 3)), ["cat", "cat"], categories=["cat", "dog"])
    with pytest.raises(ValueError, match="choose from"):
        category_maps(np.ones((2, 3)), ["cat", "cat"], device="tpu")


def test_category_maps_rejects_repeated_or_no_categories():
    maps, labels = np.ones((4, 3)), ["cat", "dog", "cat", "eel"]
    with pytest.raises(ValueError, match=r"categories lists \['cat', 'eel'\] more than once"):
        category_maps(maps, labels, categories=["cat", "eel", "dog", "cat", "eel"])
    with pytest.raises(ValueError, match="categories needs at least 1 labels, got 0"):
        category_maps(maps, labels, categories=[])


# --- d′ ---------------------------------------------------------------------------------------


def test_dprime_hand_computed_two_vertices():
    """Vertex 0: category a = [1, 3] (mean 2, var 2), rest b = [0, 0, 0] (mean 0, var 0):
    d′_a = (2 - 0) / sqrt((2 + 0) / 2) = 2 and d′_b = -2. Vertex 1 is constant: d′ = 0, not NaN."""
    responses = np.array([[1.0, 5.0], [3.0, 5.0], [0.0, 5.0], [0.0, 5.0], [0.0, 5.0]])
    cats, dprime = category_selectivity(responses, ["a", "a", "b", "b", "b"])
    assert cats == ("a", "b")
    np.testing.assert_allclose(dprime, [[2.0, 0.0], [-2.0, 0.0]])


def test_dprime_matches_direct_formula(rng):
    x = rng.normal(size=(30, 4)) + 100.0  # offset checks the numerical stability
    labels = np.repeat(["a", "b", "c"], 10)
    cats, dprime = category_selectivity(x, labels)
    for i, c in enumerate(cats):
        a, r = x[labels == c], x[labels != c]
        expected = (a.mean(0) - r.mean(0)) / np.sqrt((a.var(0, ddof=1) + r.var(0, ddof=1)) / 2)
        np.testing.assert_allclose(dprime[i], expected, rtol=1e-9)


def test_dprime_needs_two_exemplars():
    with pytest.raises(ValueError, match=">= 2 exemplars"):
        category_selectivity(np.ones((3, 2)), ["a", "b", "b"])


def test_general_selectivity_and_top_categories():
    dprime = np.array([[0.1, 2.0], [1.5, -1.0], [0.3, 0.5]])
    best, arg = general_selectivity(dprime)
    np.testing.assert_allclose(best, [1.5, 2.0])
    np.testing.assert_array_equal(arg, [1, 0])
    np.testing.assert_array_equal(top_categories(dprime, k=2), [[1, 2], [0, 2]])
    with pytest.raises(ValueError, match="must lie in"):
        top_categories(dprime, k=4)


def test_roi_summary_vertices_and_subjects():
    values = np.array([1.0, 3.0, 5.0, 10.0])
    s = roi_summary(values, {"V1": [0, 1, 2], "FFA": [3, 3]})
    np.testing.assert_allclose(s.mean, [3.0, 10.0])
    np.testing.assert_allclose(s.se, [2.0 / np.sqrt(3), 0.0])
    subjects = np.array([[1.0, 3.0], [3.0, 5.0]])  # ROI means 2 and 4
    s2 = roi_summary(subjects, {"all": [0, 1]})
    np.testing.assert_allclose([s2.mean[0], s2.se[0], s2.n[0]], [3.0, 1.0, 2])
    with pytest.raises(ValueError, match="vertex indices"):
        roi_summary(values, {"bad": [7]})


# --- localizer GLM ----------------------------------------------------------------------------


def _synthetic_blocks(rng, n_runs=2, n_voxels=12):
    block = ["rest"] * 6 + ["face"] * 6 + ["rest"] * 6 + ["house"] * 6
    labels = np.array(block * 3 * n_runs + ["rest"] * 0)
    runs = np.repeat(np.arange(n_runs), len(block) * 3)
    hrf_lag = 2  # volumes
    face = np.r_[np.zeros(hrf_lag), (labels == "face")[:-hrf_lag]].astype(float)
    bold = rng.normal(size=(labels.size, n_voxels)) + 100.0
    bold[:, :3] += 3.0 * face[:, None]  # planted face > house effect in voxels 0-2
    return bold, labels, runs


@pytest.mark.parametrize("noise_model", ["ar1", "ols"])
def test_glm_contrast_finds_planted_effect_only(rng, noise_model):
    bold, labels, runs = _synthetic_blocks(rng)
    res = glm_contrast(bold, labels, runs, tr=2.0, noise_model=noise_model,
                       contrasts={"face>house": (["face"], ["house"]), "house>face": (["house"], ["face"])})
    assert res.names == ("face>house", "house>face")
    assert res.t.shape == (2, 12)
    assert res.t[0, :3].min() > 8
    assert np.abs(res.t[0, 3:]).max() < 4
    np.testing.assert_array_equal(res.significant[0], np.arange(12) < 3)
    assert not res.significant[1].any()
    np.testing.assert_allclose(res.t[1], -res.t[0])


def test_glm_contrast_rejects_unknown_repeated_missing_or_shared_labels(rng):
    bold, labels, runs = _synthetic_blocks(rng)
    for contrast, message in (((["dog"], ["house"]), "choose from"),
                              ((["face", "face"], ["house"]), r"positive side lists \['face'\] more than once"),
                              ((["face"], []), "negative side needs at least 1 labels"),
                              ((["face", "house"], ["house"]), r"\['house'\] on both sides")):
        with pytest.raises(ValueError, match=message):
            glm_contrast(bold, labels, runs, tr=2.0, contrasts={"x": contrast})


def test_cluster_specific_vertices_planted(rng):
    labels = np.repeat(["a", "b", "c", "d"], 8)
    x = rng.normal(size=(32, 10))
    x[np.isin(labels, ["a", "b"]), :2] += 4.0
    mask = cluster_specific_vertices(x, labels, ["a", "b"], ["c", "d"])
    np.testing.assert_array_equal(mask, np.arange(10) < 2)
    with pytest.raises(ValueError, match="choose from"):
        cluster_specific_vertices(x, labels, ["z"], ["c"])
    with pytest.raises(ValueError, match=r"cluster_categories lists \['a'\] more than once"):
        cluster_specific_vertices(x, labels, ["a", "a"], ["c"])
    with pytest.raises(ValueError, match="control_categories needs at least 1 labels"):
        cluster_specific_vertices(x, labels, ["a"], [])
    with pytest.raises(ValueError, match=r"\['b'\] are both cluster and control"):
        cluster_specific_vertices(x, labels, ["a", "b"], ["b", "c"])


def test_single_layer_category_maps_equal_mean_of_exemplar_predictions(rng):
    from core.encoding import EncodingModel, stack_layer_features

    X, slices = stack_layer_features({"early": rng.normal(size=(30, 6)), "late": rng.normal(size=(30, 4))})
    Y = X @ rng.normal(size=(10, 7)) + 0.1 * rng.normal(size=(30, 7))
    model = EncodingModel(slices, n_folds=3, random_state=0).fit(X, Y)
    labels = np.repeat(["b", "a", "c"], 10)
    result = single_layer_category_maps(model, X, labels)
    assert result.layers == ("early", "late") and result.categories == ("a", "b", "c")
    assert result.maps.shape == (2, 3, 7) and result.maps.dtype == np.float32
    for i, layer in enumerate(result.layers):
        exemplar_maps = model.predict_layer(X, layer)
        expected = [exemplar_maps[labels == c].mean(axis=0) for c in result.categories]
        np.testing.assert_allclose(result.maps[i], expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(result.maps[0], result.maps[1])


def test_single_layer_maps_cluster_by_the_layer_that_carries_the_categories(rng):
    """Responses = a large per-vertex baseline (the encoder's intercept) + a linear read-out of the
    "late" layer, whose features carry two planted groups of three categories; "early" is noise.
    The late layer's maps must split the categories into the planted groups, which the baseline,
    common to every map, hides from uncentred correlations (Q ≈ 0)."""
    from sklearn.metrics import adjusted_rand_score

    from core.clustering import cluster_categories
    from core.encoding import EncodingModel, stack_layer_features
    from core.rsa import category_similarity, layerwise_clustering

    n_per, groups = 10, np.repeat([0, 1], 3)
    labels = np.repeat(list("abcdef"), n_per)
    group_centres = 3 * rng.normal(size=(2, 5))
    late = group_centres[np.repeat(groups, n_per)] + 0.5 * rng.normal(size=(60, 5))
    X, slices = stack_layer_features({"early": rng.normal(size=(60, 6)), "late": late})
    Y = 1000 * rng.normal(size=40) + late @ rng.normal(size=(5, 40)) + 0.1 * rng.normal(size=(60, 40))
    layer_maps = single_layer_category_maps(EncodingModel(slices, n_folds=3, random_state=0).fit(X, Y), X, labels)
    result = layerwise_clustering(layer_maps.maps, random_state=0)
    late_labels = cluster_categories(category_similarity(layer_maps.maps[1], centre=True), k_range=range(2, 6),
                                     random_state=0).labels
    assert result.best_k[1] == 2 and result.modularity[1] > 0.5
    assert adjusted_rand_score(groups, late_labels) == 1.0
    assert layerwise_clustering(layer_maps.maps, centre=False, random_state=0).modularity[1] < 0.01


# --- real data: Haxby et al. 2001, one slice --------------------------------------------------


def _haxby(folder):
    nib = pytest.importorskip("nibabel")
    bold = nib.load(folder / "bold.nii.gz").get_fdata()
    mask = nib.load(folder / "mask.nii.gz").get_fdata() > 0
    rows = [line.split() for line in (folder / "attributes_literal.txt").read_text().splitlines()]
    rows = [r for r in rows if len(r) == 2 and r[1].isdigit()]  # skip a header if present
    labels = np.array([r[0] for r in rows])
    runs = np.array([int(r[1]) for r in rows])
    return bold[mask].T, labels, runs  # (n_volumes, n_voxels)


def _zscore_per_run(x, runs):
    z = np.empty_like(x)
    for r in np.unique(runs):
        m = runs == r
        z[m] = (x[m] - x[m].mean(0)) / x[m].std(0)
    return z


def test_haxby_localizer_face_and_house_voxels(shared_data):
    x, labels, runs = _haxby(shared_data / "haxby2001_slice")
    assert x.shape == (1452, 530)
    res = glm_contrast(x, labels, runs, tr=2.5, noise_model="ols",
                       contrasts={"face>house": (["face"], ["house"]), "house>face": (["house"], ["face"])})
    counts = res.significant.sum(axis=1)  # measured: 7 and 67 (ols); 1 and 32 with ar1
    assert counts[0] >= 1 and counts[1] >= 10
    assert not (res.significant[0] & res.significant[1]).any()


def test_haxby_house_dprime_reaches_three(shared_data):
    x, labels, runs = _haxby(shared_data / "haxby2001_slice")
    keep = labels != "rest"
    cats, dprime = category_selectivity(_zscore_per_run(x, runs)[keep], labels[keep])
    house = dprime[cats.index("house")]
    assert house.max() > 2.5  # measured 3.23
    assert house.max() == dprime.max()  # the most selective voxel of the slice is a house voxel


def test_haxby_category_rdm_separates_animate_from_inanimate(shared_data):
    x, labels, runs = _haxby(shared_data / "haxby2001_slice")
    keep = labels != "rest"
    order = ["face", "cat", "house", "bottle", "scissors", "shoe", "chair"]
    cats, means = category_maps(_zscore_per_run(x, runs)[keep], labels[keep], categories=order)
    rdm = compute_rdm(means, metric="correlation", pattern_labels=cats).matrix()
    animate = np.isin(order, ["face", "cat"])
    same = animate[:, None] == animate[None, :]
    within = rdm[same & ~np.eye(7, dtype=bool)].mean()
    between = rdm[~same].mean()
    assert within < between  # measured 0.668 < 0.825


# --- the simulated subject: recovery of the declared truth (slow) ------------------------------


@pytest.fixture(scope="module")
def default_experiment():
    """The dashboard's default experiment (cached); ``VFS_EXPERIMENT_MAX_IMAGES`` sets its size (default 160)."""
    import os

    from core.experiments import run_default_experiment

    max_images = os.environ.get("VFS_EXPERIMENT_MAX_IMAGES", "160")
    return run_default_experiment(n_repeats=10, test_fraction=0.2, n_folds=9, n_permutations=1000,
                                  max_images=int(max_images) if max_images else None, random_state=0)


@pytest.mark.slow
def test_face_categories_most_selective_in_declared_face_patches(default_experiment):
    from core.subject import load_default_subject

    result, subject = default_experiment, load_default_subject()
    face_rois = {(d.roi, h) for d in subject.spec.drivers if d.preferred_category == "face"
                 for h in ((d.hemisphere,) if d.hemisphere else ("L", "R"))}
    patches = np.concatenate([subject.roi_vertices[r] for r in sorted(face_rois)])
    mean_dprime = result.dprime[:, patches].mean(axis=1)
    face = result.categories.index("face")
    print(f"\nface patches {sorted(face_rois)}: mean d′ per category",
          {c: round(float(v), 2) for c, v in zip(result.categories, mean_dprime, strict=True)})
    assert np.argmax(mean_dprime) == face
    others = {r: result.dprime[face, v].mean() for r, v in subject.roi_vertices.items() if r not in face_rois}
    print(f"face d′: {mean_dprime[face]:.2f} in the face patches, at most {max(others.values()):.2f} in any other "
          f"driven area ({max(others, key=others.get)})")
    assert mean_dprime[face] > max(others.values())


@pytest.mark.slow
def test_clustering_of_the_default_subject_is_significant_and_follows_the_declared_groups(default_experiment):
    """The page's clustering (k by max Q, the diagonal left out) on the simulated subject: the spin test
    rejects, and the clusters agree with the declared superordinate groups (ARI > 0.5). On the teaching
    subject v2 no group was split (k = 2: the non-biological categories joined the biological ones); on the
    default v3 (whole maps through receptive fields) k = 3 with one category across groups (invertebrate
    with the objects; ARI 0.77, measured 2026-12-06), so "never split" is no longer true and not asserted.
    The groups are declared in the simulation, so this checks the pipeline, not a finding."""
    from sklearn.metrics import adjusted_rand_score

    from core.clustering import clustering_significance
    from core.rsa import predictable_vertices

    result = default_experiment
    mask = predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.2, q_max=0.01)
    if mask.sum() < 100:  # the dashboard's relaxed criterion for small runs
        mask = predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.0, q_max=0.05)
    test = clustering_significance(result.category_maps, mask=mask, k_range=range(2, min(11, len(result.categories))),
                                   n_permutations=999, random_state=0)
    labels, groups = np.asarray(result.labels), np.asarray(result.groups)
    truth = np.array([groups[labels == c][0] for c in result.categories])
    clusters = test.clustering.labels
    ari = adjusted_rand_score(truth, clusters)
    print(f"\n{len(result.categories)} categories over {int(mask.sum())} vertices: best k = {test.clustering.best_k} "
          f"(Q = {test.q:.3f}, spin p = {test.p_value:.4f}), {len(set(truth))} declared groups, adjusted Rand "
          f"index {ari:.2f}")
    assert test.p_value < 0.01
    assert ari > 0.5
