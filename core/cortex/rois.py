"""The Glasser et al. (2016) ROI table: :class:`ROI`, :data:`ROI_STREAMS`, :func:`roi_labels`, :func:`roi_table` and
:func:`roi_indices`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from core._validation import check_choice
from core.cortex.surfaces import _HEMISPHERES, N_VERTICES, _hcp_data_dir

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
