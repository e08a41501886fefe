"""Brain RDMs of a study's regions (``core.studies.rsa``): rsatoolbox's correlation RDMs of the repeat-averaged
patterns and of each repeat session, a planted category structure found in its region only, the reproducible
stimulus choice, regions read by groups within the memory budget, and regions left out with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.studies import import_study
from core.studies import rsa as study_rsa
from core.studies.simulate import write_simulated_study

N_STIMULI, N_REPEATS, N_REGION = 12, 2, 200
#: The planted region (left hemisphere, fsaverage5) and a noise region.
PLANTED, NOISE = np.arange(N_REGION), np.arange(1000, 1000 + N_REGION)


def write_planted_study(folder, *, n_repeats: int = N_REPEATS, seed: int = 0):
    """A 12-image folder study (4 face, 4 object, 4 place; fsaverage5) shown ``n_repeats`` times, whose ROI class
    ``faces`` has region ``A`` (vertices 0–199: one pattern per category plus noise) and region ``B`` (vertices
    1000–1199: noise only, as every other vertex). Returns the category of each stimulus."""
    truth = write_simulated_study(folder, "folder-npy", n_stimuli=N_STIMULI, n_repeats=n_repeats, random_state=seed)
    rng = np.random.default_rng(seed)
    categories = np.asarray(truth.categories)
    rows = rng.standard_normal((n_repeats, N_STIMULI, 20_484)).astype(np.float32)
    centres = {c: 2 * rng.standard_normal(N_REGION) for c in np.unique(categories)}
    rows[:, :, PLANTED] += np.stack([centres[c] for c in categories])
    np.save(folder / "responses.npy", rows.reshape(n_repeats * N_STIMULI, -1))  # repeat-major, as written
    labels = np.zeros(20_484, np.int32)
    labels[PLANTED], labels[NOISE] = 1, 2
    (folder / "rois").mkdir()
    np.save(folder / "rois" / "faces.npy", labels)
    (folder / "rois" / "faces.tsv").write_text("1\tA\n2\tB\n")
    return categories


@pytest.fixture
def planted(tmp_path):
    categories = write_planted_study(tmp_path / "planted", n_repeats=3)
    return import_study("folder", tmp_path / "planted", "planted"), categories


def _rsatoolbox_rdm(patterns, stimulus):
    from rsatoolbox.data import Dataset
    from rsatoolbox.rdm import calc_rdm

    dataset = Dataset(np.asarray(patterns, np.float64), obs_descriptors={"stimulus": np.asarray(stimulus)})
    return calc_rdm(dataset, method="correlation", descriptor="stimulus").dissimilarities[0]


def test_region_rdms_equal_rsatoolbox_on_averaged_and_per_session_patterns(planted):
    study, _ = planted
    chosen = np.array([0, 2, 5, 7, 9, 11])
    regions = {"A": PLANTED, "odd": np.array([3, 70, 4000, 15000, 20000])}
    rows = np.flatnonzero(np.isin(study.presentations[:, 0], chosen))
    responses = np.asarray(study.responses)
    averaged = study_rsa.study_brain_rdms(study, regions, chosen)
    assert averaged.stimulus_ids == tuple(study.stimuli[i].id for i in chosen) and averaged.left_out == {}
    for name, vertices in regions.items():
        rdm = averaged.rdms[name]
        assert rdm.n_rdms == 1 and rdm.measure == "correlation" and rdm.pattern_labels == averaged.stimulus_ids
        np.testing.assert_allclose(rdm.dissimilarities[0],
                                   _rsatoolbox_rdm(responses[rows][:, vertices], study.presentations[rows, 0]),
                                   atol=1e-6)
    sessions = study_rsa.study_brain_rdms(study, regions, chosen, split="sessions")
    for name, vertices in regions.items():
        rdm = sessions.rdms[name]
        assert rdm.rdm_descriptors == {"session": (1, 2, 3)}
        for k in range(3):
            session_rows = rows[study.presentations[rows, 1] == k]
            np.testing.assert_allclose(
                rdm.dissimilarities[k],
                _rsatoolbox_rdm(responses[session_rows][:, vertices], study.presentations[session_rows, 0]),
                atol=1e-6)


def test_planted_category_structure_shows_in_its_region_only(planted):
    study, categories = planted
    rdms = study_rsa.study_brain_rdms(study, {"A": PLANTED, "B": NOISE}, np.arange(N_STIMULI)).rdms
    i, j = np.triu_indices(N_STIMULI, 1)
    same = categories[i] == categories[j]
    planted_d, noise_d = rdms["A"].dissimilarities[0], rdms["B"].dissimilarities[0]
    assert planted_d[same].max() < planted_d[~same].min()  # every pair within a category closer than any across
    assert planted_d[~same].mean() - planted_d[same].mean() > 0.5
    assert abs(noise_d[~same].mean() - noise_d[same].mean()) < 0.1 and noise_d[same].max() > noise_d[~same].min()


def test_regions_are_read_in_groups_within_the_budget(planted, monkeypatch):
    study, _ = planted
    regions = {"A": PLANTED, "B": NOISE, "C": np.arange(5000, 5300)}
    whole = study_rsa.study_brain_rdms(study, regions, np.arange(N_STIMULI), split="sessions")
    # one group holds at most 250 vertices of 3 sessions × 12 stimuli: every region is read on its own
    monkeypatch.setattr(study_rsa, "PATTERN_BUDGET_BYTES", 250 * 3 * N_STIMULI * study_rsa._BYTES_PER_VALUE)
    assert study_rsa._groups(regions, 3 * N_STIMULI * study_rsa._BYTES_PER_VALUE) == [["A"], ["B"], ["C"]]
    grouped = study_rsa.study_brain_rdms(study, regions, np.arange(N_STIMULI), split="sessions")
    for name in regions:
        np.testing.assert_array_equal(grouped.rdms[name].dissimilarities, whole.rdms[name].dissimilarities)


def test_stimuli_are_chosen_per_category_evenly_and_reproducibly():
    categories = ["face"] * 60 + ["place"] * 30 + ["object"] * 10
    chosen = study_rsa.select_stimuli(categories, 10)
    assert chosen.tolist() == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90]  # 6 faces, 3 places, 1 object
    assert np.array_equal(study_rsa.select_stimuli(categories, 10), chosen)
    counts = np.unique(np.asarray(categories)[study_rsa.select_stimuli(categories, 7)], return_counts=True)
    assert dict(zip(*counts, strict=True)) == {"face": 4, "object": 1, "place": 2}  # 4.2, 0.7, 2.1: largest remainders
    assert study_rsa.select_stimuli([""] * 9, 3).tolist() == [0, 3, 6]
    assert study_rsa.select_stimuli(categories, 500).tolist() == list(range(100))
    assert study_rsa.select_stimuli(categories, 4, eligible=[95, 5, 61, 62, 3]).tolist() == [3, 5, 61, 95]
    with pytest.raises(UserError, match="at least 3 stimuli"):
        study_rsa.select_stimuli(categories, 2)


def test_regions_without_an_rdm_are_left_out_with_a_reason(planted, tmp_path):
    study, _ = planted
    rdms = study_rsa.study_brain_rdms(study, {"A": PLANTED, "one": [7], "empty": []}, np.arange(6))
    assert list(rdms.rdms) == ["A"] and rdms.left_out == {"one": "1 vertex in the study (a correlation needs 2)",
                                                          "empty": "0 vertex in the study (a correlation needs 2)"}
    with pytest.raises(UserError, match="outside the study"):
        study_rsa.study_brain_rdms(study, {"A": [0, 20_484]}, np.arange(6))
    with pytest.raises(UserError, match="Unknown RDM split 'runs'; choose from average or sessions"):
        study_rsa.study_brain_rdms(study, {"A": PLANTED}, np.arange(6), split="runs")
    write_simulated_study(tmp_path / "once", "folder-npy", n_stimuli=6)
    once = import_study("folder", tmp_path / "once", "once")
    with pytest.raises(UserError, match="not shown in every repeat session"):
        study_rsa.study_brain_rdms(once, {"A": PLANTED}, np.arange(6), split="sessions")
    flat = np.asarray(once.responses).copy()
    flat[2, PLANTED] = 1.0
    np.save(once.folder / "responses.npy", flat)
    left = study_rsa.study_brain_rdms(once, {"A": PLANTED, "B": NOISE}, np.arange(6)).left_out
    assert left == {"A": f"stimulus {once.stimuli[2].id} has the same response at all its vertices"}
