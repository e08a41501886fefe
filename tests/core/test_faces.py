"""Identity- vs expression-network analyses: face sets, preparation, RDMs, comparisons, readouts."""

import csv
import functools

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import sparse
from scipy.spatial.distance import pdist
from torch import nn

import core.faces as faces
from core.faces import (
    CLASSIFIERS,
    SUBSPACE_METHODS,
    FaceSet,
    brain_rdms_from_patterns,
    compare_networks_to_regions,
    decoding_transfer,
    identity_vs_expression_difference,
    label_faces,
    load_face_csv,
    load_face_folder,
    load_yale_faces,
    network_features,
    network_rdms,
    prepare_face_set,
    prepare_faces,
    simulated_region_patterns,
    simulated_region_rdms,
    subspace_congruence,
    tucker_congruence,
)
from core.features import extract_features
from core.models import MODEL_REGISTRY
from core.rsa import RDM, compare_rdms, compute_rdm, rdm_noise_ceiling, to_rsatoolbox
from core.stimuli import from_arrays
from core.subject import RegionDriver, SimulatedSubject, SubjectSpec, construction_notes, load_subject_spec

# ------------------------------------------------------------------------------------ helpers


class _ZooStandIn(nn.Module):
    """Tiny zoo-convention network: conv (4×16×16 = 1024 units) then fc (3 units)."""

    input_size = (16, 16)
    labels = ()

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.layer_sets = {"default": ("conv", "fc")}

    def prepare(self, x):
        return x

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))


class _ConstantHead(nn.Module):
    """Zoo-convention stand-in whose ``fc`` output is ``bias + slope · mean brightness``."""

    input_size = (8, 8)

    def __init__(self, bias, slope, labels=()):
        super().__init__()
        self.fc = nn.Linear(1, len(bias))
        with torch.no_grad():
            self.fc.weight.copy_(torch.as_tensor(slope, dtype=torch.float32).view(-1, 1))
            self.fc.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
        self.labels = tuple(labels)
        self.layer_sets = {"default": ("fc",)}

    def prepare(self, x):
        return x

    def forward(self, x):
        return self.fc(x.mean(dim=(1, 2, 3))[:, None])


def _write_image(path, rng, size=(12, 10), fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path, format=fmt)


def _factorial_features(rng, n_id=6, n_ex=5, n_units=40, noise=0.1):
    """Identity × expression design: X = A[identity] + B[expression] + noise."""
    identities = np.repeat([f"id{i}" for i in range(n_id)], n_ex)
    expressions = np.tile([f"ex{e}" for e in range(n_ex)], n_id)
    A, B = rng.standard_normal((n_id, n_units)), rng.standard_normal((n_ex, n_units))
    X = A[np.repeat(np.arange(n_id), n_ex)] + B[np.tile(np.arange(n_ex), n_id)]
    return X + noise * rng.standard_normal(X.shape), identities, expressions


def _tiny_subject(rng):
    n = 40
    adjacency = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")
    rois = {("FFA", "L"): np.arange(0, 10), ("FFA", "R"): np.arange(20, 30),
            ("STS", "L"): np.arange(10, 20), ("STS", "R"): np.arange(30, 40)}
    spec = SubjectSpec(name="tiny", description="test", seed=0, snr=1.0, n_components=3, smoothing_iterations=2,
                       drivers=(RegionDriver("FFA", "face_identity", "fc"),
                                RegionDriver("STS", "face_expression", "fc", amplitude=2.0)))
    features = {("face_identity", "fc"): rng.standard_normal((30, 8)),
                ("face_expression", "fc"): rng.standard_normal((30, 7))}
    subject = SimulatedSubject(spec, roi_vertices=rois, adjacency=adjacency).calibrate(features, ["x"] * 30)
    return subject, features


# ------------------------------------------------------------------------------------ face sets


def test_face_set_checks_lengths_and_label_sources(rng):
    images = rng.integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    sources = {"identity": "user", "expression": "user"}
    face_set = FaceSet(images, ("a", "a", "b"), ("x", "y", "x"), sources)
    assert face_set.ids == ("0", "1", "2") and len(face_set) == 3
    assert face_set.subset([2, 0]).identities == ("b", "a")
    in_memory = FaceSet(from_arrays(images), ("a", "a", "b"), ("x", "y", "x"), sources)
    assert in_memory.ids[0] == "array[0]" and np.array_equal(np.stack(in_memory.pixels()), images)
    with pytest.raises(ValueError, match="differ in length"):
        FaceSet(images, ("a", "b"), ("x", "y", "x"), sources)
    with pytest.raises(ValueError, match="label_sources lacks"):
        FaceSet(images, ("a", "a", "b"), ("x", "y", "x"), {"identity": "user"})
    with pytest.raises(ValueError, match="label_sources lacks \\['gender'\\]"):
        FaceSet(images, ("a", "a", "b"), ("x", "y", "x"), sources, genders=("m", "f", "m"))


def test_load_face_folder_reads_identity_expression_layout(tmp_path, rng):
    for identity in ("ann", "bob"):
        for expression, ext in (("happy", ".png"), ("sad", ".JPG")):
            _write_image(tmp_path / identity / expression / f"1{ext}", rng, fmt="PNG" if ext == ".png" else "JPEG")
    (tmp_path / "ann" / "happy" / "notes.txt").write_text("not an image")
    face_set = load_face_folder(tmp_path)
    assert face_set.identities == ("ann", "ann", "bob", "bob")
    assert face_set.expressions == ("happy", "sad", "happy", "sad")
    assert face_set.ids[1] == "ann/sad/1.JPG"
    assert face_set.label_sources == {"identity": "user", "expression": "user"}
    assert [p.shape for p in face_set.pixels()] == [(12, 10, 3)] * 4
    with pytest.raises(ValueError, match="holds no images"):
        load_face_folder(tmp_path / "ann" / "happy")


def _write_csv(path, rows):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "identity", "expression"])
        writer.writerows(rows)


def test_load_face_csv_reads_rows_relative_to_its_folder(tmp_path, rng):
    _write_image(tmp_path / "img" / "a.png", rng)
    _write_image(tmp_path / "img" / "b.png", rng)
    _write_csv(tmp_path / "faces.csv", [("img/a.png", "ann", "happy"), ("img/b.png", "bob", "sad")])
    face_set = load_face_csv(tmp_path / "faces.csv")
    assert face_set.ids == ("img/a.png", "img/b.png")
    assert face_set.identities == ("ann", "bob") and face_set.expressions == ("happy", "sad")


@pytest.mark.parametrize("bad_path", ["../outside.png", "img/../../outside.png", "/etc/passwd", "C:\\x.png"])
def test_load_face_csv_refuses_paths_leaving_its_folder(tmp_path, rng, bad_path):
    (tmp_path / "set").mkdir()
    _write_image(tmp_path / "outside.png", rng)
    _write_image(tmp_path / "set" / "img" / "a.png", rng)
    _write_csv(tmp_path / "set" / "faces.csv", [("img/a.png", "ann", "happy"), (bad_path, "bob", "sad")])
    with pytest.raises(ValueError, match="relative to the CSV's folder|leaves the CSV's folder"):
        load_face_csv(tmp_path / "set" / "faces.csv")


def test_load_face_csv_names_missing_columns(tmp_path):
    (tmp_path / "faces.csv").write_text("file,identity\nimg/a.png,ann\n")
    with pytest.raises(ValueError, match="lacks columns \\['path', 'expression'\\]"):
        load_face_csv(tmp_path / "faces.csv")


def test_load_yale_faces_reads_subject_condition_files(tmp_path, rng):
    for subject in ("subject01", "subject02"):
        for condition in ("happy", "sad", "glasses"):
            grey = rng.integers(0, 256, (243, 320), dtype=np.uint8)
            Image.fromarray(grey, mode="L").save(tmp_path / f"{subject}.{condition}", format="GIF")
    face_set = load_yale_faces(tmp_path, expressions=("sad", "happy"))
    assert face_set.ids == ("subject01.sad", "subject01.happy", "subject02.sad", "subject02.happy")
    assert face_set.identities == ("subject01",) * 2 + ("subject02",) * 2
    pixels = face_set.pixels()
    assert pixels[0].shape == (243, 320, 3) and np.array_equal(pixels[0][..., 0], pixels[0][..., 2])
    assert len(load_yale_faces(tmp_path)) == 4  # the default expressions present: happy, sad
    with pytest.raises(ValueError, match="choose from"):
        load_yale_faces(tmp_path, expressions=("smiling",))


# ------------------------------------------------------------------------------------ preparation


def _tilted_eyes_image(angle_deg, side=112):
    """Grey square with a red left eye and a blue right eye on a line tilted by ``angle_deg``."""
    image = np.full((side, side, 3), 128, dtype=np.uint8)
    centre, half = np.array([side / 2, side / 2]), 20.0
    direction = np.array([np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))])
    eyes = [centre - half * direction, centre + half * direction]
    for (x, y), colour in zip(eyes, ((255, 0, 0), (0, 0, 255)), strict=True):
        image[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4] = colour
    angles = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    points = centre + 35 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points[36:42], points[42:48] = eyes
    return image, points / side


def test_prepare_faces_without_detection_levels_the_eyes():
    image, relative_landmarks = _tilted_eyes_image(25.0)
    landmarker = _ConstantHead(relative_landmarks.ravel(), np.zeros(136))
    prepared = prepare_faces([image], size=96, detect=False, align=True, landmarker=landmarker, margin=0.1)
    assert prepared.faces.shape == (1, 96, 96, 3) and prepared.failures == ()
    face = prepared.faces[0].astype(int)
    red = np.argwhere((face[..., 0] > 200) & (face[..., 2] < 60)).mean(axis=0)
    blue = np.argwhere((face[..., 2] > 200) & (face[..., 0] < 60)).mean(axis=0)
    assert abs(red[0] - blue[0]) < 1.0  # same row
    assert red[1] < blue[1]  # left eye on the left

    plain = prepare_faces([image, image[:80]], size=32, detect=False, align=False)
    assert plain.faces.shape == (2, 32, 32, 3) and plain.indices.tolist() == [0, 1]


def test_label_faces_are_argmax_and_larger_gender_probability(rng):
    labels = ("neutral", "happy", "sad")
    expression = _ConstantHead([0.0, -1.0, 1.0], [0.0, 4.0, -4.0], labels)  # bright → happy, dark → sad
    age_gender = _ConstantHead([30.0, 1.0, 0.0], [0.0, -2.0, 0.0], ("age", "male", "female"))
    images = np.stack([np.full((8, 8, 3), v, dtype=np.uint8) for v in (0, 255)])
    result = label_faces(images, expression_model=expression, age_gender_model=age_gender)
    assert result.expressions == ("sad", "happy")
    assert result.genders == ("male", "female")
    np.testing.assert_allclose(result.expression_probabilities.sum(axis=1), 1.0)
    assert result.label_sources == {"gender": "model: face_age_gender", "expression": "model: face_expression"}


# ------------------------------------------------------------------------------------ network RDMs


def test_network_rdms_choose_the_reduction_by_layer_size(rng, monkeypatch):
    images = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    face_set = FaceSet(images, list("aabbcc"), list("xyxyxy"), {"identity": "user", "expression": "user"})
    model = _ZooStandIn()
    monkeypatch.setattr("core.faces.networks.FULL_MAX_UNITS", 500)
    rdms = network_rdms(face_set, model)
    assert list(rdms) == ["conv", "fc"]
    assert rdms["conv"].descriptors["reduction"] == "mean" and rdms["conv"].descriptors["n_units"] == 4
    assert rdms["fc"].descriptors["reduction"] == "full" and rdms["fc"].pattern_labels == face_set.ids
    expected = extract_features(model, images, layers=["fc"], reduction="full")["fc"]
    np.testing.assert_allclose(rdms["fc"].dissimilarities[0], pdist(expected.astype(np.float64), "correlation"),
                               atol=1e-6)
    full = network_features(face_set, model, reduction="full")
    assert full["conv"].shape == (6, 1024)
    with pytest.raises(ValueError, match="choose from"):
        network_rdms(face_set, model, metric="crossnobis")


# ------------------------------------------------------------------------------------ brain RDMs


def test_brain_rdms_from_patterns_single_stacked_and_ready(rng):
    labels = [f"s{i}" for i in range(8)]
    single, stacked = rng.standard_normal((8, 20)), rng.standard_normal((3, 8, 20))
    ready = compute_rdm(rng.standard_normal((8, 5)), pattern_labels=labels)
    rdms = brain_rdms_from_patterns({"ieeg": single, "fmri": stacked, "given": ready}, pattern_labels=labels)
    np.testing.assert_allclose(rdms["ieeg"].dissimilarities[0], pdist(single, "correlation"))
    assert rdms["fmri"].n_rdms == 3 and rdms["ieeg"].descriptors["region"] == "ieeg"
    np.testing.assert_allclose(rdms["fmri"].dissimilarities[2], pdist(stacked[2], "correlation"))
    assert rdms["given"] is ready
    with pytest.raises(ValueError, match="different stimuli"):
        brain_rdms_from_patterns({"a": single, "b": compute_rdm(single[:5])})
    with pytest.raises(ValueError, match="2 or 3 dimensions"):
        brain_rdms_from_patterns({"a": single[0]})


def test_simulated_region_patterns_slice_the_measured_responses(rng):
    subject, features = _tiny_subject(rng)
    patterns = simulated_region_patterns(subject, features, ["STS"], n_repeats=2, random_state=3)
    expected = subject.measure(subject.signal(features), n_repeats=2, random_state=3)
    assert patterns["STS"].shape == (2, 30, 20)
    np.testing.assert_array_equal(patterns["STS"], expected[:, :, np.r_[10:20, 30:40]])
    with pytest.raises(ValueError, match="choose from \\['FFA', 'STS'\\]"):
        simulated_region_patterns(subject, features, ["V1"])


def test_simulated_region_rdms_reuse_given_features_and_equal_the_pattern_rdms(rng):
    subject, features = _tiny_subject(rng)
    face_set = FaceSet(np.zeros((30, 4, 4, 3), np.uint8), ["a"] * 30, ["b"] * 30,
                       {"identity": "user", "expression": "user"})
    given = {net: {layer: X} for (net, layer), X in features.items()}  # nothing left to extract
    rdms = simulated_region_rdms(subject, face_set, ["FFA_R", "STS"], features=given, n_repeats=3, random_state=5)
    patterns = simulated_region_patterns(subject, features, ["FFA_R", "STS"], n_repeats=3, random_state=5)
    for region in ("FFA_R", "STS"):
        expected = brain_rdms_from_patterns({region: patterns[region]}, pattern_labels=face_set.ids)[region]
        assert rdms[region].n_rdms == 3 and rdms[region].pattern_labels == face_set.ids
        np.testing.assert_allclose(rdms[region].dissimilarities, expected.dissimilarities)
    with pytest.raises(ValueError, match=r"features lack the subject's readings of \[\('face_expression', 'fc'\)\]"):
        simulated_region_rdms(subject, face_set, ["STS"], features={"face_identity": given["face_identity"]})


def test_driver_smoothing_override_sets_how_many_directions_a_region_reads(rng):
    """Unsmoothed weights are independent per vertex; the spec's smoothing makes neighbours alike."""
    n = 40
    adjacency = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], format="csr")
    rois = {("A", "L"): np.arange(0, 20), ("B", "L"): np.arange(20, 40)}
    spec = SubjectSpec(name="tiny", description="test", seed=0, snr=1.0, n_components=8, smoothing_iterations=30,
                       drivers=(RegionDriver("A", "net", "l"), RegionDriver("B", "net", "l", smoothing_iterations=0)))
    features = {("net", "l"): rng.standard_normal((50, 20))}
    subject = SimulatedSubject(spec, roi_vertices=rois, adjacency=adjacency).calibrate(features, ["x"] * 50)

    def participation_ratio(w):
        s = np.linalg.svd(w, compute_uv=False)
        return s.sum() ** 2 / (s**2).sum()

    (_, smooth, _), (_, independent, _) = subject.readout_
    neighbours = [np.mean(np.sum(w[1:] * w[:-1], axis=1)) for w in (smooth, independent)]
    assert neighbours[0] > 0.9 and abs(neighbours[1]) < 0.2  # cosine of neighbouring vertices' weights
    assert participation_ratio(independent) > 2 * participation_ratio(smooth)
    with pytest.raises(ValueError, match="smoothing_iterations of A must be >= 0"):
        RegionDriver("A", "net", "l", smoothing_iterations=-1)


# ------------------------------------------------------------------------------------ comparisons


def _planted_rdms(rng, n=12, n_subjects=4, noise=0.3):
    labels = [f"s{i}" for i in range(n)]
    truth = rng.standard_normal((n, 30))
    subjects = truth + noise * rng.standard_normal((n_subjects, n, 30))
    brain = brain_rdms_from_patterns({"FFA": subjects}, pattern_labels=labels)
    good = compute_rdm(truth + 0.3 * rng.standard_normal(truth.shape), pattern_labels=labels)
    bad = compute_rdm(rng.standard_normal((n, 30)), pattern_labels=labels)
    return brain, good, bad


def test_compare_networks_to_regions_matches_rsatoolbox_and_finds_the_planted_layer(rng):
    from rsatoolbox.rdm import compare

    brain, good, bad = _planted_rdms(rng)
    result = compare_networks_to_regions(brain, {"net": {"early": bad, "late": good}, "other": {"only": bad}},
                                         n_permutations=200, random_state=0)
    assert result.r.shape == (1, 2, 2) and np.isnan(result.r[0, 1, 1])
    expected = compare(to_rsatoolbox(good), to_rsatoolbox(brain["FFA"]), method="spearman").mean()
    np.testing.assert_allclose(result.r[0, 0, 1], expected)
    layers, r, p = result.curve("FFA", "net")
    assert layers == ("early", "late") and r[1] > 0.5 and p[1] < 0.01 and p[0] > 0.01
    ceiling = rdm_noise_ceiling(brain["FFA"], method="spearman")
    assert (result.noise_ceiling_lower[0], result.noise_ceiling_upper[0]) == (ceiling.lower, ceiling.upper)

    tau = compare_networks_to_regions(brain, {"net": {"late": good}}, method="kendall_tau_a", n_permutations=10)
    assert np.isnan(tau.p).all() and tau.r[0, 0, 0] == pytest.approx(
        compare_rdms(good, brain["FFA"], method="kendall_tau_a").mean())
    with pytest.raises(ValueError, match="choose from"):
        compare_networks_to_regions(brain, {"net": {"late": good}}, method="pearson")


def test_identity_vs_expression_difference_null_and_planted(rng):
    n, labels = 20, [f"s{i}" for i in range(20)]
    identity = rng.standard_normal((n, 30))
    expression = rng.standard_normal((n, 30))
    id_rdm = compute_rdm(identity, pattern_labels=labels)
    ex_rdm = compute_rdm(expression, pattern_labels=labels)
    brains = brain_rdms_from_patterns({
        "equal": np.hstack([identity, expression]) + 0.5 * rng.standard_normal((n, 60)),
        "identity": identity + 0.5 * rng.standard_normal((n, 30)),
    }, pattern_labels=labels)
    result = identity_vs_expression_difference(brains, id_rdm, ex_rdm, n_bootstrap=300, random_state=0)
    equal, planted = result.regions.index("equal"), result.regions.index("identity")
    assert result.ci_low[equal] < 0 < result.ci_high[equal] and result.p[equal] > 0.05
    assert result.ci_low[planted] > 0 and result.p[planted] < 0.05 and result.observed[planted] > 0.5
    with pytest.raises(ValueError, match="n_bootstrap"):
        identity_vs_expression_difference(brains, id_rdm, ex_rdm, n_bootstrap=0)


def test_bootstrap_leaves_out_pairs_of_a_stimulus_with_its_copy(rng):
    n, labels = 6, [f"s{i}" for i in range(6)]
    patterns = rng.standard_normal((n, 10))
    rdm = compute_rdm(patterns, pattern_labels=labels)
    # brain = identity model exactly: every bootstrap difference is 1 - r(identity, expression) > 0,
    # which would be pulled around by the zero self-pairs if they were kept
    other = compute_rdm(rng.standard_normal((n, 10)), pattern_labels=labels)
    result = identity_vs_expression_difference({"r": rdm}, rdm, other, n_bootstrap=50, random_state=1)
    assert result.observed[0] == pytest.approx(1 - compare_rdms(rdm, other, method="spearman")[0, 0])
    assert result.ci_low[0] > 0


# ------------------------------------------------------------------------------------ readouts


@pytest.mark.parametrize("classifier", sorted(CLASSIFIERS))
def test_decoding_transfer_planted_and_shuffled(rng, classifier):
    X, identities, expressions = _factorial_features(rng, n_units=60, noise=0.2)
    result = decoding_transfer({"layer": X, "wide": np.hstack([X, X, X])}, identities, expressions,
                               classifier=classifier)
    assert result.identity_chance == pytest.approx(1 / 6) and result.expression_chance == pytest.approx(1 / 5)
    np.testing.assert_allclose(result.identity_accuracy, 1.0)
    np.testing.assert_allclose(result.expression_accuracy, 1.0)
    shuffled = decoding_transfer({"layer": rng.standard_normal(X.shape)}, identities, expressions,
                                 classifier=classifier)
    assert abs(shuffled.identity_accuracy[0] - 1 / 6) < 0.2
    assert abs(shuffled.expression_accuracy[0] - 1 / 5) < 0.2


def test_decoding_transfer_rejects_a_single_class(rng):
    with pytest.raises(ValueError, match="at least 2 distinct labels"):
        decoding_transfer({"l": rng.standard_normal((4, 3))}, ["a"] * 4, ["x", "y", "x", "y"])


def test_tucker_congruence_by_hand():
    assert tucker_congruence([1, 0], [1, 1]) == pytest.approx(1 / np.sqrt(2))
    assert tucker_congruence([1, 2, 3], [-2, -4, -6]) == pytest.approx(-1.0)
    assert tucker_congruence([0, 0], [1, 1]) == 0.0


@pytest.mark.parametrize("method", sorted(SUBSPACE_METHODS))
def test_subspace_congruence_identical_is_one_orthogonal_is_zero(rng, method):
    n_id, n_ex, dims = 4, 3, 30
    rotation = np.linalg.qr(rng.standard_normal((dims, dims)))[0]
    id_index, ex_index = np.repeat(np.arange(n_id), n_ex), np.tile(np.arange(n_ex), n_id)
    identities, expressions = id_index.astype(str), ex_index.astype(str)
    plane = np.zeros((dims, 3))
    plane[:3] = np.eye(3)  # identity means span e1..e3
    A = rng.standard_normal((n_id, 3)) @ plane.T
    shared = (rng.standard_normal((n_ex, 3)) @ plane.T)  # expression in the same 3-D space
    other = np.zeros((n_ex, dims))
    other[:, 3:5] = rng.standard_normal((n_ex, 2))  # expression in e4, e5: orthogonal
    same = subspace_congruence({"l": (A[id_index] + shared[ex_index]) @ rotation}, identities, expressions,
                               method=method)
    orthogonal = subspace_congruence({"l": (A[id_index] + other[ex_index]) @ rotation}, identities, expressions,
                                     method=method)
    assert same.congruence[0] == pytest.approx(1.0) and same.principal_cosines[0].shape == (2,)
    assert orthogonal.congruence[0] == pytest.approx(0.0, abs=1e-8)
    assert orthogonal.identity_dims[0] == 3 and orthogonal.expression_dims[0] == 2


def test_subspace_congruence_of_unrelated_labels_is_at_chance(rng):
    X = rng.standard_normal((60, 200))
    identities, expressions = np.repeat(np.arange(6), 10).astype(str), np.tile(np.arange(10) % 5, 6).astype(str)
    result = subspace_congruence({"noise": X, "flat": np.ones((60, 3))}, identities, expressions,
                                 n_permutations=50, random_state=0)
    assert abs(result.congruence[0] - result.chance[0]) < 0.1
    assert np.isnan(result.congruence[1]) and np.isnan(result.chance[1])
    again = subspace_congruence({"noise": X}, identities, expressions, n_permutations=50, random_state=0)
    assert again.chance[0] == result.chance[0]
    none = subspace_congruence({"noise": X}, identities, expressions, n_permutations=0)
    assert np.isnan(none.chance[0]) and none.congruence[0] == result.congruence[0]


def test_fold_projection_equals_sklearn_standard_scaler_then_pca(rng):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train, test = rng.standard_normal((20, 50)), rng.standard_normal((5, 50))
    train[:, 3] = 1.0  # a constant unit
    y = np.arange(20) % 4
    z_train, z_test = faces._standardised_components(train, test)
    ours = LogisticRegression().fit(z_train, y)
    reference = make_pipeline(StandardScaler(), PCA(n_components=19), LogisticRegression()).fit(train, y)
    np.testing.assert_allclose(np.abs(z_test), np.abs(reference[:-1].transform(test)), atol=1e-8)
    np.testing.assert_allclose(ours.predict_proba(z_test), reference.predict_proba(test), atol=1e-6)


# ------------------------------------------------------------------------------------ real weights

FACE_API_READY = pytest.mark.skipif("face_identity" not in MODEL_REGISTRY, reason="face_api nets not registered yet")


@functools.cache
def _prepared_yale(folder):
    return prepare_face_set(load_yale_faces(folder), size=160)


@pytest.fixture
def yale_prepared(shared_data):
    """The 90 Yale expression images, detected, aligned and cropped (computed once per session)."""
    if not (shared_data / "yalefaces").is_dir():
        pytest.skip(f"{shared_data / 'yalefaces'} is absent")
    return _prepared_yale(shared_data / "yalefaces")


def _accuracies(result):
    return {layer: (round(float(a), 3), round(float(b), 3)) for layer, a, b in
            zip(result.layers, result.identity_accuracy, result.expression_accuracy, strict=True)}


@pytest.mark.slow
@FACE_API_READY
def test_yale_faces_are_all_found_and_aligned(yale_prepared):
    assert len(yale_prepared) == 90 and yale_prepared.skipped == ()
    assert yale_prepared.images.shape == (90, 160, 160, 3)
    blank = prepare_faces([np.full((200, 200, 3), 128, dtype=np.uint8)], size=64)
    assert blank.faces.shape == (0, 64, 64, 3) and blank.failures[0][0] == 0


@pytest.mark.slow
@FACE_API_READY
def test_yale_identity_net_decodes_identity_across_expressions(yale_prepared):
    features = network_features(yale_prepared, "face_identity")
    result = decoding_transfer(features, yale_prepared.identities, yale_prepared.expressions)
    print("face_identity (identity, expression) accuracy per layer:", _accuracies(result))
    assert result.identity_chance == pytest.approx(1 / 15)
    assert result.identity_accuracy[-3:].min() > 0.8  # chance 0.067; measured 0.97-1.0


@pytest.mark.slow
@FACE_API_READY
def test_yale_expression_net_decodes_expression_across_identities(yale_prepared):
    features = network_features(yale_prepared, "face_expression")
    result = decoding_transfer(features, yale_prepared.identities, yale_prepared.expressions)
    print("face_expression (identity, expression) accuracy per layer:", _accuracies(result))
    assert result.expression_chance == pytest.approx(1 / 6)
    assert result.expression_accuracy[-1] > 0.4  # chance 0.167; measured 0.64
    pair = [k for k, e in enumerate(yale_prepared.expressions) if e in ("happy", "surprised")]
    subset = yale_prepared.subset(pair)
    two = decoding_transfer({k: v[pair] for k, v in features.items()}, subset.identities, subset.expressions)
    print("face_expression happy vs surprised:", two.expression_accuracy.round(3))
    assert two.expression_accuracy[-1] > 0.8  # chance 0.5; measured 0.97
    congruence = subspace_congruence(features, yale_prepared.identities, yale_prepared.expressions,
                                     n_permutations=20, random_state=0)
    print("congruence", congruence.congruence.round(3), "chance", congruence.chance.round(3))
    assert congruence.congruence[-1] == pytest.approx(1.0)  # 7 logits: the 14 identity directions fill them


@pytest.mark.slow
@FACE_API_READY
def test_yale_identity_coded_region_prefers_the_identity_net(yale_prepared):
    identity_rdm = network_rdms(yale_prepared, "face_identity", layers=["fc"])["fc"]
    expression_rdm = network_rdms(yale_prepared, "face_expression", layers=["fc"])["fc"]
    codes = np.unique(yale_prepared.identities, return_inverse=True)[1]
    region = np.eye(15)[codes] + 0.3 * np.random.default_rng(0).standard_normal((90, 15))
    brain = brain_rdms_from_patterns({"identity-coded": region}, pattern_labels=yale_prepared.ids)
    result = compare_networks_to_regions(brain, {"face_identity": {"fc": identity_rdm},
                                                 "face_expression": {"fc": expression_rdm}},
                                         n_permutations=200, random_state=0)
    print("r identity net, expression net:", result.r[0, :, 0].round(3), "p", result.p[0, :, 0])
    assert result.r[0, 0, 0] > result.r[0, 1, 0] and result.p[0, 0, 0] < 0.01
    difference = identity_vs_expression_difference(brain, identity_rdm, expression_rdm, n_bootstrap=200,
                                                   random_state=0)
    print("difference", difference.observed, difference.ci_low, difference.ci_high, difference.p)
    assert difference.ci_low[0] > 0


@pytest.mark.slow
@FACE_API_READY
def test_default_face_set_labels_are_model_made_and_identities_cluster():
    face_set = faces.make_default_face_set(16, n_per_identity=4, random_state=0)
    assert face_set.images.shape == (16, 64, 64, 3)
    assert face_set.label_sources["expression"] == "model: face_expression"
    assert face_set.label_sources["gender"] == "model: face_age_gender"
    assert face_set.label_sources["identity"].startswith("generated:")
    assert set(face_set.genders) <= {"male", "female"} and len(set(face_set.identities)) == 4
    descriptors = network_features(face_set, "face_identity", layers=["fc"])["fc"]
    distances = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1)
    same = np.equal.outer(face_set.identities, face_set.identities) & ~np.eye(16, dtype=bool)
    different = ~np.equal.outer(face_set.identities, face_set.identities)
    assert distances[same].mean() < distances[different].mean()
    rdms = network_rdms(face_set, "face_identity")
    assert len(rdms) == 16 and all(isinstance(rdm, RDM) for rdm in rdms.values())
    assert {rdm.descriptors["reduction"] for rdm in rdms.values()} == {"full"}


@functools.cache
def _v3_face_region_winners() -> dict:
    from core.experiments import calibrated_default_subject
    from core.recovery import face_region_winners

    *_, subject, _, _, _ = calibrated_default_subject(max_images=160)
    winners = face_region_winners(subject)
    print("face-region winners (v3):", winners)
    return winners


@pytest.mark.slow
@FACE_API_READY
def test_simulated_face_regions_against_their_declared_network():
    """Issue 8's Done-when, on the v3 subject read honestly: its face regions read their declared net's whole
    maps through receptive fields, and the analysis reads the networks' layers as it always does (no choice
    made to favour the declared net). Expectation fixed on 2026-12-06 before looking: STSvp_R (the expression
    net's dense layer) correlates best (best layer of each net) with the expression net. FFC_R (a middle conv
    layer of the identity net) matched both nets alike when first measured (Spearman r 0.373 identity vs 0.376
    expression at SNR 0.5; v2 0.430 vs 0.462), so the spec declares it a caveat the pages show; what is tested
    is that caveat (fixed before the run at SNR 2): both nets match FFC_R (r > 0.2) and differ by < 0.05.
    Measured at SNR 2: FFC_R identity 0.506, expression 0.491; STSvp_R expression 0.457, identity 0.268."""
    winners = _v3_face_region_winners()
    assert set(winners) == {"FFC_R", "STSvp_R"}
    stsvp, ffc = winners["STSvp_R"], winners["FFC_R"]
    assert stsvp["winner"] == stsvp["declared"] == "face_expression", stsvp
    assert min(ffc["r"].values()) > 0.2 and abs(ffc["r"]["face_identity"] - ffc["r"]["face_expression"]) < 0.05, ffc
    notes = construction_notes(load_subject_spec("v3"))
    assert any("cannot tell which of the two nets drives it" in note and "FFC (R)" in note for note in notes)
