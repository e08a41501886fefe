"""Readers of imported responses: row blocks of (presentations × columns), float32, without holding a file twice.

Every reader gives a :class:`Responses`: a row source (``n_rows``, ``n_columns``, ``read(start, stop)``), the
space its columns lie on and the data vertex of each column. ``.npy`` files are read block by block with plain
file reads (not a memory map, so the pages read do not count in the process's resident memory); CIFTI and
MGH files through nibabel's lazy array proxies; GIFTI and ``.npz`` files are read whole (once). A 4-D NIfTI of
MNI betas is projected onto fsaverage5 one block of volumes at a time (``core.cortex.volume_to_fsaverage5``).

No reader ever unpickles: ``.npy``/``.npz`` files holding Python objects are refused.
"""

from __future__ import annotations

import functools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError, choices_text
from core.studies.study import SPACES, space_of_columns

__all__ = ["ALGONAUTS_ROI_TABLES_PATH", "MESH_SPACES", "RESPONSE_PATTERNS", "Responses", "algonauts_roi_tables",
           "read_hemisphere_pair", "read_npy", "read_responses_file", "write_npy_header"]

#: Vertices per hemisphere of a mesh file → its space (fsLR-32k files are reduced to the grayordinates).
MESH_SPACES = {32_492: "fsLR32k", 10_242: "fsaverage5", 163_842: "fsaverage"}

#: Accepted responses files of the folder layout, for messages.
RESPONSE_PATTERNS = ("responses.npy", "responses.npz", "responses.dscalar.nii",
                     "responses.L.func.gii + responses.R.func.gii", "responses.L.mgh + responses.R.mgh (or .mgz)",
                     "responses.nii.gz (4-D, MNI)")

_PICKLE_ADVICE = ("which the studio never loads (unpickling can run code); save a plain numeric array, e.g. "
                  "numpy.save(path, array.astype('float32'))")

#: The Algonauts 2023 challenge's ROI tables (region id -> name per ROI class), shipped in data/.
ALGONAUTS_ROI_TABLES_PATH = Path(__file__).resolve().parents[2] / "data" / "algonauts2023_rois.json"


@functools.lru_cache(maxsize=1)
def algonauts_roi_tables() -> dict[str, dict[int, str]]:
    """ROI class → {region id: name} of the Algonauts 2023 challenge (published NSD tables; see the file)."""
    classes = json.loads(ALGONAUTS_ROI_TABLES_PATH.read_text())["classes"]
    return {name: {int(k): v for k, v in table.items()} for name, table in classes.items()}


@dataclass
class Responses:
    """Imported responses: a row source, the space of its columns and the data vertex of each column.

    Attributes
    ----------
    source : object
        ``name`` (files, for messages), ``n_rows``, ``n_columns``, ``chunk_rows`` and ``read(start, stop)`` →
        ndarray of shape (stop - start, n_columns), float32.
    space : str
    vertices : ndarray of shape (n_columns,), int64
        Data vertex of the space of each column.
    notes : list of str
        What the reader did that the provenance should say (e.g. medial-wall columns left out).
    """

    source: object
    space: str
    vertices: np.ndarray
    notes: list = field(default_factory=list)


def _rows_per_block(n_columns: int) -> int:
    return max(1, (64 * 2**20) // (4 * max(1, n_columns)))


class _ArrayRows:
    """Rows of an in-memory array (n_rows, n_columns)."""

    def __init__(self, array: np.ndarray, name: str):
        self.array, self.name = array, name
        self.n_rows, self.n_columns = array.shape
        self.chunk_rows = _rows_per_block(self.n_columns)

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.array[start:stop], dtype=np.float32)


class _NpyRows:
    """Rows of a C-ordered 2-D ``.npy`` file, read with plain file reads (no pickle, no memory map)."""

    def __init__(self, path: Path, name: str):
        self.path, self.name = path, name
        try:
            with open(path, "rb") as handle:
                if handle.read(1) == b"\x80":
                    raise UserError(f"{name} holds pickled Python objects, {_PICKLE_ADVICE}")
                handle.seek(0)
                version = np.lib.format.read_magic(handle)
                reader = {(1, 0): np.lib.format.read_array_header_1_0,
                          (2, 0): np.lib.format.read_array_header_2_0}.get(version)
                if reader is None:
                    raise UserError(f"{name}: .npy format version {version} is not read here; save it again with "
                                    "numpy.save")
                shape, fortran, dtype = reader(handle)
                self.offset = handle.tell()
        except (OSError, ValueError) as exc:
            if isinstance(exc, UserError):
                raise
            raise UserError(f"Could not read {name}: it is not a valid NumPy .npy file") from exc
        if dtype.hasobject:
            raise UserError(f"{name} holds pickled Python objects (an object array), {_PICKLE_ADVICE}")
        if dtype.kind not in "fiub":
            raise UserError(f"{name} holds {dtype} values; store numbers (float32), one row per stimulus")
        if len(shape) != 2:
            raise UserError(f"{name} has shape {shape}; expected 2 dimensions (stimuli × vertices)")
        expected = self.offset + int(np.prod(shape)) * dtype.itemsize
        if path.stat().st_size < expected:
            raise UserError(f"{name} is truncated: {path.stat().st_size:,} bytes for an array of shape {shape}")
        self.n_rows, self.n_columns = shape
        self.dtype, self.fortran = dtype, fortran
        self.chunk_rows = _rows_per_block(self.n_columns)

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.fortran:  # columns are contiguous: a block of rows is spread over the file
            array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            return np.array(array[start:stop], dtype=np.float32)
        with open(self.path, "rb") as handle:
            handle.seek(self.offset + start * self.n_columns * self.dtype.itemsize)
            block = np.fromfile(handle, dtype=self.dtype, count=(stop - start) * self.n_columns)
        return block.reshape(stop - start, self.n_columns).astype(np.float32, copy=False)


class _ColumnStack:
    """Sources side by side (left hemisphere, right hemisphere): the same rows, columns concatenated."""

    def __init__(self, parts, name: str):
        rows = {part.name: part.n_rows for part in parts}
        if len(set(rows.values())) > 1:
            raise UserError(f"The hemispheres have different numbers of rows: "
                            f"{', '.join(f'{k} {v:,}' for k, v in rows.items())}; both need one row per stimulus")
        self.parts, self.name = parts, name
        self.n_rows = parts[0].n_rows
        self.n_columns = sum(part.n_columns for part in parts)
        self.chunk_rows = _rows_per_block(self.n_columns)

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.concatenate([part.read(start, stop) for part in self.parts], axis=1)


class _ProxyRows:
    """Rows of a nibabel array proxy; ``transpose`` for files stored vertices-first (MGH)."""

    def __init__(self, proxy, name: str, columns: np.ndarray | None = None):
        self.proxy, self.name, self.columns = proxy, name, columns
        shape = proxy.shape
        self.mgh = len(shape) == 4
        self.n_rows = int(shape[-1] if self.mgh else shape[0])
        n_all = int(shape[0] if self.mgh else shape[1])
        self.n_columns = n_all if columns is None else len(columns)
        self.chunk_rows = _rows_per_block(n_all)

    def read(self, start: int, stop: int) -> np.ndarray:
        if self.mgh:
            block = np.asarray(self.proxy[:, 0, 0, start:stop], dtype=np.float32).T
        else:
            block = np.asarray(self.proxy[start:stop], dtype=np.float32)
        return block if self.columns is None else block[:, self.columns]


class _VolumeRows:
    """A 4-D MNI volume, projected onto fsaverage5 a block of volumes at a time."""

    def __init__(self, image, name: str):
        self.image, self.name = image, name
        self.n_rows = image.shape[3]
        self.n_columns = sum(SPACES["fsaverage5"])
        self.chunk_rows = 32
        self.hint = " (is the volume registered to MNI space? its voxels miss the fsaverage5 cortex)"

    def read(self, start: int, stop: int) -> np.ndarray:
        import nibabel as nib

        from core.cortex import volume_to_fsaverage5

        block = np.asarray(self.image.dataobj[..., start:stop], dtype=np.float32)
        with warnings.catch_warnings():  # vertices outside the volume: NaN, counted and dropped by the store
            warnings.simplefilter("ignore", RuntimeWarning)
            return volume_to_fsaverage5(nib.Nifti1Image(block, self.image.affine))


# ---------------------------------------------------------------------------------------------- readers


def write_npy_header(handle, n_rows: int, n_columns: int) -> None:
    """Start a C-ordered float32 ``.npy`` file of shape (n_rows, n_columns); rows are then written with
    ``block.astype("<f4").tofile(handle)``."""
    np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                   "shape": (n_rows, n_columns)})


def _read_error(name: str, kind: str) -> UserError:
    return UserError(f"Could not read {name}: it is not a valid {kind} (the file may be damaged or of another "
                     "format)")


def _whole_space(source, name: str) -> Responses:
    """Columns that are all data vertices of a space, found from their number."""
    space = space_of_columns(source.n_columns)
    if space is None:
        valid = {s: sum(n) for s, n in SPACES.items()}
        hint = (" (the array looks transposed: save it as stimuli × vertices)"
                if space_of_columns(source.n_rows) else "")
        raise UserError(f"{name} has {source.n_columns:,} columns; expected one per vertex of "
                        f"{choices_text(f'{s} ({n:,})' for s, n in valid.items())}{hint}")
    return Responses(source, space, np.arange(source.n_columns, dtype=np.int64))


def read_npy(path: Path, name: str) -> object:
    """A 2-D ``.npy`` file as a row source (validated header; refused when it holds pickled objects)."""
    return _NpyRows(path, name)


def _read_npz(path: Path, name: str) -> Responses:
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = archive.files
            key = next((k for k in ("responses", "data") if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise UserError(f"{name} holds {len(keys)} arrays ({choices_text(sorted(keys), last='and')}); "
                                "name the responses array 'responses'")
            array = archive[key]
    except UserError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc):
            raise UserError(f"{name} holds pickled Python objects, {_PICKLE_ADVICE}") from exc
        raise _read_error(name, "NumPy .npz archive") from exc
    except (OSError, EOFError, KeyError) as exc:
        raise _read_error(name, "NumPy .npz archive") from exc
    if array.dtype.kind not in "fiub" or array.ndim != 2:
        raise UserError(f"{name}: the array has dtype {array.dtype} and shape {array.shape}; expected numbers, "
                        "stimuli × vertices")
    return _whole_space(_ArrayRows(array, name), name)


def _fslr_inverse(hemisphere: int) -> np.ndarray:
    """Grayordinate (within its hemisphere) of each fsLR-32k mesh vertex; -1 on the medial wall."""
    from core.cortex import load_fslr32k

    surface = load_fslr32k("sphere")
    index = (surface.left, surface.right)[hemisphere].vertex_index
    inverse = np.full(32_492, -1, np.int64)
    inverse[index] = np.arange(len(index))
    return inverse


def _mesh_columns(mesh_vertices: np.ndarray, n_mesh: int, hemisphere: int, name: str):
    """Space, kept columns and data vertices of columns lying on mesh vertices ``mesh_vertices``."""
    space = MESH_SPACES.get(n_mesh)
    if space is None:
        raise UserError(f"{name} lies on a {n_mesh:,}-vertex mesh; expected "
                        f"{choices_text(f'{s} ({n:,} per hemisphere)' for n, s in MESH_SPACES.items())}")
    local = _fslr_inverse(hemisphere)[mesh_vertices] if space == "fsLR32k" else np.asarray(mesh_vertices, np.int64)
    keep = np.flatnonzero(local >= 0)
    return space, keep, local[keep] + hemisphere * SPACES[space][0]


def _read_cifti(path: Path, name: str) -> Responses:
    import nibabel as nib

    try:
        image = nib.load(path)
        axis = image.header.get_axis(1)
    except Exception as exc:  # nibabel raises many types for a damaged file
        raise _read_error(name, "CIFTI-2 dense scalar file") from exc
    if not isinstance(axis, nib.cifti2.BrainModelAxis):
        raise UserError(f"{name}: the second CIFTI axis does not hold brain models (vertices); save the responses "
                        "as a dense scalar file (stimuli × grayordinates)")
    structures = {structure: (slc, model) for structure, slc, model in axis.iter_structures()}
    columns, vertices, spaces, notes = [], [], [], []
    for hemisphere, structure in enumerate(("CIFTI_STRUCTURE_CORTEX_LEFT", "CIFTI_STRUCTURE_CORTEX_RIGHT")):
        if structure not in structures:
            raise UserError(f"{name} has no {structure} (a hemisphere is missing); it holds "
                            f"{choices_text(sorted(structures), last='and')}")
        slc, model = structures[structure]
        space, keep, data_vertices = _mesh_columns(model.vertex, model.nvertices[structure], hemisphere, name)
        spaces.append(space)
        columns.append(np.arange(len(axis))[slc][keep])
        vertices.append(data_vertices)
        if len(keep) < len(model.vertex):
            notes.append(f"{len(model.vertex) - len(keep):,} columns of {structure} lie on the medial wall (not "
                         "fsLR-32k grayordinates) and were left out")
    if spaces[0] != spaces[1]:
        raise UserError(f"{name}: the left cortex is on {spaces[0]}, the right cortex on {spaces[1]}")
    other = len(structures) - 2
    if other:
        notes.append(f"{other} non-cortical structures of {name} were left out")
    source = _ProxyRows(image.dataobj, name, np.concatenate(columns))
    return Responses(source, spaces[0], np.concatenate(vertices), notes)


def _read_gifti(path: Path, name: str) -> np.ndarray:
    """(n_rows, n_mesh) of one hemisphere's GIFTI file: one data array per stimulus, or one 2-D array."""
    import nibabel as nib

    try:
        arrays = [np.asarray(d.data) for d in nib.load(path).darrays]
    except Exception as exc:  # nibabel raises many types for a damaged file
        raise _read_error(name, "GIFTI file") from exc
    if not arrays:
        raise UserError(f"{name} holds no data array")
    if len(arrays) == 1 and arrays[0].ndim == 2:
        return arrays[0].T.astype(np.float32)
    return np.stack([a.ravel() for a in arrays]).astype(np.float32)


def _hemisphere_source(path: Path, name: str, kind: str):
    """A row source of one hemisphere file and its mesh size."""
    import nibabel as nib

    if kind == "gifti":
        array = _read_gifti(path, name)
        return _ArrayRows(array, name), array.shape[1]
    try:
        image = nib.load(path)
    except Exception as exc:  # nibabel raises many types for a damaged file
        raise _read_error(name, "FreeSurfer MGH/MGZ file") from exc
    shape = image.shape
    if len(shape) == 3:  # one frame
        shape = (*shape, 1)
    if len(shape) != 4 or shape[1:3] != (1, 1):
        raise UserError(f"{name} has shape {image.shape}; expected (vertices, 1, 1, stimuli)")
    proxy = image.dataobj if len(image.shape) == 4 else np.asarray(image.dataobj)[..., None]
    return _ProxyRows(proxy, name), int(shape[0])


def read_hemisphere_pair(left: Path, right: Path, names: tuple[str, str], kind: str) -> Responses:
    """A left and a right GIFTI (``kind="gifti"``) or MGH/MGZ (``"mgh"``) file → one study's responses."""
    parts, vertices, spaces, notes = [], [], [], []
    for hemisphere, (path, name) in enumerate(zip((left, right), names, strict=True)):
        source, n_mesh = _hemisphere_source(path, name, kind)
        space, keep, data_vertices = _mesh_columns(np.arange(n_mesh), n_mesh, hemisphere, name)
        if len(keep) < n_mesh:
            source = _Columns(source, keep)
            notes.append(f"{n_mesh - len(keep):,} medial-wall vertices of {name} (not fsLR-32k grayordinates) "
                         "were left out")
        parts.append(source)
        vertices.append(data_vertices)
        spaces.append(space)
    if spaces[0] != spaces[1]:
        raise UserError(f"{names[0]} is on {spaces[0]} but {names[1]} is on {spaces[1]}")
    return Responses(_ColumnStack(parts, f"{names[0]} + {names[1]}"), spaces[0], np.concatenate(vertices), notes)


class _Columns:
    """A subset of the columns of a source."""

    def __init__(self, source, columns: np.ndarray):
        self.source, self.columns = source, columns
        self.name, self.n_rows, self.chunk_rows = source.name, source.n_rows, source.chunk_rows
        self.n_columns = len(columns)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.source.read(start, stop)[:, self.columns]


def _read_volume(path: Path, name: str) -> Responses:
    import nibabel as nib

    try:
        image = nib.load(path)
        shape = image.shape
    except Exception as exc:  # nibabel raises many types for a damaged file
        raise _read_error(name, "NIfTI volume") from exc
    if len(shape) != 4:
        raise UserError(f"{name} has {len(shape)} dimensions ({' x '.join(map(str, shape))}); expected a 4-D "
                        "volume with one MNI-space beta map per stimulus")
    source = _VolumeRows(image, name)
    return Responses(source, "fsaverage5", np.arange(source.n_columns, dtype=np.int64), [
        f"{name}: MNI volumes projected onto fsaverage5 with nilearn's vol_to_surf (between the white and pial "
        "surfaces); vertices outside the volume are dropped as NaN"])


#: Single responses files of the folder layout → reader.
_SINGLE_READERS = {"responses.npy": lambda path, name: _whole_space(read_npy(path, name), name),
                   "responses.npz": _read_npz, "responses.dscalar.nii": _read_cifti,
                   "responses.nii.gz": _read_volume, "responses.nii": _read_volume}


def read_responses_file(folder: Path, display: str) -> Responses:
    """The responses of a folder-layout study: exactly one of :data:`RESPONSE_PATTERNS`.

    Parameters
    ----------
    folder : Path
    display : str
        How to name the folder in messages.
    """
    singles = [name for name in _SINGLE_READERS if (folder / name).is_file()]
    pairs = {}
    for kind, suffixes in (("gifti", (".func.gii",)), ("mgh", (".mgh", ".mgz"))):
        for suffix in suffixes:
            found = [[folder / f"responses.{h}{suffix}" for h in hemis if (folder / f"responses.{h}{suffix}").is_file()]
                     for hemis in (("L", "lh"), ("R", "rh"))]
            if any(found):
                pairs[kind, suffix] = found
    if len(singles) + len(pairs) > 1:
        found_names = singles + [p.name for f in pairs.values() for side in f for p in side]
        raise UserError(f"{display} holds several responses files ({choices_text(found_names, last='and')}); "
                        "keep exactly one")
    if singles:
        name = singles[0]
        return _SINGLE_READERS[name](folder / name, f"{display}/{name}")
    if not pairs:
        raise UserError(f"{display} has no responses file; add one of {choices_text(RESPONSE_PATTERNS)}, one row "
                        "per stimulus")
    (kind, suffix), (left, right) = next(iter(pairs.items()))
    if len(left) != 1 or len(right) != 1:
        side = "left (responses.L or responses.lh)" if len(left) != 1 else "right (responses.R or responses.rh)"
        problem = "is missing" if not (left if len(left) != 1 else right) else "is given twice"
        raise UserError(f"{display}: the {side}{suffix} hemisphere file {problem}; give one file per hemisphere")
    return read_hemisphere_pair(left[0], right[0], (f"{display}/{left[0].name}", f"{display}/{right[0].name}"),
                                kind)
