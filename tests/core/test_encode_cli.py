"""``python -m core encode fit|evaluate|predict`` end to end on tiny synthetic data (planted linear truth)."""

from __future__ import annotations

import numpy as np
import pytest

from core.__main__ import main
from core.cortex import N_VERTICES, load_brain_data
from core.encoding import load_encoding_model
from core.features import Features, save_features
from core.virtual_fmri import load_feature_file

#: Vertices driven by the features; the others are pure noise. Three quarters are driven so that the
#: smallest permutation p (1/40) survives FDR over 59,412 vertices.
N_SIGNAL = 45_000


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Train/test features and responses on fsLR-32k; vertices < N_SIGNAL follow X @ W."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("encode")
    n_vertices = N_VERTICES["fsLR32k"]
    weights = rng.standard_normal((10, N_SIGNAL))
    out = {}
    for split, n in (("train", 60), ("test", 24)):
        layers = {"conv": rng.standard_normal((n, 6)), "fc": rng.standard_normal((n, 4))}
        ids = tuple(f"{split}{i}.png" for i in range(n))
        out[f"{split}_features"] = save_features(root / f"{split}.npz",
                                                 Features({k: v.astype(np.float32) for k, v in layers.items()}, ids))
        signal = np.hstack([layers["conv"], layers["fc"]]) @ weights
        for session in range(1 if split == "train" else 2):
            Y = 0.5 * rng.standard_normal((n, n_vertices)).astype(np.float32)
            Y[:, :N_SIGNAL] += signal
            path = root / f"{split}-responses{session}.npz"
            np.savez(path, data=Y)
            out[f"{split}_responses{session}"] = path
    out["root"] = root
    return out


@pytest.fixture(scope="module")
def fitted(files):
    model = files["root"] / "model"
    assert main(["encode", "fit", "--features", str(files["train_features"]), "--responses",
                 str(files["train_responses0"]), "--out", str(model), "--n-folds", "3"]) == 0
    return model


def test_fit_writes_a_loadable_model_with_its_metadata(files, fitted):
    model = load_encoding_model(fitted)
    assert model.meta_["layers"] == ["conv", "fc"] and model.meta_["model"] == "resnet50"
    assert model.ridge_.coef_.shape[1] == N_VERTICES["fsLR32k"]
    # the driven vertices are fitted with small penalties, pure-noise vertices with the largest
    assert np.median(model.ridge_.best_alphas_[:N_SIGNAL]) < np.median(model.ridge_.best_alphas_[N_SIGNAL:])


def test_evaluate_saves_scores_that_find_the_planted_vertices(files, fitted, capsys):
    out = files["root"] / "scores.npz"
    assert main(["encode", "evaluate", "--model", str(fitted), "--features", str(files["test_features"]),
                 "--responses", str(files["test_responses0"]), str(files["test_responses1"]),
                 "--out", str(out), "--n-permutations", "39"]) == 0
    with np.load(out) as scores:
        r, q, ceiling = scores["r"], scores["q"], scores["noise_ceiling"]
        assert set(scores.files) == {"r", "r2", "p", "q", "r_sessions", "noise_ceiling", "normalized_accuracy"}
    assert r[:N_SIGNAL].mean() > 0.9 and abs(r[N_SIGNAL:].mean()) < 0.02
    assert (q[:N_SIGNAL] < 0.05).all() and (q[N_SIGNAL:] < 0.05).mean() < 0.05
    assert ceiling[:N_SIGNAL].mean() > 0.9
    printed = capsys.readouterr().out
    assert "59,412 vertices, 2 session(s) of 24 stimuli" in printed and "FDR q < 0.05" in printed


def test_predict_from_features_matches_the_model_and_exports_cifti(files, fitted):
    out, cifti = files["root"] / "maps.npz", files["root"] / "maps.dscalar.nii"
    assert main(["encode", "predict", "--model", str(fitted), "--features", str(files["test_features"]),
                 "--out", str(out), "--cifti", str(cifti)]) == 0
    X, _, ids = load_feature_file(files["test_features"])
    expected = load_encoding_model(fitted).predict(X)
    with np.load(out) as saved:
        np.testing.assert_allclose(saved["maps"], expected, rtol=1e-5, atol=1e-5)
        assert tuple(saved["stimulus_ids"]) == ids
    np.testing.assert_allclose(load_brain_data(cifti), expected, rtol=1e-5, atol=1e-5)


def test_bad_input_exits_with_a_clear_message(files, fitted):
    with pytest.raises(SystemExit, match="responses file 1 has 24 samples but .*train.npz has 60 stimuli"):
        main(["encode", "fit", "--features", str(files["train_features"]), "--responses",
              str(files["test_responses0"]), "--out", str(files["root"] / "bad")])
    with pytest.raises(SystemExit, match="error: No such features file"):
        main(["encode", "predict", "--model", str(fitted), "--features", str(files["root"] / "missing.npz"),
              "--out", str(files["root"] / "x.npz")])
    with pytest.raises(SystemExit, match="error: Encoding model files are missing"):
        main(["encode", "predict", "--model", str(files["root"] / "nomodel"), "--features",
              str(files["test_features"]), "--out", str(files["root"] / "x.npz")])
