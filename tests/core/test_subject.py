"""The simulated subject: spec validation, determinism, declared SNR and true noise ceiling; v3's mechanics on
tiny synthetic features (receptive-field pooling, compressive exponent, smooth noise, HRF mode), the derived
retinotopy, the by-construction notes, and (slow) recovery of v2 and v3 by the default experiment."""

import json

import numpy as np
import pytest
from scipy import sparse

from core.retinotopy import (
    ReceptiveFieldReading,
    ReceptiveFields,
    fslr_retinotopy,
    pixel_weights,
    receptive_field_units,
    vertex_receptive_fields,
)
from core.subject import (
    DECLARED_MAPS,
    DEFAULT_SPEC_PATH,
    SUBJECT_SPECS,
    RegionDriver,
    SimulatedSubject,
    SubjectSpec,
    construction_notes,
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
    vertices, w, _ = subject.readout_[0]
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


def test_shipped_specs_load_and_v3_is_the_default():
    assert DEFAULT_SPEC_PATH == SUBJECT_SPECS["v3"][0]
    for name in SUBJECT_SPECS:
        spec = load_subject_spec(name)
        assert {d.roi for d in spec.drivers} >= {"V1", "FFC", "PHA1"}
        assert "simulated" in spec.description.lower() or "teaching" in spec.description.lower()
    v2, v3 = load_subject_spec("v2"), load_subject_spec("v3")
    assert (v2.readout, v2.noise, v2.css_exponent) == ("channel_means", "per_vertex_snr", 1.0)
    assert (v3.readout, v3.noise) == ("receptive_fields", "uniform") and v3.css_exponent < 1
    assert v3.noise_smoothing_iterations > 0
    networks = {d.network for d in v3.drivers}
    assert networks >= {"resnet50", "efficientnet_lite0", "face_identity", "face_expression"}


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


# ------------------------------------------------------------------------------------ v3 mechanics

def _grid(side=20):
    """A ``side`` × ``side`` lattice 'cortex' (4-neighbour adjacency), one ROI per hemisphere half."""
    index = np.arange(side * side).reshape(side, side)
    pairs = np.concatenate([np.stack([index[:, :-1].ravel(), index[:, 1:].ravel()], 1),
                            np.stack([index[:-1].ravel(), index[1:].ravel()], 1)])
    adjacency = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(side**2,) * 2)
    adjacency = (adjacency + adjacency.T).tocsr()
    half = side * side // 2
    return {("A", "L"): np.arange(half), ("A", "R"): np.arange(half, side * side)}, adjacency, pairs


def _rf_spec(**kw):
    base = dict(name="tiny-rf", description="test", seed=0, snr=1.0, n_components=4, smoothing_iterations=2,
                readout="receptive_fields", noise="uniform", noise_smoothing_iterations=0, css_exponent=0.5,
                n_channels=3, field_of_view=20.0, vertices_per_unit=20,
                drivers=(RegionDriver("A", "net", "conv", rf_size=(1.0, 0.3), rf_extent=8.0),))
    return SubjectSpec(**{**base, **kw})


def _rf_subject(**kw):
    rois, adjacency, _ = _grid()
    return SimulatedSubject(_rf_spec(**kw), roi_vertices=rois, adjacency=adjacency)


def _activations(rng, n=60, channels=6, size=8):
    import torch

    return torch.from_numpy(rng.random((n, channels, size, size), dtype=np.float32))


def test_pixel_weights_are_the_gaussian_mass_on_each_pixel():
    # a field much smaller than a pixel reads its pixel: row 1, column 2 of a 4 × 4 map over 20°
    tiny = ReceptiveFields(np.array([-10 + 2.5 * 5]), np.array([10 - 1.5 * 5]), np.array([0.01]))
    weights = pixel_weights(tiny, 4, 4, 20.0).reshape(4, 4)
    assert weights[1, 2] == pytest.approx(1.0, abs=1e-6) and weights.sum() == pytest.approx(1.0, abs=1e-6)
    fields = ReceptiveFields(np.array([0.0, 10.0, 40.0]), np.array([0.0, 0.0, 0.0]), np.array([2.0, 1.0, 1.0]))
    mass = pixel_weights(fields, 16, 16, 20.0).sum(axis=1)
    np.testing.assert_allclose(mass, [1.0, 0.5, 0.0], atol=1e-4)  # inside, centred on the edge, off the image


def test_reading_pools_the_map_under_the_field_and_compresses_it(rng):
    import torch

    fields = ReceptiveFields(np.array([-7.5, 7.5]), np.array([7.5, -7.5]), np.array([0.01, 0.01]))
    reading = ReceptiveFieldReading({"conv": fields}, exponent=0.5, n_channels=8, field_of_view=20.0, seed=0)
    maps = torch.zeros((1, 2, 4, 4))
    maps[0, 0, 0, 0], maps[0, 1, 3, 3] = 16.0, -9.0  # top-left pixel (channel 0), bottom-right (channel 1)
    out = reading(maps, "conv").numpy().reshape(2, 2)  # (unit, channel): 2 channels <= 8 are kept
    np.testing.assert_allclose(out, [[4.0, 0.0], [0.0, -3.0]], atol=1e-5)  # sign(x) |x|^0.5
    logits = reading(torch.tensor([[4.0, 1.0]]), "conv").numpy()  # a layer without a map: one pixel
    np.testing.assert_allclose(logits, [[2.0, 1.0, 2.0, 1.0]], atol=1e-4)
    with pytest.raises(ValueError, match="No receptive fields read layer 'fc'"):
        reading(maps, "fc")


def test_reading_is_homogeneous_of_the_declared_degree_and_seeded(rng):
    activation = _activations(rng, n=5, channels=12)
    fields = ReceptiveFields(np.array([0.0, 3.0]), np.array([0.0, -2.0]), np.array([2.0, 4.0]))
    for exponent in (0.5, 1.0):
        reading = ReceptiveFieldReading({"conv": fields}, exponent=exponent, n_channels=4, field_of_view=20.0, seed=1)
        np.testing.assert_allclose(reading(3.0 * activation, "conv"), 3.0**exponent * reading(activation, "conv"),
                                   rtol=1e-4)
    a = ReceptiveFieldReading({"conv": fields}, exponent=0.5, n_channels=4, field_of_view=20.0, seed=1)
    b = ReceptiveFieldReading({"conv": fields}, exponent=0.5, n_channels=4, field_of_view=20.0, seed=2)
    assert a(activation, "conv").shape == (5, 2 * 4)
    assert not np.allclose(a(activation, "conv"), b(activation, "conv"))
    assert a.key_parts != b.key_parts


def test_receptive_fields_grow_with_eccentricity_and_coarse_ones_stay_in_their_hemifield(rng):
    rois, adjacency, _ = _grid()
    fields = vertex_receptive_fields(rois[("A", "R")], x_sign=-1.0, size=(0.5, 0.2), extent=6.0,
                                     adjacency=adjacency, rng=rng)
    assert (fields.x <= 0).all() and (fields.eccentricity <= 6.0 + 1e-9).all()
    np.testing.assert_allclose(fields.sigma, 0.5 + 0.2 * fields.eccentricity)
    units, assignment = receptive_field_units(fields, 10, rng=rng)
    assert len(units) == 10 and assignment.shape == (len(fields),)
    # units group neighbours: a unit's fields lie closer to its centre than to the other units' centres
    d = np.hypot(fields.x[:, None] - units.x[None], fields.y[:, None] - units.y[None])
    assert np.mean(np.argmin(d, axis=1) == assignment) > 0.95
    with pytest.raises(ValueError, match="adjacency"):
        vertex_receptive_fields(rois[("A", "L")], x_sign=1.0, size=(0.5, 0.2))


def test_receptive_field_subject_calibrates_on_its_reading_and_is_deterministic(rng):
    subject = _rf_subject()
    reading = subject.reading("net")
    features = {("net", "conv"): reading(_activations(rng), "conv").numpy()}
    labels = np.array(["a", "b"] * 30)
    subject.calibrate(features, labels)
    signal = subject.signal(features)
    assert signal.shape == (60, 400) and (subject.vertex_driver_ == 0).all()
    # every vertex reads its unit: vertices of one unit carry the same inputs, weighted differently
    _, units, assignment = subject.receptive_fields[0]
    assert len(units) == 20 and assignment.max() == 19
    again = _rf_subject().calibrate(features, labels).signal(features)
    np.testing.assert_array_equal(signal, again)
    with pytest.raises(ValueError, match="receptive-field units"):
        subject.signal({("net", "conv"): features[("net", "conv")][:, :-1]})


def test_uniform_noise_is_spatially_smooth_with_the_declared_variance():
    rois, adjacency, pairs = _grid(30)

    def neighbour_r_and_var(iterations):
        spec = _rf_spec(snr=0.25, noise_smoothing_iterations=iterations)
        subject = SimulatedSubject(spec, roi_vertices=rois, adjacency=adjacency)
        noise = subject.measure(np.zeros((400, 900), np.float32), random_state=0)[0]
        z = (noise - noise.mean(0)) / noise.std(0)
        return np.mean(z[:, pairs[:, 0]] * z[:, pairs[:, 1]]), noise.var(axis=0)

    r_white, var_white = neighbour_r_and_var(0)
    r_smooth, var_smooth = neighbour_r_and_var(4)
    assert abs(r_white) < 0.02 and r_smooth > 0.6
    for variance in (var_white, var_smooth):  # 1 / snr at every vertex, smoothing or not
        assert np.median(variance) == pytest.approx(4.0, rel=0.05)
        assert np.percentile(variance, 99) < 4.0 * 1.25


def test_video_mode_delays_the_response_by_the_hrf(rng):
    subject = _rf_subject()
    reading = subject.reading("net")
    calibration = {("net", "conv"): reading(_activations(rng), "conv").numpy()}
    subject.calibrate(calibration, np.array(["a", "b"] * 30))
    frames = np.repeat(calibration[("net", "conv")][:1], 800, axis=0)  # 80 s of one image at 10 fps...
    frames[400:410] = calibration[("net", "conv")][1]  # ...with a 1 s flash of another at t = 40 s
    out = subject.video_experiment({("net", "conv"): frames}, frame_rate=10.0, tr=1.0, n_repeats=3, random_state=0)
    assert out["Y"].shape == (3, 80, 400) and out["signal"].shape == (80, 400) and out["neural"].shape == (800, 400)
    steady = out["signal"][33:40].mean(axis=0)  # the 32-s HRF has settled on the first image
    deviation = np.abs(out["signal"][33:] - steady).sum(axis=1)
    assert deviation[:7].max() < 1e-3 * deviation.max()
    assert 44 <= 33 + np.argmax(deviation) <= 46  # the flash at 40–41 s, peak of the HRF ~4–5 s later
    np.testing.assert_allclose(out["true_ceiling"], true_noise_ceiling(out["signal"].var(0), 1.0, 3))


def test_spec_validation_of_the_receptive_field_readout():
    with pytest.raises(ValueError, match="rf_size"):
        _rf_spec(drivers=(RegionDriver("A", "net", "conv"),))
    with pytest.raises(ValueError, match="choose from"):
        _rf_spec(readout="pixels")
    with pytest.raises(ValueError, match="css_exponent"):
        _rf_spec(css_exponent=1.5)


def test_construction_notes_state_what_the_spec_declares():
    v2, v3 = load_subject_spec("v2"), load_subject_spec("v3")
    notes2, notes3 = " ".join(construction_notes(v2)), " ".join(construction_notes(v3))
    assert "exactly" in notes2 and "EfficientNet-Lite0 is not used by any region" in notes2
    assert "ResNet-50 drives 24 regions" in notes2
    n_resnet = sum(d.network == "resnet50" for d in v3.drivers)
    n_efficient = sum(d.network == "efficientnet_lite0" for d in v3.drivers)
    assert f"ResNet-50 drives {n_resnet} regions and EfficientNet-Lite0 drives {n_efficient}" in notes3
    assert "FFC (R) is driven by the identity net" in notes3 and "STSvp (R) is driven by the expression net" in notes3
    assert "receptive fields" in notes3 and "circular" in notes3
    assert v2.caveats == () and v3.caveats and construction_notes(v3)[-len(v3.caveats):] == list(v3.caveats)


# ------------------------------------------------------------------------------------ retinotopy (fsLR-32k)

@pytest.fixture(scope="module")
def retinotopy():
    return fslr_retinotopy()


def test_derived_retinotopy_follows_the_textbook_layout(retinotopy):
    from core.cortex import cortical_adjacency, load_fslr32k
    from core.subject import fslr_roi_vertices

    rois = fslr_roi_vertices()
    adjacency = cortical_adjacency()
    mid = load_fslr32k("midthickness")
    coords = np.concatenate([mid.left.vertices[mid.left.vertex_index], mid.right.vertices[mid.right.vertex_index]])
    for hemisphere, side in (("L", 1.0), ("R", -1.0)):
        v1, v2, v3 = (rois[(area, hemisphere)] for area in ("V1", "V2", "V3"))
        assert np.isfinite(retinotopy.eccentricity[np.concatenate([v1, v2, v3])]).all()
        x, y = retinotopy.position(v1)
        assert (np.sign(x[np.abs(x) > 1e-3]) == side).all()  # the contralateral hemifield
        # eccentricity grows away from the occipital pole (most posterior V1 vertex)
        pole = coords[v1[np.argmin(coords[v1, 1])]]
        distance = np.linalg.norm(coords[v1] - pole, axis=1)
        assert np.corrcoef(distance, np.log(retinotopy.eccentricity[v1] + 0.75))[0, 1] > 0.7
        assert np.min(retinotopy.eccentricity[v1]) < 1.0 and np.max(retinotopy.eccentricity[v1]) > 60
        # the V1/V2 border is the vertical meridian, the V2/V3 border the horizontal one
        on_12 = v1[np.asarray(adjacency[v1][:, v2].sum(axis=1)).ravel() > 0]
        on_23 = v2[np.asarray(adjacency[v2][:, v3].sum(axis=1)).ravel() > 0]
        assert np.median(np.abs(retinotopy.polar_angle[on_12])) > 70
        assert np.median(np.abs(retinotopy.polar_angle[on_23])) < 30
        # the upper (dorsal) bank of V1 sees the lower visual field
        slope, intercept = np.polyfit(coords[v1, 1], coords[v1, 2], 1)
        above = coords[v1, 2] > slope * coords[v1, 1] + intercept + 3
        below = coords[v1, 2] < slope * coords[v1, 1] + intercept - 3
        assert np.mean(y[above] < 0) > 0.8 and np.mean(y[below] > 0) > 0.8
    outside = np.setdiff1d(np.arange(59_412), np.concatenate([rois[(a, h)] for a in ("V1", "V2", "V3")
                                                              for h in "LR"]))
    assert np.isnan(retinotopy.eccentricity[outside]).all()


def test_default_subject_fields_grow_with_eccentricity_and_up_the_hierarchy():
    subject = load_default_subject("v3")
    fields = {d.label: subject.receptive_fields[i][0] for i, d in enumerate(subject.spec.drivers)}
    for area in ("V1", "V2", "V3"):
        near = fields[area].eccentricity < 5
        assert np.corrcoef(fields[area].eccentricity, fields[area].sigma)[0, 1] > 0.99
        assert near.sum() > 100
    at_5 = {area: np.interp(5.0, *np.sort(np.stack([fields[area].eccentricity, fields[area].sigma]), axis=1))
            for area in ("V1", "V2", "V3")}
    assert at_5["V1"] < at_5["V2"] < at_5["V3"] < np.median(fields["FFC (L)"].sigma)
    maps = declared_maps(subject.spec, subject.roi_vertices, subject.n_vertices,
                         receptive_fields=subject.receptive_fields)
    v1 = subject.roi_vertices[("V1", "L")]
    assert np.isfinite(maps["rf_eccentricity"][v1]).all() and np.isnan(maps["rf_size"][subject.roi_vertices[("V1", "L")][:0]]).all()
    assert (np.abs(maps["rf_polar_angle"][v1]) <= 90).all()


# ------------------------------------------------------------------------------------ recovery (slow: real networks)
#
# Thresholds fixed on 2026-12-06, before any result of the v3 subject was seen (issue 15). 160 library images
# (balanced), ResNet-50 encoding model.
#   v2 + channel means (teaching, exactly representable; 6 test repeats, the run tests/core/test_experiments.py
#       fits): refit best layer within ±2 of the declared home layer >= 0.50 of the scored vertices; category-
#       cluster ARI >= 0.5.
#   v3 + whole maps (the default; the session's `fitted_experiment`, 10 test repeats): refit best layer within ±2
#       >= 0.35; category-cluster ARI >= 0.3 (circular: the preferences are declared, so this only checks that they
#       survive the model).
# First measured (SNR 0.5): no v3 vertex reached FDR q < 0.05 at 160 images (31 test images: 715 of 59,412
# vertices at the permutation floor p = 1/1001, BH needs >= 1,188), so nothing was scored. v3's declared SNR was
# raised to 2 (data/simulated_subject.json says why; a sweep of SNR 0.5, 1, 2, 3 found 0, 0, 17.5 %, 20 % of the
# driven vertices at q < 0.05). Added then, before the run at SNR 2: at least 10 % of the driven vertices whose
# true single-session ceiling exceeds 0.3 are found (q < 0.05), and at most 0.5 % of the undriven vertices.
# Measured at SNR 2 (2026-12-06, printed by this test): found 20.4 % of 6,811 driven vertices with a
# ceiling > 0.3 (17.5 % of all 7,991 driven), 0.12 % of the undriven; refit best layer within ±2 0.54 of 437 scored
# vertices (attribution 0.14); category clusters ARI 0.77 (k = 3, 1,457 vertices). Thresholds unchanged.
# Whole maps vs channel means on early visual cortex: bench/feature_reductions.py (two more experiments).


@pytest.fixture(scope="module")
def v2_experiment():
    """Module-scoped, so that it is fitted in the session cache, where tests/core/test_experiments.py's run of the
    same settings finds it (a test body has its own cache)."""
    from core.experiments import run_default_experiment

    return run_default_experiment(subject="v2", reduction="mean", max_images=160, n_repeats=6, n_permutations=1000)


def _recovery(subject: str, result) -> tuple[dict, dict]:
    from core.recovery import category_cluster_ari, layer_recovery

    layers = layer_recovery(result, load_default_subject(subject))
    try:
        clusters = category_cluster_ari(result)
    except ValueError as exc:  # no predictable vertex to cluster on
        clusters = {"ari": float("nan"), "k": 0, "error": str(exc)}
    print(f"{subject}: best layer within ±2: refit {layers['refit']:.2f}, attribution {layers['attribution']:.2f} "
          f"({layers['n_vertices']} vertices); category clusters ARI {clusters['ari']:.2f} (k = {clusters['k']}); "
          f"per region {layers['per_region']}")
    return layers, clusters


@pytest.mark.slow
def test_recovery_of_the_teaching_subject_v2(v2_experiment):
    layers, clusters = _recovery("v2", v2_experiment)
    assert layers["refit"] >= 0.50 and clusters["ari"] >= 0.5


@pytest.mark.slow
def test_recovery_of_the_default_subject_v3(fitted_experiment):
    from core.experiments import load_experiment

    result = load_experiment(fitted_experiment)
    subject = load_default_subject("v3")
    driven = subject.driver_map() >= 0
    found = result.maps["q"] < 0.05
    seen = driven & (result.maps["true_ceiling"] > 0.3)
    print(f"v3: found {found[seen].mean():.3f} of {seen.sum()} driven vertices with a ceiling > 0.3, "
          f"{found[~driven].mean():.4f} of the undriven")
    assert found[seen].mean() >= 0.10 and found[~driven].mean() <= 0.005
    layers, clusters = _recovery("v3", result)
    assert layers["refit"] >= 0.35 and clusters["ari"] >= 0.3
