"""Workflows without networks: the store round trip, and the cluster analyses' spin test on planted maps."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest

from core.cortex import smooth_on_surface
from core.errors import UserError
from core.rsa import RDM
from core.workflows import clusters
from core.workflows.store import is_stored, load_result, save_result


@dataclass(frozen=True)
class _Result:
    names: tuple[str, ...]
    values: np.ndarray
    by_name: dict
    info: dict


@dataclass(frozen=True)
class _Other:
    values: np.ndarray


def test_store_round_trip_keeps_arrays_dicts_and_tuples(tmp_path):
    result = _Result(names=("a", "b"), values=np.arange(3.0), by_name={"x": np.ones(2), "y": np.zeros((2, 2))},
                     info={"n": 3, "label": "ok"})
    prefix = save_result(result, tmp_path / "sub" / "result")
    assert is_stored(prefix)
    back = load_result(prefix, _Result)
    assert back.names == ("a", "b") and back.info == {"n": 3, "label": "ok"} and list(back.by_name) == ["x", "y"]
    np.testing.assert_array_equal(back.values, result.values)
    np.testing.assert_array_equal(back.by_name["y"], result.by_name["y"])
    with pytest.raises(UserError, match="not a _Other"):
        load_result(prefix, _Other)
    prefix.with_suffix(".json").unlink()  # the json, written last, marks a result complete
    assert not is_stored(prefix)
    with pytest.raises(UserError, match="run it first"):
        load_result(prefix, _Result)


@dataclass(frozen=True)
class _WithRdms:
    rdms: RDM
    label: str


def test_store_keeps_a_data_object_of_core_whole(tmp_path):
    """An RDM field comes back an RDM with its descriptors (arrays in the npz, the rest and its class in the json);
    a json naming a class outside core, or another class than the field's, is refused."""
    rdms = RDM(np.arange(6.0).reshape(2, 3), "correlation", ("a", "b", "c"), {"stimuli": "faces"},
               {"layer": ["conv1", "fc"]})
    prefix = save_result(_WithRdms(rdms, "x"), tmp_path / "result")
    back = load_result(prefix, _WithRdms)
    assert isinstance(back.rdms, RDM) and back.label == "x"
    np.testing.assert_array_equal(back.rdms.dissimilarities, rdms.dissimilarities)
    assert (back.rdms.pattern_labels, back.rdms.descriptors, back.rdms.rdm_descriptors) == (
        ("a", "b", "c"), {"stimuli": "faces"}, {"layer": ("conv1", "fc")})
    document = json.loads(prefix.with_suffix(".json").read_text())
    for module, name in (("wave", "RDM"), ("core.cortex.maps", "CorticalMap")):
        document["objects"]["rdms"].update(module=module, type=name)
        prefix.with_suffix(".json").write_text(json.dumps(document))
        with pytest.raises(UserError, match="'rdms' is not a RDM"):
            load_result(prefix, _WithRdms)
    assert "wave" not in sys.modules  # a module outside core is never imported


def test_store_keeps_results_whose_names_hold_dots_apart(tmp_path):
    """A prefix such as ``dcgan-n40-snr0.5-v3`` is a name, not a name and a suffix: the SNR 0.5 and 0.25 runs
    once both went to ``dcgan-n40-snr0.npz`` (``Path.with_suffix``), and the page then found neither."""
    for snr in (0.5, 0.25):
        save_result(_Other(values=np.array([snr])), tmp_path / f"dcgan-n40-snr{snr:g}-v3")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"dcgan-n40-snr{snr}-v3.{ext}" for snr in ("0.25", "0.5") for ext in ("json", "npz")]
    for snr in (0.5, 0.25):
        assert load_result(tmp_path / f"dcgan-n40-snr{snr:g}-v3", _Other).values[0] == snr


@pytest.fixture
def planted_experiment():
    """A fake experiment: 9 smooth fsLR-32k category maps in 3 planted groups, 20,000 predictable vertices."""
    rng = np.random.default_rng(0)
    groups = np.repeat([0, 1, 2], 3)

    def smooth(n):
        return smooth_on_surface(rng.normal(size=(n, 59_412)).astype(np.float32), n_iter=20)

    predictable = rng.permutation(59_412) < 20_000
    categories = tuple(f"c{i}" for i in range(9))
    return SimpleNamespace(
        maps={"r": np.where(predictable, 0.5, 0.0), "q": np.where(predictable, 0.001, 1.0)},
        category_maps=2.0 * smooth(3)[groups] + smooth(9), categories=categories,
        labels=np.array(categories), groups=np.array([f"g{g}" for g in groups]))


def test_spin_test_of_the_job_tests_the_partition_the_page_shows(planted_experiment):
    page = clusters.category_clustering(planted_experiment)
    messages = []
    significance = clusters.cluster_significance(planted_experiment, n_permutations=39, n_rotations=20,
                                                 progress=lambda done, total, m: messages.append((done / total, m)))
    assert page.best_k == significance["best_k"] == 3
    assert page.ari == 1.0
    assert significance["q"] == pytest.approx(page.modularity.max())
    assert significance["p"] == pytest.approx(1 / 40)
    assert significance["n_permutations"] == 39 and "spin test" in significance["null"]
    assert messages[-1][0] == 1.0
