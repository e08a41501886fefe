"""The identity vs expression analysis (Schwartz et al. 2023) on the default face set and the simulated subject.

:func:`run_face_analysis` compares the simulated subject's face regions with every layer of the face networks;
:func:`compare_uploaded_regions` compares a user's region responses with the same network RDMs. Both share
:func:`compare_face_regions`: the comparisons and the identity − expression difference with its bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.errors import UserError
from core.runtime import span
from core.workflows import report_fraction

if TYPE_CHECKING:  # core.rsa is imported where RDMs are made (it compiles with numba); the store reads the class
    from core.rsa import RDM

__all__ = [
    "FACE_DIFFERENCE_BOOTSTRAPS",
    "FACE_DIFFERENCE_NETWORKS",
    "FACE_REGIONS",
    "N_DEFAULT_FACES",
    "FaceAnalysisResult",
    "FaceComparison",
    "compare_face_regions",
    "compare_uploaded_regions",
    "run_face_analysis",
]

#: Regions of the simulated subject compared with the face networks (area_hemisphere).
FACE_REGIONS = ("FFC_R", "STSvp_R", "FFC_L", "V1_L", "PHA1_R")
#: Faces of the default set (12 generated identities × 4 variants).
N_DEFAULT_FACES = 48
#: The two networks of the identity − expression difference test, and its stimulus bootstraps.
FACE_DIFFERENCE_NETWORKS = ("face_identity", "face_expression")
FACE_DIFFERENCE_BOOTSTRAPS = 1000


@dataclass(frozen=True)
class FaceComparison:
    """Regions against network layers (:func:`compare_face_regions`).

    ``r``, ``p``: (n_regions, n_networks, n_layers_max), NaN past a network's last layer; ``ceiling_lower``,
    ``ceiling_upper``, ``difference``, ``difference_low``, ``difference_high``, ``difference_p``: (n_regions,).
    ``difference_layers``: (identity layer, expression layer) per region. ``meta``: where the regions came
    from (an upload's ``filename`` and ``shapes``; empty for the simulated subject).
    """

    regions: tuple[str, ...]
    networks: tuple[str, ...]
    layers: tuple[tuple[str, ...], ...]
    r: np.ndarray
    p: np.ndarray
    ceiling_lower: np.ndarray
    ceiling_upper: np.ndarray
    difference: np.ndarray
    difference_low: np.ndarray
    difference_high: np.ndarray
    difference_p: np.ndarray
    difference_layers: tuple[tuple[str, str], ...]
    difference_n_bootstrap: int
    meta: dict


@dataclass(frozen=True)
class FaceAnalysisResult(FaceComparison):
    """The default analysis: the simulated regions' :class:`FaceComparison` and the face set behind it.

    ``images``: (n_faces, 64, 64, 3) uint8; ``network_rdms``: every network layer's RDM (correlation distance
    over the faces, in ``ids`` order), one stacked ``core.rsa.RDM`` with the per-RDM descriptors ``network`` and
    ``layer`` in the order of ``networks`` and ``layers`` (uploads are compared with them); ``ids``,
    ``identities``, ``expressions``: per face; ``label_sources``: label → where it comes from. Per network
    (face_identity, face_expression): ``decode_identity`` and ``decode_expression`` (cross-decoding accuracy
    per layer), ``chance`` ([identity, expression]), ``congruence`` and ``congruence_chance`` per layer;
    ``notes``: networks for which those could not be computed, and why.
    """

    images: np.ndarray
    network_rdms: RDM
    ids: tuple[str, ...]
    identities: tuple[str, ...]
    expressions: tuple[str, ...]
    label_sources: dict
    decode_identity: dict
    decode_expression: dict
    chance: dict
    congruence: dict
    congruence_chance: dict
    notes: tuple[str, ...]


def compare_face_regions(brain: dict, network_rdms: RDM, progress=None, meta: dict | None = None) -> FaceComparison:
    """Every region against every network layer, and the identity − expression difference per region.

    Comparisons: the Model–Brain RSA engine (``core.model_brain_rsa.compare_models_to_brain``): Spearman r (mean
    over the region's RDMs), 1,000 stimulus permutations of the region's mean RDM, leave-one-out noise ceiling.
    Difference: ``core.faces.identity_vs_expression_difference`` between the layer of the identity net and
    the layer of the expression net (``FACE_DIFFERENCE_NETWORKS``) that each best match the region (highest
    mean r), on 1,000 stimulus bootstraps seeded alike for every region (95 % percentile interval,
    two-sided p). The layers are chosen on all stimuli and kept in the bootstrap, so the interval does not
    include the layer choice, and the network with more layers (identity: 16, expression: 5) has more
    chances to match.

    Parameters
    ----------
    brain : dict of str to core.rsa.RDM
        Region → its RDM(s) (repetitions or subjects stacked).
    network_rdms : core.rsa.RDM
        Every network layer's RDM over the same stimuli, stacked, with the per-RDM descriptors ``network`` and
        ``layer``; each network's layers in depth order.
    progress : callable(fraction, message), optional
    meta : dict, optional
        Stored as the result's ``meta``.
    """
    from core import faces
    from core.model_brain_rsa import compare_models_to_brain

    networks = tuple(dict.fromkeys(network_rdms.rdm_descriptors["network"]))
    models = {(net, rdm.rdm_descriptors["layer"][0]): rdm for net in networks
              for rdm in network_rdms.subset_rdms("network", net)}  # each network's layers together, in depth order
    network_layers = tuple(tuple(layer for n, layer in models if n == net) for net in networks)
    engine = compare_models_to_brain(models, brain, method="spearman", n_permutations=1000, n_bootstrap=0, seed=0,
                                     progress=span(progress, 0.0, 0.5))
    regions = engine.regions
    r = np.full((len(regions), len(networks), max(map(len, network_layers))), np.nan)
    p = np.full_like(r, np.nan)
    row = 0
    for j, layers in enumerate(network_layers):  # engine rows: each network's layers in depth order
        r[:, j, :len(layers)] = engine.r[row:row + len(layers)].T
        p[:, j, :len(layers)] = engine.p[row:row + len(layers)].T
        row += len(layers)
    columns = [networks.index(net) for net in FACE_DIFFERENCE_NETWORKS]
    tests, chosen = [], []
    for i, region in enumerate(regions):
        report_fraction(progress, 0.5 + 0.5 * i / len(regions), f"identity − expression bootstrap: {region}")
        layers = [network_layers[j][int(np.nanargmax(r[i, j]))] for j in columns]
        identity, expression = (models[pair] for pair in zip(FACE_DIFFERENCE_NETWORKS, layers, strict=True))
        tests.append(faces.identity_vs_expression_difference(
            {region: brain[region]}, identity, expression, method="spearman",
            n_bootstrap=FACE_DIFFERENCE_BOOTSTRAPS, random_state=0))
        chosen.append(tuple(layers))
    return FaceComparison(
        regions=tuple(regions), networks=networks, layers=network_layers, r=r, p=p,
        ceiling_lower=engine.ceiling_lower, ceiling_upper=engine.ceiling_upper,
        **{f"difference{suffix}": np.concatenate([getattr(t, name) for t in tests])
           for suffix, name in (("", "observed"), ("_low", "ci_low"), ("_high", "ci_high"), ("_p", "p"))},
        difference_layers=tuple(chosen), difference_n_bootstrap=FACE_DIFFERENCE_BOOTSTRAPS, meta=dict(meta or {}))


def _default_faces_and_subject(max_images: int | None, progress):
    """The calibrated simulated subject, the default face set and each face network's layer features (``core.faces.network_features``' default reduction)."""
    from core import faces
    from core.experiments import calibrated_default_subject
    from core.models import build_model

    *_, subject, _, _, _ = calibrated_default_subject(max_images=max_images, progress=span(progress, 0.0, 0.5))
    report_fraction(progress, 0.5, "generating and labelling the default faces")
    face_set = faces.make_default_face_set(N_DEFAULT_FACES, random_state=0)
    features = {}
    for i, (name, network) in enumerate(faces.FACE_NETWORKS.items()):
        report_fraction(progress, 0.55 + 0.3 * i / len(faces.FACE_NETWORKS), f"{name}: layer features and RDMs")
        features[name] = faces.network_features(face_set, build_model(name), layers=network.layers)
    return subject, face_set, features


def run_face_analysis(*, max_images: int | None = None, progress=None) -> FaceAnalysisResult:
    """The identity vs expression analyses on the default face set.

    Faces: 48 DCGAN faces (12 generated identities × 4 variants) with model-made expression labels.
    Brain: the calibrated simulated subject's regions (4 noisy repetitions; ``max_images`` library images
    calibrate it, all when None), whose declared drivers are the truth (FFC R ← identity net, STSvp R ←
    expression net); they read the faces as they read any image. The networks' layers are read as
    ``core.faces.network_features`` does by default (whole maps where small, channel means of large ones), not
    chosen to favour the declared network. The comparisons and the identity − expression difference are :func:`compare_face_regions`'s;
    every layer's RDM is kept (``network_rdms``) so that uploaded regions are compared with the same network
    RDMs. ``progress(fraction, message)``.
    """
    from core import faces
    from core.rsa import RDM, compute_rdm

    subject, face_set, features = _default_faces_and_subject(max_images, progress)
    layers = [(name, layer) for name, per_layer in features.items() for layer in per_layer]
    network_rdms = RDM(np.concatenate([compute_rdm(features[name][layer], metric="correlation").dissimilarities
                                       for name, layer in layers]), "correlation", face_set.ids,
                       rdm_descriptors={"network": [name for name, _ in layers], "layer": [layer for _, layer in layers]})
    report_fraction(progress, 0.85, "simulated region responses, comparisons, identity − expression bootstrap")
    brain = faces.simulated_region_rdms(subject, face_set, FACE_REGIONS, n_repeats=4, random_state=0)
    comparison = compare_face_regions(brain, network_rdms, progress=span(progress, 0.85, 0.95))
    report_fraction(progress, 0.95, "decoding, congruence")
    per_network = {name: {} for name in ("decode_identity", "decode_expression", "chance", "congruence",
                                         "congruence_chance")}
    notes = []
    for name in ("face_identity", "face_expression"):
        try:
            decoding = faces.decoding_transfer(features[name], face_set.identities, face_set.expressions)
            per_network["decode_identity"][name] = decoding.identity_accuracy
            per_network["decode_expression"][name] = decoding.expression_accuracy
            per_network["chance"][name] = [decoding.identity_chance, decoding.expression_chance]
            congruence = faces.subspace_congruence(features[name], face_set.identities, face_set.expressions)
            per_network["congruence"][name] = congruence.congruence
            per_network["congruence_chance"][name] = congruence.chance
        except ValueError as exc:
            notes.append(f"{name}: {exc}")
    report_fraction(progress, 1.0, "done")
    return FaceAnalysisResult(
        **{name: getattr(comparison, name) for name in FaceComparison.__dataclass_fields__},
        images=np.asarray(face_set.images), network_rdms=network_rdms, ids=tuple(face_set.ids),
        identities=tuple(face_set.identities), expressions=tuple(face_set.expressions),
        label_sources=dict(face_set.label_sources), notes=tuple(notes), **per_network)


def compare_uploaded_regions(patterns: dict, analysis: FaceAnalysisResult, *, meta: dict | None = None,
                             progress=None) -> FaceComparison:
    """Uploaded region responses against the network RDMs of a finished default analysis.

    ``patterns``: region → (n_repeats_or_subjects, n_faces, n_channels), rows in ``analysis.ids`` order; each
    repeat's RDM is the correlation distance. Compared as the default analysis (:func:`compare_face_regions`).
    """
    from core import faces

    if not patterns:
        raise UserError("No region responses were given")
    report_fraction(progress, 0.05, "region RDMs")
    brain = faces.brain_rdms_from_patterns(patterns, pattern_labels=analysis.network_rdms.pattern_labels)
    return compare_face_regions(brain, analysis.network_rdms, progress=span(progress, 0.1, 1.0), meta=meta)
