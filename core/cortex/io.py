"""Readers and writers for brain data: :func:`load_brain_data` over :data:`BRAIN_DATA_LOADERS` (CIFTI-2, GIFTI,
NIfTI, ``.npz``, ``.mat``), :func:`volume_to_fsaverage5`, :func:`save_gifti` and :func:`save_cifti_dscalar`.
"""

from __future__ import annotations

import xml.parsers.expat
import zlib
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import scipy.io

from core._validation import check_choice, check_finite_array
from core.cortex.surfaces import (
    _FSAVERAGE5_MESH_VERTICES,
    _FSLR_MESH_VERTICES,
    _HEMISPHERES,
    _MESH_SPACES,
    _MESH_VERTICES,
    N_VERTICES,
    _fslr_vertex_index,
)
from core.errors import UserError, choices_text

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


def _map_names(names, n_maps: int) -> list[str]:
    """One name per map: ``names`` as str, or ``"map_0"``, ``"map_1"``..."""
    names = [f"map_{i}" for i in range(n_maps)] if names is None else [str(n) for n in names]
    if len(names) != n_maps:
        raise ValueError(f"{len(names)} names for {n_maps} maps")
    return names


def _data_vertex_index(space: str) -> tuple[np.ndarray, np.ndarray]:
    """Mesh vertex of each left and right data vertex of ``space``."""
    if space == "fsLR32k":
        return _fslr_vertex_index()
    every = np.arange(_FSAVERAGE5_MESH_VERTICES)
    return every, every


def save_gifti(values, path_prefix, *, names=None, meta=None) -> tuple[Path, Path]:
    """Write fsLR-32k or fsaverage5 maps as left/right ``.func.gii`` files on the full meshes.

    Parameters
    ----------
    values : ndarray of shape (n_vertices,) or (n_maps, n_vertices)
        Values left then right: 59,412 fsLR-32k grayordinates (written on the 32,492-vertex
        meshes) or 20,484 fsaverage5 vertices (10,242 per hemisphere).
    path_prefix : str or Path
        Files are ``{path_prefix}.L.func.gii`` and ``{path_prefix}.R.func.gii``.
    names : sequence of str, optional
        One name per map, written as each data array's ``Name`` metadata.
    meta : mapping of str to str, optional
        Metadata written on every data array (e.g. ``{"space": "fsLR32k", "units": "r"}``).

    Returns
    -------
    (Path, Path)
        Left and right file; one data array per map, fsLR-32k medial wall vertices are 0.
        ``load_brain_data(left, path_right=right)`` reads them back.
    """
    maps, space = _as_maps(values)
    array_meta = [{**({} if names is None else {"Name": name}), **dict(meta or {})}
                  for name in _map_names(names, len(maps))]
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
        for row, row_meta in zip(on_mesh, array_meta, strict=True):
            img.add_gifti_data_array(nib.gifti.GiftiDataArray(
                row, intent="NIFTI_INTENT_NONE", datatype="float32", meta=nib.gifti.GiftiMetaData(row_meta)))
        path = Path(f"{path_prefix}.{hemi}.func.gii")
        nib.save(img, path)
        paths.append(path)
    return paths[0], paths[1]


def save_cifti_dscalar(values, path, names=None, *, meta=None) -> Path:
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
    meta : mapping of str to str, optional
        Metadata of every map (e.g. ``{"space": "fsLR32k", "units": "r"}``).

    Returns
    -------
    Path
    """
    maps, space = _as_maps(values)
    path = Path(path)
    if not path.name.endswith(".dscalar.nii"):
        raise ValueError(f"path {path.name!r} must end in '.dscalar.nii'")
    names = _map_names(names, len(maps))
    index_left, index_right = _data_vertex_index(space)
    n_mesh = _MESH_VERTICES[space]
    brain_models = nib.cifti2.BrainModelAxis.from_surface(
        index_left, n_mesh, "CortexLeft"
    ) + nib.cifti2.BrainModelAxis.from_surface(index_right, n_mesh, "CortexRight")
    scalars = nib.cifti2.ScalarAxis(names, meta=[dict(meta or {}) for _ in names])
    img = nib.cifti2.Cifti2Image(maps, header=(scalars, brain_models))
    nib.save(img, path)
    return path
