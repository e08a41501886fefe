"""Model–brain RSA: which layer of which network best matches each brain region's RDM, for any stimuli.

The workflow :func:`run_model_brain_rsa` takes a stimulus set, brain RDMs (one or several subjects per region)
and zoo networks, and returns a :class:`ModelBrainRSAResult`:

1. network RDMs for every chosen layer (:func:`network_rdms`: features through ``core.features`` and its
   feature cache, RDMs cached on disk per network weights, layer, stimulus content, metric and reduction);
2. for every layer × region (:func:`compare_models_to_brain`): the similarity ``r`` (the mean over the
   region's subjects of ``core.rsa.compare_rdms``, as rsatoolbox's model evaluation), a one-sided
   stimulus-permutation p of that mean (the same permutations for every subject; ``core.rsa.
   rdm_permutation_test``), Benjamini–Hochberg q over each network's layers, and a 95 % bootstrap interval
   over stimuli defined as rsatoolbox's ``eval_bootstrap_pattern`` (+ ``Result.get_ci(0.95, "bootstrap")``):
   stimuli resampled with replacement, the pairs of a stimulus with its own copies left out;
3. the lower/upper noise ceiling of each region with ≥ 2 subjects (``core.rsa.rdm_noise_ceiling``);
4. the best layer per network and region and overall per region, with the fraction of bootstrap samples
   that choose the same layer (how stable the choice is).

For display, :func:`region_rdm_pair` (a region's RDM beside its best layer's) and :func:`second_order_mds`
(every RDM placed by classical MDS of their second-order dissimilarities).

The bootstrap and the permutation test are in ``core.rdm_inference`` (which says how they are computed and
how they are calibrated: the permutation p is calibrated; the rsatoolbox interval is conservative).

Results are saved as ``.npz`` + ``.json`` (json written last, both atomically, no pickle) by
:func:`save_model_brain_rsa`; :meth:`ModelBrainRSAResult.to_json` gives the command line's JSON.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError, choices_text
from core.rdm_inference import (
    CI_LEVEL,
    MIN_BOOTSTRAP,
    bootstrap_evaluations,
    bootstrap_interval,
    condensed_vectors,
    draw_bootstrap_indices,
    group_permutation_test,
)
from core.rsa import COMPARE_METHODS, RDM, RDM_METRICS, compare_rdms, rdm_noise_ceiling
from core.rsa.geometry import classical_mds, leaf_order, rank_percentiles, similarity_distances
from core.runtime import PROGRESS_STEPS, Progress, report, span
from core.store import load_result, result_paths, save_result

__all__ = [
    "MODEL_BRAIN_RSA_VERSION",
    "NETWORK_METRICS",
    "RSA_NETWORKS",
    "ModelBrainRSAResult",
    "compare_models_to_brain",
    "load_model_brain_rsa",
    "network_rdms",
    "region_rdm_pair",
    "run_model_brain_rsa",
    "save_model_brain_rsa",
    "second_order_mds",
    "stimulus_set_hash",
]

MODEL_BRAIN_RSA_VERSION = "model-brain-rsa/v1"
#: Version of the cached network RDMs (bump when their computation changes).
RDM_CACHE_VERSION = "model-rdm/v1"
#: Zoo networks that take images (every registry entry but the face generator).
RSA_NETWORKS = ("alexnet", "efficientnet_lite0", "face_age_gender", "face_detector", "face_expression",
                "face_identity", "face_landmarks68", "fer_minixception", "resnet50")
#: Metrics of network RDMs: the pattern metrics of ``core.rsa.RDM_METRICS`` (crossnobis needs repeats).
NETWORK_METRICS = tuple(sorted(name for name, spec in RDM_METRICS.items() if spec.ndim == 2))
def _report(progress, fraction: float, message: str) -> None:
    """``fraction`` of the work done (clipped to [0, 1]), as ``core.runtime.Progress`` steps."""
    report(progress, round(PROGRESS_STEPS * min(max(float(fraction), 0.0), 1.0)), PROGRESS_STEPS, message)


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ModelBrainRSAResult:
    """Every model RDM (network × layer, "rows") against every brain region.

    Attributes
    ----------
    method : str
        RDM comparison (``core.rsa.COMPARE_METHODS``).
    networks, layers : tuple of str, length n_models
        Network and layer of each model row, networks in the order asked, layers in depth order.
    regions : tuple of str, length n_regions
    n_subjects : tuple of int, length n_regions
        RDMs (subjects) per region.
    stimulus_ids : tuple of str, length n_stimuli
        The stimuli in the order of the RDM rows.
    r : ndarray of shape (n_models, n_regions)
        Mean over the region's subjects of the similarity.
    p, q : ndarray of shape (n_models, n_regions)
        Stimulus-permutation p (one-sided) and Benjamini–Hochberg q over each network's layers (NaN without
        permutations).
    ci_low, ci_high : ndarray of shape (n_models, n_regions)
        Bootstrap interval (``meta["ci_level"]``) over stimuli, rsatoolbox's percentile interval (conservative:
        see the module's notes); NaN without bootstrap.
    ceiling_lower, ceiling_upper : ndarray of shape (n_regions,)
        Noise ceiling; NaN for a region with one RDM.
    bootstrap : ndarray of shape (n_bootstrap, n_models, n_regions)
        The bootstrap evaluations.
    best : ndarray of shape (n_regions,), int
        Model row with the largest r in each region.
    best_fraction : ndarray of shape (n_regions,)
        Fraction of bootstrap samples whose largest evaluation is that row's.
    network_best, network_best_fraction : ndarray of shape (n_networks, n_regions)
        The same within each network (:attr:`network_names`).
    brain_rdms : ndarray of shape (n_brain_rdms, n_pairs)
        Every region's RDMs, stacked; ``brain_region`` (n_brain_rdms,) gives each one's region index.
    best_rdms : ndarray of shape (n_regions, n_pairs)
        The RDM of each region's best model row.
    second_order : ndarray of shape (n_regions + n_models, n_regions + n_models)
        Similarity (``method``) of every region's mean RDM and every model RDM with each other.
    meta : dict
        Settings (metric, reduction, n_permutations, n_bootstrap, seed, ci_level, version).
    """

    method: str
    networks: tuple
    layers: tuple
    regions: tuple
    n_subjects: tuple
    stimulus_ids: tuple
    r: np.ndarray
    p: np.ndarray
    q: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    ceiling_lower: np.ndarray
    ceiling_upper: np.ndarray
    bootstrap: np.ndarray
    best: np.ndarray
    best_fraction: np.ndarray
    network_best: np.ndarray
    network_best_fraction: np.ndarray
    brain_rdms: np.ndarray
    brain_region: np.ndarray
    best_rdms: np.ndarray
    second_order: np.ndarray
    meta: dict = field(default_factory=dict)

    @property
    def network_names(self) -> tuple:
        """The networks, each once, in order."""
        return tuple(dict.fromkeys(self.networks))

    @property
    def second_order_labels(self) -> tuple:
        """Labels of :attr:`second_order`'s rows: the regions, then ``"network:layer"``."""
        return self.regions + tuple(f"{n}:{layer}" for n, layer in zip(self.networks, self.layers, strict=True))

    def profile(self, network: str, region: str) -> dict:
        """One network's layer profile in one region: ``layers`` and arrays ``r, p, q, ci_low, ci_high``."""
        if network not in self.network_names or region not in self.regions:
            raise UserError(f"Choose a network from {choices_text(self.network_names)} and a region from "
                            f"{choices_text(self.regions)}")
        rows = [i for i, n in enumerate(self.networks) if n == network]
        k = self.regions.index(region)
        return {"layers": tuple(self.layers[i] for i in rows),
                **{name: getattr(self, name)[rows, k] for name in ("r", "p", "q", "ci_low", "ci_high")}}

    def to_json(self) -> dict:
        """The command line's JSON: ``{"method", "rows": [{"network", "layer", "rdm", "r", "p", "ci_low",
        "ci_high", "q"}, ...], "ceilings": {region: {"lower", "upper"}}, "best": {...}, "stimuli": [...]}``
        (missing values as null)."""
        rows = [{"network": self.networks[i], "layer": self.layers[i], "rdm": region,
                 **{name: _number(getattr(self, name)[i, k]) for name in ("r", "p", "ci_low", "ci_high", "q")}}
                for i in range(len(self.networks)) for k, region in enumerate(self.regions)]
        ceilings = {region: {"lower": _number(self.ceiling_lower[k]), "upper": _number(self.ceiling_upper[k])}
                    for k, region in enumerate(self.regions) if self.n_subjects[k] > 1}
        best = {region: {"network": self.networks[self.best[k]], "layer": self.layers[self.best[k]],
                         "r": _number(self.r[self.best[k], k]), "ci_low": _number(self.ci_low[self.best[k], k]),
                         "ci_high": _number(self.ci_high[self.best[k], k]),
                         "fraction_of_bootstraps": _number(self.best_fraction[k])}
                for k, region in enumerate(self.regions)}
        return {"method": self.method, "rows": rows, "ceilings": ceilings, "best": best,
                "stimuli": list(self.stimulus_ids)}


def _number(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


_ARRAYS = ("r", "p", "q", "ci_low", "ci_high", "ceiling_lower", "ceiling_upper", "bootstrap", "best",
           "best_fraction", "network_best", "network_best_fraction", "brain_rdms", "brain_region", "best_rdms",
           "second_order")
_TUPLES = ("networks", "layers", "regions", "n_subjects", "stimulus_ids")


def save_model_brain_rsa(result: ModelBrainRSAResult, prefix: str | os.PathLike) -> Path:
    """Write ``prefix.npz`` (arrays) and then ``prefix.json`` (labels, settings), each atomically.

    Returns the json path; a result is complete when its json exists.
    """
    document = {"version": MODEL_BRAIN_RSA_VERSION, "method": result.method, "meta": result.meta,
                **{name: list(getattr(result, name)) for name in _TUPLES}}
    return save_result(prefix, {name: getattr(result, name) for name in _ARRAYS}, document)


def load_model_brain_rsa(prefix: str | os.PathLike) -> ModelBrainRSAResult:
    """Read a result written by :func:`save_model_brain_rsa` (``allow_pickle=False``)."""
    json_path = result_paths(prefix)[1]
    if not json_path.is_file():
        raise UserError(f"No model–brain RSA result {json_path.name}; run the analysis first")
    arrays, document = load_result(prefix)
    if document.get("version") != MODEL_BRAIN_RSA_VERSION:
        raise UserError(f"{json_path.name} was written by another version ({document.get('version')}); run the "
                        "analysis again")
    values = {name: arrays[name] for name in _ARRAYS}
    return ModelBrainRSAResult(method=document["method"], meta=document["meta"],
                               **{name: tuple(document[name]) for name in _TUPLES}, **values)


# ---------------------------------------------------------------------------------------------
# the statistics of every model × region
# ---------------------------------------------------------------------------------------------


def _check_brain(brain_rdms: Mapping[str, RDM], n_pairs: int) -> dict[str, np.ndarray]:
    if not brain_rdms:
        raise UserError("No brain RDM was given")
    out = {}
    for region, rdm in brain_rdms.items():
        vectors = condensed_vectors(f"brain RDM {region!r}", rdm)
        if vectors.shape[1] != n_pairs:
            n = int(round((1 + math.sqrt(1 + 8 * vectors.shape[1])) / 2))
            m = int(round((1 + math.sqrt(1 + 8 * n_pairs)) / 2))
            raise UserError(f"The brain RDM {region!r} is over {n} conditions but the model RDMs over {m} stimuli")
        out[str(region)] = vectors
    return out


def _best_rows(r: np.ndarray, boot: np.ndarray, rows: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Row (of ``rows``) with the largest r per region, and the fraction of samples choosing it."""
    rows = np.asarray(rows)
    best = rows[np.argmax(r[rows], axis=0)]
    finite = np.isfinite(boot[:, rows, :]).all(axis=1)
    chosen = rows[np.argmax(np.where(np.isfinite(boot[:, rows, :]), boot[:, rows, :], -np.inf), axis=1)]
    agree = (chosen == best[None]) & finite
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = agree.sum(axis=0) / finite.sum(axis=0)
    return best, np.where(finite.sum(axis=0) > 0, fraction, np.nan)


def compare_models_to_brain(model_rdms: Mapping[tuple[str, str], RDM | np.ndarray], brain_rdms: Mapping[str, RDM],
                            *, method: str = "spearman", n_permutations: int = 10_000, n_bootstrap: int = 1_000,
                            seed: int = 0, stimulus_ids: Sequence[str] | None = None,
                            progress: Progress | None = None,
                            meta: Mapping | None = None) -> ModelBrainRSAResult:
    """The statistics of every model RDM against every brain region (no networks are run here).

    Parameters
    ----------
    model_rdms : mapping of (network, layer) to RDM or ndarray of shape (n_pairs,)
        One RDM per model row, in order (layers of a network in depth order).
    brain_rdms : mapping of str to RDM
        Region → its RDM(s) (subjects stacked), over the same stimuli in the same order.
    method : str
        A key of ``core.rsa.COMPARE_METHODS``.
    n_permutations : int
        Stimulus permutations per test (0: no p-values).
    n_bootstrap : int
        Bootstrap samples of the stimuli (0: no intervals; else ≥ :data:`MIN_BOOTSTRAP`).
    seed : int
        Seeds the permutations and the bootstrap draws.
    stimulus_ids : sequence of str, optional
        The stimuli (default: the first model RDM's pattern labels, else ``"0", "1", ...``).
    progress : callable, optional
        ``progress(done, total, message)`` (``core.runtime.Progress``).
    meta : mapping, optional
        Settings to keep in the result.

    Returns
    -------
    ModelBrainRSAResult
    """
    from core.stats import fdr_bh

    if method not in COMPARE_METHODS:
        raise UserError(f"Unknown method {method!r}; choose from {choices_text(sorted(COMPARE_METHODS))}")
    if n_permutations < 0 or n_bootstrap < 0 or 0 < n_bootstrap < MIN_BOOTSTRAP:
        raise UserError(f"Give n_permutations ≥ 0 and n_bootstrap = 0 or ≥ {MIN_BOOTSTRAP} (got {n_permutations} "
                        f"and {n_bootstrap})")
    if not model_rdms:
        raise UserError("No network layer was given")
    keys = list(model_rdms)
    x = np.concatenate([condensed_vectors(f"model RDM {key}", model_rdms[key]) for key in keys])
    if x.shape[0] != len(keys):
        raise ValueError("each model RDM must be one RDM")
    brain = _check_brain(brain_rdms, x.shape[1])
    regions = tuple(brain)
    n_stimuli = int(round((1 + math.sqrt(1 + 8 * x.shape[1])) / 2))
    if stimulus_ids is None:
        first = model_rdms[keys[0]]
        stimulus_ids = first.pattern_labels if isinstance(first, RDM) else range(n_stimuli)
    stimulus_ids = tuple(str(s) for s in stimulus_ids)
    n_models, n_regions = len(keys), len(regions)
    rng = np.random.default_rng(seed)
    perm_seeds = rng.integers(0, 2**63 - 1, size=(n_models, n_regions))
    boot_seed = int(rng.integers(0, 2**63 - 1))

    r = np.stack([compare_rdms(x, brain[region], method=method).mean(axis=1) for region in regions], axis=1)
    p = np.full((n_models, n_regions), np.nan)
    lower, upper = np.full(n_regions, np.nan), np.full(n_regions, np.nan)
    for k, region in enumerate(regions):
        if brain[region].shape[0] > 1:
            ceiling = rdm_noise_ceiling(brain[region], method=method)
            lower[k], upper[k] = ceiling.lower, ceiling.upper
    steps, done = n_models * n_regions * (n_permutations > 0) + n_regions * (n_bootstrap > 0), 0
    if n_permutations:
        for i, (network, layer) in enumerate(keys):
            for k, region in enumerate(regions):
                p[i, k] = group_permutation_test(x[i], brain[region], method=method, n_permutations=n_permutations,
                                                 random_state=int(perm_seeds[i, k]))[1]
                done += 1
                _report(progress, done / steps, f"permutation tests: {network} {layer} × {region}")
    q = np.full_like(p, np.nan)
    networks = tuple(dict.fromkeys(network for network, _ in keys))
    rows_of = {network: [i for i, (n, _) in enumerate(keys) if n == network] for network in networks}
    if n_permutations:
        for rows in rows_of.values():
            q[rows] = fdr_bh(p[rows])
    indices = draw_bootstrap_indices(n_stimuli, n_bootstrap, boot_seed)
    boot = np.full((n_bootstrap, n_models, n_regions), np.nan)
    for k, region in enumerate(regions):
        if n_bootstrap:
            boot[:, :, k] = bootstrap_evaluations(x, brain[region], indices, method=method)
            done += 1
            _report(progress, done / steps, f"bootstrap over stimuli: {region}")
    ci_low, ci_high = bootstrap_interval(boot) if n_bootstrap else (np.full_like(r, np.nan), np.full_like(r, np.nan))
    best, best_fraction = _best_rows(r, boot, range(n_models))
    per_network = [_best_rows(r, boot, rows_of[network]) for network in networks]
    brain_stack = np.concatenate([brain[region] for region in regions])
    brain_region = np.concatenate([np.full(brain[region].shape[0], k) for k, region in enumerate(regions)])
    means = np.stack([brain[region].mean(axis=0) for region in regions])
    second_order = compare_rdms(np.concatenate([means, x]), np.concatenate([means, x]), method=method)
    _report(progress, 1.0, "model–brain RSA done")
    return ModelBrainRSAResult(
        method=method, networks=tuple(n for n, _ in keys), layers=tuple(str(layer) for _, layer in keys),
        regions=regions, n_subjects=tuple(int(brain[region].shape[0]) for region in regions),
        stimulus_ids=stimulus_ids, r=r, p=p, q=q, ci_low=ci_low, ci_high=ci_high, ceiling_lower=lower,
        ceiling_upper=upper, bootstrap=boot, best=best, best_fraction=best_fraction,
        network_best=np.stack([b for b, _ in per_network]), network_best_fraction=np.stack([f for _, f in per_network]),
        brain_rdms=brain_stack, brain_region=brain_region, best_rdms=x[best], second_order=second_order,
        meta={"version": MODEL_BRAIN_RSA_VERSION, "n_permutations": int(n_permutations),
              "n_bootstrap": int(n_bootstrap), "seed": int(seed), "ci_level": CI_LEVEL, **dict(meta or {})})


def region_rdm_pair(result: ModelBrainRSAResult, region: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """A region's mean brain RDM next to its best model row's RDM, for display.

    Returns
    -------
    brain, model : ndarray of shape (n_stimuli, n_stimuli)
        Rank percentiles (0–100) of each RDM's dissimilarities (``core.rsa.geometry.rank_percentiles``), so
        the two share one colour scale.
    order : ndarray of shape (n_stimuli,)
        Leaf order of an average-linkage clustering of the brain RDM.
    best : int
        The best model row (index into ``result.networks`` / ``result.layers``).
    """
    if region not in result.regions:
        raise UserError(f"Unknown region {region!r}; choose from {choices_text(result.regions)}")
    k = result.regions.index(region)
    brain = result.brain_rdms[result.brain_region == k].mean(axis=0)
    return rank_percentiles(brain), rank_percentiles(result.best_rdms[k]), leaf_order(brain), int(result.best[k])


def second_order_mds(result: ModelBrainRSAResult, n_components: int = 2) -> np.ndarray:
    """Classical MDS of every RDM (each region's mean RDM, then every model row) from ``1 − second_order``
    (``core.rsa.geometry.similarity_distances``): ndarray of shape (n_regions + n_models, n_components)."""
    return classical_mds(similarity_distances(result.second_order), n_components)


# ---------------------------------------------------------------------------------------------
# network RDMs
# ---------------------------------------------------------------------------------------------


def stimulus_set_hash(stimuli) -> str:
    """sha256 (hex) of the decoded pixels of every stimulus, in order (``core.stimuli.content_hashes``)."""
    from core.stimuli import content_hashes

    return hashlib.sha256("|".join(content_hashes(stimuli)).encode()).hexdigest()


def _check_network(network: str) -> None:
    if network not in RSA_NETWORKS:
        raise UserError(f"Unknown network {network!r}; choose from {choices_text(RSA_NETWORKS)}")


def network_rdms(stimuli, network: str, layers: str | Sequence[str] = "default", *, metric: str = "correlation",
                 reduction: str = "mean", device: str = "cpu", set_hash: str | None = None,
                 progress: Progress | None = None) -> dict[str, RDM]:
    """RDMs of a zoo network's layers over a stimulus set, cached on disk.

    Features come from ``core.features.extract_features`` (with the shared feature cache); each layer's
    condensed RDM is cached under ``core.cache_folder("model_rdms")``, keyed by the network's weights
    digest, the layer, :func:`stimulus_set_hash`, the metric and the reduction.

    Parameters
    ----------
    stimuli : core.stimuli.StimulusSet
    network : str
        One of :data:`RSA_NETWORKS`.
    layers : str or sequence of str
        A layer-set name of the network (``"default"``; ``"wen18"`` for ResNet-50) or module paths.
    metric : str
        One of :data:`NETWORK_METRICS`.
    reduction : str
        ``core.features.REDUCTIONS``: ``"mean"`` (spatial mean per channel), ``"random_projection"``
        (preserves Euclidean distances) or ``"full"`` (every unit; large for early layers).
    device : str
    set_hash : str, optional
        :func:`stimulus_set_hash` of ``stimuli`` when already known.
    progress : callable, optional
        ``progress(done, total, message)`` (``core.runtime.Progress``).

    Returns
    -------
    dict of str to RDM
        Layer → its RDM (pattern labels: the stimulus ids), in layer order.
    """
    from core.features import REDUCTIONS, FeatureCache, resolve_layers
    from core.network_features import network_features, zoo_network
    from core.runtime import cache_folder

    _check_network(network)
    if metric not in NETWORK_METRICS:
        raise UserError(f"Unknown network RDM metric {metric!r}; choose from {choices_text(NETWORK_METRICS)}")
    if reduction not in REDUCTIONS:
        raise UserError(f"Unknown reduction {reduction!r}; choose from {choices_text(sorted(REDUCTIONS))}")
    _report(progress, 0.0, f"{network}: loading the network")
    model, digest = zoo_network(network, device=device)
    try:
        names = resolve_layers(model, layers)
    except ValueError as exc:
        raise UserError(f"{network}: {exc}") from exc
    set_hash = set_hash or stimulus_set_hash(stimuli)
    cache = FeatureCache(cache_folder("model_rdms"))
    n_pairs = len(stimuli) * (len(stimuli) - 1) // 2
    keys = {name: cache.key(RDM_CACHE_VERSION, network, digest, name, set_hash, metric, reduction) for name in names}
    vectors = {name: cache.get(key) for name, key in keys.items()}
    missing = [name for name, v in vectors.items() if v is None or v.shape != (n_pairs,)]
    if missing:
        features = network_features(
            stimuli, network, missing, reduction=reduction, device=device, model=model, digest=digest,
            progress=lambda done, total, _message="": _report(progress, done / total,
                                                              f"{network} features: chunk {done}/{total}"))
        if features.skipped:
            raise UserError(f"{len(features.skipped)} stimuli could not be decoded (e.g. {features.skipped[0][0]}: "
                            f"{features.skipped[0][1]}); remove or replace them")
        from core.rsa import compute_rdm

        for name in missing:
            vectors[name] = compute_rdm(features[name], metric=metric).dissimilarities[0]
            cache.put(keys[name], vectors[name])
    measure = RDM_METRICS[metric].measure
    _report(progress, 1.0, f"{network}: {len(names)} layer RDMs")
    return {name: RDM(vectors[name], measure, stimuli.ids, {"network": network, "layer": name, "metric": metric,
                                                             "reduction": reduction})
            for name in names}


def _layers_for(layers, network: str):
    if isinstance(layers, Mapping):
        return layers.get(network, "default")
    return layers


def _aligned_brain(brain_rdms, stimuli, measure) -> dict[str, RDM]:
    """Brain RDMs over the stimuli in order: read from files, or reordered by their labels when those name the
    stimuli (else taken in stimulus order)."""
    from core.rdm_files import load_brain_rdms

    ids = tuple(stimuli.ids)
    if not isinstance(brain_rdms, Mapping):
        return load_brain_rdms(brain_rdms, pattern_labels=ids, measure=measure)
    out = {}
    for region, rdm in brain_rdms.items():
        if not isinstance(rdm, RDM):
            rdm = RDM(condensed_vectors(f"brain RDM {region!r}", rdm), measure or "unknown", ids)
        if rdm.n_conditions != len(ids):
            raise UserError(f"The brain RDM {region!r} is over {rdm.n_conditions} conditions but {len(ids)} stimuli "
                            "were given")
        labels = tuple(str(x) for x in rdm.pattern_labels)
        if set(labels) == set(ids) and labels != ids:
            rdm = RDM(rdm.dissimilarities, rdm.measure, labels, rdm.descriptors).subset(ids)
        out[str(region)] = RDM(rdm.dissimilarities, rdm.measure, ids, rdm.descriptors)
    return out


def run_model_brain_rsa(stimuli, brain_rdms, networks: Sequence[str] = ("resnet50",),
                        layers: str | Sequence[str] | Mapping[str, str | Sequence[str]] = "default",
                        method: str = "spearman", n_permutations: int = 10_000, n_bootstrap: int = 1_000,
                        seed: int = 0, progress: Progress | None = None, *,
                        metric: str = "correlation", reduction: str = "mean", measure: str | None = None,
                        device: str = "cpu") -> ModelBrainRSAResult:
    """Compare every chosen network layer with every brain region's RDM over a stimulus set.

    Parameters
    ----------
    stimuli : core.stimuli.StimulusSet or path-like
        The stimuli, or an image folder / ``stimuli.tsv`` (``core.stimulus_order.ordered_stimuli``: natural
        sort of file names unless the table gives the order).
    brain_rdms : mapping of str to RDM, or sequence of file specs
        Region → RDM(s) over the stimuli (subjects stacked), or ``FILE[:VAR]`` specs read by
        ``core.rdm_files.load_brain_rdms``.
    networks : sequence of str
        Zoo networks (:data:`RSA_NETWORKS`).
    layers : str, sequence of str, or mapping of network to those
        Layer-set name or module paths, for every network or per network (default ``"default"``).
    method : str
        RDM comparison: ``"spearman"``, ``"kendall_tau_a"``, ``"rho_a"``, ``"pearson"`` or ``"cosine"``.
    n_permutations, n_bootstrap, seed
        See :func:`compare_models_to_brain`.
    progress : callable, optional
        ``progress(done, total, message)`` (``core.runtime.Progress``).
    metric : str
        Network RDM metric (:data:`NETWORK_METRICS`).
    reduction : str
        Feature reduction per layer (see :func:`network_rdms`).
    measure : str, optional
        Dissimilarity measure of brain RDM files that do not name theirs.
    device : str

    Returns
    -------
    ModelBrainRSAResult
    """
    from core.stimulus_order import ordered_stimuli

    if method not in COMPARE_METHODS:
        raise UserError(f"Unknown method {method!r}; choose from {choices_text(sorted(COMPARE_METHODS))}")
    networks = list(dict.fromkeys(networks))
    if not networks:
        raise UserError(f"Choose at least one network from {choices_text(RSA_NETWORKS)}")
    for network in networks:
        _check_network(network)
    if not hasattr(stimuli, "ids"):
        stimuli = ordered_stimuli(stimuli)
    if len(stimuli) < 3:
        raise UserError(f"Model–brain RSA needs at least 3 stimuli, got {len(stimuli)}")
    _report(progress, 0.0, "reading the brain RDMs")
    brain = _aligned_brain(brain_rdms, stimuli, measure)
    _report(progress, 0.01, "hashing the stimuli")
    set_hash = stimulus_set_hash(stimuli)
    model_rdms: dict[tuple[str, str], RDM] = {}
    share = 0.6 / len(networks)
    for j, network in enumerate(networks):
        rdms = network_rdms(stimuli, network, _layers_for(layers, network), metric=metric, reduction=reduction,
                            device=device, set_hash=set_hash,
                            progress=span(progress, 0.02 + share * j, 0.02 + share * (j + 1)))
        model_rdms.update({(network, layer): rdm for layer, rdm in rdms.items()})
    return compare_models_to_brain(
        model_rdms, brain, method=method, n_permutations=n_permutations, n_bootstrap=n_bootstrap, seed=seed,
        stimulus_ids=stimuli.ids, progress=span(progress, 0.62, 1.0),
        meta={"metric": metric, "reduction": reduction, "stimulus_set_hash": set_hash, "device": device,
              "brain_measures": {region: rdm.measure for region, rdm in brain.items()}})
