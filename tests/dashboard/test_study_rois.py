"""ROI charts of a study (Cortical Maps and Selectivity on ``?study=NAME``): its own masks, else Glasser's areas on
fsLR-32k, else a sentence on how to import masks; the planted region outscores an undriven one. Tiny simulated
studies with the simulator's own features (no network)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from plotly.utils import PlotlyJSONEncoder

from core.errors import UserError
from core.features import Features, save_features
from core.studies import NO_ROIS, import_study, load_study, study_roi_sets
from core.studies.experiment import StudyRoiScores, run_study_experiment
from core.studies.simulate import write_simulated_study
from core.workflows.store import load_result
from dashboard import services
from dashboard.ids import StudyViews
from tests._internals import internals_in, shown_text


@pytest.fixture(scope="module")
def page():
    import dash
    from dash.testing.application_runners import import_app

    dash.page_registry.clear()
    import_app("app")
    from dashboard.pages import _study_views, your_study

    return your_study, _study_views


def _find(component, component_id):
    """The component with ``component_id`` in a Dash layout tree, and the style of its parent."""
    stack = [(component, {})]
    while stack:
        node, parent_style = stack.pop()
        if getattr(node, "id", None) == component_id:
            return node, parent_style
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list | tuple) else [children]:
            if child is not None and hasattr(child, "to_plotly_json"):
                stack.append((child, getattr(node, "style", None) or {}))
    raise AssertionError(f"no component {component_id}")


def _planted_study(tmp_path, name: str):
    """A 45-image Algonauts-layout study (40 vertices per hemisphere) whose floc-faces FFA-1 is the planted vertices
    and OFA the others, imported as ``name``; returns the features file of its images."""
    folder = tmp_path / "subj01"
    truth = write_simulated_study(folder, "algonauts2023", n_stimuli=45, n_per_hemisphere=40, n_test=1)
    for h, hemisphere in enumerate(("lh", "rh")):
        np.save(folder / "roi_masks" / f"{hemisphere}.floc-faces_challenge_space.npy",
                np.where(truth.planted[h * 40:(h + 1) * 40], 2, 1))
    study = import_study("algonauts2023", folder, name)
    features = tmp_path / "features.npz"
    save_features(features, Features({"synthetic": truth.features}, tuple(i.id for i in study.stimuli)))
    return features


def _library(path, n_features: int):
    """``(ids, labels, X)`` of a labelled library of 4 images in each of 3 categories with random features (written to
    ``path``), in place of the stimulus library."""
    labels = tuple(name for name in ("body", "face", "place") for _ in range(4))
    ids = tuple(f"library/{label}_{i}.jpg" for i, label in enumerate(labels))
    X = np.random.default_rng(0).standard_normal((len(ids), n_features)).astype(np.float32)
    save_features(path, Features({"synthetic": X}, ids))
    return ids, labels, X


def _shown(*parts) -> list:
    """Internals (None, NaN, paths, reprs) in what the pages show."""
    tree = json.loads(json.dumps([p.to_plotly_json() if hasattr(p, "to_plotly_json") else p for p in parts],
                                 cls=PlotlyJSONEncoder))
    return [found for text in shown_text(tree) for found in internals_in(text)]


def test_study_masks_give_roi_accuracy_and_selectivity_charts(page, tmp_path, monkeypatch):
    your_study, views = page
    features = _planted_study(tmp_path, "nsd")
    assert services.study_roi_classes("nsd") == {"classes": ["floc-faces", "prf-visualrois"],
                                                 "source": "the study's own masks: floc-faces, prf-visualrois"}
    picker, parent = _find(views.cortical_maps_layout("nsd"), StudyViews.ROI_CLASS)
    assert picker.value == "floc-faces" and parent.get("display") != "none"  # several classes: a picker
    with pytest.raises(UserError, match="no fitted encoding model yet"):
        services.study_roi_accuracy("nsd", "floc-faces")

    # the fit of the Studies page (fit_study) with fewer folds, written where it keeps a study's fit
    scores = run_study_experiment(load_study("nsd"), services.studies._fit_folder("nsd"), features=features,
                                  n_folds=3, n_outer_folds=3, n_permutations=200)
    stored = load_result(services.studies._fit_folder("nsd") / "roi_scores", StudyRoiScores)
    assert stored.classes == ("floc-faces", "prf-visualrois") and stored.image_r["floc-faces"].shape == (45, 4)
    sets = study_roi_sets(load_study("nsd"))
    for roi_class, regions in sets.items():  # each image's terms average to the region's mean r
        for k, idx in enumerate(regions.values()):
            assert stored.image_r[roi_class][:, k].mean() == pytest.approx(scores.r[idx].mean(), abs=1e-5)
    rois = services.study_roi_accuracy("nsd", "floc-faces")
    assert rois["roi_names"] == ["L OFA", "R OFA", "L FFA-1", "R FFA-1"] and rois["streams"] is None
    assert rois["ceiling"] is None and rois["n_test"] == 45 and rois["outer_cv"]  # every image is a test image
    assert (rois["ci_low"][2:] > rois["ci_high"][:2]).all()  # planted FFA-1 above undriven OFA, both hemispheres
    assert (rois["means"][2:] > 0.4).all() and (rois["means"][:2] < 0.05).all()  # (out-of-fold r of noise: ≤ 0)
    assert (rois["ci_low"] < rois["means"]).all() and (rois["means"] < rois["ci_high"]).all()
    with pytest.raises(UserError, match="choose floc-faces or prf-visualrois"):
        services.study_roi_accuracy("nsd", "streams")

    figure, status = your_study.draw_study_roi_accuracy("floc-faces", "nsd")
    assert list(figure.data[0].x) == rois["roi_names"] and "floc-faces" in figure.layout.title.text
    assert "over the 45 test images" in status and "No noise ceiling" in status and "leans below 0" in status
    assert _shown(figure, status) == []

    # selectivity per region: mean d′ of the predicted vertices of each region (those without one left out)
    lib = tmp_path / "lib.npz"
    library = _library(lib, 16)
    monkeypatch.setattr(services.study_selectivity, "_library", lambda features=None: library)
    assert your_study.draw_study_roi_selectivity("face", "floc-faces", "nsd").layout.annotations  # placeholder
    services.compute_study_categories("nsd", features=lib)
    category = library[1][0]
    chart = services.study_roi_selectivity("nsd", category, "floc-faces")
    fit = services.studies._require_fit("nsd")
    arrays, info = services.study_selectivity._stored(fit, services.study_selectivity._key(fit, library[0]))
    dprime = arrays["dprime"][info["categories"].index(category)]
    expected = {name: dprime[idx][np.isfinite(dprime[idx])] for name, idx in sets["floc-faces"].items()}
    assert chart["roi_names"] == [name for name, values in expected.items() if values.size]
    for name, mean, n in zip(chart["roi_names"], chart["means"], chart["n_vertices"], strict=True):
        assert mean == pytest.approx(expected[name].mean(), rel=1e-5) and n == expected[name].size
    assert set(chart["streams"]) == {"other"}
    figure = your_study.draw_study_roi_selectivity(category, "floc-faces", "nsd")
    assert [x for trace in figure.data for x in trace.x] == chart["roi_names"]
    assert "Mean d′ per region of floc-faces" in figure.layout.title.text and _shown(figure) == []


def test_fslr_studies_get_glasser_areas_and_others_without_masks_say_how_to_import_them(page, tmp_path):
    _, views = page
    write_simulated_study(tmp_path / "fslr", "folder-dscalar", n_stimuli=6)
    import_study("folder", tmp_path / "fslr", "hcp")
    assert services.study_roi_classes("hcp") == {"classes": ["Glasser 2016"],
                                                 "source": "Glasser 2016 areas (HCP-MMP 1.0 on fsLR-32k)"}
    regions, streams = services.studies._chart_regions("hcp", "Glasser 2016")
    assert list(regions)[:4] == ["L V1", "R V1", "L V2", "R V2"] and len(regions) == 86  # 43 visual areas × 2
    assert streams[0] == "early" and set(streams) == {"early", "ventral", "dorsal", "lateral"}
    picker, parent = _find(views.cortical_maps_layout("hcp"), StudyViews.ROI_CLASS)
    assert picker.value == "Glasser 2016" and parent["display"] == "none"  # one class: no picker
    atlas, _ = _find(views.selectivity_layout("hcp"), StudyViews.CATEGORY_ROI_ATLAS)
    assert atlas.children == "Regions: Glasser 2016 areas (HCP-MMP 1.0 on fsLR-32k)."

    write_simulated_study(tmp_path / "fs5", "folder-npy", n_stimuli=6)
    import_study("folder", tmp_path / "fs5", "lab")
    assert services.study_roi_classes("lab") == {"classes": [], "source": NO_ROIS}
    atlas, _ = _find(views.cortical_maps_layout("lab"), StudyViews.ROI_ATLAS)
    assert atlas.children.startswith("Regions: no ROI masks") and "rois/<class>.npy" in atlas.children
    graph, _ = _find(views.cortical_maps_layout("lab"), StudyViews.ROI_GRAPH)
    assert "No regions of interest" in str(graph.figure)
