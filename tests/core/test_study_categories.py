"""Category maps and d′ of a study's model on a labelled library (core.studies.categories), on tiny data with a
known answer."""

import numpy as np
import pytest

from core.studies.categories import predicted_category_selectivity


class _Linear:
    """A model predicting X @ W (what an encoding model does after its PCA)."""

    def __init__(self, W):
        self.W = W

    def predict(self, X):
        return X @ self.W


def test_category_maps_and_dprime_have_the_known_answer():
    # Two categories of three images; vertex 0 sees category "a" as 1, 2, 3 and "b" as 4, 5, 6 (d′ = -3 for "a"),
    # vertex 1 copies vertex 0, vertex 2 is not predicted (NaN) although the model predicts a value there.
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]], np.float32)
    W = np.array([[1.0, 1.0, 7.0]], np.float32)
    labels = ["a", "a", "a", "b", "b", "b"]
    result = predicted_category_selectivity(_Linear(W), X, labels, np.array([True, True, False]), batch_size=4)
    assert result.categories == ("a", "b") and result.n_images == 6
    np.testing.assert_allclose(result.maps[:, :2], [[2.0, 2.0], [5.0, 5.0]])
    # d′ = (2 − 5) / sqrt((1 + 1) / 2) = −3 for "a", +3 for "b"
    np.testing.assert_allclose(result.dprime[:, :2], [[-3.0, -3.0], [3.0, 3.0]], rtol=1e-6)
    assert np.isnan(result.maps[:, 2]).all() and np.isnan(result.dprime[:, 2]).all()
    assert result.maps.dtype == result.dprime.dtype == np.float32


def test_a_planted_category_vertex_is_found_among_noise(rng):
    labels = np.repeat(["face", "house", "tool"], 20)
    X = rng.standard_normal((60, 5)).astype(np.float32)
    X[:, 0] += 2.0 * (labels == "face")
    W = np.zeros((5, 30), np.float32)
    W[1:, :] = rng.standard_normal((4, 30))
    W[:, 7] = [1.0, 0, 0, 0, 0]  # vertex 7 reads only the face feature
    result = predicted_category_selectivity(_Linear(W), X, labels, np.ones(30, bool))
    face = result.categories.index("face")
    assert np.nanargmax(result.dprime[face]) == 7 and result.dprime[face, 7] > 1.5


def test_a_category_with_one_image_is_left_out():
    X = np.array([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [100.0]], np.float32)
    result = predicted_category_selectivity(_Linear(np.ones((1, 1))), X, list("aaabbbc"), np.ones(1, bool))
    assert result.categories == ("a", "b") and result.left_out == ("c",) and result.n_images == 7
    np.testing.assert_allclose(result.dprime[:, 0], [-3.0, 3.0], rtol=1e-6)  # "c" is not in the rest either
    with pytest.raises(ValueError, match="at least two categories"):
        predicted_category_selectivity(_Linear(np.ones((1, 1))), X[:4], list("aaab"), np.ones(1, bool))


def test_no_predicted_vertex_is_refused():
    with pytest.raises(ValueError, match="at least one predicted vertex"):
        predicted_category_selectivity(_Linear(np.ones((1, 2))), np.ones((4, 1)), list("aabb"), np.zeros(2, bool))
