"""Tests for core.rsa: RDMs, comparisons, permutation tests, noise ceiling, I/O, category similarity,
layer-wise and finer clustering (k-means + modularity itself: tests/core/test_clustering.py)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import pdist, squareform
from sklearn.metrics import adjusted_rand_score

from core.categories import cluster_specific_vertices
from core.clustering import cluster_categories, signed_modularity
from core.rsa import (
    COMPARE_METHODS,
    RDM,
    RDM_METRICS,
    category_dendrogram,
    category_similarity,
    compare_rdms,
    compute_rdm,
    concat_rdms,
    finer_clustering,
    fisher_z,
    from_rsatoolbox,
    layerwise_clustering,
    load_rdm,
    predictable_vertices,
    rdm_noise_ceiling,
    rdm_permutation_test,
    save_rdm,
    to_rsatoolbox,
)


def _random_rdms(rng, n_rdms, n_conditions=8):
    return rng.random((n_rdms, n_conditions * (n_conditions - 1) // 2))


# --- RDM object -------------------------------------------------------------------------------


def test_rdm_three_collinear_points_known_answer():
    rdm = compute_rdm([[0.0], [1.0], [3.0]], metric="euclidean", pattern_labels=("a", "b", "c"))
    np.testing.assert_allclose(rdm.dissimilarities, [[1.0, 9.0, 4.0]])  # squared, / 1 channel
    np.testing.assert_allclose(rdm.matrix(), [[0, 1, 9], [1, 0, 4], [9, 4, 0]])
    sub = rdm.subset(["c", "a"])
    assert sub.pattern_labels == ("c", "a")
    np.testing.assert_allclose(sub.dissimilarities, [[9.0]])


def test_rdm_checks_lengths_and_round_trips_from_matrix(rng):
    with pytest.raises(ValueError, match="need 3 dissimilarities"):
        RDM(np.ones(4), "correlation", ("a", "b", "c"))
    m = squareform_random(rng, 5)
    rdm = RDM.from_matrix(m, measure="euclidean", pattern_labels=list("abcde"))
    np.testing.assert_allclose(rdm.matrix(), m)
    with pytest.raises(ValueError, match="choose from"):
        rdm.subset(["z"])


def _layer_rdms(rng, n_conditions=5):
    """Five one-layer RDMs of two networks (descriptors network and layer), as the face analysis makes them."""
    layers = [("identity", "conv1"), ("identity", "conv2"), ("identity", "fc"), ("expression", "conv1"),
              ("expression", "fc")]
    return [RDM(_random_rdms(rng, 1, n_conditions), "correlation", tuple("abcde"[:n_conditions]),
                {"network": network, "layer": layer, "stimuli": "faces"}) for network, layer in layers]


def test_rdm_descriptors_follow_indexing_iteration_and_subsets(rng):
    parts = _layer_rdms(rng)
    rdms = concat_rdms(parts)
    assert len(rdms) == 5 and rdms.descriptors == {"stimuli": "faces"}
    assert rdms.rdm_descriptors == {"network": ("identity",) * 3 + ("expression",) * 2,
                                    "layer": ("conv1", "conv2", "fc", "conv1", "fc")}
    expression = rdms.subset_rdms("network", "expression")
    np.testing.assert_array_equal(expression.dissimilarities, rdms.dissimilarities[3:])
    assert expression.rdm_descriptors["layer"] == ("conv1", "fc")
    assert rdms.subset_rdms("layer", ["fc", "conv2"]).rdm_descriptors["layer"] == ("conv2", "fc", "fc")
    assert [(r.rdm_descriptors["network"], r.rdm_descriptors["layer"]) for r in rdms][1] == (("identity",),
                                                                                            ("conv2",))
    np.testing.assert_array_equal(rdms[-1].dissimilarities, parts[-1].dissimilarities)
    assert rdms[[True, False, False, False, True]].rdm_descriptors["layer"] == ("conv1", "fc")
    sub = rdms.subset(["e", "a", "c"])
    assert sub.rdm_descriptors == rdms.rdm_descriptors
    np.testing.assert_allclose(sub.matrix(4), rdms.matrix(4)[np.ix_([4, 0, 2], [4, 0, 2])])
    with pytest.raises(ValueError, match="Unknown RDM descriptor 'roi'; choose from network or layer"):
        rdms.subset_rdms("roi", "FFA")
    with pytest.raises(ValueError, match="No RDM has network = 'vgg'; choose from identity or expression"):
        rdms.subset_rdms("network", "vgg")
    with pytest.raises(ValueError, match=r"rdm_descriptors\['layer'\] has 1 values for 2 RDMs"):
        RDM(_random_rdms(rng, 2, 3), "correlation", ("a", "b", "c"), rdm_descriptors={"layer": ["fc"]})
    with pytest.raises(ValueError, match="different measures"):
        concat_rdms([parts[0], RDM(parts[1].dissimilarities, "cosine", parts[1].pattern_labels)])


def test_rdm_descriptors_match_rsatoolbox(rng):
    """Known answer: rsatoolbox's concat, subset by descriptor and iteration give the same RDMs and descriptors."""
    rsatoolbox = pytest.importorskip("rsatoolbox")
    parts = _layer_rdms(rng)
    ours = concat_rdms(parts)
    theirs = rsatoolbox.rdm.concat([to_rsatoolbox(part) for part in parts])
    np.testing.assert_array_equal(theirs.get_vectors(), ours.dissimilarities)
    assert theirs.descriptors == ours.descriptors
    for name in ("network", "layer"):
        assert list(theirs.rdm_descriptors[name]) == list(ours.rdm_descriptors[name])
    for value in ("identity", "expression"):
        mine, reference = ours.subset_rdms("network", value), theirs.subset("network", value)
        np.testing.assert_array_equal(reference.get_vectors(), mine.dissimilarities)
        assert list(reference.rdm_descriptors["layer"]) == list(mine.rdm_descriptors["layer"])
    assert [list(r.rdm_descriptors["layer"]) for r in theirs] == [list(r.rdm_descriptors["layer"]) for r in ours]
    back = from_rsatoolbox(to_rsatoolbox(ours))
    assert back.rdm_descriptors == ours.rdm_descriptors and back.descriptors == ours.descriptors


def squareform_random(rng, n):
    m = rng.random((n, n))
    m = m + m.T
    np.fill_diagonal(m, 0)
    return m


# --- computing RDMs ---------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["correlation", "cosine", "euclidean"])
def test_compute_rdm_matches_pdist(rng, metric):
    x = rng.normal(size=(7, 13))
    expected = pdist(x, "sqeuclidean") / 13 if metric == "euclidean" else pdist(x, metric)
    np.testing.assert_allclose(compute_rdm(x, metric=metric).dissimilarities[0], expected, atol=1e-12)


def test_compute_rdm_unknown_metric_lists_choices(rng):
    with pytest.raises(ValueError, match="choose from"):
        compute_rdm(rng.normal(size=(3, 4)), metric="manhattan")


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")  # inside rsatoolbox
@pytest.mark.parametrize("metric", sorted(set(RDM_METRICS) - {"cosine"}))  # cosine: vs pdist above
def test_compute_rdm_matches_rsatoolbox(rng, metric):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    n_runs, n_cond, n_chan = 4, 5, 9
    runs = rng.normal(size=(n_runs, n_cond, n_chan))
    if metric == "crossnobis":
        ds = rsatoolbox.data.Dataset(runs.reshape(-1, n_chan), obs_descriptors={
            "cond": np.tile(np.arange(n_cond), n_runs), "run": np.repeat(np.arange(n_runs), n_cond)})
        noise = np.linalg.inv(np.cov(rng.normal(size=(50, n_chan)), rowvar=False))
        ref = rsatoolbox.rdm.calc_rdm(ds, method="crossnobis", descriptor="cond", cv_descriptor="run", noise=noise)
        ours = compute_rdm(runs, metric="crossnobis", noise=noise)
    else:
        ds = rsatoolbox.data.Dataset(runs[0])
        ref = rsatoolbox.rdm.calc_rdm(ds, method=metric)
        ours = compute_rdm(runs[0], metric=metric)
    np.testing.assert_allclose(ours.dissimilarities, ref.get_vectors(), atol=1e-10)


def test_crossnobis_of_pure_noise_has_zero_expectation(rng):
    values = [compute_rdm(rng.normal(size=(4, 6, 20)), metric="crossnobis").dissimilarities.mean()
              for _ in range(200)]
    # per-RDM sd is about 0.13 here; the mean of 200 is within ~4 standard errors of 0
    assert abs(np.mean(values)) < 4 * np.std(values) / np.sqrt(len(values))
    assert np.min(values) < 0  # unbiased, hence sometimes negative
    # whereas the plain squared euclidean distance of the same noise is biased upwards
    assert compute_rdm(rng.normal(size=(6, 20)), metric="euclidean").dissimilarities.mean() > 1


# --- comparing RDMs ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_compare_rdm_with_itself_is_one(rng, method):
    v = _random_rdms(rng, 3)
    np.testing.assert_allclose(np.diag(compare_rdms(v, v, method=method)), 1.0)


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_compare_rdms_matches_rsatoolbox(rng, method):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    a, b = _random_rdms(rng, 3), _random_rdms(rng, 4)
    b[0, :5] = b[0, 0]  # ties
    ref = rsatoolbox.rdm.compare(rsatoolbox.rdm.RDMs(a), rsatoolbox.rdm.RDMs(b),
                                 method=COMPARE_METHODS[method].rsatoolbox_name)
    np.testing.assert_allclose(compare_rdms(a, b, method=method), ref, atol=1e-10)


def test_compare_rdms_vectorised_equals_plain_loop(rng):
    a, b = _random_rdms(rng, 3), _random_rdms(rng, 2)
    loops = {
        "pearson": lambda x, y: scipy.stats.pearsonr(x, y).statistic,
        "spearman": lambda x, y: scipy.stats.spearmanr(x, y).statistic,
        "cosine": lambda x, y: x @ y / np.linalg.norm(x) / np.linalg.norm(y),
        "kendall_tau_a": lambda x, y: scipy.stats.kendalltau(x, y).statistic,  # no ties: tau-a = tau-b
    }
    for method, f in loops.items():
        expected = np.array([[f(x, y) for y in b] for x in a])
        np.testing.assert_allclose(compare_rdms(a, b, method=method), expected, atol=1e-10, err_msg=method)


def test_kendall_tau_a_hand_computed_with_ties():
    # pairs of (x, y): (1,1) (2,1) (3,2): concordant: (1,3), (2,3); tied in y: (1,2) -> tau_a = 2/3
    np.testing.assert_allclose(compare_rdms([1.0, 2.0, 3.0], [1.0, 1.0, 2.0], method="kendall_tau_a"), [[2 / 3]])


def test_compare_rdms_rejects_misaligned_conditions(rng):
    a = RDM(rng.random(3), "correlation", ("a", "b", "c"))
    with pytest.raises(ValueError, match="RDM.subset"):
        compare_rdms(a, a.subset(["c", "b", "a"]))
    np.testing.assert_allclose(compare_rdms(a, a.subset(["c", "b", "a"]).subset(["a", "b", "c"])), [[1.0]])


def test_compare_rdms_unknown_method_lists_choices():
    with pytest.raises(ValueError, match="choose from"):
        compare_rdms([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], method="corr")


def test_fisher_z_known_values():
    np.testing.assert_allclose(fisher_z([0.0, 0.5, -0.5]), [0.0, 0.5493061443340549, -0.5493061443340549])
    with pytest.raises(ValueError, match="lie in"):
        fisher_z([1.5])


# --- permutation test -------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_permutation_null_equals_explicit_permutations(rng, method):
    n = 7
    a, b = compute_rdm(rng.normal(size=(n, 5))), compute_rdm(rng.normal(size=(n, 5)))
    res = rdm_permutation_test(a, b, method=method, n_permutations=50, random_state=3, return_null=True,
                               chunk_size=16)
    gen = np.random.default_rng(3)
    perms = np.concatenate([gen.permuted(np.broadcast_to(np.arange(n), (m, n)), axis=1) for m in (16, 16, 16, 2)])
    labels = a.pattern_labels
    expected = [compare_rdms(RDM.from_matrix(a.matrix()[np.ix_(p, p)], measure="c", pattern_labels=labels), b,
                             method=method)[0, 0] for p in perms]
    np.testing.assert_allclose(res.null, expected, atol=1e-12)
    np.testing.assert_allclose(res.observed, compare_rdms(a, b, method=method)[0, 0], atol=1e-12)


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_compiled_permutation_statistic_equals_plain_loop(rng, method):
    """The numba kernels against compare_rdms of each explicitly permuted matrix, ties included."""
    n = 12
    va, vb = np.round(rng.random((2, n * (n - 1) // 2)), 1)  # about 10 distinct values: many ties
    perms = np.vstack([np.arange(n), np.arange(n)[::-1], [rng.permutation(n) for _ in range(40)]])
    got = COMPARE_METHODS[method].permutation_statistic(va, vb)(perms)
    square = squareform(va)
    expected = [compare_rdms(squareform(square[np.ix_(p, p)], checks=False), vb, method=method)[0, 0] for p in perms]
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", ["pearson", "kendall_tau_a"])
def test_permutation_p_values_are_uniform_under_the_null(rng, method):
    p = [rdm_permutation_test(compute_rdm(rng.normal(size=(10, 4))), compute_rdm(rng.normal(size=(10, 4))),
                              method=method, n_permutations=199, random_state=rng).p_value for _ in range(300)]
    assert scipy.stats.kstest(p, "uniform").pvalue > 0.01


@pytest.mark.parametrize("method", ["spearman", "kendall_tau_a"])
def test_permutation_detects_shared_structure(rng, method):
    x = rng.normal(size=(12, 30))
    a = compute_rdm(x)
    b = compute_rdm(x + 0.5 * rng.normal(size=x.shape))
    res = rdm_permutation_test(a, b, method=method, n_permutations=999, random_state=0)
    assert res.p_value == pytest.approx(1 / 1000)


def test_permutation_unknown_method_lists_choices():
    with pytest.raises(ValueError, match="choose from"):
        rdm_permutation_test([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], method="tau_b")


def test_permutation_two_conditions_has_one_pair():
    res = rdm_permutation_test([1.0], [2.0], method="kendall_tau_a", n_permutations=9, return_null=True)
    assert res.observed == 0.0 and res.p_value == 1.0
    np.testing.assert_array_equal(res.null, np.zeros(9))


# --- noise ceiling ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_noise_ceiling_matches_rsatoolbox(rng, method):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    truth = rng.random(28)
    subjects = truth + 0.3 * rng.random((5, 28))
    ours = rdm_noise_ceiling(subjects, method=method)
    with pytest.warns(UserWarning) if method == "kendall_tau_a" else _no_warning():
        lower, upper = rsatoolbox.inference.boot_noise_ceiling(
            rsatoolbox.rdm.RDMs(subjects), method=COMPARE_METHODS[method].rsatoolbox_name)
    np.testing.assert_allclose([ours.lower, ours.upper], [lower, upper], atol=1e-10)
    assert ours.lower <= ours.upper


def _no_warning():
    import contextlib

    return contextlib.nullcontext()


# --- I/O --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_save_load_round_trip(tmp_path, rng, suffix):
    rdm = RDM(_random_rdms(rng, 2, 4), "correlation", ("face", "house", "cat", "shoe"),
              {"subject": "s01", "layer": 3})
    back = load_rdm(save_rdm(rdm, tmp_path / f"rdm{suffix}"))
    np.testing.assert_array_equal(back.dissimilarities, rdm.dissimilarities)
    assert (back.measure, back.pattern_labels, back.descriptors) == (rdm.measure, rdm.pattern_labels,
                                                                     rdm.descriptors)


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_rdm_descriptors_survive_save_and_load(tmp_path, rng, suffix):
    rdms = concat_rdms(_layer_rdms(rng))
    back = load_rdm(save_rdm(rdms, tmp_path / f"rdms{suffix}"))
    np.testing.assert_array_equal(back.dissimilarities, rdms.dissimilarities)
    assert (back.descriptors, back.rdm_descriptors) == (rdms.descriptors, rdms.rdm_descriptors)


def test_rsatoolbox_reads_our_rdm_descriptors(tmp_path, rng):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    rdms = concat_rdms(_layer_rdms(rng))
    theirs = rsatoolbox.rdm.load_rdm(str(save_rdm(rdms, tmp_path / "ours.h5")))
    assert list(theirs.rdm_descriptors["layer"]) == list(rdms.rdm_descriptors["layer"])
    np.testing.assert_array_equal(theirs.subset("network", "expression").get_vectors(),
                                  rdms.subset_rdms("network", "expression").dissimilarities)


def test_hdf5_layout_is_read_and_written_by_rsatoolbox(tmp_path, rng):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    rdm = RDM(_random_rdms(rng, 1, 4), "correlation", ("face", "house", "cat", "shoe"), {"subject": "s01"})
    theirs = rsatoolbox.rdm.load_rdm(str(save_rdm(rdm, tmp_path / "ours.h5")))
    np.testing.assert_array_equal(theirs.get_vectors(), rdm.dissimilarities)
    assert list(theirs.pattern_descriptors["label"]) == list(rdm.pattern_labels)
    assert theirs.dissimilarity_measure == "correlation" and theirs.descriptors["subject"] == "s01"
    to_rsatoolbox(rdm).save(str(tmp_path / "theirs.h5"), file_type="hdf5")
    back = load_rdm(tmp_path / "theirs.h5")
    np.testing.assert_array_equal(back.dissimilarities, rdm.dissimilarities)
    assert back.pattern_labels == rdm.pattern_labels and back.descriptors == {"subject": "s01"}
    assert from_rsatoolbox(to_rsatoolbox(rdm)).pattern_labels == rdm.pattern_labels


def test_save_rdm_unknown_suffix_lists_choices(tmp_path):
    with pytest.raises(ValueError, match="choose from"):
        save_rdm(RDM([1.0], "x", ("a", "b")), tmp_path / "rdm.csv")


# --- clustering -------------------------------------------------------------------------------


def test_predictable_vertices_thresholds():
    mask = predictable_vertices(np.array([0.1, 0.3, 0.3, 0.5]), np.array([0.001, 0.001, 0.05, 0.0]))
    np.testing.assert_array_equal(mask, [False, True, False, True])


def test_category_similarity_equals_corrcoef_on_mask(rng):
    maps = rng.normal(size=(4, 30))
    mask = rng.random(30) > 0.5
    np.testing.assert_allclose(category_similarity(maps, mask=mask), np.corrcoef(maps[:, mask]))


def test_category_similarity_centred_ignores_a_pattern_shared_by_all_categories(rng):
    deviations = rng.normal(size=(5, 30))
    shared = 100 * rng.normal(size=30)  # e.g. the encoder's intercept, identical in every category map
    centred = deviations - deviations.mean(axis=0)
    np.testing.assert_allclose(category_similarity(deviations + shared, centre=True), np.corrcoef(centred))
    np.testing.assert_allclose(category_similarity(deviations + shared, centre=True),
                               category_similarity(deviations, centre=True))
    assert category_similarity(deviations + shared)[np.triu_indices(5, 1)].min() > 0.99  # uncentred: all r ≈ 1
    with pytest.raises(ValueError, match="at least 3 rows"):
        category_similarity(deviations[:2], centre=True)
    with pytest.raises(ValueError, match="constant .* once the mean over categories is removed"):
        category_similarity(np.stack([deviations[0], deviations[1], deviations[:2].mean(axis=0)]), centre=True)


def test_rdm_labels_must_be_unique_and_named():
    with pytest.raises(ValueError, match=r"pattern_labels lists \['a'\] more than once"):
        RDM(np.ones(3), "correlation", ("a", "b", "a"))
    rdm = RDM(np.arange(1.0, 4.0), "correlation", ("a", "b", "c"))
    with pytest.raises(ValueError, match=r"lists \['b'\] more than once"):
        rdm.subset(["b", "b", "c"])
    with pytest.raises(ValueError, match="at least 2 labels"):
        rdm.subset([])


def _two_blobs(rng, n_per=6, n_vertices=40):
    centres = rng.normal(size=(2, n_vertices)) * 3
    maps = np.repeat(centres, n_per, axis=0) + rng.normal(size=(2 * n_per, n_vertices))
    return category_similarity(maps), np.repeat([0, 1], n_per)


def test_category_dendrogram_groups_blobs(rng):
    S, truth = _two_blobs(rng, n_per=4)
    linkage, order = category_dendrogram(S)
    assert linkage.shape == (7, 4)
    assert sorted(order) == list(range(8))
    # the last merge joins the two blobs: leaves of each blob are contiguous
    assert set(truth[order[:4]]) == {truth[order[0]]} and set(truth[order[4:]]) == {truth[order[4]]}
    with pytest.raises(ValueError, match="choose from"):
        category_dendrogram(S, method="ward2")


def _nested_maps(rng, n_vertices=60):
    """Two superordinate groups of 2 + 2 sub-groups of 2 categories each (8 categories)."""
    top = rng.normal(size=(2, n_vertices)) * 3
    sub = rng.normal(size=(4, n_vertices)) * 1.5
    maps = np.repeat(top, 4, axis=0) + np.repeat(sub, 2, axis=0) + 0.3 * rng.normal(size=(8, n_vertices))
    return maps, np.repeat([0, 1], 4), np.repeat([0, 1, 2, 3], 2)


def test_layerwise_clustering_modularity_and_semantic_r(rng):
    maps, top, _ = _nested_maps(rng)
    noise = rng.normal(size=maps.shape)  # a layer without category structure
    semantic = np.where(top[:, None] == top[None, :], 1.0, 0.0)
    semantic_with_unknown = semantic.copy()
    semantic_with_unknown[7, :] = semantic_with_unknown[:, 7] = np.nan
    result = layerwise_clustering(np.stack([noise, maps]), semantic={"truth": semantic, "partial":
                                                                     semantic_with_unknown}, random_state=0)
    assert result.best_k[1] == 2
    S = category_similarity(maps, centre=True)
    assert result.modularity[1] == pytest.approx(signed_modularity(S, top))
    assert result.modularity[1] > result.modularity[0]
    iu = np.triu_indices(8, 1)
    expected = scipy.stats.pearsonr(S[iu], semantic[iu])[0]
    assert result.semantic_r["truth"][1] == pytest.approx(expected)
    iu7 = np.triu_indices(7, 1)
    expected7 = scipy.stats.pearsonr(S[:7, :7][iu7], semantic[:7, :7][iu7])[0]
    assert result.semantic_r["partial"][1] == pytest.approx(expected7)
    assert abs(result.semantic_r["truth"][0]) < result.semantic_r["truth"][1]
    with pytest.raises(ValueError, match="shape"):
        layerwise_clustering(maps[None], semantic={"bad": semantic[:3, :3]})


def test_layerwise_clustering_finds_planted_groups_under_a_large_shared_offset(rng):
    """Single-layer maps = a large baseline common to all categories + a small planted two-group pattern."""
    maps, top, _ = _nested_maps(rng)
    baseline = 1000 * rng.normal(size=maps.shape[1])
    layer_maps = np.stack([baseline + 0.01 * maps, baseline + 0.01 * rng.normal(size=maps.shape)])
    result = layerwise_clustering(layer_maps, random_state=0)
    assert result.best_k[0] == 2 and result.modularity[0] > 0.5
    labels = cluster_categories(category_similarity(layer_maps[0], centre=True), random_state=0,
                                k_range=range(2, 8)).labels
    assert adjusted_rand_score(top, labels) == 1.0
    uncentred = layerwise_clustering(layer_maps, centre=False, random_state=0)  # the baseline hides the groups
    assert uncentred.modularity[0] < 0.01


def test_finer_clustering_recovers_planted_sub_groups(rng):
    maps, top, sub = _nested_maps(rng, n_vertices=30)
    categories = np.array(list("abcdefgh"))
    n_per = 10
    labels = np.repeat(categories, n_per)
    responses = np.repeat(maps, n_per, axis=0) + 0.5 * rng.normal(size=(8 * n_per, 30))
    responses[np.isin(labels, categories[top == 0]), :20] += 10.0  # the first cluster's specific vertices
    result = finer_clustering(responses, labels, categories[top == 0], random_state=0)
    assert result.categories == tuple("abcd")
    assert result.specific[:20].mean() > 0.9
    np.testing.assert_array_equal(result.specific, cluster_specific_vertices(responses, labels, list("abcd"),
                                                                             list("efgh")))
    assert result.clustering.best_k == 2
    assert adjusted_rand_score(sub[:4], result.clustering.labels) == 1.0
    assert result.similarity.shape == (4, 4) and result.linkage.shape == (3, 4)
    with pytest.raises(ValueError, match="at least 3 labels"):
        finer_clustering(responses, labels, ["a", "b"])
    with pytest.raises(ValueError, match=r"lists \['a'\] more than once"):
        finer_clustering(responses, labels, ["a", "a", "b", "c"])
    with pytest.raises(ValueError, match=r"\['a'\] are both cluster and control"):
        finer_clustering(responses, labels, list("abc"), control=list("aef"))
    with pytest.raises(ValueError, match="too few"):
        finer_clustering(rng.normal(size=responses.shape), labels, list("abc"))
