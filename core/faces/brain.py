"""Brain representations: RDMs of recorded patterns and of the simulated subject's face regions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core._validation import check_choice, check_finite_array
from core.faces.sets import FaceSet
from core.rsa import (
    RDM,
    RDM_METRICS,
    compute_rdm,
)


def brain_rdms_from_patterns(patterns: Mapping[str, object], *, metric: str = "correlation",
                             pattern_labels: Sequence | None = None) -> dict[str, RDM]:
    """RDM(s) of each brain region from its response patterns (or pass ready RDMs through).

    Parameters
    ----------
    patterns : mapping of str to ndarray or RDM
        Per region, one of:

        - ndarray of shape (n_stimuli, n_channels): one pattern per stimulus (iEEG electrodes ×
          stimuli transposed, fMRI voxels) → one RDM;
        - ndarray of shape (n_subjects, n_stimuli, n_channels): one RDM per subject or repetition
          (stacked; enables the noise ceiling). For ``metric="crossnobis"`` the leading axis is the
          runs of one subject and the shapes are one axis longer;
        - an ``core.rsa.RDM``: used as it is (its pattern labels must match the others').
    metric : str
        Key of ``core.rsa.RDM_METRICS``.
    pattern_labels : sequence of length n_stimuli, optional
        Stimulus ids (e.g. ``FaceSet.ids``); defaults to ``0 .. n_stimuli - 1``.

    Returns
    -------
    dict of str to RDM
        ``descriptors["region"]`` names the region.
    """
    check_choice("metric", metric, RDM_METRICS)
    if not patterns:
        raise ValueError("patterns is empty: give at least one region")
    spec = RDM_METRICS[metric]
    out = {}
    for region, value in patterns.items():
        if isinstance(value, RDM):
            out[region] = value
            continue
        x = check_finite_array(f"patterns[{region!r}]", value)
        if x.ndim == spec.ndim:
            stack = x[None]
        elif x.ndim == spec.ndim + 1:
            stack = x
        else:
            raise ValueError(f"patterns[{region!r}] must have {spec.ndim} or {spec.ndim + 1} dimensions for "
                             f"metric={metric!r}, got shape {x.shape}")
        rdms = [compute_rdm(one, metric=metric, pattern_labels=pattern_labels) for one in stack]
        out[region] = RDM(np.concatenate([r.dissimilarities for r in rdms]), rdms[0].measure,
                          rdms[0].pattern_labels, {"region": str(region)})
    labels = {rdm.pattern_labels for rdm in out.values()}
    if len(labels) > 1:
        raise ValueError(f"Regions have different stimuli: {sorted(len(x) for x in labels)} conditions; "
                         "use RDM.subset to align them")
    return out


def simulated_region_patterns(subject, features: Mapping[tuple[str, str], np.ndarray], regions: Sequence[str], *,
                              n_repeats: int = 1, random_state=None) -> dict[str, np.ndarray]:
    """Noisy responses of a simulated subject's regions to stimuli.

    The subject's noise-free signal (``subject.signal(features)``) plus its Gaussian measurement
    noise (``subject.measure``), sliced to the vertices of each region (both hemispheres).

    Parameters
    ----------
    subject : core.subject.SimulatedSubject
        Calibrated.
    features : mapping of (network, layer) to ndarray of shape (n_stimuli, n_units)
        Features of the stimuli for every source the subject's spec needs.
    regions : sequence of str
        ROI names of the subject (``subject.roi_vertices`` keys' first element), both hemispheres;
        or ``"NAME_L"`` / ``"NAME_R"`` for one hemisphere.
    n_repeats : int
        Independent noisy repetitions (>= 2 gives a noise ceiling).
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    dict of str to ndarray of shape (n_repeats, n_stimuli, n_region_vertices), float32
        Ready for :func:`brain_rdms_from_patterns` (one RDM per repetition).
    """
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    selections = {region: _region_vertices(subject.roi_vertices, region) for region in regions}
    unknown = [region for region, parts in selections.items() if not parts]
    if unknown or not regions:
        known = sorted({roi for roi, _ in subject.roi_vertices})
        raise ValueError(f"Unknown regions {unknown or list(regions)}; choose from {known} "
                         "(append _L or _R for one hemisphere)")
    measured = subject.measure(subject.signal(features), n_repeats=n_repeats, random_state=random_state)
    return {region: measured[:, :, np.unique(np.concatenate(parts)).astype(int)]
            for region, parts in selections.items()}


def simulated_region_rdms(subject, face_set: FaceSet, regions: Sequence[str], *,
                          features: Mapping[str, Mapping[str, np.ndarray]] | None = None, n_repeats: int = 4,
                          metric: str = "correlation", random_state=None, device: str = "cpu") -> dict[str, RDM]:
    """RDMs of a simulated subject's regions viewing a face set, one per noisy repetition.

    The subject reads the faces as it reads any image (``core.subject.subject_features``: for the default
    subject, its declared networks' whole feature maps through its receptive fields); nothing is chosen
    so that a region matches its declared network better.

    Parameters
    ----------
    subject : core.subject.SimulatedSubject
        Calibrated.
    face_set : FaceSet
    regions : sequence of str
        See :func:`simulated_region_patterns`.
    features : mapping of str to (mapping of str to ndarray of shape (n_faces, n_features)), optional
        Network → layer → the subject's reading of ``face_set`` (``subject_features``), already at hand.
    n_repeats : int
        Noisy repetitions (>= 2 gives a noise ceiling).
    metric : str
        Key of ``core.rsa.RDM_METRICS`` (2-D metrics).
    random_state : int, numpy.random.Generator or None
    device : str

    Returns
    -------
    dict of str to RDM
        ``n_repeats`` stacked RDMs per region; pattern labels are the face set's ids.
    """
    from core.subject import subject_features

    if features is None:
        features = subject_features(subject, face_set.images, device=device)
    missing = [source for source in subject.spec.feature_sources
               if source[1] not in features.get(source[0], {})]
    if missing:
        raise ValueError(f"features lack the subject's readings of {missing}; compute them with "
                         "core.subject.subject_features")
    drivers = {source: features[source[0]][source[1]] for source in subject.spec.feature_sources}
    patterns = simulated_region_patterns(subject, drivers, regions, n_repeats=n_repeats, random_state=random_state)
    return brain_rdms_from_patterns(patterns, metric=metric, pattern_labels=face_set.ids)


def _region_vertices(roi_vertices, region: str) -> list:
    """Vertex arrays of ``region`` ("FFC": both hemispheres; "FFC_R": right only)."""
    name, _, hemisphere = region.rpartition("_") if region.endswith(("_L", "_R")) else (region, "", "")
    return [v for (roi, hemi), v in roi_vertices.items() if roi == name and hemisphere in ("", hemi)]
