"""face-api SSD-MobileNetV1 face detector (torch port) and face crop/alignment helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from core.models.face_detector import (
    BACKBONE_LAYERS,
    FaceDetectorSSD,
    _resize_bilinear_tf,
    align_face,
    crop_faces,
    decode_boxes,
    detect_faces,
    face_detector_ssd,
    non_max_suppression,
    ssd_anchors,
    tfjs_to_torch_state_dict,
)

BACKBONE_SHAPES = {
    "backbone.conv_0": (32, 256, 256),
    "backbone.conv_1": (64, 256, 256),
    **{f"backbone.conv_{i}": (128, 128, 128) for i in (2, 3)},
    **{f"backbone.conv_{i}": (256, 64, 64) for i in (4, 5)},
    **{f"backbone.conv_{i}": (512, 32, 32) for i in range(6, 12)},
    **{f"backbone.conv_{i}": (1024, 16, 16) for i in (12, 13)},
}

#: Detections of face-api 1.7.15 itself (dist/face-api.esm.js, tfjs CPU backend, Node 20, tensor
#: input, minConfidence 0.5) on skimage's astronaut and chelsea: [x0, y0, x1, y1, score] in pixels.
#: face-api leaves chelsea's y1 at 375.52, below the 300-pixel image; we clip it.
FACE_API_ASTRONAUT = [181.11810, 72.86064, 264.39545, 174.58286, 0.96484]
FACE_API_CHELSEA = [0.0, 1.38292, 373.58784, 300.0, 0.93103]


@pytest.fixture(scope="module")
def random_model(random_zoo_model):
    return random_zoo_model("face_detector")


def _tfjs_name_and_array(key: str, value: torch.Tensor) -> tuple[str, np.ndarray] | None:
    """TF.js name and TF-layout array for a state-dict key (written independently of the converter)."""
    array = value.numpy()
    if key == "anchors":
        return "Output/extra_dim", array[None]
    parts = key.split(".")
    if parts[0] == "box_predictors":
        kind = {"box_encoding": "BoxEncodingPredictor", "class_logits": "ClassPredictor"}[parts[2]]
        prefix = f"Prediction/BoxPredictor_{parts[1]}/{kind}"
        return (
            (f"{prefix}/weights", array.transpose(2, 3, 1, 0))
            if parts[-1] == "weight"
            else (f"{prefix}/biases", array)
        )
    scope = "MobilenetV1" if parts[0] == "backbone" else "Prediction"
    index = parts[1].removeprefix("conv_")
    if parts[0] == "backbone" and index != "0" and parts[2] == "0":  # depthwise conv + BatchNorm
        prefix = f"{scope}/Conv2d_{index}_depthwise"
        if parts[3] == "0":
            return f"{prefix}/depthwise_weights", array.transpose(2, 3, 0, 1)
        bn = {
            "weight": "gamma",
            "bias": "beta",
            "running_mean": "moving_mean",
            "running_var": "moving_variance",
        }
        return (f"{prefix}/BatchNorm/{bn[parts[-1]]}", array) if parts[-1] in bn else None
    prefix = f"{scope}/Conv2d_{index}_pointwise"
    return (
        (f"{prefix}/weights", array.transpose(2, 3, 1, 0))
        if parts[-1] == "weight"
        else (f"{prefix}/convolution_bn_offset", array)
    )


def _fake_tfjs_weights(model: FaceDetectorSSD, rng) -> dict[str, np.ndarray]:
    weights = {}
    for key, value in model.state_dict().items():
        entry = _tfjs_name_and_array(key, value)
        if entry is not None:
            name, array = entry
            weights[name] = array if key == "anchors" else rng.standard_normal(array.shape).astype(np.float32)
    weights["Preprocessor/mul/x"] = np.float32(1 / 127.5)
    weights["Prediction/BoxPredictor_3/stack_1/1"] = np.float32(-1)
    weights["concat_1/axis"] = np.float32(1)
    return weights


def test_zoo_convention(random_model, check_zoo_convention):
    check_zoo_convention(random_model)
    assert isinstance(random_model, FaceDetectorSSD)
    assert random_model.input_size == (512, 512)
    assert random_model.labels == ("face",)
    assert random_model.layer_sets["default"] == BACKBONE_LAYERS
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    assert torch.allclose(random_model.prepare(x)[0, :, 0, 0], torch.tensor([-1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="shape"):
        random_model.prepare(torch.zeros(3, 8, 8))


def test_layer_and_output_shapes(random_model, rng, forward_with_hooks):
    x = torch.from_numpy(rng.random((1, 3, 512, 512), dtype=np.float32))
    outputs, (boxes, scores) = forward_with_hooks(random_model, random_model.prepare(x))
    assert {layer: tuple(out.shape[1:]) for layer, out in outputs.items()} == BACKBONE_SHAPES
    assert boxes.shape == (1, 5118, 4) and scores.shape == (1, 5118)
    assert ((scores > 0) & (scores < 1)).all()


def test_anchors_known_values():
    anchors = ssd_anchors()
    assert anchors.shape == (32 * 32 * 3 + (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2 + 1) * 6, 4)
    centre = 0.5 / 32  # first cell of the 32x32 map; first anchor is the 0.1 square
    np.testing.assert_allclose(
        anchors[0], [centre - 0.05, centre - 0.05, centre + 0.05, centre + 0.05], atol=1e-7
    )
    # second anchor: scale 0.2, aspect ratio 2 -> height 0.2/sqrt(2), width 0.2*sqrt(2)
    half_h, half_w = 0.1 / math.sqrt(2), 0.1 * math.sqrt(2)
    np.testing.assert_allclose(
        anchors[1], [centre - half_h, centre - half_w, centre + half_h, centre + half_w], atol=1e-7
    )
    # the last map has a single cell; its second anchor is the sqrt(0.95 * 1.0) square
    half = math.sqrt(0.95) / 2
    np.testing.assert_allclose(anchors[-5], [0.5 - half, 0.5 - half, 0.5 + half, 0.5 + half], atol=1e-6)


def test_decode_zero_offsets_gives_the_anchor_and_known_shifts():
    anchors = torch.tensor([[0.2, 0.1, 0.6, 0.3]])  # ymin, xmin, ymax, xmax: height 0.4, width 0.2
    np.testing.assert_allclose(decode_boxes(torch.zeros(1, 4), anchors), [[0.1, 0.2, 0.3, 0.6]], atol=1e-7)
    # ty = 10 moves the centre down one anchor height; tw = 5 ln 2 doubles the width
    shifted = decode_boxes(torch.tensor([[10.0, 0.0, 0.0, 5 * math.log(2)]]), anchors)
    np.testing.assert_allclose(shifted, [[0.0, 0.6, 0.4, 1.0]], atol=1e-6)


def test_nms_keeps_the_higher_of_two_overlapping_boxes():
    boxes = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [0.05, 0.0, 1.05, 1.0], [2.0, 2.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0]]
    )
    scores = torch.tensor([0.7, 0.9, 0.6, 0.4])
    kept = non_max_suppression(boxes, scores, min_confidence=0.5, max_output=10)
    assert kept.tolist() == [1, 2]
    assert non_max_suppression(boxes, scores, min_confidence=0.5, max_output=1).tolist() == [1]
    # IoU 0.5 exactly is not above the threshold, so both stay
    half = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.5]])
    assert non_max_suppression(
        half, torch.tensor([0.9, 0.8]), min_confidence=0.5, max_output=10
    ).tolist() == [0, 1]


def test_tf_legacy_resize_samples_corner_aligned_grid():
    x = torch.tensor([[0.0, 10.0], [20.0, 30.0]])[None]
    up = _resize_bilinear_tf(x, 4)[0]
    np.testing.assert_allclose(up[0], [0.0, 5.0, 10.0, 10.0])
    np.testing.assert_allclose(up[:, 0], [0.0, 10.0, 20.0, 20.0])
    down = _resize_bilinear_tf(torch.arange(16.0).view(1, 4, 4), 2)[0]
    np.testing.assert_allclose(down, [[0.0, 2.0], [8.0, 10.0]])


def test_converter_maps_every_tensor(random_model, rng):
    weights = _fake_tfjs_weights(random_model, rng)
    state = tfjs_to_torch_state_dict(weights)
    model = FaceDetectorSSD()
    model.load_state_dict(state, strict=True)
    tf_depthwise = weights["MobilenetV1/Conv2d_3_depthwise/depthwise_weights"]  # (3, 3, 128, 1)
    assert model.backbone.conv_3[0][0].weight[7, 0, 2, 1].item() == pytest.approx(tf_depthwise[2, 1, 7, 0])
    tf_class = weights["Prediction/BoxPredictor_5/ClassPredictor/weights"]  # (1, 1, 128, 18)
    assert model.box_predictors[5].class_logits.weight[17, 100, 0, 0].item() == pytest.approx(
        tf_class[0, 0, 100, 17]
    )
    gamma = weights["MobilenetV1/Conv2d_13_depthwise/BatchNorm/gamma"]
    np.testing.assert_array_equal(model.backbone.conv_13[0][1].weight.detach().numpy(), gamma)
    with pytest.raises(ValueError, match="lack tensor"):
        tfjs_to_torch_state_dict({k: v for k, v in weights.items() if "Conv2d_5_pointwise/weights" not in k})
    with pytest.raises(ValueError, match="unused"):
        tfjs_to_torch_state_dict({**weights, "Extra/weights": np.zeros(3, np.float32)})
    with pytest.raises(ValueError, match="anchors"):
        tfjs_to_torch_state_dict({**weights, "Output/extra_dim": weights["Output/extra_dim"] + 0.01})


class _FixedDetector(nn.Module):
    """Stand-in network giving the same relative boxes for every image (tests the pixel mapping)."""

    input_size = (512, 512)

    def __init__(self, boxes, scores):
        super().__init__()
        self.boxes, self.scores = torch.tensor(boxes), torch.tensor(scores)
        self.seen = []

    def prepare(self, x):
        return x * 2 - 1

    def forward(self, x):
        self.seen.append(x)
        n = x.shape[0]
        return self.boxes.expand(n, -1, -1), self.scores.expand(n, -1)


def test_detect_faces_maps_boxes_to_pixels():
    model = _FixedDetector(
        [[0.25, 0.1, 0.5, 0.4], [0.26, 0.1, 0.5, 0.4], [0.6, 0.3, 0.9, 0.7]], [0.8, 0.7, 0.95]
    )
    image = np.full((200, 400, 3), 255, np.uint8)  # wide: padded at the bottom to 400x400
    (faces,) = detect_faces([image], model=model)
    np.testing.assert_allclose(faces, [[240, 120, 360, 200, 0.95], [100, 40, 200, 160, 0.8]], rtol=1e-6)
    prepared = model.seen[0][0]  # white top half, black (-1) padding below
    assert prepared[:, 250].min() == 1 and prepared[:, 300].max() == -1
    assert detect_faces([image], model=model, min_confidence=0.9)[0].shape == (1, 5)
    assert detect_faces([image], model=model, max_faces=1)[0][0, 4] == pytest.approx(0.95)


def test_detect_faces_validates_input(random_model):
    with pytest.raises(ValueError, match="uint8 RGB"):
        detect_faces([np.zeros((8, 8), np.uint8)], model=random_model)
    with pytest.raises(ValueError, match="min_confidence"):
        detect_faces([np.zeros((8, 8, 3), np.uint8)], model=random_model, min_confidence=1.5)
    with pytest.raises(ValueError, match="max_faces"):
        detect_faces([np.zeros((8, 8, 3), np.uint8)], model=random_model, max_faces=0)


def test_crop_faces_cuts_the_box_with_margin():
    image = np.zeros((100, 120, 3), np.uint8)
    image[30:70, 20:60] = [200, 100, 50]  # box x 20-60, y 30-70
    tight = crop_faces(image, [[20, 30, 60, 70, 0.9]], size=40, margin=0.0)
    assert tight.shape == (1, 40, 40, 3) and (tight[0] == [200, 100, 50]).all()
    wide = crop_faces(image, np.array([[20, 30, 60, 70]]), size=80, margin=0.5)[0]
    assert (wide[20:60, 20:60] == [200, 100, 50]).all()
    wide[20:60, 20:60] = 0
    assert wide.max() == 0
    white = np.full((100, 120, 3), 255, np.uint8)
    outside = crop_faces(white, [[100, 80, 140, 120]], size=40, margin=0.0)[0]  # a quarter in the image
    assert (outside[:20, :20] == 255).all()
    outside[:20, :20] = 0
    assert outside.max() == 0
    assert crop_faces(image, np.zeros((0, 5)), size=16).shape == (0, 16, 16, 3)
    with pytest.raises(ValueError, match="boxes"):
        crop_faces(image, [[1, 2, 3]], size=16)


def _tilted_face(angle_deg: float):
    """Image with a red left eye and a green right eye, and matching 68 landmarks rotated by angle."""
    angle = math.radians(angle_deg)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    centre = np.array([100.0, 110.0])
    ring = np.stack([np.cos(np.arange(6) * np.pi / 3), np.sin(np.arange(6) * np.pi / 3)], axis=1) * 6
    template = np.zeros((68, 2))
    template[:17] = np.stack([np.linspace(-45, 45, 17), 40 - 0.02 * np.linspace(-45, 45, 17) ** 2], axis=1)
    template[17:27] = np.stack([np.linspace(-35, 35, 10), np.full(10, -35.0)], axis=1)
    template[27:36] = np.stack([np.zeros(9), np.linspace(-25, 5, 9)], axis=1)
    template[36:42] = ring + [-22, -20]
    template[42:48] = ring + [22, -20]
    template[48:68] = np.stack([np.linspace(-18, 18, 20), np.full(20, 22.0)], axis=1)
    landmarks = template @ rotation.T + centre
    image = np.zeros((220, 200, 3), np.uint8)
    yy, xx = np.mgrid[:220, :200] + 0.5
    for (cx, cy), colour in zip(
        centre + np.array([[-22, -20], [22, -20]]) @ rotation.T, ([255, 0, 0], [0, 255, 0]), strict=True
    ):
        image[(xx - cx) ** 2 + (yy - cy) ** 2 <= 16] = colour
    return image, landmarks


def test_align_face_levels_the_eyes():
    image, landmarks = _tilted_face(25.0)
    aligned = align_face(image, landmarks, 120)
    assert aligned.shape == (120, 120, 3)
    centroids = []
    for channel in (0, 1):
        other = 1 - channel
        mask = (aligned[..., channel] > 128) & (aligned[..., other] < 64)
        ys, xs = np.nonzero(mask)
        assert len(ys) > 10
        centroids.append((xs.mean(), ys.mean()))
    (left_x, left_y), (right_x, right_y) = centroids
    assert abs(left_y - right_y) < 1.0
    assert right_x - left_x > 30  # left eye stays on the left, and the face fills the crop
    before = np.nonzero(image[..., 0] > 128)[0].mean() - np.nonzero(image[..., 1] > 128)[0].mean()
    assert abs(before) > 10  # the input really was tilted


def test_align_face_validates_landmarks():
    image, landmarks = _tilted_face(10.0)
    with pytest.raises(ValueError, match=r"\(68, 2\)"):
        align_face(image, landmarks[:5], 64)
    with pytest.raises(ValueError, match="size"):
        align_face(image, landmarks, 0)


@pytest.fixture(scope="module")
def pretrained_model():
    return face_detector_ssd(pretrained=True)


@pytest.mark.slow
def test_pretrained_finds_the_astronaut_face_as_face_api(pretrained_model, astronaut):
    (faces,) = detect_faces([astronaut], model=pretrained_model)
    confident = faces[faces[:, 4] > 0.8]
    assert len(confident) == 1 and len(faces) == 1
    x0, y0, x1, y1, _ = confident[0]
    assert 160 <= x0 < x1 <= 300 and 20 <= y0 < y1 <= 190
    np.testing.assert_allclose(faces[0], FACE_API_ASTRONAUT, atol=2e-3)


@pytest.mark.slow
def test_pretrained_matches_face_api_on_a_wide_image_and_ignores_coffee(pretrained_model, chelsea, coffee):
    cat, cup = detect_faces([chelsea, coffee], model=pretrained_model)
    np.testing.assert_allclose(cat, [FACE_API_CHELSEA], atol=2e-3)  # face-api reports the cat too
    assert cup.shape == (0, 5)
