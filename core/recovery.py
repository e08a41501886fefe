"""How much of a simulated subject's declared truth the default experiment recovers.

Three measures, each against the spec (``core.subject``):

- :func:`layer_recovery`: among the vertices of regions driven by a ResNet-50 layer that the encoding
  model predicts (FDR q < 0.05), the fraction whose best layer lies within ±2 of the declared home
  layer (of the 18 ``wen18`` layers), by one ridge refitted per layer and by the paper's attribution;
- :func:`category_cluster_ari`: the adjusted Rand index between the clusters of the category maps
  (k-means + signed modularity over the predictable vertices, as the RDM Clusters page) and the
  library's groups. It is circular: the category preferences that shape the maps were declared;
- :func:`face_region_winners`: for the regions driven by a face network, the best-layer RDM
  correlation of the identity and the expression nets (48 default faces; the networks' layers read
  as ``core.faces.network_features`` does by default) and which net wins.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FACE_NETWORK_PAIR", "category_cluster_ari", "face_region_winners", "layer_recovery"]

#: The two face networks compared in each face region.
FACE_NETWORK_PAIR = ("face_identity", "face_expression")


def layer_recovery(result, subject, *, q_max: float = 0.05, tolerance: int = 2) -> dict:
    """Best layer within ``tolerance`` layers of the declared home layer.

    Parameters
    ----------
    result : core.experiments.ExperimentResult
        Of a ResNet-50 (``wen18``) encoding model.
    subject : core.subject.SimulatedSubject
        The subject the experiment simulated.

    Returns
    -------
    dict with ``refit`` and ``attribution`` (fractions in [0, 1]), ``n_vertices`` (vertices scored: driven by
    a ResNet-50 layer, q < q_max, refitted) and ``per_region`` (region label → refit fraction, n).
    """
    from core.subject import declared_maps

    home = declared_maps(subject.spec, subject.roi_vertices, subject.n_vertices)["home_layer"] - 1
    refit, attribution = result.maps["best_layer_refit"], result.maps["best_layer"]
    scored = np.isfinite(home) & (result.maps["q"] < q_max) & np.isfinite(refit)

    def near(best, where):
        return float(np.mean(np.abs(best[where] - home[where]) <= tolerance)) if where.any() else float("nan")

    per_region, driver_of = {}, subject.driver_map()
    for index, driver in enumerate(subject.spec.drivers):
        mine = scored & (driver_of == index)
        if driver.network == "resnet50":
            per_region[driver.label] = (near(refit, mine), int(mine.sum()))
    return {"refit": near(refit, scored), "attribution": near(attribution, scored), "n_vertices": int(scored.sum()),
            "per_region": per_region}


def category_cluster_ari(result, *, random_state: int = 0) -> dict:
    """Clusters of the category maps against the library's groups (circular: preferences are declared).

    Predictable vertices as the paper (q < 0.01, r > 0.2), relaxed to q < 0.05, r > 0 when fewer than 100.

    Returns
    -------
    dict with ``ari``, ``k`` (clusters chosen), ``n_vertices`` and ``categories``.
    """
    from sklearn.metrics import adjusted_rand_score

    from core import rsa
    from core.clustering import cluster_categories

    mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.2, q_max=0.01)
    if mask.sum() < 100:
        mask = rsa.predictable_vertices(result.maps["r"], result.maps["q"], r_min=0.0, q_max=0.05)
    S = rsa.category_similarity(result.category_maps, mask=mask, centre=True)
    clustering = cluster_categories(S, k_range=range(2, min(11, len(S))), random_state=random_state)
    labels, groups = np.asarray(result.labels), np.asarray(result.groups)
    truth = [max(set(groups[labels == c]), key=list(groups[labels == c]).count) for c in result.categories]
    return {"ari": float(adjusted_rand_score(truth, clustering.labels)), "k": int(clustering.best_k),
            "n_vertices": int(mask.sum()), "categories": list(result.categories)}


def face_region_winners(subject, *, n_faces: int = 48, n_repeats: int = 4, random_state: int = 0,
                        device: str = "cpu") -> dict:
    """Identity vs expression net in each region the spec drives by one of them.

    Parameters
    ----------
    subject : core.subject.SimulatedSubject
        Calibrated.

    Returns
    -------
    dict of region (``"FFC_R"``) → dict with ``declared`` (network), ``r`` (network → best-layer Spearman r of the
    RDMs, pooled over ``n_repeats`` noisy repetitions), ``best_layer`` (network → layer) and ``winner``.
    """
    from core import faces
    from core.rsa import compute_rdm

    regions = {f"{d.roi}_{d.hemisphere}" if d.hemisphere else d.roi: d.network for d in subject.spec.drivers
               if d.network in FACE_NETWORK_PAIR}
    if not regions:
        raise ValueError(f"No region of {subject.spec.name} is driven by {FACE_NETWORK_PAIR}")
    face_set = faces.make_default_face_set(n_faces, random_state=random_state)
    rdms = {}
    for network in FACE_NETWORK_PAIR:
        features = faces.network_features(face_set, network, device=device)
        rdms[network] = {layer: compute_rdm(X, pattern_labels=face_set.ids) for layer, X in features.items()}
    brain = faces.simulated_region_rdms(subject, face_set, list(regions), n_repeats=n_repeats,
                                        random_state=random_state, device=device)
    comparison = faces.compare_networks_to_regions(brain, rdms, n_permutations=0)
    out = {}
    for i, region in enumerate(comparison.regions):
        r, best = {}, {}
        for j, network in enumerate(comparison.networks):
            values = comparison.r[i, j, :len(comparison.layers[j])]
            best[network] = comparison.layers[j][int(np.nanargmax(values))]
            r[network] = float(np.nanmax(values))
        out[region] = {"declared": regions[region], "r": r, "best_layer": best, "winner": max(r, key=r.get)}
    return out
