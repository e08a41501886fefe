"""RDM Clusters page: the semantic comparison runs as a background job; the figure and its CSV read its result."""

from __future__ import annotations

import dash
import numpy as np
import pytest
from dash.testing.application_runners import import_app

from core.errors import UserError
from dashboard import services


@pytest.fixture(scope="module")
def page():
    dash.page_registry.clear()
    import_app("app")
    from dashboard.pages import rdm_clusters

    return rdm_clusters


def test_semantic_job_returns_plain_values_and_its_csv(page, monkeypatch):
    comparison = {"x": np.array([0.1, 0.5]), "y": np.array([0.2, 0.4]), "pair_labels": ["a – b", "a – c"],
                  "r": 1.0, "p": 0.5, "label": "GloVe"}
    monkeypatch.setattr(services, "semantic_comparison", lambda key, method: comparison)
    monkeypatch.setattr(services, "rdm_clusters_table", lambda key, name, method: (f"semantic_{method}.csv", "x,y\n"))
    result = page.compare_semantics("glove", [{"label": "cluster 0", "value": 0}])
    assert result["x"] == [0.1, 0.5] and result["csv"] == "x,y\n" and result["method"] == "glove"
    figure = page.draw_semantics(result)
    np.testing.assert_allclose(figure.data[0].x, [0.1, 0.5])
    download, error = page.download_table(1, "semantic", "glove", 0, None, None, result)
    assert download["filename"] == "semantic_glove.csv" and error is None
    _, waiting = page.download_table(1, "semantic", "minilm", 0, None, None, result)
    assert "still running" in waiting.children


def test_semantic_job_reports_user_errors_and_waits_for_clusters(page, monkeypatch):
    def refuse(key, method):
        raise UserError("Fewer than 3 categories have GloVe vectors")

    monkeypatch.setattr(services, "semantic_comparison", refuse)
    result = page.compare_semantics("glove", [{"label": "cluster 0", "value": 0}])
    assert result == {"error": "Fewer than 3 categories have GloVe vectors"}
    assert page.draw_semantics(result).layout.annotations[0].text == result["error"]
    monkeypatch.setattr(page, "_waiting", lambda: "Run the experiment first")
    assert page.compare_semantics("glove", []) == {"waiting": "Run the experiment first"}


def test_job_progress_bar_reads_the_core_progress_protocol():
    from dashboard.pages._shared import progress_reporter

    shown = []
    progress = progress_reporter(shown.append)
    progress(1, 4, "a quarter")
    progress(0, 0, "no count yet")
    progress(1000, 1000)
    assert shown == [(25, "a quarter"), (0, "no count yet"), (100, "")]
