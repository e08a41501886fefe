"""Face reconstruction from brain patterns through a latent space (VanRullen & Reddy 2019).

The method has four steps:

1. A **latent space** gives every face a code and turns codes back into images. Three are
   registered in :data:`LATENT_SPACES` and share one interface (``fit(images)``,
   ``transform(images) -> (n, d)``, ``inverse_transform(latents) -> (n, h, w, 3)``, fitted ``latent_dim_``;
   ``fit`` writes nothing to disk):

   - :class:`GanLatentSpace`: the zoo's frozen DCGAN generator ``G`` (z of size 100, 64 × 64
     faces) and an encoder ``E`` trained here, self-supervised on the generator's own samples;
   - :class:`VaeLatentSpace`: a convolutional VAE trained on the given faces;
   - :class:`PcaLatentSpace`: eigenfaces, the paper's baseline.

2. :class:`BrainToLatentDecoder` learns a linear map (ridge, penalty chosen per latent dimension by
   cross-validation) from multi-voxel patterns to the latent codes of the training faces.
3. The codes it predicts for new faces are decoded into reconstructions.
4. Reconstructions are scored by :func:`pairwise_identification` (ties count one half; permutation p-value
   against chance), and the brain-decoded latents classify gender (:func:`gender_decoding`, permutation
   p-value against chance).

:func:`run_reconstruction_experiment` runs all steps for one latent space and the PCA baseline on the
same train/test split. :func:`simulate_face_responses` makes a linear "brain" whose ground truth is
the latent code, for tests and classroom demos.

Images are numpy arrays of shape ``(n_faces, height, width, 3)`` (RGB): ``uint8`` in 0..255 or
float in [0, 1]; every output image is float32 in [0, 1]. Brain responses are
``(n_faces, n_voxels)``. Computation runs in torch, float32, on ``device`` ("cpu" default).
"""

from __future__ import annotations

from core.reconstruction._common import (
    gaussian_kl,
)
from core.reconstruction.decoder import (
    BrainToLatentDecoder,
    split_faces,
)
from core.reconstruction.experiment import (
    AccuracyCurve,
    ReconstructionResult,
    accuracy_vs_snr,
    accuracy_vs_training_size,
    run_reconstruction_experiment,
    simulate_face_responses,
)
from core.reconstruction.latent_spaces import (
    LATENT_SPACES,
    GanLatentSpace,
    PcaLatentSpace,
    VaeLatentSpace,
)
from core.reconstruction.scoring import (
    FEATURE_SPACES,
    GENDER_CS,
    GenderDecoding,
    PairwiseIdentification,
    gender_decoding,
    identity_feature_fn,
    pairwise_identification,
)
from core.reconstruction.traversal import (
    latent_direction,
    latent_traversal,
)

__all__ = [
    "FEATURE_SPACES",
    "GENDER_CS",
    "LATENT_SPACES",
    "AccuracyCurve",
    "BrainToLatentDecoder",
    "GanLatentSpace",
    "GenderDecoding",
    "PairwiseIdentification",
    "PcaLatentSpace",
    "ReconstructionResult",
    "VaeLatentSpace",
    "accuracy_vs_snr",
    "accuracy_vs_training_size",
    "gaussian_kl",
    "gender_decoding",
    "identity_feature_fn",
    "latent_direction",
    "latent_traversal",
    "pairwise_identification",
    "run_reconstruction_experiment",
    "simulate_face_responses",
    "split_faces",
]
