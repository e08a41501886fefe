"""core.rsa.geometry and the display views of core.model_brain_rsa: known answers on tiny synthetic RDMs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from core.model_brain_rsa import compare_models_to_brain, region_rdm_pair, second_order_mds
from core.rsa import RDM
from core.rsa.geometry import classical_mds, leaf_order, rank_percentiles, similarity_distances, square


def test_classical_mds_reproduces_euclidean_distances(rng):
    points = rng.normal(size=(9, 2)) * [3.0, 1.0]
    distance = squareform(pdist(points))
    xy = classical_mds(distance)
    np.testing.assert_allclose(pdist(xy), pdist(points), atol=1e-9)
    assert classical_mds(distance[:2, :2], n_components=3).shape == (2, 3)  # padded with zeros
    with pytest.raises(ValueError, match="square"):
        classical_mds(distance[:, :4])


def test_rank_percentiles_square_and_ties():
    out = rank_percentiles([0.3, 0.1, 0.2])
    np.testing.assert_array_equal(out, square([100.0, 0.0, 50.0]))
    np.testing.assert_array_equal(rank_percentiles([1.0, 1.0, 2.0]), square([25.0, 25.0, 100.0]))


def test_leaf_order_keeps_blocks_together(rng):
    labels = np.array([0, 1, 0, 1, 0, 1])
    rdm = squareform((labels[:, None] != labels[None]) + 0.01 * rng.random((6, 6)), checks=False)
    order = leaf_order(rdm)
    assert sorted(order) == list(range(6)) and len(set(labels[order[:3]])) == 1


def test_similarity_distances():
    similarity = np.array([[1.0, 0.6, np.nan], [0.2, 1.0, 1.5], [np.nan, 1.5, 1.0]])
    np.testing.assert_allclose(similarity_distances(similarity), [[0, 0.6, 1], [0.6, 0, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="square"):
        similarity_distances(np.ones(3))


def test_region_pair_and_mds_of_a_result(rng):
    n = 8
    pairs = n * (n - 1) // 2
    labels = tuple(map(str, range(n)))
    truth = rng.random(pairs)
    brain = {"V1": RDM(truth + 0.01 * rng.random((2, pairs)), "euclidean", labels),
             "IT": RDM(rng.random((1, pairs)), "euclidean", labels)}
    models = {("net", "a"): rng.random(pairs), ("net", "b"): truth}
    result = compare_models_to_brain(models, brain, n_permutations=0, n_bootstrap=0)
    brain_pct, model_pct, order, best = region_rdm_pair(result, "V1")
    assert best == 1 and sorted(order) == list(range(n))
    np.testing.assert_array_equal(brain_pct, rank_percentiles(brain["V1"].dissimilarities.mean(axis=0)))
    np.testing.assert_array_equal(model_pct, rank_percentiles(truth))
    with pytest.raises(ValueError, match="choose from"):
        region_rdm_pair(result, "FFA")
    xy = second_order_mds(result)
    assert xy.shape == (4, 2)
    # V1's mean RDM and the layer equal to its truth are the closest pair of points
    distances = squareform(pdist(xy))
    np.fill_diagonal(distances, np.inf)
    assert set(np.unravel_index(np.argmin(distances), distances.shape)) == {0, 3}
