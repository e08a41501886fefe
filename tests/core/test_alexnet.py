"""AlexNet from torchvision, with weights the user supplies."""

from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import torch

from core.models import alexnet as alexnet_module
from core.models.alexnet import (
    ALEXNET_LAYERS,
    ALEXNET_WEIGHTS_ENV,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ZooAlexNet,
    alexnet_imagenet,
)
from core.weights import WeightsUnavailableError

EXPECTED_SHAPES = {
    "features.1": (64, 55, 55),
    "features.4": (192, 27, 27),
    "features.7": (384, 13, 13),
    "features.9": (256, 13, 13),
    "features.11": (256, 13, 13),
    "classifier.1": (4096,),
    "classifier.4": (4096,),
    "classifier.6": (1000,),
}


@pytest.fixture(scope="module")
def random_model(random_zoo_model):
    return random_zoo_model("alexnet")


def _no_download(**_kwargs):
    raise urllib.error.URLError("network is unreachable")


def test_random_build_has_zoo_attributes(random_model, check_zoo_convention):
    check_zoo_convention(random_model)
    assert isinstance(random_model, ZooAlexNet)
    assert random_model.input_size == (224, 224)
    assert random_model.layer_sets["default"] == ALEXNET_LAYERS
    assert len(random_model.labels) == 1000 and random_model.labels[0] == "tench"


def test_default_layers_shapes_and_fc_outputs_are_not_overwritten(random_model, rng, forward_with_hooks):
    x = torch.from_numpy(rng.random((2, 3, 224, 224), dtype=np.float32))
    outputs, logits = forward_with_hooks(random_model, random_model.prepare(x))
    assert {name: tuple(out.shape[1:]) for name, out in outputs.items()} == EXPECTED_SHAPES
    torch.testing.assert_close(outputs["classifier.6"], logits)
    # fc6/fc7 are hooked before their ReLU: with in-place ReLUs the stored values would be clipped.
    assert (outputs["classifier.1"] < 0).any() and (outputs["classifier.4"] < 0).any()
    assert (outputs["features.1"] >= 0).all()


def test_prepare_imagenet_normalisation_known_answer(random_model):
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    x = torch.cat([mean.expand(1, 3, 2, 2), (mean + std).expand(1, 3, 2, 2)])
    out = random_model.prepare(x)
    torch.testing.assert_close(out[0], torch.zeros(3, 2, 2), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], torch.ones(3, 2, 2))
    with pytest.raises(ValueError, match=r"\(n, 3, height, width\)"):
        random_model.prepare(torch.zeros(3, 224, 224))


def test_no_weights_raises_clear_error(monkeypatch):
    monkeypatch.delenv(ALEXNET_WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(alexnet_module, "_torchvision_state_dict", _no_download)
    with pytest.raises(WeightsUnavailableError, match=f"{ALEXNET_WEIGHTS_ENV}=/path/to/alexnet") as err:
        alexnet_imagenet(pretrained=True)
    assert "network is unreachable" in str(err.value)
    assert "pretrained=False" in str(err.value)


def test_env_var_naming_missing_file_raises(monkeypatch, tmp_path):
    monkeypatch.setenv(ALEXNET_WEIGHTS_ENV, str(tmp_path / "absent.pth"))
    with pytest.raises(WeightsUnavailableError, match="absent.pth"):
        alexnet_imagenet(pretrained=True)


def test_env_var_weights_are_loaded_strictly(monkeypatch, tmp_path, random_model):
    path = tmp_path / "alexnet.pth"
    torch.save(random_model.state_dict(), path)
    monkeypatch.setenv(ALEXNET_WEIGHTS_ENV, str(path))
    monkeypatch.setattr(alexnet_module, "_torchvision_state_dict", _no_download)
    model = alexnet_imagenet(pretrained=True)
    torch.testing.assert_close(model.features[0].weight, random_model.features[0].weight)
    torch.testing.assert_close(model.classifier[6].bias, random_model.classifier[6].bias)
    torch.save({"features.0.weight": random_model.features[0].weight}, path)
    with pytest.raises(RuntimeError, match="Missing key"):
        alexnet_imagenet(pretrained=True)
