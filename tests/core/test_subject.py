"""The simulated subject: spec validation, determinism, declared SNR and true noise ceiling."""

import json

import numpy as np
import pytest
from scipy import sparse

from core.subject import (
    DECLARED_MAPS,
    DEFAULT_SPEC_PATH,
    RegionDriver,
    SimulatedSubject,
    SubjectSpec,
    declared_maps,
    load_default_subject,
    load_subject_spec,
    true_noise_ceiling,
)


def _chain_cortex(n=60):
    """A 1-D 'cortex': vertices on a line, two ROIs per hemisphere."""
    adjacency = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")
    rois = {("A", "L"): np.arange(0, 15), ("A", "R"): np.arange(30, 45),
            ("B", "L"): np.arange(15, 30), ("B", "R"): np.arange(45, 60)}
    return rois, adjacency


def _spec(snr=1.0, seed=0):
    return SubjectSpec(
        name="tiny", description="test", seed=seed, snr=snr, n_components=4, smoothing_iterations=3,
        drivers=(RegionDriver("A", "net", "early", amplitude=1.0),
                 RegionDriver("B", "net", "late", amplitude=2.0, preferred_category="face", preference=0.8)),
    )


def _features(rng, n=200):
    labels = np.where(np.arange(n) % 4 == 0, "face", "object")
    late = rng.standard_normal((n, 12))
    late[labels == "face", 0] += 3.0
    return {("net", "early"): rng.standard_normal((n, 10)), ("net", "late"): late}, labels


def _subject(rng, **kw):
    rois, adjacency = _chain_cortex()
    feats, labels = _features(rng)
    return SimulatedSubject(_spec(**kw), roi_vertices=rois, adjacency=adjacency).calibrate(feats, labels)


def test_subject_is_deterministic_for_a_seed(rng):
    feats, _ = _features(np.random.default_rng(1), n=30)
    a = _subject(np.random.default_rng(0)).image_experiment(feats, feats, n_repeats=3, random_state=5)
    b = _subject(np.random.default_rng(0)).image_experiment(feats, feats, n_repeats=3, random_state=5)
    np.testing.assert_array_equal(a["Y_test"], b["Y_test"])
    c = _subject(np.random.default_rng(0), seed=1).signal(feats)
    assert not np.allclose(c, a["signal_train"])


def test_measured_snr_and_ceiling_match_the_declared_ones():
    rois, adjacency = _chain_cortex()
    feats, labels = _features(np.random.default_rng(3), n=4000)
    subject = SimulatedSubject(_spec(snr=0.5), roi_vertices=rois, adjacency=adjacency).calibrate(feats, labels)
    exp = subject.image_experiment(feats, feats, n_repeats=4, random_state=0)
    noise = exp["Y_train"] - exp["signal_train"]
    driven = subject.vertex_driver_ >= 0
    snr = exp["signal_train"][:, driven].var(0) / noise[:, driven].var(0)
    assert np.median(snr) == pytest.approx(0.5, rel=0.1)
    mean_test = exp["Y_test"].mean(0)
    r = [np.corrcoef(exp["signal_test"][:, v], mean_test[:, v])[0, 1] for v in np.flatnonzero(driven)]
    np.testing.assert_allclose(np.median(r), np.median(exp["true_ceiling"][driven]), atol=0.03)
    assert exp["true_ceiling"][driven].mean() == pytest.approx(np.sqrt(0.5 / (0.5 + 1 / 4)), abs=1e-3)


def test_preferred_region_responds_more_to_its_category(rng):
    subject = _subject(rng)
    feats, labels = _features(np.random.default_rng(4), n=400)
    signal = subject.signal(feats)
    region_b = np.arange(15, 30)
    assert signal[labels == "face"][:, region_b].mean() > signal[labels != "face"][:, region_b].mean() + 1.0


def test_weight_maps_are_spatially_smooth(rng):
    subject = _subject(rng)
    vertices, w = subject.readout_[0]
    neighbours = np.sum(w[:-1] * w[1:], axis=1) / (np.linalg.norm(w[:-1], axis=1) * np.linalg.norm(w[1:], axis=1))
    assert np.median(neighbours) > 0.5


def test_true_noise_ceiling_known_answer():
    np.testing.assert_allclose(true_noise_ceiling([1.0, 1.0, 0.0], [1.0, 3.0, 1.0], 1),
                               [np.sqrt(0.5), 0.5, 0.0])


@pytest.mark.parametrize("kwargs, message", [
    ({"snr": 0.0}, "snr"),
    ({"drivers": ()}, "at least one"),
])
def test_bad_specs_are_clear_errors(kwargs, message):
    base = dict(name="x", description="x", seed=0, snr=1.0, n_components=2, smoothing_iterations=0,
                drivers=(RegionDriver("A", "net", "l"),))
    with pytest.raises(ValueError, match=message):
        SubjectSpec(**{**base, **kwargs})


def test_driver_preference_needs_a_category():
    with pytest.raises(ValueError, match="preferred_category"):
        RegionDriver("A", "net", "l", preference=0.5)


def test_unknown_roi_in_spec_is_named(rng):
    rois, adjacency = _chain_cortex()
    spec = SubjectSpec(name="x", description="x", seed=0, snr=1.0, n_components=2, smoothing_iterations=0,
                       drivers=(RegionDriver("V9", "net", "l"),))
    with pytest.raises(ValueError, match="V9"):
        SimulatedSubject(spec, roi_vertices=rois, adjacency=adjacency)


def test_unreadable_spec_file_names_the_file(tmp_path):
    bad = tmp_path / "spec.json"
    bad.write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="spec.json"):
        load_subject_spec(bad)


def test_shipped_default_spec_loads():
    spec = load_subject_spec(DEFAULT_SPEC_PATH)
    assert {d.roi for d in spec.drivers} >= {"V1", "FFC", "PHA1"}
    assert "simulated" in spec.description.lower()


def test_declared_maps_mark_each_driven_region():
    rois, _ = _chain_cortex()
    spec = SubjectSpec(name="x", description="x", seed=0, snr=1.0, n_components=2, smoothing_iterations=0,
                       drivers=(RegionDriver("A", "resnet50", "layer1.0", amplitude=0.5),
                                RegionDriver("B", "face_identity", "x", preferred_category="face",
                                             preference=0.7, hemisphere="R")))
    maps = declared_maps(spec, rois, 60)
    assert set(maps) == set(DECLARED_MAPS)
    np.testing.assert_array_equal(maps["home_layer"][rois[("A", "L")]], 2.0)
    assert np.isnan(maps["home_layer"][rois[("B", "R")]]).all()
    np.testing.assert_array_equal(maps["other_network"][rois[("B", "R")]], 1.0)
    np.testing.assert_array_equal(maps["face_preference"][rois[("B", "R")]], np.float32(0.7))
    assert np.isnan(maps["amplitude"][rois[("B", "L")]]).all()


def test_default_subject_loads_on_fslr32k():
    subject = load_default_subject()
    assert subject.n_vertices == 59_412
    maps = declared_maps(subject.spec, subject.roi_vertices, subject.n_vertices)
    v1 = subject.roi_vertices[("V1", "L")]
    ffc = subject.roi_vertices[("FFC", "L")]
    assert maps["home_layer"][v1].max() < maps["home_layer"][ffc].min()
