"""Reconstructions page on a study chosen in the navbar: the layout names the study and what reconstructions need, the
job refuses a study of non-face images with what the detector found until the user asks to run anyway, and the
gallery and accuracy figures read its result. The face detector, the DCGAN and the gender and identity nets are
replaced by a tiny generator and given detections (test_study_reconstruction in tests/core covers the statistics)."""

from __future__ import annotations

import dash
import numpy as np
import pytest
import torch
from dash.testing.application_runners import import_app

from core.reconstruction import FEATURE_SPACES, GanLatentSpace
from core.weights import WeightsUnavailableError
from core.workflows import reconstruction as workflow
from dashboard import services
from tests.core.test_reconstruction import TinyGenerator
from tests.core.test_study_reconstruction import _write_face_study


@pytest.fixture(scope="module")
def page():
    dash.page_registry.clear()
    import_app("app")
    from dashboard.pages import reconstructions

    return reconstructions


def _texts(component) -> str:
    """Every string in a component tree, joined."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_texts(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else _texts(children)


def _unavailable(*_args, **_kwargs):
    raise WeightsUnavailableError("its weights are not in this test's cache")


@pytest.fixture
def face_study(tmp_path, monkeypatch):
    """Study "faces" imported from a tiny simulated face study; ``found`` sets which images the detector finds."""
    from core.studies import import_study

    _, faces = _write_face_study(tmp_path / "faces", np.random.default_rng(0))
    import_study("folder", tmp_path / "faces", "faces")
    found = {"mask": np.ones(len(faces), bool)}
    monkeypatch.setattr(workflow, "study_face_images", lambda study, progress=None, **_: workflow.StudyFaces(
        images=faces, found=found["mask"]))
    monkeypatch.setattr(workflow, "_study_latent_space", lambda progress=None: GanLatentSpace(
        TinyGenerator(), n_steps=5, batch_size=8, width=8, random_state=0))
    monkeypatch.setattr(workflow, "_model_gender", _unavailable)
    monkeypatch.setitem(FEATURE_SPACES, "identity", _unavailable)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the tiny nets run fastest on one thread
    yield found
    torch.set_num_threads(threads)


def test_layout_shows_the_study_and_keeps_every_component(page, face_study):
    plain = page.layout()
    on_study = page.layout(study="faces")
    for layout in (plain, on_study):  # both sections in both, one hidden, so Dash's validation finds every id
        ids = {getattr(c, "id", None) for c in layout._traverse()}
        assert {page.ids.STUDY_RUN, page.ids.RUN, page.ids.ROI, page.ids.ALLOW_NON_FACES} <= ids
    assert plain.children[1].hidden and not on_study.children[1].hidden and on_study.children[2].hidden
    text = _texts(on_study.children[1])
    assert "Your data: faces (folder, fsaverage5, 60 stimuli, 240 vertices)" in text
    assert "Reconstructions need face images" in text
    roi_options = [o["label"] for o in services.study_roi_choices("faces")]
    assert roi_options == ["all vertices (240)", "face (120 vertices)"]


def test_job_refuses_non_faces_until_asked_then_draws_gallery_and_accuracy(page, face_study):
    face_study["mask"] = np.arange(60) < 5
    result, status, note, colour = page.run_study_reconstruction(lambda _: None, 1, "faces", "face", [])
    text = _texts(status)
    assert result is None and colour == "warning" and "found a face in 5 of the 60" in note
    assert "the face detector found a face in 5 of the 60 images of study faces" in text
    assert "tick 'Run on images without faces too'" in text
    assert "found a face in 5 of the 60" in _texts(page.layout(study="faces"))  # said before the next run
    progress = []
    path, status, note, colour = page.run_study_reconstruction(progress.append, 1, "faces", "face", ["on"])
    assert status == "Done." and progress and colour == "light" and "tick" not in note
    gallery, accuracy, summary = page.draw_study_results(path)
    assert list(accuracy.data[0].x) == ["GAN (pixel)", "PCA (pixel)"]  # identity space skipped (see the notes)
    assert all(0 <= y <= 1 for y in accuracy.data[0].y) and len(gallery.data) > 0
    text = _texts(summary)
    assert "Brain patterns: face (120 vertices). Test split: 48 training images shown once, 12 test images" in text
    assert "Faces found by the detector in 5 of 60 images" in text
    assert "identity space skipped" in text and "gender decoding skipped" in text
    for word in ("None", "nan", "Error", "/tmp"):
        assert word not in text
