"""The cortical surfaces the pages draw on: meshes, sulcal depth, Glasser areas and their borders, clicked vertices."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np

from core import cortex

__all__ = [
    "CORTEX_VIEWS",
    "GLASSER_AREAS_CSV",
    "area_label",
    "cortex_mesh",
    "cortex_sulc",
    "figure_view",
    "glasser_area_names",
    "grayordinate_at",
    "map_surface",
    "roi_border_mask",
    "vertex_area_labels",
    "vertex_roi_names",
]


#: Cortex views offered by the pages: name → (core surface, figure view).
CORTEX_VIEWS = {
    "flat": ("flat", "flat"),
    "inflated": ("inflated", "inflated"),
    "very inflated": ("very_inflated", "inflated"),
}


def _check_view(view: str) -> tuple[str, str]:
    if view not in CORTEX_VIEWS:
        raise ValueError(f"Unknown view={view!r}; choose from {sorted(CORTEX_VIEWS)}")
    return CORTEX_VIEWS[view]


@functools.cache
def cortex_mesh(view: str) -> dict:
    """Plain mesh arrays of fsLR-32k for ``view`` (see ``dashboard.figures.cortex``)."""
    surface_name, _ = _check_view(view)
    return cortex.load_fslr32k(surface_name).to_plain()


def figure_view(view: str) -> str:
    """The figure factory's view ("flat" or "inflated") for a page view name."""
    return _check_view(view)[1]


@functools.cache
def cortex_sulc() -> np.ndarray:
    """Sulcal depth per grayordinate, (59412,)."""
    return cortex.load_fslr32k("inflated").sulc


@functools.cache
def vertex_roi_names() -> tuple[str, ...]:
    """Glasser area of every grayordinate (``"L_V1"``; ``""`` outside areas), length 59,412."""
    labels, names = cortex.roi_labels()
    return tuple(names[label] for label in labels)


#: The HCP-MMP1.0 area names (Glasser et al. 2016); source in data/README.md.
GLASSER_AREAS_CSV = Path(__file__).resolve().parents[2] / "data" / "glasser_areas.csv"


@functools.cache
def glasser_area_names() -> dict[str, str]:
    """Full name of each Glasser area by its short name (``"FFC"`` → ``"Fusiform Face Complex"``), 180 areas."""
    with open(GLASSER_AREAS_CSV, newline="", encoding="utf-8") as handle:
        return {row["area"]: row["long_name"] for row in csv.DictReader(handle)}


def area_label(roi_name: str) -> str:
    """``"L_FFC"`` or ``"FFC"`` → ``"FFC — Fusiform Face Complex"``; ``""`` → ``"no Glasser area"``."""
    area = roi_name.split("_", 1)[1] if roi_name[:2] in ("L_", "R_") else roi_name
    if not area:
        return "no Glasser area"
    full = glasser_area_names().get(area)
    return f"{area} — {full}" if full else area


@functools.cache
def vertex_area_labels() -> tuple[str, ...]:
    """Hover label of every grayordinate: its Glasser area with its full name (:func:`area_label`)."""
    labels, names = cortex.roi_labels()
    by_label = [area_label(name) for name in names]
    return tuple(by_label[label] for label in labels)


@functools.cache
def roi_border_mask() -> np.ndarray:
    """Grayordinates on a Glasser area border, (59412,) bool: of two neighbours (sharing a triangle edge of the
    inflated mesh) in different areas, the one with the higher area label, so each border is one vertex wide."""
    labels, _ = cortex.roi_labels()
    mesh = cortex_mesh("inflated")
    border = np.zeros(len(labels), bool)
    offset = 0
    for hemi in ("left", "right"):
        index = np.asarray(mesh[hemi]["vertex_index"])
        to_data = np.full(len(mesh[hemi]["vertices"]), -1)
        to_data[index] = np.arange(len(index)) + offset
        faces = to_data[np.asarray(mesh[hemi]["faces"])]
        for a, b in ((0, 1), (1, 2), (2, 0)):
            u, v = faces[:, a], faces[:, b]
            both = (u >= 0) & (v >= 0)
            u, v = u[both], v[both]
            differ = labels[u] != labels[v]
            border[np.where(labels[u] > labels[v], u, v)[differ]] = True
        offset += len(index)
    border.setflags(write=False)
    return border


def grayordinate_at(view: str, trace: int, mesh_vertex: int, *, space: str = "fsLR32k") -> int | None:
    """Data vertex of ``space`` (a grayordinate of fsLR-32k) under a clicked mesh vertex (None on the medial wall).

    ``trace``: 0 = left hemisphere, 1 = right (the figure's trace order); ``mesh_vertex``: vertex of that
    hemisphere's mesh in page view ``view``.
    """
    mesh = _space_mesh(space, view)
    hemi = ("left", "right")[trace]
    hits = np.flatnonzero(mesh[hemi]["vertex_index"] == mesh_vertex)
    if not hits.size:
        return None
    return int(hits[0]) + (0 if hemi == "left" else len(mesh["left"]["vertex_index"]))


def _vertex_table(values, value_name: str):
    import pandas as pd

    return pd.DataFrame({"grayordinate": np.arange(len(values)), "area": vertex_roi_names(), value_name: values})


@functools.cache
def _fsaverage5_plain(view: str) -> tuple[dict, np.ndarray]:
    """fsaverage5 mesh (plain arrays) and sulcal depth in page view ``view``: flat, else inflated."""
    loaded = cortex.load_fsaverage5("flat" if _check_view(view)[0] == "flat" else "inflated")
    return loaded.to_plain(), loaded.sulc


def _space_mesh(space: str, view: str) -> dict:
    """Plain mesh arrays of ``space`` in page view ``view`` (fsaverage5: its inflated surface for both inflated views)."""
    if space == "fsLR32k":
        return cortex_mesh(view)
    if space == "fsaverage5":
        return _fsaverage5_plain(view)[0]
    raise ValueError(f"Unknown space={space!r}; choose from {sorted(cortex.N_VERTICES)}")


def map_surface(space: str, view: str) -> dict:
    """Where a map of ``space`` (a ``CorticalMap``'s space: "fsLR32k" or "fsaverage5") is drawn in page view ``view``.

    Returns
    -------
    dict with ``space``, ``mesh`` (plain arrays), ``sulc`` (n_vertices,), ``vertex_names`` (Glasser area with its
    full name per vertex, :func:`vertex_area_labels`), ``borders`` (:func:`roi_border_mask`) and
    ``figure_view``. fsaverage5 has no Glasser areas (names and borders are None) and no very inflated
    surface; its inflated one is shown instead.
    """
    mesh, figure = _space_mesh(space, view), figure_view(view)
    if space == "fsLR32k":
        return {"space": space, "mesh": mesh, "sulc": cortex_sulc(), "vertex_names": vertex_area_labels(),
                "borders": roi_border_mask(), "figure_view": figure}
    return {"space": space, "mesh": mesh, "sulc": _fsaverage5_plain(view)[1], "vertex_names": None, "borders": None,
            "figure_view": figure}
