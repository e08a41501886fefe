"""core.virtual_fmri: feature files, and images → predicted maps through a saved model (slow: ResNet-50)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from core import virtual_fmri
from core.features import Features, save_features
from core.virtual_fmri import ImagePredictor, load_feature_file, predict_in_worker


def test_load_feature_file_stacks_the_requested_layers_in_order(tmp_path, rng):
    conv, fc = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((5, 2)).astype(np.float32)
    path = save_features(tmp_path / "f.npz", Features({"conv": conv, "fc": fc}, tuple("abcde")))
    X, slices, ids = load_feature_file(path, layers=["fc", "conv"])
    np.testing.assert_array_equal(X, np.hstack([fc, conv]))
    assert slices == {"fc": (0, 2), "conv": (2, 5)} and ids == tuple("abcde")
    with pytest.raises(ValueError, match=r"lacks the layers \['pool'\]; it has \['conv', 'fc'\]"):
        load_feature_file(path, layers=["pool"])
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz is not a readable .npz features file"):
        load_feature_file(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", data=conv)
    with pytest.raises(ValueError, match="holds no 'layer:<name>' arrays"):
        load_feature_file(tmp_path / "other.npz")


def test_predict_in_worker_refuses_outside_a_started_worker():
    with pytest.raises(ValueError, match="not a predictor worker"):
        predict_in_worker(np.zeros((1, 8, 8, 3), np.uint8))


def test_importing_the_module_loads_no_torch():
    code = "import sys, core.virtual_fmri, core.stats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def image_model(tmp_path_factory, astronaut, chelsea, coffee):
    """Six photos in a folder, and a model fitted on their ResNet-50 features (random responses)."""
    from core.encoding import EncodingModel, save_encoding_model, stack_layer_features
    from core.features import extract_features
    from core.models import build_model
    from core.stimuli import from_folder

    root = tmp_path_factory.mktemp("virtual-fmri")
    folder = root / "images"
    folder.mkdir()
    images = [astronaut, chelsea, coffee, astronaut[::-1], chelsea[:, ::-1], coffee[50:350, 100:500]]
    for i, image in enumerate(images):
        Image.fromarray(np.ascontiguousarray(image)).save(folder / f"img{i}.png")
    layers = ["layer4.2", "fc"]
    features = extract_features(build_model("resnet50"), from_folder(folder), layers=layers)
    X, slices = stack_layer_features({layer: features[layer] for layer in layers})
    Y = np.random.default_rng(0).standard_normal((6, 40)).astype(np.float32)
    model = EncodingModel(slices, n_folds=3).fit(X, Y)
    save_encoding_model(root / "model", model, {"model": "resnet50", "reduction": "mean"})
    return root, folder, model.predict(X)


@pytest.mark.slow
def test_image_predictor_equals_features_then_model(image_model):
    from core.stimuli import from_files, from_folder

    root, folder, expected = image_model
    stimuli = from_folder(folder)
    result = ImagePredictor(root / "model").predict(stimuli)
    np.testing.assert_allclose(result.maps, expected, rtol=1e-4, atol=1e-5)
    assert result.maps.shape == (6, 40) and result.stimulus_ids == stimuli.ids and not result.skipped

    import torch

    threads = torch.get_num_threads()
    virtual_fmri.start_worker(str(root / "model"), n_threads=1)
    try:
        assert torch.get_num_threads() == 1
        np.testing.assert_allclose(predict_in_worker(stimuli.subset([2])), expected[[2]], rtol=1e-4, atol=1e-5)
        broken = root / "broken.png"
        broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
        with pytest.raises(ValueError, match="broken.png"):
            predict_in_worker(from_files([broken]))
    finally:
        virtual_fmri._worker_predictor = None
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_cli_predict_from_an_image_folder(image_model):
    from core.__main__ import main

    root, folder, expected = image_model
    out = root / "maps.npz"
    assert main(["encode", "predict", "--model", str(root / "model"), "--images", str(folder), "--out", str(out)]) == 0
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["maps"], expected, rtol=1e-4, atol=1e-5)
        assert list(saved["stimulus_ids"]) == [f"img{i}.png" for i in range(6)]
    with pytest.raises(SystemExit, match="GIFTI/CIFTI export needs fsLR-32k maps"):
        main(["encode", "predict", "--model", str(root / "model"), "--images", str(folder), "--out", str(out),
              "--cifti", str(root / "m.dscalar.nii")])
