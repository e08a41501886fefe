"""Studies: every layout written by the simulator round-trips through its importer; the Study object's views,
noise ceilings, display maps and image checks have known answers."""

from __future__ import annotations

import os
import pickle

import nibabel as nib
import numpy as np
import pytest

from core.cortex import load_brain_data, volume_to_fsaverage5
from core.errors import UserError
from core.studies import (
    SPACES,
    algonauts_roi_tables,
    import_study,
    list_studies,
    load_study,
    remove_study,
    studies_dir,
)
from core.studies.simulate import LAYOUTS, write_simulated_study


def _written_rows(folder, layout) -> np.ndarray:
    """The responses as written, read back by an independent path (numpy / core.cortex / nibabel)."""
    if layout == "algonauts2023":
        fmri = folder / "training_split" / "training_fmri"
        return np.hstack([np.load(fmri / f"{h}_training_fmri.npy") for h in ("lh", "rh")])
    if layout == "folder-npy":
        return np.load(folder / "responses.npy")
    if layout == "folder-npz":
        return np.load(folder / "responses.npz")["responses"]
    if layout == "folder-gifti":
        return load_brain_data(folder / "responses.L.func.gii", path_right=folder / "responses.R.func.gii")
    if layout == "folder-dscalar":
        return load_brain_data(folder / "responses.dscalar.nii")
    if layout == "folder-mgh":
        return np.hstack([np.asarray(nib.load(folder / f"responses.{h}.mgh").dataobj)[:, 0, 0, :].T
                          for h in ("lh", "rh")])
    return volume_to_fsaverage5(folder / "responses.nii.gz")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_layout_round_trips_through_its_importer(tmp_path, layout):
    folder = tmp_path / layout
    truth = write_simulated_study(folder, layout, n_stimuli=24, n_per_hemisphere=200, n_test=4)
    study = import_study(LAYOUTS[layout][0], folder, "s1")
    expected = _written_rows(folder, layout)
    space = LAYOUTS[layout][1]
    assert study.space == ("fsaverage5" if space == "MNI volume" else space)
    assert study.n_stimuli == study.n_presentations == 24
    assert study.n_vertices == expected.shape[1] and study.n_source_columns == expected.shape[1]
    responses = study.responses
    assert isinstance(responses, np.memmap) and responses.dtype == np.float32 and not responses.flags.writeable
    np.testing.assert_allclose(responses, expected, rtol=1e-6, atol=1e-6)
    assert study.categories == (("",) * 24 if layout == "algonauts2023" else truth.categories)  # NSD: no labels
    assert study.provenance["format"] == LAYOUTS[layout][0] and study.provenance["images"].startswith("referenced")
    assert {k: v["count"] for k, v in study.provenance["dropped"].items()} == {"nan": 0, "constant": 0}
    shown = study.display_map(np.arange(study.n_vertices, dtype=np.float32))
    assert shown.space in ("fsLR32k", "fsaverage5") and shown.values.dtype == np.float32
    assert list_studies() == ["s1"] and load_study("s1").n_vertices == study.n_vertices
    assert study.report()[0].startswith("study s1: ")


def test_algonauts_study_has_challenge_vertices_rois_and_test_images(tmp_path):
    folder = tmp_path / "subj01"
    write_simulated_study(folder, "algonauts2023", n_stimuli=24, n_per_hemisphere=200, n_test=5)
    study = import_study("algonauts2023", folder, "nsd-subj01")
    masks = [np.flatnonzero(np.load(folder / "roi_masks" / f"{h}.all-vertices_fsaverage_space.npy"))
             for h in ("lh", "rh")]
    np.testing.assert_array_equal(study.vertices, np.concatenate([masks[0], masks[1] + 163_842]))
    assert (study.hemispheres == "L").sum() == (study.hemispheres == "R").sum() == 200
    assert [i.id for i in study.test_images] == [f"test_split/test_images/test-{k:04d}_nsd-{5000 + k - 1:05d}.png"
                                                 for k in range(1, 6)]
    assert study.stimuli[0].id == "training_split/training_images/train-0001_nsd-01000.png"
    tables = algonauts_roi_tables()
    faces = np.concatenate([np.load(folder / "roi_masks" / f"{h}.floc-faces_challenge_space.npy") for h in ("lh", "rh")])
    assert study.roi_classes["floc-faces"].names == tables["floc-faces"]
    np.testing.assert_array_equal(study.roi_masks["FFA-1"], np.flatnonzero(faces == 2))  # 2 = FFA-1 in NSD's table
    assert set(study.roi_masks) <= set(tables["floc-faces"].values()) | set(tables["prf-visualrois"].values())


def test_algonauts_mapping_pickles_are_never_unpickled(tmp_path):
    folder = tmp_path / "subj01"
    write_simulated_study(folder, "algonauts2023", n_stimuli=12, n_per_hemisphere=50)
    marker = tmp_path / "unpickled"

    class Trap:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for file in (folder / "roi_masks").glob("mapping_*.npy"):
        file.write_bytes(pickle.dumps({1: Trap()}))
    study = import_study("algonauts2023", folder, "s")
    assert not marker.exists() and "were not read" in " ".join(study.provenance["notes"])


def test_fsaverage_maps_are_drawn_on_the_icosahedral_fsaverage5_subset(tmp_path):
    folder = tmp_path / "subj"
    write_simulated_study(folder, "algonauts2023", n_stimuli=12, n_per_hemisphere=300)
    study = import_study("algonauts2023", folder, "s")
    values = study.vertices.astype(np.float32)  # each vertex shows its own fsaverage index
    shown = study.display_map(values)
    assert shown.space == "fsaverage5" and shown.values.shape == (20_484,)
    left = study.vertices[study.vertices < 10_242]
    right = study.vertices[(study.vertices >= 163_842) & (study.vertices < 163_842 + 10_242)] - 163_842
    np.testing.assert_array_equal(shown.values[left], left)
    np.testing.assert_array_equal(shown.values[10_242 + right], right + 163_842)
    assert np.isfinite(shown.values).sum() == len(left) + len(right) > 0
    with pytest.raises(ValueError, match="one per study vertex"):
        study.display_map(values[:-1])


def test_dropped_vertices_are_counted_and_put_back_as_nan_in_source_order(tmp_path):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=12)
    rows = np.load(folder / "responses.npy")
    rows[3, 5] = np.nan
    rows[:, 7] = 1.5
    rows[0, 11] = np.inf
    np.save(folder / "responses.npy", rows)
    study = import_study("folder", folder, "s")
    dropped = study.provenance["dropped"]
    assert (dropped["nan"]["count"], dropped["constant"]["count"]) == (2, 1)
    report = "\n".join(study.report())
    assert "dropped vertices: 3 of 20,484;" in report and "; 2 with missing (NaN) or infinite values" in report
    assert study.n_vertices == 20_484 - 3 and study.n_source_columns == 20_484
    back = study.in_source_order(np.asarray(study.responses[0]))
    assert np.isnan(back[[5, 7, 11]]).all()
    np.testing.assert_array_equal(np.delete(back, [5, 7, 11]), np.delete(rows[0], [5, 7, 11]))
    shown = study.display_map(np.ones(study.n_vertices))
    assert np.isnan(shown.values[[5, 7, 11]]).all() and np.isfinite(shown.values).sum() == study.n_vertices


def test_repeats_give_mean_responses_sessions_and_a_ceiling_near_the_truth(tmp_path):
    folder = tmp_path / "f"
    snr, n_repeats = 2.0, 4
    truth = write_simulated_study(folder, "folder-npy", n_stimuli=60, n_repeats=n_repeats, snr=snr)
    study = import_study("folder", folder, "s")
    rows = np.load(folder / "responses.npy").reshape(n_repeats, 60, -1)  # written repeat-major
    assert study.n_stimuli == 60 and study.n_presentations == 240 and study.has_repeats
    np.testing.assert_allclose(study.mean_responses(), rows.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(study.mean_responses([4, 2]), rows.mean(axis=0)[[4, 2]], rtol=1e-5, atol=1e-6)
    sessions = study.repeat_sessions()
    np.testing.assert_array_equal(sessions.data, rows)
    assert sessions.stimuli.tolist() == list(range(60))
    ceiling = study.noise_ceiling()
    assert ceiling.available and ceiling.n_averaged == n_repeats and "4 repeats of 60" in ceiling.method
    expected = np.sqrt(snr * n_repeats / (snr * n_repeats + 1))  # the simulator's noise is var(signal) / snr
    assert abs(np.median(ceiling.r[truth.planted]) - expected) < 0.05
    assert np.median(ceiling.r[~truth.planted]) < 0.2
    assert abs(np.median(ceiling.variance[truth.planted]) - expected**2) < 0.08
    # the repeat-reliability test, FDR over all vertices (the ceiling is computed in blocks of vertices)
    assert ceiling.reliable[truth.planted].mean() > 0.95 and ceiling.reliable[~truth.planted].mean() < 0.05


def test_repeat_sessions_follow_repetition_indices_with_unequal_counts(tmp_path):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=6, n_repeats=3)  # rows: 6 stimuli, then again, ...
    header, *body = (folder / "stimuli.tsv").read_text().splitlines()
    rows = np.load(folder / "responses.npy")
    order = list(range(6)) + [i for i in range(6, 18) if i != 12][::-1]  # stimulus 0 twice; later rows reversed
    (folder / "stimuli.tsv").write_text("\n".join([header] + [body[i] for i in order]) + "\n")
    np.save(folder / "responses.npy", rows[order])
    study = import_study("folder", folder, "s")
    assert study.repeat_counts.tolist() == [2, 3, 3, 3, 3, 3]
    sessions = study.repeat_sessions()  # the smallest count: 2 sessions of all 6 stimuli
    assert sessions.data.shape == (2, 6, 20_484) and sessions.stimuli.tolist() == list(range(6))
    for k in range(2):
        np.testing.assert_array_equal(sessions.data[k], rows[6 * k:6 * k + 6])
    three = study.repeat_sessions(3)
    assert three.stimuli.tolist() == [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(three.data[2], rows[13:18])


def test_mean_responses_is_the_memory_map_itself_without_repeats(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=9)
    study = import_study("folder", tmp_path / "f", "s")
    assert isinstance(study.mean_responses(), np.memmap)
    assert not study.has_repeats


def test_ceiling_from_ncsnr_is_nsd_formula_and_never_invented_without_it(tmp_path):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=9)
    study = import_study("folder", folder, "plain")
    ceiling = study.noise_ceiling()
    assert ceiling.r is None and ceiling.variance is None and not ceiling.available
    assert ceiling.reason.startswith("not available")
    assert "not available" in "\n".join(study.report())
    ncsnr = np.full(20_484, 1.0, np.float32)
    ncsnr[:10] = 3.0
    np.save(folder / "ncsnr.npy", ncsnr)
    study = import_study("folder", folder, "with-ncsnr")
    ceiling = study.noise_ceiling()
    assert ceiling.n_averaged == 1 and "ncsnr" in ceiling.method
    np.testing.assert_allclose(ceiling.variance[:10], 9 / (9 + 1))  # NC = ncsnr² / (ncsnr² + 1/n)
    np.testing.assert_allclose(ceiling.variance[10:], 0.5)
    np.testing.assert_allclose(ceiling.r, np.sqrt(ceiling.variance))
    assert ceiling.reliable.all()
    np.testing.assert_allclose(study.noise_ceiling(n_averaged=3).variance[10:], 1 / (1 + 1 / 3))


def test_folder_rois_boolean_and_labelled(tmp_path):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=9)
    (folder / "rois").mkdir()
    face = np.zeros(20_484, bool)
    face[100:150] = True
    np.save(folder / "rois" / "face-patch.npy", face)
    labels = np.zeros(20_484, np.int16)
    labels[:10], labels[10_242:10_262] = 1, 2
    np.save(folder / "rois" / "visual.npy", labels)
    (folder / "rois" / "visual.tsv").write_text("1\tV1\n2\tV2\n")
    study = import_study("folder", folder, "s")
    assert sorted(study.roi_masks) == ["V1", "V2", "face-patch"]
    np.testing.assert_array_equal(study.roi_masks["face-patch"], np.arange(100, 150))
    assert (study.hemispheres[study.roi_masks["V2"]] == "R").all() and len(study.roi_masks["V1"]) == 10
    assert "ROI class visual: V1 10, V2 20" in "\n".join(study.report())


def test_images_are_checked_by_content_on_load(tmp_path):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=9)
    import_study("folder", folder, "s")
    first = folder / "stimuli" / "face" / "face-000.png"
    stamp = first.stat().st_mtime_ns
    os.utime(first, ns=(stamp + 10**9, stamp + 10**9))  # touched, same bytes: still the same image
    assert load_study("s").check_images() == []
    second = folder / "stimuli" / "face" / "face-001.png"
    second.write_bytes(first.read_bytes())
    with pytest.raises(UserError, match=r"face/face-001.png: its content changed since the import"):
        load_study("s")
    first.unlink()
    problems = load_study("s", check_images=False).check_images()
    assert len(problems) == 2 and "face-000.png: missing" in problems[0]


def test_copied_images_survive_the_source_folder(tmp_path):
    folder = tmp_path / "f"
    write_simulated_study(folder, "folder-npy", n_stimuli=9)
    study = import_study("folder", folder, "s", copy_images=True)
    assert study.provenance["images"] == "copied into the study"
    for image in folder.joinpath("stimuli").rglob("*.png"):
        image.unlink()
    study = load_study("s")
    paths = study.stimulus_set().sources
    assert all(p.startswith(str(studies_dir() / "s" / "images")) and os.path.isfile(p) for p in paths)


def test_stimulus_set_lists_the_images_with_their_categories(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=6)
    study = import_study("folder", tmp_path / "f", "s")
    stimuli = study.stimulus_set()
    assert stimuli.ids == tuple(i.id for i in study.stimuli) and stimuli.labels == study.categories
    assert len(study.stimulus_set(test=True)) == 0


def test_remove_takes_the_study_out_of_the_store(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-npy", n_stimuli=6)
    import_study("folder", tmp_path / "f", "s")
    remove_study("s")
    assert list_studies() == [] and [p.name for p in studies_dir().iterdir()] == []
    with pytest.raises(UserError, match="no study named 's' to remove"):
        remove_study("s")
    with pytest.raises(UserError, match="no study has been imported yet"):
        load_study("s")


def test_describe_names_format_space_and_sizes(tmp_path):
    write_simulated_study(tmp_path / "f", "folder-dscalar", n_stimuli=6)
    assert import_study("folder", tmp_path / "f", "mine").describe() == \
        "mine (folder, fsLR-32k, 6 stimuli, 59,412 vertices)"


def test_space_sizes_match_core_cortex():
    from core.cortex import N_VERTICES

    assert {s: sum(n) for s, n in SPACES.items() if s in N_VERTICES} == N_VERTICES


@pytest.mark.shared
def test_real_kay_photographs_import_as_a_folder_study(tmp_path, shared_data):
    """40 real greyscale JPEGs (Kay et al. 2008), linked into a folder study with simulated fsaverage5 rows."""
    folder = tmp_path / "kay"
    for k in range(40):
        target = folder / "stimuli" / ("even" if k % 2 == 0 else "odd") / f"{k}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(shared_data / "kay_stimuli" / f"{k}.jpg")
    np.save(folder / "responses.npy", np.random.default_rng(0).standard_normal((40, 20_484)).astype(np.float32))
    study = import_study("folder", folder, "kay")
    assert study.n_stimuli == 40 and set(study.categories) == {"even", "odd"}
    assert all(image.path.startswith(str(shared_data.resolve())) for image in study.stimuli)  # links resolved, referenced
    assert len({image.pixel_hash for image in study.stimuli}) == 40
    assert load_study("kay").check_images() == []
