"""Feature extraction: layer resolution, hooks vs manual forward, reductions, cache, HRF."""

import numpy as np
import pytest
import torch
from torch import nn

from core import features
from core.features import FeatureCache, canonical_hrf, extract_features, features_to_tr


class TinyNet(nn.Module):
    """A zoo-convention model built in code: conv → relu → pool → linear."""

    input_size = (8, 8)
    labels = ("a", "b")

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)
        self.layer_sets = {"default": ("conv", "relu", "fc"), "last": ("fc",)}

    def prepare(self, x):
        return x * 2.0 - 1.0

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


@pytest.fixture
def images(rng):
    return rng.integers(0, 256, size=(70, 8, 8, 3), dtype=np.uint8)


def test_unknown_layer_lists_layer_sets_and_points_to_list_layers():
    with pytest.raises(ValueError, match=r"list_layers.*") as err:
        features.resolve_layers(TinyNet(), ["conv", "nope"])
    assert "nope" in str(err.value) and "default" in str(err.value)


def test_layer_set_name_resolves_to_module_paths():
    assert features.resolve_layers(TinyNet(), "last") == ["fc"]
    assert features.resolve_layers(TinyNet(), "relu") == ["relu"]


def test_hooks_return_the_same_tensors_as_a_manual_forward(images):
    model = TinyNet()
    feats = extract_features(model, images, layers="default", reduction="full", batch_size=16)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        conv = model.conv(model.prepare(x))
        logits = model(model.prepare(x))
    np.testing.assert_allclose(feats["conv"], conv.flatten(1).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(feats["relu"], conv.clamp(min=0).flatten(1).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(feats["fc"], logits.numpy(), rtol=1e-5, atol=1e-5)
    assert feats["conv"].shape == (70, 4 * 8 * 8) and feats["fc"].dtype == np.float32


def test_hooks_are_removed_after_a_failed_batch(images):
    model = TinyNet()
    model.prepare = lambda x: x[:, :2]  # wrong channel count: the forward pass fails
    with pytest.raises(RuntimeError):
        extract_features(model, images, layers="default")
    assert not any(module._forward_hooks for module in model.modules())


def test_mean_reduction_is_the_spatial_average(images):
    model = TinyNet()
    full = extract_features(model, images, layers=["relu"], reduction="full")["relu"]
    mean = extract_features(model, images, layers=["relu"], reduction="mean")["relu"]
    np.testing.assert_allclose(mean, full.reshape(70, 4, 64).mean(-1), rtol=1e-5, atol=1e-6)


def test_random_projection_is_seeded_and_preserves_distances(rng):
    model = TinyNet()
    imgs = rng.integers(0, 256, size=(20, 8, 8, 3), dtype=np.uint8)
    a = extract_features(model, imgs, layers=["conv"], reduction="random_projection", n_components=200)
    b = extract_features(model, imgs, layers=["conv"], reduction="random_projection", n_components=200)
    full = extract_features(model, imgs, layers=["conv"], reduction="full")["conv"]
    np.testing.assert_array_equal(a["conv"], b["conv"])
    assert a["conv"].shape == (20, 200)
    d_full = np.linalg.norm(full[:, None] - full[None], axis=-1)[np.triu_indices(20, 1)]
    d_proj = np.linalg.norm(a["conv"][:, None] - a["conv"][None], axis=-1)[np.triu_indices(20, 1)]
    assert np.median(np.abs(d_proj / d_full - 1)) < 0.1  # Johnson–Lindenstrauss: distances kept
    small = extract_features(model, imgs, layers=["fc"], reduction="random_projection", n_components=200)
    assert small["fc"].shape == (20, 2)  # layers smaller than n_components are kept whole


def test_random_projection_is_seeded_by_the_layer_name_and_streams_in_bounded_memory(rng):
    model = TinyNet()
    imgs = rng.integers(0, 256, size=(12, 8, 8, 3), dtype=np.uint8)
    alone = extract_features(model, imgs, layers=["relu"], reduction="random_projection", n_components=64)
    together = extract_features(model, imgs, layers=["conv", "relu"], reduction="random_projection", n_components=64)
    np.testing.assert_array_equal(alone["relu"], together["relu"])  # whichever layers come with it
    assert not np.allclose(together["conv"].clip(min=0), together["relu"])  # each layer its own sketch
    other = extract_features(model, imgs, layers=["relu"], reduction="random_projection", n_components=64,
                             random_state=1)
    assert not np.allclose(alone["relu"], other["relu"])
    reduction = features.make_reduction("random_projection", n_components=64)
    activation = torch.rand(3, 256, 56, 56)
    reduced = reduction(activation, "layer1.0")
    buckets, signs = reduction._states["layer1.0"].sketch(256 * 56 * 56, "cpu")
    assert reduced.shape == (3, 64) and buckets.numel() == signs.numel() == 256 * 56 * 56  # two numbers per unit
    expected = np.zeros((3, 64))
    np.add.at(expected.T, buckets.numpy(), (activation.flatten(1) * signs).numpy().T)
    np.testing.assert_allclose(reduced.numpy(), expected, rtol=1e-4, atol=1e-3)


def test_reduction_options_of_a_saved_model_default_to_channel_means():
    assert features.reduction_options({}) == {"reduction": "mean", "n_components": 4096, "random_state": 0}
    meta = {"reduction": "random_projection", "n_components": 512, "random_state": 3, "model": "x"}
    assert features.reduction_options(meta) == {"reduction": "random_projection", "n_components": 512,
                                                "random_state": 3}


def test_a_custom_layer_reduction_is_used_and_cached_under_its_own_key(images, tmp_path):
    class Corner(features.LayerReduction):
        def __init__(self, row):
            self.row, self.key_parts = row, ("corner", str(row))

        def __call__(self, activation, layer):
            return activation[:, :, self.row, 0]

    cache = FeatureCache(tmp_path)
    full = extract_features(TinyNet(), images, layers=["conv"], reduction="full")["conv"].reshape(70, 4, 8, 8)
    first = extract_features(TinyNet(), images, layers=["conv"], reduction=Corner(0), cache=cache, model_key="t:0")
    second = extract_features(TinyNet(), images, layers=["conv"], reduction=Corner(7), cache=cache, model_key="t:0")
    np.testing.assert_allclose(first["conv"], full[:, :, 0, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(second["conv"], full[:, :, 7, 0], rtol=1e-5, atol=1e-6)


def test_cached_features_equal_uncached_and_skip_the_model(images, tmp_path):
    cache = FeatureCache(tmp_path)
    model = TinyNet()
    first = extract_features(model, images, cache=cache, model_key="tiny:v0")
    calls = []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    second = extract_features(model, images, cache=cache, model_key="tiny:v0")
    plain = extract_features(TinyNet(), images)
    assert calls == []
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
        np.testing.assert_allclose(first[name], plain[name], rtol=1e-6)


def test_cuda_features_are_cached_apart_from_cpu_features():
    cpu = features._cache_key_parts("tiny:abc", features.make_reduction("mean"), on_cuda=False)
    cuda = features._cache_key_parts("tiny:abc", features.make_reduction("mean"), on_cuda=True)
    assert cpu == ("tiny:abc", "mean", "4096", "0")  # the keys CPU caches were written with
    assert cuda == (*cpu, "cuda-bf16")
    cache = FeatureCache("unused")
    assert cache.key(*cpu, "layer1", "hash") != cache.key(*cuda, "layer1", "hash")


def test_changed_image_is_recomputed_not_served_from_cache(images, tmp_path):
    cache = FeatureCache(tmp_path)
    extract_features(TinyNet(), images, cache=cache, model_key="tiny:v0")
    changed = images.copy()
    changed[5] = 255 - changed[5]
    result = extract_features(TinyNet(), changed, cache=cache, model_key="tiny:v0")
    np.testing.assert_allclose(result["fc"], extract_features(TinyNet(), changed)["fc"], rtol=1e-6)


def test_corrupt_cache_file_is_dropped_and_recomputed(images, tmp_path):
    cache = FeatureCache(tmp_path)
    extract_features(TinyNet(), images, cache=cache, model_key="tiny:v0")
    victim = next(tmp_path.rglob("*.npy"))
    victim.write_bytes(b"garbage")
    result = extract_features(TinyNet(), images, cache=cache, model_key="tiny:v0")
    np.testing.assert_allclose(result["fc"], extract_features(TinyNet(), images)["fc"], rtol=1e-6)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((0, 8, 8, 3), np.uint8), "empty"),
    (np.zeros((2, 8, 8), np.uint8), "shape"),
    (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
])
def test_bad_image_arrays_are_clear_errors(bad, message):
    with pytest.raises(ValueError, match=message):
        extract_features(TinyNet(), bad)


def test_unknown_reduction_lists_choices(images):
    with pytest.raises(ValueError, match="choose from"):
        extract_features(TinyNet(), images, reduction="max")


def test_hrf_impulse_response_peaks_near_four_seconds():
    dt = 0.1
    response = features_to_tr(np.eye(1, 300, 0).T, frame_rate=1 / dt, tr=dt, standardize=False)
    assert abs(np.argmax(response[:, 0]) * dt - 4.0) <= 0.2
    assert canonical_hrf(dt).sum() == pytest.approx(1.0)
    assert canonical_hrf(dt).min() < 0  # the undershoot


def test_features_to_tr_averages_frames_within_each_tr_and_standardises(rng):
    frames = rng.standard_normal((240, 3))
    out = features_to_tr(frames, frame_rate=10, tr=2.0)
    assert out.shape == (12, 3)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-5)
    with pytest.raises(ValueError, match="less than one TR"):
        features_to_tr(frames[:5], frame_rate=10, tr=2.0)


def test_folder_sets_skip_and_report_bad_images(tmp_path, rng):
    from PIL import Image

    from core.stimuli import from_folder

    for category in ("faces", "houses"):
        (tmp_path / category).mkdir()
        for i in range(2):
            pixels = rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / category / f"{i}.png")
    (tmp_path / "houses" / "broken.jpg").write_bytes(b"this is not a jpeg")
    result = extract_features(TinyNet(), from_folder(tmp_path), layers="last")
    assert result["fc"].shape == (4, 2)
    assert len(result.stimulus_ids) == 4
    assert [name for name, _ in result.skipped] == [next(i for i in from_folder(tmp_path).ids if "broken" in i)]


def test_chunks_stored_one_by_one_are_the_chunks_extract_features_reads(tmp_path, rng, monkeypatch):
    """What a sharding worker stores (extract_chunk on one chunk's stimuli) is what the coordinator reads."""
    from PIL import Image

    from core.stimuli import from_folder

    for i in range(9):
        Image.fromarray(rng.integers(0, 256, size=(12, 10, 3), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "4-broken.jpg").write_bytes(b"this is not a jpeg")  # in the middle chunk
    stimuli = from_folder(tmp_path)
    monkeypatch.setenv("VFS_FEATURE_CHUNK_SIZE", "4")
    cache, options = FeatureCache(tmp_path / "cache"), dict(layers="default", reduction="mean")
    slices = features.chunk_slices(len(stimuli))
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 8), (8, 10)]
    stored = [features.extract_chunk(TinyNet(), stimuli.subset(range(s.start, s.stop)), cache=cache,
                                     model_key="tiny:v0", **options) for s in slices]
    assert stored == [4, 3, 2]
    model, calls = TinyNet(), []
    model.register_forward_pre_hook(lambda *_: calls.append(1))
    result = extract_features(model, stimuli, cache=cache, model_key="tiny:v0", **options)
    assert calls == []
    plain = extract_features(TinyNet(), stimuli, **options)
    assert result.stimulus_ids == plain.stimulus_ids and len(result.skipped) == 1
    for name in plain:
        np.testing.assert_allclose(result[name], plain[name], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("value", ["0", "-3", "six"])
def test_bad_chunk_size_setting_is_a_clear_error(value, monkeypatch):
    monkeypatch.setenv("VFS_FEATURE_CHUNK_SIZE", value)
    with pytest.raises(ValueError, match="VFS_FEATURE_CHUNK_SIZE must be a positive integer"):
        features.chunk_slices(10)


def test_cli_extract_writes_features_and_labels(tmp_path, rng, monkeypatch, capsys):
    from PIL import Image

    import core.models
    from core.__main__ import main

    for category in ("cat", "dog"):
        (tmp_path / "imgs" / category).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, size=(9, 9, 3), dtype=np.uint8)).save(
            tmp_path / "imgs" / category / "a.png")
    monkeypatch.setattr(core.models, "build_model", lambda name, device="cpu": TinyNet())
    monkeypatch.setenv("VFS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "f.npz"
    assert main(["extract", "--model", "tiny", "--layers", "default", "--images", str(tmp_path / "imgs"),
                 "--out", str(out)]) == 0
    saved = np.load(out, allow_pickle=False)
    assert saved["layer:fc"].shape == (2, 2) and saved["layer:conv"].shape == (2, 4)
    assert sorted(saved["labels"].tolist()) == ["cat", "dog"]
    assert "2 stimuli, 0 skipped" in capsys.readouterr().out
    assert any((tmp_path / "cache" / "features").rglob("*.npy"))
