"""The simulated subject: a virtual participant whose cortex responds to images by a declared rule.

No natural-image fMRI data are reachable offline, so the studio's default subject is simulated from a
ground truth declared in a small JSON spec. Two specs ship (:data:`SUBJECT_SPECS`):

``"v3"`` (default, ``data/simulated_subject.json``): "receptive fields"
    Each region reads the *whole feature maps* of its home layer through receptive fields
    (``core.retinotopy``: retinotopy of V1–V3 derived from the surface, sizes growing with
    eccentricity and up the hierarchy), with a compressive exponent per channel; some regions are
    driven by networks the default encoding model does not use (EfficientNet-Lite0 in the dorsal
    stream, the face-api identity and expression nets in the right FFC and STSvp). Noise is the same
    everywhere on cortex and spatially smooth (white noise averaged over mesh neighbours, rescaled to
    its declared variance), with a high declared SNR (2: so that the 160-image experiment of tests and
    quick runs finds predicted vertices; ``data/README.md``). An encoding model on any network's features
    is only approximately right.
``"v2"`` (``data/simulated_subject_v2.json``): "teaching: exactly representable"
    Each region is a linear readout of the channel means of one layer; every vertex has the declared
    SNR and independent noise. A model given the same channel means can represent it exactly, so
    recovery on it only shows that ridge works when the model is exactly right.

Signal of vertex v of region r (home layer ℓ) for image i::

    s_v(i) = amplitude_r * z_r(i, unit(v)) @ w_v
    z_r    = whitened PCA scores (fitted on calibration images) of what r reads of ℓ:
             v3: per receptive-field unit, core.retinotopy.ReceptiveFieldReading; v2: the channel means
    w_v    = normalise(sqrt(1 - p²) * smooth_random_v + p * preferred_direction_r)

and a single-trial response is ``s_v(i) + e``: v2: ``e ~ N(0, var(s_v) / snr)`` independent per vertex
(var over the calibration set); v3: ``e`` spatially smooth with variance ``1 / snr`` everywhere, so a
vertex at its region's typical drive with amplitude 1 has the declared SNR and weaker-driven vertices
(fields off the image, low amplitude) less. The noise-free signal is kept, so the true noise ceiling is
known. :meth:`SimulatedSubject.video_experiment` turns frame-wise signals into BOLD time series
(canonical HRF, averaged per TR) before the noise.
"""

from __future__ import annotations

from core.subject.declared import (
    DECLARED_MAPS,
    construction_notes,
    declared_maps,
)
from core.subject.simulated import (
    SimulatedSubject,
    fslr_roi_vertices,
    load_default_subject,
    subject_features,
    true_noise_ceiling,
)
from core.subject.spec import (
    DEFAULT_SPEC_PATH,
    NETWORK_NAMES,
    READOUTS,
    SUBJECT_SPECS,
    RegionDriver,
    SubjectSpec,
    load_subject_spec,
)
from core.subject.spec import NOISE_MODELS as NOISE_MODELS

__all__ = [
    "DECLARED_MAPS",
    "DEFAULT_SPEC_PATH",
    "NETWORK_NAMES",
    "READOUTS",
    "SUBJECT_SPECS",
    "RegionDriver",
    "SimulatedSubject",
    "SubjectSpec",
    "construction_notes",
    "declared_maps",
    "fslr_roi_vertices",
    "load_default_subject",
    "load_subject_spec",
    "subject_features",
    "true_noise_ceiling",
]
