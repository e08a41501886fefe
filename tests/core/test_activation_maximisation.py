"""Tests for core.activation_maximisation: encoding objective weights and activation maximisation."""

from __future__ import annotations

import numpy as np
import pytest

from core.activation_maximisation import encoding_objective_weights, maximise_activation


def test_encoding_objective_weights_equal_weighted_prediction(rng):
    from core.encoding import EncodingModel, stack_layer_features

    X, slices = stack_layer_features({"a": rng.normal(size=(40, 5)), "b": rng.normal(size=(40, 3))})
    Y = X @ rng.normal(size=(8, 6)) + rng.normal(size=(40, 6))
    model = EncodingModel(slices, n_folds=3, random_state=0).fit(X.astype(np.float64), Y)
    w = rng.normal(size=6)
    weights, offset = encoding_objective_weights(model, w)
    assert list(weights) == ["a", "b"] and weights["a"].shape == (5,) and weights["b"].shape == (3,)
    direct = model.predict(X.astype(np.float64)) @ w
    via_weights = X[:, :5] @ weights["a"] + X[:, 5:] @ weights["b"] + offset
    np.testing.assert_allclose(via_weights, direct, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="6 vertices"):
        encoding_objective_weights(model, w[:3])


def _tiny_net():
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)
            self.relu = torch.nn.ReLU()
            with torch.no_grad():  # channel 0 prefers red minus blue, channel 1 the reverse
                self.conv.weight.zero_()
                self.conv.weight[0, 0] = 1.0
                self.conv.weight[0, 2] = -1.0
                self.conv.weight[1] = -self.conv.weight[0]
                self.conv.bias.zero_()

        def prepare(self, x):
            return x

        def forward(self, x):
            return self.relu(self.conv(x))

    return Tiny()


def test_maximise_activation_increases_the_objective_towards_the_known_optimum():
    model = _tiny_net()
    weights_before = model.conv.weight.detach().clone()
    result = maximise_activation(model, {"relu": np.array([1.0, 0.0])}, n_starts=2, n_steps=60, image_size=16,
                                 jitter=2, random_state=0)
    assert result.images.shape == (2, 16, 16, 3) and result.objective.shape == (61, 2)
    assert np.all(result.objective[-1] > result.objective[0] + 1.0)
    # the optimum of channel 0 is a red image: red high, blue low
    assert result.images[..., 0].mean() > 0.8 and result.images[..., 2].mean() < 0.2
    np.testing.assert_array_equal(model.conv.weight.detach(), weights_before)
    assert all(p.requires_grad for p in model.parameters())


def test_maximise_activation_reports_progress_and_bad_layers():
    steps = []
    maximise_activation(_tiny_net(), {"relu": [0.0, 1.0]}, n_starts=1, n_steps=3, image_size=8,
                        objective_offset=10.0, progress=lambda step, total, message: steps.append((step, total, message)))
    assert [s[:2] for s in steps] == [(1, 3), (2, 3), (3, 3)]
    assert steps[-1][2].startswith("step 3/3: mean objective 1")  # the offset is added to the objective
    with pytest.raises(ValueError, match="list_layers"):
        maximise_activation(_tiny_net(), {"fc9": [1.0]}, n_steps=1, image_size=8)
    with pytest.raises(ValueError, match="features have 2"):
        maximise_activation(_tiny_net(), {"relu": [1.0, 0.0, 0.0]}, n_steps=1, image_size=8)


def test_whole_map_objective_is_the_projected_features_at_the_input_size():
    """With a whole-map reduction the weights act on the count-sketch of the map the model sees at its input size
    (as the encoding features were extracted), not on channel means of the optimised image's own size."""
    import torch

    from core.features import make_reduction

    model = _tiny_net()
    model.input_size = (12, 12)  # 2 channels × 12 × 12 = 288 units, sketched to 16
    options = {"reduction": "random_projection", "n_components": 16, "random_state": 3}
    weights = np.random.default_rng(0).standard_normal(16)
    result = maximise_activation(model, {"relu": weights}, n_starts=2, n_steps=5, image_size=8, jitter=0,
                                 random_state=0, reduction=options)
    image = torch.from_numpy(result.images).permute(0, 3, 1, 2)
    with torch.no_grad():
        seen = torch.nn.functional.interpolate(image, size=(12, 12), mode="bilinear", align_corners=False)
        features = make_reduction("random_projection", n_components=16, random_state=3)(model(seen), "relu")
    np.testing.assert_allclose(result.objective[-1], features.double().numpy() @ weights, rtol=1e-4, atol=1e-5)
    assert np.all(result.objective[-1] > result.objective[0])
