"""RDM Clusters on a study (dashboard.services.study_clusters) on a tiny simulated Algonauts-layout study (fsaverage
vertices, half of them fsaverage5 vertices) with features passed in: planted category groups are recovered as
clusters, and the spin test (on the fsaverage5 vertices) finds them; on maps without shared structure it does not."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from core.errors import UserError
from core.features import Features, save_features
from core.stimuli import load_stimulus_library
from core.store import load_result, save_result
from core.studies import load_study
from core.studies.simulate import write_simulated_study
from dashboard import services
from dashboard.services.studies import _require_fit

#: A quick spin test (the page's: 10,000 samples, 300 rotations).
_SPIN = {"n_permutations": 99, "n_rotations": 40}


def _planted_library(path, n_features: int, rng):
    """6 library categories (4 images each) in 3 planted groups: the images of a group share a feature pattern
    (strong), each category adds a weak one of its own; written to ``path``. Returns the groups per category."""
    library = load_stimulus_library()
    names = sorted(set(library.labels))[:6]
    ids = [i for name in names for i in [s for s, label in zip(library.ids, library.labels, strict=True)
                                          if label == name][:4]]
    groups = np.array([0, 0, 1, 1, 2, 2])
    pattern = 3.0 * rng.standard_normal((3, n_features))
    own = 0.3 * rng.standard_normal((6, n_features))
    X = np.repeat(pattern[groups] + own, 4, axis=0) + 0.1 * rng.standard_normal((24, n_features))
    save_features(path, Features({"synthetic": X.astype(np.float32)}, tuple(ids)))
    return dict(zip(names, groups, strict=True))


@pytest.fixture
def fitted(tmp_path, monkeypatch):
    """A 30-image Algonauts-layout study (600 fsaverage vertices), fitted on its planted features, and its planted
    library."""
    root = tmp_path / "data"
    truth = write_simulated_study(root / "lab", "algonauts2023", n_stimuli=30, n_per_hemisphere=300, snr=4.0)
    monkeypatch.setenv("VFS_DATA_ROOTS", str(root))
    services.import_study_folder(str(root / "lab"), "algonauts2023", "lab")
    ids = tuple(image.id.removeprefix("training_split/training_images/") for image in load_study("lab").stimuli)
    features = save_features(tmp_path / "x.npz", Features({"synthetic": truth.features}, ids))
    services.fit_study("lab", features=features, n_permutations=100)
    lib = tmp_path / "lib.npz"
    groups = _planted_library(lib, truth.features.shape[1], np.random.default_rng(0))
    return lib, groups


def test_planted_groups_are_clustered_and_spun_and_noise_is_not(fitted, monkeypatch):
    lib, groups = fitted
    with pytest.raises(UserError, match="not computed yet"):
        services.study_cluster_average_map("lab", 0, features=lib)
    assert services.study_clustering("lab", features=lib) is None  # before Selectivity's category maps
    assert services.study_cluster_significance("lab", features=lib, **_SPIN) is None
    services.compute_study_categories("lab", features=lib)

    c = services.study_clustering("lab", features=lib)
    assert c["best_k"] == 3 and c["n_study_vertices"] == 600
    planted = np.array([groups[name] for name in c["categories"]])
    same = planted[:, None] == planted[None, :]
    assert np.array_equal(c["cluster_labels"][:, None] == c["cluster_labels"][None, :], same)
    assert c["similarity"][same & ~np.eye(6, dtype=bool)].min() > 0.8
    semantic = services.study_semantic_comparison("lab", "wordnet_lch", features=lib)
    assert len(semantic["pair_labels"]) == len(semantic["x"]) == len(semantic["y"]) >= 3
    assert -1 <= semantic["r"] <= 1 and 0 < semantic["p"] <= 1 and semantic["label"].startswith("WordNet")
    with pytest.raises(UserError, match="Unknown semantic measure"):
        services.study_semantic_comparison("lab", "nope", features=lib)
    drawn = services.study_cluster_average_map("lab", 0, features=lib)
    assert drawn["space"] == "fsaverage5" and 0 < np.isfinite(drawn["values"]).sum() < c["n_vertices"]
    members = [services.study_category_map("lab", name, "mean", features=lib)["values"]
               for name, label in zip(c["categories"], c["cluster_labels"], strict=True) if label == 0]
    np.testing.assert_allclose(drawn["values"], np.mean(members, axis=0), rtol=1e-5, atol=1e-6)

    services.run_study_cluster_significance("lab", features=lib, **_SPIN)
    s = services.study_cluster_significance("lab", features=lib, **_SPIN)
    # spun on the predicted vertices that are fsaverage5 vertices: the clustering recomputed there
    assert s["p"] <= 0.05 and not s["same_as_shown"] and s["space"] == "fsaverage5" and s["best_k"] == 3
    assert s["n_tested"] == np.isfinite(drawn["values"]).sum() and s["n_predicted"] == c["n_vertices"]
    assert services.study_cluster_significance("lab", features=lib) is None  # the page's settings: not run yet
    _page_draws_the_study(lib, monkeypatch)

    # maps without shared structure (independent values on the same predicted vertices): no clustering to find
    prefix = _require_fit("lab") / "categories"
    arrays, info = load_result(prefix)
    noise = np.random.default_rng(1).standard_normal(arrays["maps"].shape).astype(np.float32)
    noise[np.isnan(arrays["maps"])] = np.nan
    save_result(prefix, {"maps": noise, "dprime": arrays["dprime"]}, info)
    services.run_study_cluster_significance("lab", features=lib, **_SPIN)
    assert services.study_cluster_significance("lab", features=lib, **_SPIN)["p"] > 0.1


def _page_draws_the_study(lib, monkeypatch):
    """The RDM Clusters page on the study (served in this process) draws its clustering and says what was spun."""
    from bench.load import DashSession
    from dashboard.ids import StudyClusters as ids
    from dashboard.services import study_clusters
    from tests._internals import page_internals
    from tests.integration._servers import in_process_app

    for name in ("study_clustering", "study_cluster_average_map"):
        monkeypatch.setattr(services, name, functools.partial(getattr(study_clusters, name), features=lib))
    monkeypatch.setattr(services, "study_cluster_significance", functools.partial(
        study_clusters.study_cluster_significance, features=lib, **_SPIN))
    with in_process_app() as url:
        session = DashSession(url, timeout=60)
        session.open("/rdm-clusters")
        session.fire("_pages_content", "children", {("_pages_location", "pathname"): "/rdm-clusters",
                                                    ("_pages_location", "search"): "?study=lab"})
        drawn = session.fire(ids.HEATMAP, "figure", {})
        assert drawn[ids.HEATMAP]["figure"]["layout"]["title"]["text"] == "Category similarity (Pearson r)"
        assert "6 library categories" in str(drawn[ids.STATUS]["children"]) and len(drawn[ids.CLUSTER]["options"]) == 3
        spin = session.fire(ids.SPIN_STATUS, "children", {(ids.SPIN_DONE, "data"): None})[ids.SPIN_STATUS]["children"]
        assert "Significance of the clustering" in spin and "that are fsaverage5 vertices" in spin
        semantic = session.fire(ids.SEMANTIC_RESULT, "data", {(ids.CLUSTER, "options"): []})
        assert semantic[ids.SEMANTIC_RESULT]["data"] is None  # clustering still drawing: the job waits for it
        cluster_map = session.fire(ids.CLUSTER_MAP, "figure", {})[ids.CLUSTER_MAP]["figure"]
        assert cluster_map["layout"]["title"]["text"].startswith("lab, cluster 0")
        assert page_internals(session) == []
