"""face-api.js face networks (identity, expression, age-gender, 68 landmarks) ported to torch."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.models import MODEL_REGISTRY, build_model
from core.models._layers import SeparableConv2d, TFConv2d
from core.models.face_api import (
    EXPRESSION_LABELS,
    FACE_API_MEAN_RGB,
    SAME_PERSON_THRESHOLD,
    FaceRecognitionNet,
    _ReductionBlock,
    _ResidualBlock,
    tfjs_to_torch_state_dict,
)
from core.weights import WEIGHT_SOURCES, load_state_dict

FACE_MODELS = ("face_identity", "face_expression", "face_age_gender", "face_landmarks68")

EXTRACTOR_SHAPES = {
    "features.dense0": (32, 56, 56),
    "features.dense1": (64, 28, 28),
    "features.dense2": (128, 14, 14),
    "features.dense3": (256, 7, 7),
}

#: Per model: (shape of every "default" layer without the batch axis, shape of forward's output).
EXPECTED = {
    "face_identity": ({
        "conv32_down": (32, 72, 72),
        **{f"conv32_{i}": (32, 35, 35) for i in (1, 2, 3)},
        "conv64_down": (64, 17, 17), **{f"conv64_{i}": (64, 17, 17) for i in (1, 2, 3)},
        "conv128_down": (128, 8, 8), **{f"conv128_{i}": (128, 8, 8) for i in (1, 2)},
        "conv256_down": (256, 4, 4), **{f"conv256_{i}": (256, 4, 4) for i in (1, 2)},
        "conv256_down_out": (256, 2, 2),
        "fc": (128,),
    }, (128,)),
    "face_expression": ({**EXTRACTOR_SHAPES, "fc": (7,)}, (7,)),
    "face_landmarks68": ({**EXTRACTOR_SHAPES, "fc": (136,)}, (68, 2)),
    "face_age_gender": ({
        "backbone.entry_flow.conv_in": (32, 56, 56),
        "backbone.entry_flow.reduction_block_0": (64, 28, 28),
        "backbone.entry_flow.reduction_block_1": (128, 14, 14),
        "backbone.middle_flow.main_block_0": (128, 14, 14),
        "backbone.middle_flow.main_block_1": (128, 14, 14),
        "backbone.exit_flow.reduction_block": (256, 7, 7),
        "backbone.exit_flow.separable_conv": (512, 7, 7),
        "fc": (3,),
    }, (3,)),
}


# --- TF.js -> torch convolution conversion --------------------------------------------------


def _tf_conv_reference(x, kernel, stride, depthwise=False):
    """TensorFlow conv2d / depthwise_conv2d with 'same' padding, written with plain loops.

    x is NHWC, kernel HWIO (or H, W, C, multiplier when ``depthwise``); the output has
    ceil(size / stride) positions and TF puts the odd padding pixel after.
    """
    n, height, width, channels = x.shape
    kh, kw = kernel.shape[:2]
    out_h, out_w = -(-height // stride), -(-width // stride)
    pad_h = max((out_h - 1) * stride + kh - height, 0)
    pad_w = max((out_w - 1) * stride + kw - width, 0)
    padded = np.zeros((n, height + pad_h, width + pad_w, channels))
    padded[:, pad_h // 2:pad_h // 2 + height, pad_w // 2:pad_w // 2 + width] = x
    n_out = channels * kernel.shape[3] if depthwise else kernel.shape[3]
    out = np.zeros((n, out_h, out_w, n_out))
    for i in range(out_h):
        for j in range(out_w):
            patch = padded[:, i * stride:i * stride + kh, j * stride:j * stride + kw]
            if depthwise:
                out[:, i, j] = np.einsum("nhwc,hwcm->ncm", patch, kernel).reshape(n, -1)
            else:
                out[:, i, j] = np.einsum("nhwc,hwco->no", patch, kernel)
    return out


def _converted_pair(rng, c_in, c_out, stride):
    """A TFConv2d and a SeparableConv2d loaded from random TF.js-layout weights."""
    tf_weights = {
        "conv/filters": rng.normal(size=(3, 3, c_in, c_out)).astype(np.float32),
        "conv/bias": rng.normal(size=c_out).astype(np.float32),
        "sep/depthwise_filter": rng.normal(size=(3, 3, c_in, 1)).astype(np.float32),
        "sep/pointwise_filter": rng.normal(size=(1, 1, c_in, c_out)).astype(np.float32),
        "sep/bias": rng.normal(size=c_out).astype(np.float32),
        "fc/weights": rng.normal(size=(c_in, c_out)).astype(np.float32),
        "fc/bias": rng.normal(size=c_out).astype(np.float32),
    }
    module = nn.ModuleDict({"conv": TFConv2d(c_in, c_out, 3, stride=stride),
                            "sep": SeparableConv2d(c_in, c_out, stride=stride),
                            "fc": nn.Linear(c_in, c_out)})
    module.load_state_dict(tfjs_to_torch_state_dict(tf_weights, "identity"), strict=True)
    return tf_weights, module


@pytest.mark.parametrize(("size", "stride"), [(6, 1), (7, 1), (6, 2), (7, 2)])
def test_converted_convolutions_match_tensorflow_reference(rng, size, stride):
    tf_weights, module = _converted_pair(rng, 3, 4, stride)
    x = rng.normal(size=(2, size, size, 3)).astype(np.float32)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    with torch.no_grad():
        conv = module["conv"](xt).permute(0, 2, 3, 1).numpy()
        sep = module["sep"](xt).permute(0, 2, 3, 1).numpy()
    expected_conv = _tf_conv_reference(x, tf_weights["conv/filters"], stride) + tf_weights["conv/bias"]
    depthwise = _tf_conv_reference(x, tf_weights["sep/depthwise_filter"], stride, depthwise=True)
    expected_sep = _tf_conv_reference(depthwise, tf_weights["sep/pointwise_filter"], 1) + tf_weights["sep/bias"]
    assert conv.shape == (2, -(-size // stride), -(-size // stride), 4)
    np.testing.assert_allclose(conv, expected_conv, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sep, expected_sep, rtol=1e-4, atol=1e-4)


def test_converted_fc_is_x_times_tf_matrix_plus_bias(rng):
    tf_weights, module = _converted_pair(rng, 3, 4, 1)
    x = rng.normal(size=(5, 3)).astype(np.float32)
    with torch.no_grad():
        out = module["fc"](torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, x @ tf_weights["fc/weights"] + tf_weights["fc/bias"], rtol=1e-5, atol=1e-5)


def test_stride2_same_padding_is_asymmetric():
    # A 3x3 kernel whose only tap is its top-left corner reads x[2i - pad_before, 2j - pad_before];
    # TF pads an even input with nothing before, so the output is x[::2, ::2] (torch's symmetric
    # padding=1 would give zeros in the first row and column instead).
    conv = TFConv2d(1, 1, 3, stride=2, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0
        x = torch.arange(36, dtype=torch.float32).view(1, 1, 6, 6)
        np.testing.assert_array_equal(conv(x).numpy(), x[:, :, ::2, ::2].numpy())


def test_tfjs_to_torch_state_dict_names_the_valid_nets():
    with pytest.raises(ValueError, match="choose from"):
        tfjs_to_torch_state_dict({}, "gaze")


def test_tfconv2d_rejects_unknown_padding():
    with pytest.raises(ValueError, match="choose from"):
        TFConv2d(1, 1, 3, padding="causal")


# --- blocks with hand-computed answers ----------------------------------------------------------


def _zero_parameters(module):
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()


def test_residual_down_block_with_zero_weights_is_pooled_shortcut_padded_with_zero_channels(rng):
    # conv256_down on 8x8: the branch comes out 3x3 and is zero-padded to the pool's 4x4.
    block = _ResidualBlock(2, 4, down=True)
    _zero_parameters(block)
    x = torch.from_numpy(rng.normal(size=(1, 2, 8, 8)).astype(np.float32))
    with torch.no_grad():
        out = block(x).numpy()
    pooled = x.numpy().reshape(1, 2, 4, 2, 4, 2).mean(axis=(3, 5))
    np.testing.assert_allclose(out[:, :2], np.maximum(pooled, 0), atol=1e-6)
    np.testing.assert_array_equal(out[:, 2:], 0)


def test_reduction_block_max_pool_pads_with_minus_infinity():
    # Constant -1 maps stay -1 after TF's 'same' max pool; zero padding would put 0 on the border.
    block = _ReductionBlock(2, 3)
    _zero_parameters(block)
    with torch.no_grad():
        block.separable_conv1.bias.fill_(-1.0)
        out = block(torch.ones(1, 2, 8, 8)).numpy()
    assert out.shape == (1, 3, 4, 4)
    np.testing.assert_array_equal(out, -1.0)


def test_identity_net_global_average_and_fc_known_answer():
    # All-zero weights except fc: every block outputs zeros, so the descriptor is 0 for any input.
    net = FaceRecognitionNet()
    _zero_parameters(net)
    with torch.no_grad():
        net.fc.weight.fill_(1.0)
        assert torch.count_nonzero(net(torch.ones(1, 3, 150, 150))) == 0
        # With the last block's scale biases at 1, the 2x2 map after conv256_down_out holds
        # relu(1) in the 1x1 branch and 0 in its zero padding: mean 0.25, fc sum over 256 = 64.
        net.conv256_down_out.conv2.scale.bias.fill_(1.0)
        np.testing.assert_allclose(net(torch.ones(1, 3, 150, 150)).numpy(), 64.0)


# --- zoo convention with random weights -------------------------------------------------------


@pytest.mark.parametrize("name", FACE_MODELS)
def test_registry_models_expose_every_layer_with_expected_shapes(
        rng, name, random_zoo_model, check_zoo_convention, forward_with_hooks):
    model = random_zoo_model(name)
    layer_shapes, output_shape = EXPECTED[name]
    assert MODEL_REGISTRY[name].startswith("core.models.face_api:")
    check_zoo_convention(model)
    assert tuple(model.layer_sets["default"]) == tuple(layer_shapes)
    x = torch.from_numpy(rng.random((2, 3, *model.input_size), dtype=np.float32))
    outputs, final = forward_with_hooks(model, model.prepare(x))
    assert {layer: tuple(out.shape[1:]) for layer, out in outputs.items()} == layer_shapes
    assert tuple(final.shape) == (2, *output_shape)
    assert torch.isfinite(final).all()


@pytest.mark.parametrize("name", FACE_MODELS)
def test_state_dict_round_trip_is_exact(tmp_path, rng, name, random_zoo_model):
    model = random_zoo_model(name)
    torch.save(model.state_dict(), tmp_path / "net.pt")
    torch.manual_seed(1)
    other = build_model(name, pretrained=False)
    other.load_state_dict(load_state_dict(tmp_path / "net.pt"), strict=True)
    x = model.prepare(torch.from_numpy(rng.random((1, 3, *model.input_size), dtype=np.float32)))
    with torch.no_grad():
        torch.testing.assert_close(other(x), model(x), rtol=0, atol=0)


def test_output_heads_are_probabilities(rng, random_zoo_model):
    expression, age_gender = random_zoo_model("face_expression"), random_zoo_model("face_age_gender")
    x = torch.from_numpy(rng.random((3, 3, 112, 112), dtype=np.float32))
    with torch.no_grad():
        probabilities = expression(expression.prepare(x))
        genders = age_gender(age_gender.prepare(x))[:, 1:]
    np.testing.assert_allclose(probabilities.sum(1).numpy(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(genders.sum(1).numpy(), 1.0, rtol=1e-5)
    assert expression.labels == EXPRESSION_LABELS
    assert age_gender.labels == ("age", "male", "female")


def test_prepare_known_answers():
    model = FaceRecognitionNet()
    mean = torch.tensor(FACE_API_MEAN_RGB).view(1, 3, 1, 1)
    x = torch.cat([torch.zeros(1, 3, 150, 150), torch.ones(1, 3, 150, 150), mean.expand(1, 3, 150, 150) / 255])
    out = model.prepare(x)
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), [-122.782 / 255, -117.001 / 255, -104.298 / 255], rtol=1e-6)
    np.testing.assert_allclose(out[1, :, 0, 0].numpy(), [132.218 / 255, 137.999 / 255, 150.702 / 255], rtol=1e-6)
    np.testing.assert_allclose(out[2].numpy(), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(n, 3, height, width\)"):
        model.prepare(torch.zeros(3, 150, 150))


def test_weight_source_is_the_pinned_npm_package():
    source = WEIGHT_SOURCES["face_api"]
    assert source.requirement == "@vladmandic/face-api@1.7.15"
    assert source.converter == "core.models.face_api:convert_face_api"


# --- pretrained weights (slow) ------------------------------------------------------------


def _to_input(image, size):
    """face-api's toBatchTensor: pad to a centred square with zeros, resize bilinearly; [0, 1]."""
    x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None] / 255
    height, width = x.shape[2:]
    diff = abs(height - width)
    after = round(diff / 2)
    padding = (diff - after, after, 0, 0) if height > width else (0, 0, diff - after, after)
    return F.interpolate(F.pad(x, padding), size=size, mode="bilinear", align_corners=False, antialias=True)


def _crop(image, box):
    x0, y0, x1, y1 = (int(v) for v in box)
    return image[max(y0, 0):y1, max(x0, 0):x1]


@pytest.fixture(scope="module")
def pretrained():
    return {name: build_model(name) for name in FACE_MODELS}


def _landmarks(pretrained, image, box):
    """68 landmarks in image pixels (x, y) of the face in ``box`` (as face-api's detectLandmarks)."""
    net = pretrained["face_landmarks68"]
    crop = _crop(image, box)
    with torch.no_grad():
        relative = net(net.prepare(_to_input(crop, net.input_size)))[0].numpy()
    return relative * max(crop.shape[:2]) + np.array(box[:2])


def _aligned_rect(points):
    """face-api's ``alignedRect``: the landmarks' bounding box grown by 20 % (age, gender, expression)."""
    (x0, y0), (x1, y1) = points.min(0), points.max(0)
    w, h = x1 - x0, y1 - y0
    return np.floor([x0 - 0.1 * w, y0 - 0.1 * h, x1 + 0.1 * w, y1 + 0.1 * h])


def _dlib_rect(points):
    """face-api's dlib alignment box used before the recognition net (``align(useDlibAlignment)``)."""
    centres = np.stack([points[36:42].mean(0), points[42:48].mean(0), points[48:68].mean(0)])
    size = np.floor(np.linalg.norm(centres[:2] - centres[2], axis=1).mean() / 0.45)
    ref = centres.mean(0)
    x, y = np.floor(max(0, ref[0] - 0.5 * size)), np.floor(max(0, ref[1] - 0.43 * size))
    return (x, y, x + size, y + size)


def _descriptor(pretrained, image):
    net = pretrained["face_identity"]
    with torch.no_grad():
        return net(net.prepare(_to_input(image, net.input_size)))[0].numpy()


@pytest.mark.slow
def test_astronaut_expression_is_happy(pretrained, astronaut_face):
    net = pretrained["face_expression"]
    with torch.no_grad():
        probabilities = net(net.prepare(_to_input(astronaut_face, net.input_size)))[0]
    assert EXPRESSION_LABELS[int(probabilities.argmax())] == "happy"
    assert probabilities[1] > 0.99


@pytest.mark.slow
def test_astronaut_landmarks_fall_on_the_face(pretrained, astronaut, astronaut_face_box):
    points = _landmarks(pretrained, astronaut, astronaut_face_box)
    x0, y0, x1, y1 = astronaut_face_box
    assert ((points >= [x0, y0]) & (points <= [x1, y1])).all()
    left_eye, right_eye, mouth = points[36:42].mean(0), points[42:48].mean(0), points[48:68].mean(0)
    nose_tip, chin = points[30], points[8]
    assert left_eye[0] < nose_tip[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose_tip[1] < mouth[1] < chin[1]
    assert 30 < right_eye[0] - left_eye[0] < 70  # inter-ocular distance in pixels, face ~120 px wide


@pytest.mark.slow
def test_astronaut_is_female_on_face_api_aligned_crop(pretrained, astronaut, astronaut_face_box):
    net = pretrained["face_age_gender"]
    box = _aligned_rect(_landmarks(pretrained, astronaut, astronaut_face_box))
    with torch.no_grad():
        age, p_male, p_female = net(net.prepare(_to_input(_crop(astronaut, box), net.input_size)))[0].tolist()
    assert p_female > 0.5
    assert p_male + p_female == pytest.approx(1.0, abs=1e-5)
    assert 15 < age < 60


@pytest.mark.slow
def test_identity_same_person_close_other_people_far(pretrained, astronaut, astronaut_face_box):
    from core.weights import fetch_package

    box = _dlib_rect(_landmarks(pretrained, astronaut, astronaut_face_box))
    face = _crop(astronaut, box)
    reference = _descriptor(pretrained, face)
    x0, y0, x1, y1 = box
    margin = 0.1 * (x1 - x0)
    same_person = [
        _descriptor(pretrained, face[:, ::-1]),  # mirror image
        _descriptor(pretrained, _crop(astronaut, (x0 - margin, y0 - margin, x1 + margin, y1 + margin))),
        _descriptor(pretrained, face[::2, ::2]),  # half resolution
    ]
    assert max(np.linalg.norm(d - reference) for d in same_person) < SAME_PERSON_THRESHOLD

    from PIL import Image

    folder = fetch_package("felonfinder_faces", progress=None) / "felonfinder" / "img" / "faces"
    others = []
    for path in sorted(folder.glob("*.jpg"))[:40]:
        photo = np.asarray(Image.open(path).convert("RGB"))
        height, width = photo.shape[:2]
        square = (0, (height - width) // 2, width, (height - width) // 2 + width)
        others.append(_descriptor(pretrained, _crop(photo, _dlib_rect(_landmarks(pretrained, photo, square)))))
    distances = np.linalg.norm(np.array(others) - reference, axis=1)
    assert distances.min() > SAME_PERSON_THRESHOLD


_FACE_API_JS = """
const pv = {...process.versions}; delete pv.node; Object.defineProperty(process, 'versions', {value: pv});
const faceapi = await import(process.argv[2] + '/package/dist/face-api.esm.js');
const fs = await import('fs');
const tf = faceapi.tf;
tf.setPlatform('test', {fetch, now: () => performance.now(), encode: (s) => new TextEncoder().encode(s),
  decode: (b, e) => new TextDecoder(e).decode(b), isTypedArray: (a) => ArrayBuffer.isView(a) && !(a instanceof DataView)});
class Dummy {}
faceapi.env.setEnv({Canvas: Dummy, CanvasRenderingContext2D: Dummy, Image: Dummy, ImageData: Dummy, Video: Dummy,
  createCanvasElement: () => null, createImageElement: () => null, createVideoElement: () => null, fetch, readFile: null});
await tf.setBackend('cpu');
const model = process.argv[2] + '/package/model/';
function load(net, name) {
  const manifest = JSON.parse(fs.readFileSync(model + name + '-weights_manifest.json'));
  const buf = Buffer.concat(manifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(model + p))));
  net.loadFromWeightMap(tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength),
    manifest.flatMap((g) => g.weights)));
  return net;
}
async function input(size) {
  const b = fs.readFileSync(process.argv[3] + '/x' + size + '.f32');
  const x = tf.tensor4d(new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), [2, size, size, 3]);
  return faceapi.toNetInput(tf.unstack(x));
}
const x112 = await input(112);
const out = {};
out.face_identity = await load(new faceapi.FaceRecognitionNet(), 'face_recognition_model').forwardInput(await input(150)).array();
out.face_expression = await load(new faceapi.FaceExpressionNet(), 'face_expression_model').forwardInput(x112).array();
out.face_landmarks68 = await load(new faceapi.FaceLandmark68Net(), 'face_landmark_68_model').runNet(x112).array();
const ag = load(new faceapi.AgeGenderNet(), 'age_gender_model').forwardInput(x112);
const [age, gender] = [await ag.age.array(), await ag.gender.array()];
out.face_age_gender = age.map((a, i) => [a, ...gender[i]]);
fs.writeFileSync(process.argv[3] + '/out.json', JSON.stringify(out));
"""


@pytest.mark.slow
def test_pretrained_nets_match_face_api_js(pretrained, astronaut_face, registry_package, rng, tmp_path):
    """Two paths agree: our torch port vs face-api's own TF.js code run by node on the same inputs."""
    if shutil.which("node") is None:
        pytest.skip("node is needed to run face-api.js")
    package = registry_package("face_api")
    inputs = {}
    for size in (112, 150):
        face = _to_input(astronaut_face, (size, size))
        noise = torch.from_numpy(rng.random((1, 3, size, size), dtype=np.float32))
        inputs[size] = torch.cat([face, noise])
        (inputs[size].permute(0, 2, 3, 1).numpy() * 255).astype("<f4").tofile(tmp_path / f"x{size}.f32")
    (tmp_path / "run.mjs").write_text(_FACE_API_JS)
    subprocess.run(["node", str(tmp_path / "run.mjs"), str(package), str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    reference = json.loads((tmp_path / "out.json").read_text())
    for name, model in pretrained.items():
        with torch.no_grad():
            ours = model(model.prepare(inputs[model.input_size[0]])).reshape(2, -1).numpy()
        np.testing.assert_allclose(ours, np.array(reference[name]), rtol=1e-4, atol=1e-4, err_msg=name)
