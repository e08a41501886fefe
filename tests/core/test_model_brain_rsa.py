"""core.model_brain_rsa and core.rdm_inference: known answers on synthetic RDMs, rsatoolbox's bootstrap on the same draws, the result
store, network RDMs and their cache, and real faces (slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import UserError
from core.model_brain_rsa import (
    compare_models_to_brain,
    load_model_brain_rsa,
    network_rdms,
    run_model_brain_rsa,
    save_model_brain_rsa,
)
from core.rdm_inference import (
    MIN_BOOTSTRAP,
    bootstrap_evaluations,
    bootstrap_interval,
    draw_bootstrap_indices,
    group_permutation_test,
)
from core.rsa import COMPARE_METHODS, RDM, compare_rdms, compute_rdm, rdm_noise_ceiling, rdm_permutation_test
from core.stats import fdr_bh

N_STIMULI = 24


def _rdm(patterns):
    return compute_rdm(patterns).dissimilarities[0]


@pytest.fixture
def synthetic(rng):
    """A region (3 subjects: shared truth + noise), layers from close to far, and the closest one shuffled."""
    truth = rng.standard_normal((N_STIMULI, 30))
    subjects = np.stack([_rdm(truth + 1.0 * rng.standard_normal(truth.shape)) for _ in range(3)])
    layers = {("net", f"layer{k}"): _rdm(truth + noise * rng.standard_normal(truth.shape))
              for k, noise in enumerate([4.0, 1.0, 0.3])}
    shuffled = rng.permutation(N_STIMULI)
    layers[("net", "shuffled")] = _rdm(truth[shuffled] + 0.3 * rng.standard_normal(truth.shape))
    layers[("other", "random")] = _rdm(rng.standard_normal(truth.shape))
    return layers, {"V4": subjects}


# ----------------------------------------------------------------------------------------- bootstrap


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_bootstrap_equals_rsatoolbox_eval_bootstrap_pattern_on_the_same_draws(method, rng, monkeypatch):
    rsatoolbox = pytest.importorskip("rsatoolbox")
    from rsatoolbox.inference import eval_bootstrap_pattern
    from rsatoolbox.model import ModelFixed

    monkeypatch.setenv("TQDM_DISABLE", "1")
    n, n_samples = 14, 50
    models = np.stack([_rdm(rng.standard_normal((n, 9))) for _ in range(3)])
    models = np.vstack([models, np.round(models[0] * 3) / 3])  # a model with many ties
    brain = np.stack([_rdm(rng.standard_normal((n, 9))), np.round(_rdm(rng.standard_normal((n, 9))) * 4) / 4])
    descriptors = {"index": np.arange(n)}
    data = rsatoolbox.rdm.RDMs(brain, pattern_descriptors=descriptors)
    fixed = [ModelFixed(f"m{i}", rsatoolbox.rdm.RDMs(m[None], pattern_descriptors=descriptors))
             for i, m in enumerate(models)]
    saved = np.random.get_state()  # noqa: NPY002 -- rsatoolbox draws from numpy's global generator
    try:
        np.random.seed(7)  # noqa: NPY002
        theirs = eval_bootstrap_pattern(fixed, data, method=COMPARE_METHODS[method].rsatoolbox_name, N=n_samples,
                                        boot_noise_ceil=False)
        np.random.seed(7)  # noqa: NPY002 -- the same draws: one randint per sample (bootstrap_sample_pattern)
        indices = np.stack([np.random.randint(0, n, size=n) for _ in range(n_samples)])  # noqa: NPY002
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    ours = bootstrap_evaluations(models, brain, indices, method=method)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs.evaluations, rtol=0, atol=1e-10)
    low, high = bootstrap_interval(ours)
    ci = theirs.get_ci(0.95, test_type="bootstrap")
    np.testing.assert_allclose(low, ci[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(high, ci[1], rtol=0, atol=1e-10)


@pytest.mark.parametrize("method", sorted(COMPARE_METHODS))
def test_bootstrap_of_the_identity_draw_is_the_comparison(method, synthetic):
    layers, brain = synthetic
    x = np.stack(list(layers.values()))
    identity = np.arange(N_STIMULI)[None]
    np.testing.assert_allclose(bootstrap_evaluations(x, brain["V4"], identity, method=method)[0],
                               compare_rdms(x, brain["V4"], method=method).mean(axis=1), atol=1e-12)


def test_bootstrap_draws_and_degenerate_samples(rng):
    indices = draw_bootstrap_indices(10, 5, 0)
    assert indices.shape == (5, 10) and (np.diff(indices, axis=1) >= 0).all()
    np.testing.assert_array_equal(indices, draw_bootstrap_indices(10, 5, 0))
    x = _rdm(rng.standard_normal((10, 4)))[None]
    two = np.array([[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]])  # fewer than 3 distinct stimuli: NaN, as rsatoolbox
    for method in COMPARE_METHODS:
        assert np.isnan(bootstrap_evaluations(x, x, two, method=method)).all()
    low, high = bootstrap_interval(np.arange(10.0)[:, None])  # 10 samples framed by ±inf: no 95 % bounds
    assert np.isnan(low[0]) and np.isnan(high[0])
    low, high = bootstrap_interval(np.arange(float(MIN_BOOTSTRAP))[:, None])
    assert 0 < low[0] < 1 and MIN_BOOTSTRAP - 2 < high[0] < MIN_BOOTSTRAP - 1


# ----------------------------------------------------------------------------------------- permutations


def test_group_permutation_test_is_the_single_test_for_one_subject_and_the_mean_for_several(synthetic):
    layers, brain = synthetic
    model, subjects = layers[("net", "layer1")], brain["V4"]
    single = rdm_permutation_test(model, subjects[0], method="spearman", n_permutations=300, random_state=5)
    assert group_permutation_test(model, subjects[:1], method="spearman", n_permutations=300,
                                  random_state=5) == (single.observed, single.p_value)
    copies = np.stack([subjects[0]] * 3)  # three identical subjects: the mean's null is the single null
    assert group_permutation_test(model, copies, method="spearman", n_permutations=300,
                                  random_state=5)[1] == pytest.approx(single.p_value)
    observed, _ = group_permutation_test(model, subjects, method="spearman", n_permutations=10, random_state=5)
    assert observed == pytest.approx(compare_rdms(model, subjects, method="spearman").mean())


# ----------------------------------------------------------------------------------------- known answers


def test_the_layer_built_to_match_wins_and_shuffled_stimuli_lose(synthetic):
    layers, brain = synthetic
    result = compare_models_to_brain(layers, brain, method="spearman", n_permutations=999, n_bootstrap=200, seed=0)
    rows = {(n, layer): i for i, (n, layer) in enumerate(zip(result.networks, result.layers, strict=True))}
    matched, shuffled = rows[("net", "layer2")], rows[("net", "shuffled")]
    assert result.best[0] == matched and result.best_fraction[0] > 0.9
    assert result.r[matched, 0] > 0.3 and result.p[matched, 0] == pytest.approx(1 / 1000)
    assert result.ci_low[matched, 0] > 0
    assert abs(result.r[shuffled, 0]) < 0.1 and result.p[shuffled, 0] > 0.05
    assert result.ci_low[shuffled, 0] < 0 < result.ci_high[shuffled, 0]
    assert result.r[rows[("net", "layer0")], 0] < result.r[rows[("net", "layer1")], 0] < result.r[matched, 0]
    net = [rows[("net", f"layer{k}")] for k in range(3)] + [shuffled]
    np.testing.assert_allclose(result.q[net, 0], fdr_bh(result.p[net, 0]))  # FDR over each network's layers
    assert result.q[rows[("other", "random")], 0] == result.p[rows[("other", "random")], 0]
    ceiling = rdm_noise_ceiling(brain["V4"], method="spearman")
    assert (result.ceiling_lower[0], result.ceiling_upper[0]) == (ceiling.lower, ceiling.upper)
    assert result.network_names == ("net", "other")
    np.testing.assert_array_equal(result.network_best[:, 0], [matched, rows[("other", "random")]])
    np.testing.assert_allclose(result.best_rdms[0], layers[("net", "layer2")])
    assert result.second_order.shape == (6, 6) and result.second_order_labels[1] == "net:layer0"
    profile = result.profile("net", "V4")
    assert profile["layers"] == ("layer0", "layer1", "layer2", "shuffled")


def test_result_round_trips_and_gives_the_cli_json(synthetic, tmp_path):
    layers, brain = synthetic
    brain = {**brain, "single": brain["V4"][:1]}
    result = compare_models_to_brain(layers, brain, method="pearson", n_permutations=0, n_bootstrap=MIN_BOOTSTRAP,
                                     seed=1)
    assert np.isnan(result.p).all() and np.isnan(result.ceiling_lower[1])
    json_path = save_model_brain_rsa(result, tmp_path / "rsa")
    assert json_path.name == "rsa.json" and (tmp_path / "rsa.npz").is_file()
    loaded = load_model_brain_rsa(tmp_path / "rsa")
    for name in ("r", "ci_low", "bootstrap", "best", "second_order"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(result, name))
    assert loaded.layers == result.layers and loaded.meta == result.meta
    document = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert document["method"] == "pearson" and len(document["rows"]) == 5 * 2
    assert set(document["rows"][0]) >= {"network", "layer", "rdm", "r", "p", "ci_low", "ci_high"}
    assert document["rows"][0]["p"] is None and list(document["ceilings"]) == ["V4"]
    with pytest.raises(UserError, match="No model–brain RSA result"):
        load_model_brain_rsa(tmp_path / "absent")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "kendall"}, r"Unknown method 'kendall'; choose from cosine, kendall_tau_a, pearson, rho_a or spearman"),
    ({"n_bootstrap": 10}, r"n_bootstrap = 0 or ≥ 40"),
])
def test_bad_settings_name_the_choices(synthetic, kwargs, message):
    layers, brain = synthetic
    with pytest.raises(UserError, match=message):
        compare_models_to_brain(layers, brain, **kwargs)


def test_brain_rdm_of_another_size_is_refused(synthetic):
    layers, brain = synthetic
    with pytest.raises(UserError, match=r"The brain RDM 'small' is over 5 conditions but the model RDMs over 24"):
        compare_models_to_brain(layers, {"small": np.ones(10)}, n_permutations=0, n_bootstrap=0)


# ----------------------------------------------------------------------------------------- networks


@pytest.fixture
def tiny_images(rng):
    from core.stimuli import from_arrays

    return from_arrays(rng.integers(0, 255, size=(8, 32, 32, 3), dtype=np.uint8))


@pytest.fixture
def random_alexnet(monkeypatch, random_zoo_model):
    """``build_model`` gives AlexNet with random weights (no download), counting its calls."""
    import core.models

    calls = []
    model = random_zoo_model("alexnet")

    def build(name, *, pretrained=True, device="cpu"):
        calls.append(name)
        return model

    monkeypatch.setattr(core.models, "build_model", build)
    return calls


def test_network_rdms_are_cached_per_content_and_metric(tiny_images, random_alexnet, monkeypatch):
    import core.network_features

    first = network_rdms(tiny_images, "alexnet", ["features.1", "classifier.4"])
    assert list(first) == ["features.1", "classifier.4"]
    assert first["features.1"].pattern_labels == tiny_images.ids
    monkeypatch.setattr(core.network_features, "extract_features", lambda *a, **k: pytest.fail("RDM cache not used"))
    again = network_rdms(tiny_images, "alexnet", ["classifier.4"])
    np.testing.assert_array_equal(again["classifier.4"].dissimilarities, first["classifier.4"].dissimilarities)
    with pytest.raises(pytest.fail.Exception):
        network_rdms(tiny_images, "alexnet", ["classifier.4"], metric="euclidean")
    with pytest.raises(UserError, match=r"Unknown network 'vgg'; choose from alexnet, "):
        network_rdms(tiny_images, "vgg")


def test_run_model_brain_rsa_end_to_end(tiny_images, random_alexnet, rng, tmp_path):
    brain = {"V1": compute_rdm(rng.standard_normal((8, 5)), pattern_labels=tiny_images.ids)}
    steps = []
    result = run_model_brain_rsa(tiny_images, brain, ["alexnet"], ["features.1", "features.4"],
                                 n_permutations=20, n_bootstrap=MIN_BOOTSTRAP,
                                 progress=lambda done, total, message: steps.append(done / total))
    assert result.layers == ("features.1", "features.4") and result.stimulus_ids == tiny_images.ids
    assert steps == sorted(steps) and steps[-1] == 1.0 and 0.0 <= steps[0]
    np.save(tmp_path / "V1.npy", brain["V1"].matrix())
    from_file = run_model_brain_rsa(tiny_images, [tmp_path / "V1.npy"], ["alexnet"], ["features.1", "features.4"],
                                    n_permutations=20, n_bootstrap=MIN_BOOTSTRAP)
    np.testing.assert_allclose(from_file.r, result.r)
    assert from_file.regions == ("V1",) and from_file.meta["metric"] == "correlation"


# ----------------------------------------------------------------------------------------- real faces


@pytest.mark.slow
def test_yale_identity_rdm_is_matched_better_by_late_identity_layers(shared_data):
    """Yale faces (15 identities × 6 expressions): a brain RDM that codes identity only (0 within, 1 between)
    matches the face-api identity network's late layers better than its early ones."""
    from core.faces import load_yale_faces, prepare_face_set
    from core.stimuli import from_arrays

    if not (shared_data / "yalefaces").is_dir():
        pytest.skip(f"{shared_data / 'yalefaces'} is absent")
    faces = prepare_face_set(load_yale_faces(shared_data / "yalefaces"), size=160)
    identities = np.asarray(faces.identities)
    identity = RDM.from_matrix((identities[:, None] != identities[None]).astype(float), measure="identity",
                               pattern_labels=faces.ids)
    stimuli = from_arrays(faces.images)
    result = run_model_brain_rsa(stimuli, {"identity": identity.dissimilarities}, ["face_identity"],
                                 method="spearman", n_permutations=200, n_bootstrap=200, seed=0)
    r, n = result.r[:, 0], len(result.layers)
    profile = dict(zip(result.layers, np.round(r, 3), strict=True))
    # 15 identities × 6: a perfect identity code reaches spearman ≈ 0.40 against this binary RDM (its ties);
    # measured: conv32_down 0.314 [0.264, 0.361] rising to 0.398–0.399 [0.375, 0.429] in conv256_* and fc
    assert r[-n // 3:].mean() > r[:n // 3].mean() + 0.02, profile
    assert result.best[0] >= n // 2 and result.ci_high[0, 0] < result.ci_low[result.best[0], 0], profile
    assert (result.p[:, 0] < 0.05).all()


@pytest.mark.slow
def test_kay_resnet_profile_peaks_late_for_an_object_rdm_and_early_for_an_early_one(shared_data):
    """200 Kay et al. photographs; a synthetic region whose patterns are EfficientNet-Lite0's logits (an
    "object-selective" code ResNet-50 cannot produce by construction) or its stem (an early visual code), read
    by 500 random "voxels" plus noise, 3 subjects. ResNet-50's profile peaks in its last layers for the first
    and in its first layer for the second. Measured (spearman): logits-like rises from 0.044 (relu) to 0.457
    (fc), best fc in 100 % of bootstraps; stem-like peaks at relu (0.573) and falls to 0.045 at fc."""
    from core.features import FeatureCache, extract_features, model_digest
    from core.models import build_model
    from core.stimulus_order import ordered_stimuli
    from core.weights import cache_dir

    if not (shared_data / "kay_stimuli").is_dir():
        pytest.skip(f"{shared_data / 'kay_stimuli'} is absent")
    stimuli = ordered_stimuli(shared_data / "kay_stimuli").subset(range(200))
    rng = np.random.default_rng(0)
    model = build_model("efficientnet_lite0")
    features = extract_features(model, stimuli, layers=["fc", "stem"], cache=FeatureCache(cache_dir() / "features"),
                                model_key=f"efficientnet_lite0:{model_digest(model)}")
    brain = {}
    for layer in ("fc", "stem"):
        f = features[layer]
        voxels = (f - f.mean(0)) / (f.std(0) + 1e-6) @ rng.standard_normal((f.shape[1], 500))
        brain[layer] = np.concatenate([_rdm(voxels + voxels.std() * rng.standard_normal(voxels.shape))[None]
                                       for _ in range(3)])
    result = run_model_brain_rsa(stimuli, brain, ["resnet50"], method="spearman", n_permutations=0,
                                 n_bootstrap=100, seed=0)
    n = len(result.layers)
    assert result.best[0] >= n - 3 and result.best_fraction[0] > 0.5, result.r[:, 0]
    assert result.best[1] <= 2, result.r[:, 1]
    assert result.r[-4:, 0].mean() > 2 * result.r[:4, 0].mean()
