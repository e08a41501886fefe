"""The Studies page's services on tiny simulated studies: import from an allowed root or a zip, the validation
report, the one-line label, a fit (the simulator's own features, so no network runs), its maps as drawn, removal.
"""

from __future__ import annotations

import base64
import io
import subprocess
import zipfile

import numpy as np
import pytest

from core.errors import UserError
from core.features import Features, save_features
from core.runtime import cache_folder
from core.studies import load_study, remove_study
from core.studies.simulate import write_simulated_study
from dashboard import services
from tests.integration._servers import in_process_app


def _features(path, name, truth, below=""):
    ids = tuple(image.id.removeprefix(below) for image in load_study(name).stimuli)
    save_features(path, Features({"synthetic": truth.features}, ids))
    return path


@pytest.fixture
def algonauts(tmp_path, monkeypatch):
    """A 30-image Algonauts-layout study (300 challenge vertices) under an allowed root, and its truth."""
    root = tmp_path / "data"
    truth = write_simulated_study(root / "subj01", "algonauts2023", n_stimuli=30, n_per_hemisphere=150)
    monkeypatch.setenv("VFS_DATA_ROOTS", str(root))
    return root / "subj01", truth


def test_imported_study_is_listed_labelled_fitted_and_drawn(algonauts, tmp_path):
    folder, truth = algonauts
    assert services.import_study_folder(f" {folder} ", "algonauts2023", "nsd-1") == "nsd-1"
    assert services.study_choices() == [{"label": "Simulated subject", "value": services.SIMULATED},
                                        {"label": "nsd-1", "value": "nsd-1"}]
    assert services.study_label(None) == services.study_label(services.SIMULATED) == services.SIMULATED_LABEL
    assert services.study_label("nsd-1") == "Your data: nsd-1 (algonauts2023, fsaverage, 30 stimuli, 300 vertices)"
    (summary,) = services.study_summaries()
    assert summary["fit"] is None and summary["title"].startswith("nsd-1 (algonauts2023")
    report = "\n".join(summary["report"])
    assert "noise ceiling: not available" in report and "dropped vertices: 0 of 300" in report
    assert str(tmp_path) not in report  # no server path on the page
    with pytest.raises(UserError, match="no fitted encoding model yet"):
        services.study_map("nsd-1", "r")

    features = _features(tmp_path / "x.npz", "nsd-1", truth, below="training_split/training_images/")
    dead = subprocess.Popen(["true"])
    dead.wait()
    killed_fit = cache_folder("study_fits") / "nsd-1" / f".fit-{dead.pid}-abc_123"  # a cancelled job's scratch
    killed_fit.mkdir(parents=True)
    services.fit_study("nsd-1", features=features, n_permutations=100)
    assert "outer CV" in services.study_fit_summary("nsd-1")
    assert [p.name.startswith(".") for p in killed_fit.parent.iterdir()] == [False]  # the fit, and no scratch
    drawn = services.study_map("nsd-1", "r")
    assert drawn["space"] == "fsaverage5" and drawn["values"].shape == (20_484,)
    study = load_study("nsd-1")
    shown = study.vertices[(study.vertices % 163_842) < 10_242]  # fsaverage vertices that are fsaverage5 vertices
    assert np.isfinite(drawn["values"]).sum() == len(shown) > 0
    assert drawn["n_vertices"] == 300 and 0 < drawn["n_predicted"] < 300
    only = services.study_map("nsd-1", "r", predicted_only=True)["values"]
    assert np.isfinite(only).sum() < np.isfinite(drawn["values"]).sum()
    ceiling = services.study_map("nsd-1", "noise_ceiling")
    assert not ceiling["available"] and ceiling["values"] is None and "not available" in ceiling["reason"]
    assert services.map_surface(drawn["space"], "flat")["space"] == "fsaverage5"

    remove_study("nsd-1")  # as the command line does: the fit stays in the cache
    assert services.study_summaries() == [] and services.study_choices()[1:] == []
    assert services.import_study_folder(str(folder), "algonauts2023", "nsd-1")  # the old fit is not shown again
    assert services.study_fit_summary("nsd-1") is None
    services.remove_study("nsd-1")
    assert services.study_summaries() == [] and not (cache_folder("study_fits") / "nsd-1").exists()


def test_folder_imports_are_refused_with_a_reason(algonauts, tmp_path, monkeypatch):
    folder, _ = algonauts
    with pytest.raises(UserError, match="lies outside the folders"):
        services.import_study_folder(str(tmp_path), "folder", "x")
    with pytest.raises(UserError, match="cannot be used"):
        services.import_study_folder(str(folder), "algonauts2023", "../x")
    with pytest.raises(UserError, match="Unknown study format"):
        services.import_study_folder(str(folder), "simulated", "x")
    with pytest.raises(UserError, match="needs exactly one of stimuli"):  # an Algonauts folder as a plain folder
        services.import_study_folder(str(folder), "folder", "x")
    with pytest.raises(UserError, match="There is no study named nope"):  # e.g. a stale ?study= link
        services.study_map("nope", "r")
    with pytest.raises(UserError, match="cannot be used"):
        services.study_fit_summary("../x")
    monkeypatch.delenv("VFS_DATA_ROOTS")
    assert services.data_roots() == []
    with pytest.raises(UserError, match="VFS_DATA_ROOTS"):
        services.import_study_folder(str(folder), "algonauts2023", "x")
    assert services.study_summaries() == []


def _data_url(data: bytes) -> str:
    return "data:application/zip;base64," + base64.b64encode(data).decode()


def test_zipped_study_is_imported_and_bad_zips_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "lab"
    write_simulated_study(folder, "folder-npy", n_stimuli=12)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, f"lab/{path.relative_to(folder)}")
    assert services.import_study_zip(_data_url(buffer.getvalue()), "lab.zip", "lab") == "lab"
    assert services.study_label("lab") == "Your data: lab (folder, fsaverage5, 12 stimuli, 20,484 vertices)"
    assert "zip upload lab.zip" in "\n".join(services.study_summaries()[0]["report"])
    with pytest.raises(UserError, match="not a valid zip"):
        services.import_study_zip(_data_url(b"not a zip"), "x.zip", "other")
    monkeypatch.setattr(services.studies, "MAX_STUDY_ZIP_BYTES", 100)
    with pytest.raises(UserError, match="the limit is"):
        services.import_study_zip(_data_url(buffer.getvalue()), "lab.zip", "other")
    assert [s["name"] for s in services.study_summaries()] == ["lab"]


@pytest.fixture
def served():
    """The app served in this process on a free loopback port (it reads this test's cache)."""
    with in_process_app() as url:
        yield url


def test_pages_on_a_chosen_study_draw_its_maps_and_say_so(algonauts, tmp_path, served, monkeypatch):
    from bench.load import DashSession
    from core.encoding import load_encoding_model
    from dashboard.ids import Shell, StudyViews
    from tests._internals import page_internals

    folder, truth = algonauts
    services.import_study_folder(str(folder), "algonauts2023", "nsd-1")
    services.fit_study("nsd-1", features=_features(tmp_path / "x.npz", "nsd-1", truth,
                                                   below="training_split/training_images/"), n_permutations=100)
    session = DashSession(served, timeout=60)
    session.open("/cortical-maps")
    location = {("_pages_location", "pathname"): "/cortical-maps", ("_pages_location", "search"): "?study=nsd-1"}
    session.fire("_pages_content", "children", location)
    shell = session.fire(Shell.STUDY_LABEL, "children", {(Shell.URL, "pathname"): "/cortical-maps",
                                                          (Shell.URL, "search"): "?study=nsd-1"})
    assert "Your data: nsd-1 (algonauts2023, fsaverage, 30 stimuli, 300 vertices)" in str(shell)
    assert shell[Shell.STUDY]["value"] == "nsd-1" and "/virtual-fmri?study=nsd-1" in str(shell[Shell.NAV])
    drawn = session.fire(StudyViews.GRAPH, "figure", {})
    assert drawn[StudyViews.GRAPH]["figure"]["layout"]["title"]["text"] == "nsd-1: Prediction accuracy r " \
                                                                            "(held-out images)"
    assert "of 300 vertices predicted" in str(drawn[StudyViews.MAP_STATUS]["children"])
    ceiling = session.fire(StudyViews.GRAPH, "figure", {(StudyViews.MAP, "value"): "noise_ceiling"})
    assert "Noise ceiling not available" in str(ceiling[StudyViews.MAP_STATUS]["children"])
    assert page_internals(session) == []
    shell = session.fire(Shell.STUDY_LABEL, "children", {(Shell.URL, "pathname"): "/identity-expression",
                                                          (Shell.URL, "search"): "?study=nsd-1"})
    assert "does not use your study" in str(shell)

    # Selectivity on the study: its model predicts a small labelled library (features as the fit's); a model fitted
    # on a features file cannot predict the library's images itself
    with pytest.raises(UserError, match="not on ResNet-50"):
        services.compute_study_categories("nsd-1")
    ids, labels, X = _small_library(tmp_path / "lib.npz", truth)
    names = sorted(set(labels))
    lib = tmp_path / "lib.npz"
    assert services.study_categories("nsd-1", features=lib) is None
    assert services.study_category_map("nsd-1", names[0], features=lib) is None
    services.compute_study_categories("nsd-1", features=lib)
    summary = services.study_categories("nsd-1", features=lib)
    drawn = services.study_map("nsd-1", "r", predicted_only=True)
    assert summary == {"categories": tuple(names), "n_images": 12, "n_predicted": drawn["n_predicted"],
                       "n_vertices": 300, "left_out": ()}
    dprime = services.study_category_map("nsd-1", names[1], features=lib)
    mean = services.study_category_map("nsd-1", names[1], "mean", features=lib)
    assert dprime["space"] == "fsaverage5"
    assert np.array_equal(np.isfinite(dprime["values"]), np.isfinite(drawn["values"]))  # the predicted vertices only
    # the category map is the mean predicted map of the category's four images, drawn as the study's maps are
    study = load_study("nsd-1")
    predicted = load_encoding_model(next((cache_folder("study_fits") / "nsd-1").iterdir()) / "encoding").predict(X)
    expected = study.display_map(predicted[4:8].mean(axis=0)).values
    finite = np.isfinite(mean["values"])
    np.testing.assert_allclose(mean["values"][finite], expected[finite], rtol=1e-4, atol=1e-5)
    with pytest.raises(UserError, match="Unknown category"):
        services.study_category_map("nsd-1", "nope", features=lib)
    stored = next((cache_folder("study_fits") / "nsd-1").iterdir()) / "categories.json"
    before = stored.stat().st_mtime_ns
    services.compute_study_categories("nsd-1", features=lib)  # kept, not redone
    assert stored.stat().st_mtime_ns == before
    other = save_features(tmp_path / "other.npz", Features({"synthetic": X[:8]}, tuple(ids[:8])))
    assert services.study_categories("nsd-1", features=other) is None  # another library: computed again

    # ... and the page draws the "Compute selectivity" job's result as d′
    library = ids, labels, X
    monkeypatch.setattr(services.study_selectivity, "_library", lambda features=None: library)
    session.fire("_pages_content", "children", {("_pages_location", "pathname"): "/selectivity",
                                                ("_pages_location", "search"): "?study=nsd-1"})
    waiting = session.fire(StudyViews.CATEGORY_GRAPH, "figure", {})
    assert "Compute selectivity" in str(waiting)
    choices = session.fire(StudyViews.CATEGORY, "options", {(StudyViews.CATEGORIES_DONE, "data"): "nsd-1"})
    assert choices[StudyViews.CATEGORY]["value"] == ("face" if "face" in library[1] else library[1][0])
    assert "12 library images in 3 categories" in str(choices[StudyViews.CATEGORIES_SUMMARY]["children"])
    drawn = session.fire(StudyViews.CATEGORY_GRAPH, "figure", {(StudyViews.CATEGORY, "value"): library[1][4]})
    assert drawn[StudyViews.CATEGORY_GRAPH]["figure"]["layout"]["title"]["text"] == \
        f"nsd-1: Selectivity d′ (category vs the rest), {library[1][4]}"
    assert page_internals(session) == []


def _small_library(path, truth):
    """``(ids, labels, X)`` of 4 library images of each of 3 categories with random features as the fit's (also
    written to ``path``)."""
    from core.stimuli import load_stimulus_library

    library = load_stimulus_library()
    names = sorted(set(library.labels))[:3]
    ids = tuple(i for name in names for i in [s for s, label in zip(library.ids, library.labels, strict=True)
                                               if label == name][:4])
    X = np.random.default_rng(0).standard_normal((len(ids), truth.features.shape[1])).astype(np.float32)
    save_features(path, Features({"synthetic": X}, ids))
    return ids, tuple(name for name in names for _ in range(4)), X
