"""Tests for core.clustering: signed modularity, compiled k-means, null maps and the selection-aware test."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from core.clustering import (
    ShiftNull,
    SpinNull,
    cluster_categories,
    clustering_significance,
    null_for_vertices,
    signed_modularity,
)
from core.cortex import smooth_on_surface
from core.rsa import category_similarity


def test_signed_modularity_hand_computed_four_nodes():
    """Nodes 0,1 in module A and 2,3 in module B; positive edges 0-1 and 2-3, negative 0-2 and 1-3.

    Positive part: v⁺ = 4 (each edge counted twice), s⁺ = 1 for every node; within-module weight 4,
    expected (1+1)²/4 + (1+1)²/4 = 2, so Q⁺ = (4 - 2)/4 = 0.5. Negative part: v⁻ = 4, s⁻ = 1,
    within-module weight 0, expected 2, so Q⁻ = (0 - 2)/4 = -0.5. Q = Q⁺ - Q⁻ = 1. Swapping to
    modules {0,2},{1,3} gives Q⁺ = -0.5, Q⁻ = 0.5, Q = -1. The diagonal is 0, so both conventions agree.
    """
    W = np.array([[0, 1, -1, 0], [1, 0, 0, -1], [-1, 0, 0, 1], [0, -1, 1, 0]], dtype=float)
    for include_diagonal in (False, True):
        assert signed_modularity(W, [0, 0, 1, 1], include_diagonal=include_diagonal) == pytest.approx(1.0)
        assert signed_modularity(W, ["b", "a", "b", "a"], include_diagonal=include_diagonal) == pytest.approx(-1.0)


def test_signed_modularity_matches_bctpy_with_and_without_the_diagonal(rng):
    bct = pytest.importorskip("bct")
    for _ in range(5):
        W = rng.normal(size=(9, 9))
        W = (W + W.T) / 2
        labels = rng.integers(0, 3, size=9)
        zeroed = W.copy()
        np.fill_diagonal(zeroed, 0.0)
        assert signed_modularity(W, labels, include_diagonal=True) == pytest.approx(
            bct.modularity_und_sign(W, labels, qtype="smp")[1])
        assert signed_modularity(W, labels) == pytest.approx(bct.modularity_und_sign(zeroed, labels, qtype="smp")[1])
    with pytest.raises(ValueError, match="labels must have shape"):
        signed_modularity(W, labels[:3])


def _blobs(rng, n_groups=2, n_per=6, n_vertices=40):
    centres = rng.normal(size=(n_groups, n_vertices)) * 3
    maps = np.repeat(centres, n_per, axis=0) + rng.normal(size=(n_groups * n_per, n_vertices))
    return maps, np.repeat(np.arange(n_groups), n_per)


def test_cluster_categories_two_blobs(rng):
    maps, truth = _blobs(rng)
    result = cluster_categories(category_similarity(maps), k_range=range(2, 7), random_state=0)
    assert result.best_k == 2
    assert adjusted_rand_score(truth, result.labels) == 1.0
    assert result.modularity.shape == (5,) and np.argmax(result.modularity) == 0
    assert result.modularity[0] == pytest.approx(signed_modularity(category_similarity(maps), result.labels))
    with pytest.raises(ValueError, match="k_range"):
        cluster_categories(category_similarity(maps), k_range=[1, 2])


def _inertia(S, labels):
    return sum(((S[labels == c] - S[labels == c].mean(axis=0)) ** 2).sum() for c in np.unique(labels))


def test_kmeans_reaches_sklearns_best_inertia_on_random_profiles(rng):
    """Two paths agree: with 100 starts each, the compiled k-means and sklearn's reach the same inertia."""
    for k in (2, 3, 5):
        S = category_similarity(rng.normal(size=(12, 30)))
        ours = cluster_categories(S, k_range=[k], n_init=100, random_state=0).labels
        reference = KMeans(n_clusters=k, n_init=100, random_state=0).fit(S).inertia_
        assert _inertia(S, ours) == pytest.approx(reference, rel=1e-9)
        assert len(np.unique(ours)) == k


def test_counting_the_diagonal_rewards_many_clusters_on_structure_free_maps(rng):
    """The cause of issue 15's k = 10: with the diagonal of 1s in Q, structure-free maps pick the top k."""
    top, zeroed = [], []
    for _ in range(5):
        S = category_similarity(rng.normal(size=(15, 3000)), centre=True)
        top.append(cluster_categories(S, include_diagonal=True, random_state=0).best_k)
        zeroed.append(cluster_categories(S, random_state=0).best_k)
    assert top == [10] * 5
    assert max(zeroed) < 10


def test_clustering_significance_observed_clustering_is_the_pages(rng):
    maps, _ = _blobs(rng, n_groups=3, n_per=3, n_vertices=200)
    mask = rng.random(200) > 0.3
    result = clustering_significance(maps, mask=mask, k_range=range(2, 8), n_permutations=20, random_state=3)
    S = category_similarity(maps, mask=mask, centre=True)
    np.testing.assert_allclose(result.similarity, S, atol=1e-12)
    reference = cluster_categories(S, k_range=range(2, 8), random_state=3)
    np.testing.assert_array_equal(result.clustering.labels_per_k, reference.labels_per_k)
    assert result.q == pytest.approx(reference.modularity.max())
    assert result.null_q.shape == (20,) and result.null_q_per_k.shape == (20, 6)
    np.testing.assert_array_equal(result.null_q, result.null_q_per_k.max(axis=1))
    assert "circular shift" in result.null


def test_clustering_significance_uniform_on_structure_free_maps_with_the_data_chosen_partition(rng):
    """Replaces a test that drew the partition at random: here k and the partition are chosen on the data
    (as the page does), and each null sample re-runs that choice. Independent maps of exchangeable values:
    the shift null is exact, so p is uniform (ks test) and the false-positive rate is near 5 %."""
    p = [clustering_significance(rng.normal(size=(8, 300)), k_range=range(2, 8), n_permutations=39,
                                 n_init=4, random_state=rng).p_value for _ in range(150)]
    assert scipy.stats.kstest(p, "uniform").pvalue > 0.01
    assert np.mean(np.array(p) <= 0.05) < 0.12


def _smooth_fsaverage5(rng, n_maps):
    return smooth_on_surface(rng.normal(size=(n_maps, 20_484)).astype(np.float32), n_iter=20)


def test_spin_null_keeps_each_maps_smoothness_and_breaks_alignment(rng):
    maps = _smooth_fsaverage5(rng, 2).astype(np.float64)
    centred = maps - maps.mean(axis=0)
    null = SpinNull("fsaverage5", n_rotations=20)
    sample = null.sampler(centred, np.ones(20_484, bool))(rng)
    # a 2-map sample re-centred over maps is ±(a - b)/2: compare the smoothness of its rows with the input's
    smoothed = smooth_on_surface(sample[0].astype(np.float32), n_iter=1)
    original = centred[0] / np.linalg.norm(centred[0] - centred[0].mean())
    lag1_sample = np.corrcoef(sample[0], smoothed)[0, 1]
    lag1_original = np.corrcoef(original, smooth_on_surface(original.astype(np.float32), n_iter=1))[0, 1]
    assert lag1_sample == pytest.approx(lag1_original, abs=0.03)
    rotated = null.sampler(maps - maps.mean(), np.ones(20_484, bool))
    assert abs(np.corrcoef(rotated(rng)[0], original)[0, 1]) < 0.9
    with pytest.raises(ValueError, match="needs 20,484 vertices"):
        null.sampler(centred[:, :100], np.ones(100, bool))


def test_null_for_vertices_picks_the_surface():
    assert null_for_vertices(59_412) == SpinNull("fsLR32k")
    assert null_for_vertices(20_484) == SpinNull("fsaverage5")
    assert isinstance(null_for_vertices(3000), ShiftNull)


def test_clustering_significance_finds_three_planted_groups_on_the_sphere(rng):
    groups = np.repeat([0, 1, 2], 3)
    maps = 2.0 * _smooth_fsaverage5(rng, 3)[groups] + _smooth_fsaverage5(rng, 9)
    result = clustering_significance(maps, k_range=range(2, 8), n_permutations=99,
                                     null=SpinNull("fsaverage5", n_rotations=40), random_state=0)
    assert result.clustering.best_k == 3
    assert adjusted_rand_score(groups, result.clustering.labels) == 1.0
    assert result.p_value < 0.05
    assert "spin test" in result.null


def test_clustering_significance_rejects_bad_input(rng):
    maps = rng.normal(size=(6, 50))
    with pytest.raises(ValueError, match="mask must have shape"):
        clustering_significance(maps, mask=np.ones(49, bool))
    with pytest.raises(ValueError, match="no value in"):
        clustering_significance(maps, k_range=[7, 8])
    with pytest.raises(ValueError, match="n_permutations"):
        clustering_significance(maps, n_permutations=0)
    with pytest.raises(ValueError, match="constant"):
        clustering_significance(np.ones((6, 50)))


def test_clusters_cli_writes_the_partition_and_its_p(rng, tmp_path, capsys):
    import json

    from core.__main__ import main

    maps, truth = _blobs(rng, n_groups=3, n_per=3, n_vertices=500)
    np.savez(tmp_path / "maps.npz", maps=maps, labels=np.array([f"cat{i}" for i in range(9)]))
    assert main(["clusters", "--maps", str(tmp_path / "maps.npz"), "--out", str(tmp_path / "out.json"),
                 "--n-permutations", "49", "--seed", "1"]) == 0
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["k"] == 3 and out["p"] == pytest.approx(1 / 50)
    assert adjusted_rand_score(truth, out["assignment"]) == 1.0
    assert out["labels"] == [f"cat{i}" for i in range(9)] and "circular shift" in out["null"]
    assert "k = 3" in capsys.readouterr().out
    np.savez(tmp_path / "bad.npz", maps=maps)
    with pytest.raises(SystemExit, match="lacks \\['labels'\\]"):
        main(["clusters", "--maps", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "x.json")])
