""":func:`save_rdm` / :func:`load_rdm` (``.npz`` without pickle, or rsatoolbox's HDF5 layout) and
:func:`to_rsatoolbox` / :func:`from_rsatoolbox`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from core._validation import check_choice
from core.rsa.rdm import RDM

# ---------------------------------------------------------------------------------------------
# input/output
# ---------------------------------------------------------------------------------------------


def _save_npz(rdm: RDM, path: Path) -> None:
    np.savez(path, dissimilarities=rdm.dissimilarities, dissimilarity_measure=np.array(rdm.measure),
             pattern_labels=np.array([str(x) for x in rdm.pattern_labels]),
             descriptors=np.array(json.dumps(rdm.descriptors)), rdm_descriptors=np.array(json.dumps(rdm.rdm_descriptors)))


def _load_npz(path: Path) -> RDM:
    with np.load(path, allow_pickle=False) as f:
        per_rdm = json.loads(str(f["rdm_descriptors"])) if "rdm_descriptors" in f.files else {}
        return RDM(f["dissimilarities"], str(f["dissimilarity_measure"]), tuple(f["pattern_labels"].tolist()),
                   json.loads(str(f["descriptors"])), per_rdm)


def _without_default_index(rdm_descriptors: dict, n_rdms: int) -> dict:
    """rsatoolbox's per-RDM descriptors less the ``index`` it adds itself (0 .. n_rdms - 1)."""
    index = rdm_descriptors.get("index")
    default = index is not None and list(np.asarray(index).tolist()) == list(range(n_rdms))
    return {k: list(v) for k, v in rdm_descriptors.items() if not (k == "index" and default)}


def _save_hdf5(rdm: RDM, path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f["dissimilarities"] = rdm.dissimilarities
        f.attrs["dissimilarity_measure"] = rdm.measure
        desc = f.create_group("descriptors")
        for key, value in rdm.descriptors.items():
            if isinstance(value, str):
                desc.attrs[key] = value
            else:
                desc[key] = value
        per_rdm = f.create_group("rdm_descriptors")
        per_rdm["index"] = np.arange(rdm.n_rdms)
        for key, values in rdm.rdm_descriptors.items():
            values = np.asarray(values)
            per_rdm[key] = values.astype("S") if values.dtype.kind == "U" else values
        pattern = f.create_group("pattern_descriptors")
        pattern["index"] = np.arange(rdm.n_conditions)
        pattern["label"] = np.array([str(x) for x in rdm.pattern_labels]).astype("S")


def _plain(value):
    """Python value of an HDF5 dataset or attribute (bytes decoded, 0-d arrays unwrapped)."""
    value = np.asarray(value)
    if value.dtype.kind == "S":
        value = value.astype(str)
    return value.tolist()


def _load_hdf5(path: Path) -> RDM:
    import h5py

    with h5py.File(path, "r") as f:
        pattern = f["pattern_descriptors"]
        key = next((k for k in ("label", "conds", "index") if k in pattern), None)
        if key is None:
            raise ValueError(f"{path} has no pattern descriptor; choose from ['label', 'conds', 'index']")
        desc = f["descriptors"]
        descriptors = {k: _plain(desc[k][()]) for k in desc} | {k: _plain(v) for k, v in desc.attrs.items()}
        dissimilarities = np.atleast_2d(f["dissimilarities"][()])
        per_rdm = {k: _plain(v[()]) for k, v in f["rdm_descriptors"].items()} if "rdm_descriptors" in f else {}
        return RDM(dissimilarities, _plain(f.attrs["dissimilarity_measure"]), tuple(_plain(pattern[key][()])),
                   descriptors, _without_default_index(per_rdm, len(dissimilarities)))


#: File formats of :func:`save_rdm` / :func:`load_rdm`, by suffix.
RDM_FILE_FORMATS = {".npz": (_save_npz, _load_npz), ".h5": (_save_hdf5, _load_hdf5),
                    ".hdf5": (_save_hdf5, _load_hdf5)}


def save_rdm(rdm: RDM, path) -> Path:
    """Write an RDM to ``.npz`` (no pickle) or ``.h5``/``.hdf5`` (rsatoolbox's layout).

    The HDF5 file holds ``dissimilarities``, the ``dissimilarity_measure`` attribute and the
    groups ``descriptors``, ``rdm_descriptors`` (``index`` and each per-RDM descriptor) and
    ``pattern_descriptors`` (with ``index`` and ``label``), so ``rsatoolbox.rdm.load_rdm`` reads it.
    Pattern labels are stored as strings; descriptors must be JSON-serialisable (npz) or
    str/numbers/arrays (HDF5; per-RDM descriptors all strings or all numbers).

    Parameters
    ----------
    rdm : RDM
    path : str or Path
        Its suffix picks the format; an existing file is overwritten.

    Returns
    -------
    path : Path
    """
    path = Path(path)
    check_choice("file suffix", path.suffix, RDM_FILE_FORMATS)
    RDM_FILE_FORMATS[path.suffix][0](rdm, path)
    return path


def load_rdm(path) -> RDM:
    """Read an RDM written by :func:`save_rdm` or by rsatoolbox's ``RDMs.save`` (HDF5).

    Pattern labels come from the pattern descriptor ``label``, else ``conds``, else ``index``.
    """
    path = Path(path)
    check_choice("file suffix", path.suffix, RDM_FILE_FORMATS)
    return RDM_FILE_FORMATS[path.suffix][1](path)


def to_rsatoolbox(rdm: RDM):
    """Convert to ``rsatoolbox.rdm.RDMs`` (pattern descriptors ``label`` and ``index``; the per-RDM descriptors,
    to which rsatoolbox adds ``index``)."""
    from rsatoolbox.rdm import RDMs

    return RDMs(rdm.dissimilarities.copy(), dissimilarity_measure=rdm.measure, descriptors=dict(rdm.descriptors),
                rdm_descriptors={k: list(v) for k, v in rdm.rdm_descriptors.items()},
                pattern_descriptors={"label": list(rdm.pattern_labels), "index": list(range(rdm.n_conditions))})


def from_rsatoolbox(rdms, *, label_descriptor: str = "label") -> RDM:
    """Convert an ``rsatoolbox.rdm.RDMs`` object; labels from ``label_descriptor`` or ``index``; its per-RDM
    descriptors (less the default ``index``, 0 .. n_rdms - 1)."""
    pattern = rdms.pattern_descriptors
    key = label_descriptor if label_descriptor in pattern else "index"
    return RDM(rdms.get_vectors(), str(rdms.dissimilarity_measure), tuple(pattern[key]), dict(rdms.descriptors),
               _without_default_index(rdms.rdm_descriptors, rdms.n_rdm))
