"""A study's ROI sets (``core.studies.study_roi_sets``): its own masks, per hemisphere, in study-vertex indices;
Glasser's areas on fsLR-32k; none (with a reason) on fsaverage without masks."""

from __future__ import annotations

import numpy as np

from core.cortex import roi_labels
from core.studies import GLASSER, NO_ROIS, RoiClass, Study, import_study, study_roi_sets, study_roi_source
from core.studies.simulate import write_simulated_study
from core.studies.sources import algonauts_roi_tables


def _study(tmp_path, space: str, vertices, roi_classes=None) -> Study:
    """A study object without responses: only its vertices and masks matter here."""
    vertices = np.asarray(vertices, dtype=np.int64)
    return Study(name="s", folder=tmp_path, format="folder", space=space, stimuli=(), test_images=(),
                 presentations=np.zeros((0, 2), np.int64), vertices=vertices,
                 source_columns=np.arange(len(vertices)), n_source_columns=len(vertices),
                 roi_classes=roi_classes or {})


def test_algonauts_masks_give_per_hemisphere_regions_in_study_vertex_indices(tmp_path):
    folder = tmp_path / "subj01"
    write_simulated_study(folder, "algonauts2023", n_stimuli=12, n_per_hemisphere=50, n_test=1)
    masks = folder / "roi_masks"
    rh = np.load(masks / "rh.floc-faces_challenge_space.npy")
    rh[rh == 5] = 0  # aTL-faces only on the left: no "R aTL-faces"
    np.save(masks / "rh.floc-faces_challenge_space.npy", rh)
    lh_fmri = folder / "training_split" / "training_fmri" / "lh_training_fmri.npy"
    rows = np.load(lh_fmri)
    rows[:, 7] = np.nan  # a dropped column: later study vertices shift down by one
    np.save(lh_fmri, rows)
    study = import_study("algonauts2023", folder, "nsd")

    sets = study_roi_sets(study)
    assert set(sets) == {"floc-faces", "prf-visualrois"}
    faces = sets["floc-faces"]
    tables = algonauts_roi_tables()["floc-faces"]
    lh = np.load(masks / "lh.floc-faces_challenge_space.npy")
    expected = {}
    for region_id, name in sorted(tables.items()):
        for side, labels, offset in (("L", lh, 0), ("R", rh, 50)):
            columns = offset + np.flatnonzero(labels == region_id)
            columns = columns[columns != 7]
            if len(columns):
                expected[f"{side} {name}"] = columns - (columns > 7)  # source column -> study vertex
    assert list(faces) == list(expected)  # by region id, left before right
    assert "L aTL-faces" in faces and "R aTL-faces" not in faces
    for name, indices in expected.items():
        assert faces[name].dtype == np.int64
        np.testing.assert_array_equal(faces[name], indices)
    assert study_roi_source(study) == "the study's own masks: floc-faces, prf-visualrois"


def test_a_class_on_one_hemisphere_keeps_plain_names_and_empty_regions_are_dropped(tmp_path):
    labels = np.array([1, 1, 0, 2, 0, 0, 0, 0], np.int32)  # vertices 0-3 left, 4-7 right
    study = _study(tmp_path, "fsaverage5", [0, 1, 2, 3, 10_242, 10_243, 10_244, 10_245],
                   {"lab": RoiClass("lab", labels, {1: "FFA", 2: "PPA", 3: "EBA"})})
    sets = study_roi_sets(study)
    assert list(sets["lab"]) == ["FFA", "PPA"]
    np.testing.assert_array_equal(sets["lab"]["FFA"], [0, 1])


def test_fslr_study_without_masks_gets_glasser_areas_on_its_own_vertices(tmp_path):
    labels, names = roi_labels()
    v1_left = np.flatnonzero(labels == names.index("L_V1"))
    mt_right = np.flatnonzero(labels == names.index("R_MT"))
    dropped = np.concatenate([v1_left[::2], mt_right])  # half of left V1 and all of right MT left out
    vertices = np.setdiff1d(np.arange(59_412), dropped)
    study = _study(tmp_path, "fsLR32k", vertices)

    sets = study_roi_sets(study)
    assert list(sets) == [GLASSER]
    areas = sets[GLASSER]
    assert len(areas) == 359 and "R MT" not in areas and "L MT" in areas
    assert list(areas)[:2] == ["L V1", "L MST"] and list(areas)[180] == "R V1"  # Glasser's label order
    v1 = areas["L V1"]
    assert len(v1) == len(v1_left) - len(v1_left[::2]) and np.all(np.diff(v1) > 0)
    # fsLR-32k data vertices are the grayordinates: left areas on left vertices, each vertex in its area
    assert np.all(vertices[v1] < 29_696) and np.all(vertices[areas["R V1"]] >= 29_696)
    for name in ("L V1", "R FFC", "L PHA1"):
        assert {names[i] for i in labels[vertices[areas[name]]]} == {name.replace(" ", "_")}
    assert sum(len(v) for v in areas.values()) == int((labels[vertices] > 0).sum())
    assert study_roi_source(study) == "Glasser 2016 areas (HCP-MMP 1.0 on fsLR-32k)"


def test_own_masks_win_over_glasser_and_fsaverage_without_masks_has_none(tmp_path):
    labelled = _study(tmp_path, "fsLR32k", np.arange(59_412),
                      {"faces": RoiClass("faces", np.r_[np.ones(10), np.zeros(59_402)].astype(np.int32),
                                         {1: "FFA"})})
    assert list(study_roi_sets(labelled)) == ["faces"]
    bare = _study(tmp_path, "fsaverage5", np.arange(20_484))
    assert study_roi_sets(bare) == {}
    assert study_roi_source(bare) == NO_ROIS and "rois/<class>.npy" in NO_ROIS
