"""RDM Clusters services without networks: the page's clustering and the spin test of the background job agree."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from core.cortex import smooth_on_surface
from dashboard import services


@pytest.fixture
def planted_experiment(monkeypatch):
    """A fake experiment: 9 smooth fsLR-32k category maps in 3 planted groups, 20,000 predictable vertices."""
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1, 2], 3)

    def smooth(n):
        return smooth_on_surface(rng.normal(size=(n, 59_412)).astype(np.float32), n_iter=20)

    predictable = rng.permutation(59_412) < 20_000
    categories = tuple(f"c{i}" for i in range(9))
    result = SimpleNamespace(
        maps={"r": np.where(predictable, 0.5, 0.0), "q": np.where(predictable, 0.001, 1.0)},
        category_maps=2.0 * smooth(3)[groups] + smooth(9), categories=categories,
        labels=np.array(categories), groups=np.array([f"g{g}" for g in groups]))
    monkeypatch.setattr(services, "_require", lambda key: result)
    monkeypatch.setattr(services, "CLUSTER_SIGNIFICANCE_PERMUTATIONS", 39)
    monkeypatch.setattr(services, "CLUSTER_NULL_ROTATIONS", 20)
    return "planted-test-experiment"


def test_spin_test_of_the_job_tests_the_partition_the_page_shows(planted_experiment):
    page = services.category_clustering(planted_experiment)
    messages = []
    significance = services._cluster_significance(planted_experiment, lambda f, m: messages.append((f, m)))
    assert page["best_k"] == significance["best_k"] == 3
    assert page["ari"] == 1.0
    assert significance["q"] == pytest.approx(page["modularity"].max())
    assert significance["p"] == pytest.approx(1 / 40)
    assert significance["n_permutations"] == 39 and "spin test" in significance["null"]
    assert "p_value" not in page  # no p in the request path: the spin test is the job's
    assert messages[-1][0] == 1.0
