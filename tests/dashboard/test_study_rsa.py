"""The Model–Brain RSA page on a study chosen in the navbar: what it offers (ROI classes, splits), the images it uses
and their order, the job (random-weight AlexNet on 12 tiny images: no download) with the region RDMs of the study,
the messages of bad choices, and the page's layouts and callbacks."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.studies import import_study
from dashboard.services import model_brain_rsa as rsa_services
from tests.core.test_study_rsa import N_STIMULI, write_planted_study
from tests.dashboard.test_rsa_services import random_alexnet  # noqa: F401  (a fixture)


@pytest.fixture
def planted(tmp_path):
    """The planted study (region A: category patterns; B: noise) shown twice, imported as ``planted``."""
    categories = write_planted_study(tmp_path / "planted")
    import_study("folder", tmp_path / "planted", "planted")
    return categories


def _internal(text: str) -> bool:
    return bool(re.search(r"\bNone\b|\bnan\b|Error\b|<class|/tmp|/work|array\(", text))


def test_setup_plan_and_order_of_a_study(planted):
    setup = rsa_services.study_rsa_setup("planted")
    assert setup["n_stimuli"] == N_STIMULI and setup["roi_classes"] == {"faces": ["A", "B"]}
    assert setup["default_regions"] == {"faces": ["A", "B"]} and list(setup["splits"]) == ["average", "sessions"]
    assert setup["roi_source"] == "the study's own masks: faces"
    plan = rsa_services.study_rsa_plan("planted", 9, "average")
    assert plan["n_used"] == 9 and plan["rule"] == ("9 of the 12 images, each category in proportion, evenly spaced "
                                                   "in study order within it")
    assert [row["label"] for row in plan["rows"]] == ["face"] * 3 + ["object"] * 3 + ["place"] * 3
    assert rsa_services.study_rsa_plan("planted", 300, "sessions")["rule"] == ("all 12 images shown in every "
                                                                              "repeat session")
    lines = rsa_services.study_rsa_order_tsv("planted", 9, "average").splitlines()
    assert lines[0] == "position\tfile\tcategory" and lines[1] == "1\timages/face/face-000.png\tface"
    assert len(lines) == 10


@pytest.mark.parametrize("call, words", [
    (lambda: rsa_services.study_rsa_plan("planted", 2, "average"), "between 3 and 2,000"),
    (lambda: rsa_services.study_rsa_plan("planted", 9, "runs"), "choose from average or sessions"),
    (lambda: rsa_services.study_rsa_setup("nothere"), "no study named nothere"),
    (lambda: rsa_services.run_study_rsa("planted", "glasser", ["A"], 9, "average", ["alexnet"], "spearman", 0, 0),
     "Unknown ROI class 'glasser'; choose from faces"),
    (lambda: rsa_services.run_study_rsa("planted", "faces", [], 9, "average", ["alexnet"], "spearman", 0, 0),
     "at least one region of faces"),
    (lambda: rsa_services.run_study_rsa("planted", "faces", ["A"], 9, "average", [], "spearman", 0, 0),
     "at least one network"),
])
def test_bad_choices_are_refused_with_a_message(planted, call, words):
    with pytest.raises(ValueError, match=words) as error:
        call()
    assert not _internal(str(error.value))


def test_run_on_a_study_compares_layers_with_its_session_rdms(planted, random_alexnet):  # noqa: F811
    steps = []
    path = rsa_services.run_study_rsa("planted", "faces", ["A", "B"], 300, "sessions", ["alexnet"], "spearman", 20,
                                      40, progress=lambda done, total, message="": steps.append(done / total))
    assert steps[-1] == 1.0
    profile = rsa_services.profile_data(path)
    assert profile["regions"] == ["A", "B"] and np.isfinite(profile["ceiling_lower"]).all()  # 2 sessions: a ceiling
    assert profile["ceiling_lower"][0] > 0.5 > 0.2 > profile["ceiling_lower"][1]  # A's sessions agree, B's are noise
    pair = rsa_services.rdm_pair_data(path, "A")
    assert pair["brain"].shape == (N_STIMULI, N_STIMULI) and pair["labels"][0] == "images/face/face-000.png"
    same = np.equal.outer(planted, planted) & ~np.eye(N_STIMULI, dtype=bool)
    assert pair["brain"][same].max() < pair["brain"][~np.equal.outer(planted, planted)].min()  # category blocks
    assert rsa_services.study_result_note(path) == ("Study planted: 12 of its 12 images; 2 regions of faces; one RDM "
                                                    "per repeat session and region (stimuli shown in every session); "
                                                    "r is the mean over sessions and the sessions give a noise "
                                                    "ceiling.")
    assert rsa_services.result_order_tsv(path).splitlines()[1] == "1\timages/face/face-000.png"
    assert rsa_services.run_study_rsa("planted", "faces", ["A", "B"], 300, "sessions", ["alexnet"], "spearman", 20,
                                      40) == path  # the same inputs: the cached result


@pytest.fixture(scope="module")
def pages():
    import dash
    from dash.testing.application_runners import import_app

    dash.page_registry.clear()
    import_app("app")
    from dashboard.pages import identity_expression, model_brain_rsa

    return model_brain_rsa, identity_expression


def _components(layout) -> list:
    """Every component of a layout."""
    found, stack = [], [layout]
    while stack:
        node = stack.pop()
        found.append(node)
        children = getattr(node, "children", None)
        stack.extend(children if isinstance(children, list) else [] if children is None else [children])
    return found


def _ids_in(layout) -> dict:
    return {node.id: node for node in _components(layout) if getattr(node, "id", None)}


def _links(layout) -> list:
    from dash import dcc

    return [node for node in _components(layout) if isinstance(node, dcc.Link)]


def test_page_on_a_study_shows_its_data_and_without_one_hides_those_controls(planted, pages):
    from dashboard.ids import ModelBrainRsa as ids

    page, identity_expression = pages
    on_study = _ids_in(page.layout(study="planted", networks="face_identity,face_expression,nonsense"))
    assert ids.STIMULUS_UPLOAD not in on_study and ids.RDM_UPLOAD not in on_study
    assert on_study[ids.STUDY].data == "planted" and on_study[ids.STUDY_ROI_CLASS].value == "faces"
    assert on_study[ids.STUDY_REGIONS].value == ["A", "B"] and on_study[ids.STUDY_N_STIMULI].value == N_STIMULI
    assert on_study[ids.NETWORKS].value == ["face_identity", "face_expression"]
    plain = _ids_in(page.layout())
    assert ids.STIMULUS_UPLOAD in plain and plain[ids.STUDY].data is None and ids.STUDY_SUMMARY in plain
    assert plain[ids.NETWORKS].value == ["resnet50"]
    summary = page.study_summary(9, "average", "faces", ["A"], "planted")
    text = str(summary[0].children)
    assert "Your data: planted" in text and "the study's 12 images (9 used), brain RDMs: 1 region of faces." in text
    assert page.study_summary(9, "average", "faces", ["A"], None) is None
    assert page.study_regions("faces", "planted") == (["A", "B"], ["A", "B"])
    warning = page.layout(study="nothere")
    assert "no study named nothere" in str(warning)

    links = _links(identity_expression.layout(study="planted"))
    assert [link.href for link in links] == ["/model-brain-rsa?study=planted&networks=face_identity%2Cface_expression"]
    assert not _links(identity_expression.layout())
