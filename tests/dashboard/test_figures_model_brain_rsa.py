"""dashboard.figures.model_brain_rsa: layer profiles, the RDM pair and the second-order MDS, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.figures.model_brain_rsa import CI_LABEL, layer_profile_figure, rdm_mds_figure, rdm_pair_figure


@pytest.fixture
def profiles(rng):
    """Two networks (3 and 5 layers) against two regions."""
    out = {}
    for name, n_layers in (("net A", 3), ("net B", 5)):
        r = rng.uniform(0, 0.5, (n_layers, 2))
        out[name] = {"layers": [f"L{i}" for i in range(n_layers)], "r": r, "ci_low": r - 0.1, "ci_high": r + 0.2,
                     "q": np.full((n_layers, 2), 0.01)}
    return out


def test_layer_profile_has_a_line_per_network_and_region_with_asymmetric_intervals(profiles):
    fig = layer_profile_figure(["V1", "IT"], profiles, np.array([0.6, np.nan]), np.array([0.8, np.nan]),
                               best=[("net B", "L4"), ("net A", "L0")])
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(lines) == 4 and [t.name for t in lines] == ["net A", "net B", "net A", "net B"]
    b_v1 = lines[1]
    np.testing.assert_allclose(b_v1.y, profiles["net B"]["r"][:, 0])
    np.testing.assert_allclose(b_v1.error_y.array, 0.2)  # ci_high − r
    np.testing.assert_allclose(b_v1.error_y.arrayminus, 0.1)  # r − ci_low
    np.testing.assert_allclose(b_v1.x, np.linspace(0, 1, 5))  # several networks: relative depth
    stars = [t for t in fig.data if t.name == "best layer"]
    assert len(stars) == 2 and stars[0].x == (1.0,) and stars[0].y[0] == profiles["net B"]["r"][4, 0]
    bands = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(bands) == 1 and (bands[0].y0, bands[0].y1) == (0.6, 0.8)  # only V1 has a ceiling
    assert fig.layout.yaxis.range[1] > 0.8  # the band is inside the plot
    assert any(CI_LABEL in (t.name or "") for t in fig.data) and "conservative" in CI_LABEL
    assert "V1" in fig.layout.xaxis.title.text and "IT" in fig.layout.xaxis2.title.text


def test_one_network_profile_uses_layer_names(profiles):
    one = {"net A": profiles["net A"]}
    fig = layer_profile_figure(["V1", "IT"], one, np.full(2, np.nan), np.full(2, np.nan))
    assert fig.data[0].x == ("L0", "L1", "L2") and not fig.layout.shapes


def test_layer_profile_refuses_mismatched_shapes(profiles):
    profiles["net A"]["r"] = profiles["net A"]["r"][:, :1]
    with pytest.raises(ValueError, match="layers × regions"):
        layer_profile_figure(["V1", "IT"], profiles, np.zeros(2), np.ones(2))


def test_rdm_pair_orders_both_matrices_alike(rng):
    brain, model = rng.uniform(size=(2, 5, 5))
    order = np.array([4, 2, 0, 1, 3])
    fig = rdm_pair_figure(brain, model, list("abcde"), order=order, titles=("brain", "layer"))
    assert [t.type for t in fig.data] == ["heatmap", "heatmap"]
    np.testing.assert_array_equal(fig.data[0].z, brain[np.ix_(order, order)])
    np.testing.assert_array_equal(fig.data[1].z, model[np.ix_(order, order)])
    assert fig.data[0].x == tuple("ecabd") and fig.data[0].zmin == fig.data[1].zmin
    assert [t.showscale for t in fig.data] == [False, True]
    assert (fig.layout.xaxis.title.text, fig.layout.xaxis2.title.text) == ("brain", "layer")
    with pytest.raises(ValueError, match="square and of one shape"):
        rdm_pair_figure(brain, model[:4, :4], list("abcde"))


def test_mds_joins_each_networks_layers_in_depth_order():
    xy = np.arange(12, dtype=float).reshape(6, 2)
    fig = rdm_mds_figure(xy, ["V1", "c", "a", "b", "x", "IT"], ["brain", "n1", "n1", "n1", "n2", "brain"],
                         [-1, 2, 0, 1, 0, -1])
    assert [t.name for t in fig.data] == ["n1", "n2", "brain RDMs"]
    assert fig.data[0].text == ("a", "b", "c") and list(fig.data[0].x) == [4.0, 6.0, 2.0]
    assert fig.data[2].text == ("V1", "IT") and fig.data[2].marker.symbol == "diamond"
