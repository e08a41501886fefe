"""Region × network × layer comparisons (permutation p, noise ceiling) and the bootstrap test of the
identity − expression difference."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core._validation import check_choice
from core.rsa import (
    COMPARE_METHODS,
    RDM,
    compare_rdms,
    rdm_noise_ceiling,
    rdm_permutation_test,
)


@dataclass(frozen=True, eq=False)
class NetworkRegionComparison:
    """Similarity of every network layer's RDM with every region's RDM.

    Arrays have shape (n_regions, n_networks, n_layers_max); a network with fewer layers is padded
    with NaN (its layer names are in ``layers``).

    Attributes
    ----------
    regions : tuple of str
    networks : tuple of str
    layers : tuple of tuple of str
        Layer names of each network, in depth order.
    r : ndarray
        Mean over the region's RDMs (subjects/repetitions) of the similarity with the layer RDM.
    p : ndarray
        One-sided condition-label permutation p (``core.rsa.rdm_permutation_test``) of the layer RDM
        against the region's pooled RDM; NaN where the method has no permutation test
        (``"kendall_tau_a"``) or ``n_permutations=0``.
    noise_ceiling_lower, noise_ceiling_upper : ndarray of shape (n_regions,)
        Leave-one-out bounds (``core.rsa.rdm_noise_ceiling``); NaN for a region with one RDM.
    method : str
    n_permutations : int
    """

    regions: tuple
    networks: tuple
    layers: tuple
    r: np.ndarray
    p: np.ndarray
    noise_ceiling_lower: np.ndarray
    noise_ceiling_upper: np.ndarray
    method: str
    n_permutations: int

    def curve(self, region: str, network: str) -> tuple[tuple, np.ndarray, np.ndarray]:
        """``(layers, r, p)`` of one network in one region, without padding."""
        check_choice("region", region, self.regions)
        check_choice("network", network, self.networks)
        i, j = self.regions.index(region), self.networks.index(network)
        n = len(self.layers[j])
        return self.layers[j], self.r[i, j, :n], self.p[i, j, :n]


#: Methods of :func:`compare_networks_to_regions`, a subset of ``core.rsa.COMPARE_METHODS``.
FACE_COMPARE_METHODS = ("kendall_tau_a", "spearman")


def compare_networks_to_regions(brain_rdms: Mapping[str, RDM], network_rdms_by_net: Mapping[str, Mapping[str, RDM]],
                                *, method: str = "spearman", n_permutations: int = 1000,
                                random_state=None) -> NetworkRegionComparison:
    """Compare each layer of each network with each brain region.

    Parameters
    ----------
    brain_rdms : mapping of str to RDM
        Region → RDM(s) (:func:`brain_rdms_from_patterns`); several stacked RDMs are subjects or
        repetitions.
    network_rdms_by_net : mapping of str to (mapping of str to RDM)
        Network → layer → RDM (:func:`network_rdms`), over the same stimuli in the same order.
    method : {"spearman", "kendall_tau_a"}
        Rank correlation of the RDMs (``"kendall_tau_a"`` is slower and has no permutation test).
    n_permutations : int
        Condition-label permutations per test (0: no test).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    NetworkRegionComparison
    """
    check_choice("method", method, FACE_COMPARE_METHODS)
    if n_permutations < 0:
        raise ValueError(f"n_permutations must be >= 0, got {n_permutations}")
    if not brain_rdms or not network_rdms_by_net or not all(network_rdms_by_net.values()):
        raise ValueError("brain_rdms and network_rdms_by_net need at least one region, network and layer")
    rng = np.random.default_rng(random_state)
    spec = COMPARE_METHODS[method]
    testable = spec.embed is not None and n_permutations > 0
    regions, networks = tuple(brain_rdms), tuple(network_rdms_by_net)
    layers = tuple(tuple(network_rdms_by_net[net]) for net in networks)
    shape = (len(regions), len(networks), max(len(names) for names in layers))
    r, p = np.full(shape, np.nan), np.full(shape, np.nan)
    lower, upper = np.full(len(regions), np.nan), np.full(len(regions), np.nan)
    for i, region in enumerate(regions):
        brain = brain_rdms[region]
        pooled = RDM(spec.pool(brain.dissimilarities), brain.measure, brain.pattern_labels)
        if brain.n_rdms > 1:
            ceiling = rdm_noise_ceiling(brain, method=method)
            lower[i], upper[i] = ceiling.lower, ceiling.upper
        for j, net in enumerate(networks):
            for k, layer in enumerate(layers[j]):
                model_rdm = network_rdms_by_net[net][layer]
                r[i, j, k] = compare_rdms(model_rdm, brain, method=method).mean()
                if testable:
                    p[i, j, k] = rdm_permutation_test(model_rdm, pooled, method=method,
                                                      n_permutations=n_permutations, random_state=rng).p_value
    return NetworkRegionComparison(regions, networks, layers, r, p, lower, upper, method, int(n_permutations))


@dataclass(frozen=True, eq=False)
class DifferenceTest:
    """Bootstrap test of ``r(brain, identity model) − r(brain, expression model)`` per region.

    Attributes
    ----------
    regions : tuple of str
    observed : ndarray of shape (n_regions,)
        Difference on all stimuli.
    mean : ndarray of shape (n_regions,)
        Mean of the bootstrap differences.
    ci_low, ci_high : ndarray of shape (n_regions,)
        Percentile confidence interval.
    p : ndarray of shape (n_regions,)
        Two-sided bootstrap p: ``min(1, 2 (1 + min(#{d ≤ 0}, #{d ≥ 0})) / (1 + n_bootstrap))``.
    confidence : float
    n_bootstrap : int
    method : str
    """

    regions: tuple
    observed: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    p: np.ndarray
    confidence: float
    n_bootstrap: int
    method: str


def identity_vs_expression_difference(brain_rdms: Mapping[str, RDM], identity_rdm: RDM, expression_rdm: RDM, *,
                                      method: str = "spearman", n_bootstrap: int = 1000,
                                      confidence: float = 0.95, random_state=None) -> DifferenceTest:
    """Is a region closer to the identity network or to the expression network? Stimulus bootstrap.

    Each bootstrap sample draws ``n_stimuli`` stimuli with replacement, takes the sub-RDMs of the
    brain and both models over the drawn stimuli (all pairs of draws, leaving out the pairs of a
    stimulus with a copy of itself, whose dissimilarity is the diagonal's 0), and recomputes
    ``r(brain, identity) − r(brain, expression)`` with ``method``; a region with several RDMs
    (subjects) gives the mean difference over them, on the same draws.

    Parameters
    ----------
    brain_rdms : mapping of str to RDM
    identity_rdm, expression_rdm : RDM
        One RDM each (e.g. the best or last layer of each network), same stimuli as the brain.
    method : {"spearman", "kendall_tau_a"}
    n_bootstrap : int
    confidence : float
        Of the percentile interval, in (0, 1).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    DifferenceTest
    """
    check_choice("method", method, FACE_COMPARE_METHODS)
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    for name, rdm in (("identity_rdm", identity_rdm), ("expression_rdm", expression_rdm)):
        if rdm.n_rdms != 1:
            raise ValueError(f"{name} must hold one RDM, got {rdm.n_rdms}")
    if identity_rdm.pattern_labels != expression_rdm.pattern_labels:
        raise ValueError("identity_rdm and expression_rdm have different pattern_labels")
    compare = COMPARE_METHODS[method].compare
    rng = np.random.default_rng(random_state)
    n = identity_rdm.n_conditions
    models = np.stack([identity_rdm.matrix(), expression_rdm.matrix()])
    iu, ju = np.triu_indices(n, 1)
    draws = [rng.integers(0, n, n) for _ in range(n_bootstrap)]
    pairs = []
    for draw in draws:
        a, b = draw[iu], draw[ju]
        keep = a != b
        pairs.append((a[keep], b[keep]))
    regions = tuple(brain_rdms)
    observed, mean, low, high, p = (np.empty(len(regions)) for _ in range(5))
    tail = (1 - confidence) / 2
    for i, region in enumerate(regions):
        brain = brain_rdms[region]
        if brain.pattern_labels != identity_rdm.pattern_labels:
            raise ValueError(f"Region {region!r} has different pattern_labels from the model RDMs")
        square = np.stack([brain.matrix(s) for s in range(brain.n_rdms)])
        sims = compare(models[:, iu, ju], brain.dissimilarities)
        observed[i] = (sims[0] - sims[1]).mean()
        diffs = np.empty(n_bootstrap)
        for k, (rows, cols) in enumerate(pairs):
            sims = compare(models[:, rows, cols], square[:, rows, cols])
            diffs[k] = (sims[0] - sims[1]).mean()
        mean[i] = diffs.mean()
        low[i], high[i] = np.quantile(diffs, [tail, 1 - tail])
        extreme = min(np.count_nonzero(diffs <= 0), np.count_nonzero(diffs >= 0))
        p[i] = min(1.0, 2 * (1 + extreme) / (1 + n_bootstrap))
    return DifferenceTest(regions, observed, mean, low, high, p, float(confidence), int(n_bootstrap), method)
