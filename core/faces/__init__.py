"""Identity- vs expression-trained networks against brain representations (Schwartz et al. 2023).

Schwartz, Alreja, Richardson, Ghuman & Anzellotti (J Neurosci 2023) compared deep networks
trained to recognise face identity with networks trained to recognise facial expression, layer by
layer, against intracranial (iEEG) face responses. This module holds the compute side:

- Face sets: :class:`FaceSet` (images + identity/expression labels + where each label came from);
  :func:`load_face_folder`, :func:`load_face_csv`, :func:`load_yale_faces`, and the embedded default
  :func:`make_default_face_set` (DCGAN faces whose labels are **made by networks**, see
  :func:`label_faces`).
- Face preparation: :func:`prepare_faces` / :func:`prepare_face_set` (detect → 68 landmarks → rotate
  the eyes level → square crop), reporting the images where no face is found.
- Network representations: :data:`FACE_NETWORKS` (identity net, two expression nets, ResNet-50 as a
  non-face control), :func:`network_features`, :func:`network_rdms`.
- Brain representations: :func:`brain_rdms_from_patterns` (iEEG electrodes or fMRI voxels ×
  stimuli, or ready RDMs),
  :func:`simulated_region_patterns` and :func:`simulated_region_rdms` (the simulated subject's regions).
- Statistics: :func:`compare_networks_to_regions` (region × network × layer similarity,
  condition-label permutation p, noise ceiling), :func:`identity_vs_expression_difference`
  (stimulus bootstrap of the difference of two model–brain correlations),
  :func:`decoding_transfer` (identity decoded across expressions, expression across identities) and
  :func:`subspace_congruence` (Tucker's congruence of the identity and expression subspaces).

Arrays are numpy at the boundary, stimuli on the first axis; results are float64.
"""

from __future__ import annotations

from core.faces.brain import (
    brain_rdms_from_patterns,
    simulated_region_patterns,
    simulated_region_rdms,
)
from core.faces.comparison import (
    FACE_COMPARE_METHODS,
    DifferenceTest,
    NetworkRegionComparison,
    compare_networks_to_regions,
    identity_vs_expression_difference,
)
from core.faces.decoding import (
    CLASSIFIERS,
    DecodingTransfer,
    decoding_transfer,
)
from core.faces.decoding import _standardised_components as _standardised_components
from core.faces.networks import (
    FACE_NETWORKS,
    FEATURE_REDUCTIONS,
    FULL_MAX_UNITS,
    FaceNetwork,
    network_features,
    network_rdms,
)
from core.faces.preparation import (
    FaceLabels,
    PreparedFaces,
    label_faces,
    make_default_face_set,
    prepare_face_set,
    prepare_faces,
)
from core.faces.sets import (
    CSV_COLUMNS,
    USER_LABELS,
    YALE_CONDITIONS,
    YALE_EXPRESSIONS,
    FaceSet,
    load_face_csv,
    load_face_folder,
    load_yale_faces,
)
from core.faces.subspace import (
    SUBSPACE_METHODS,
    SubspaceCongruence,
    subspace_congruence,
    tucker_congruence,
)

__all__ = [
    "CLASSIFIERS",
    "CSV_COLUMNS",
    "FACE_COMPARE_METHODS",
    "FACE_NETWORKS",
    "FEATURE_REDUCTIONS",
    "FULL_MAX_UNITS",
    "SUBSPACE_METHODS",
    "USER_LABELS",
    "YALE_CONDITIONS",
    "YALE_EXPRESSIONS",
    "DecodingTransfer",
    "DifferenceTest",
    "FaceLabels",
    "FaceNetwork",
    "FaceSet",
    "NetworkRegionComparison",
    "PreparedFaces",
    "SubspaceCongruence",
    "brain_rdms_from_patterns",
    "compare_networks_to_regions",
    "decoding_transfer",
    "identity_vs_expression_difference",
    "label_faces",
    "load_face_csv",
    "load_face_folder",
    "load_yale_faces",
    "make_default_face_set",
    "network_features",
    "network_rdms",
    "prepare_face_set",
    "prepare_faces",
    "simulated_region_patterns",
    "simulated_region_rdms",
    "subspace_congruence",
    "tucker_congruence",
]
