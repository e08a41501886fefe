"""The only door from the dashboard to ``core``: loads inputs, calls core, caches on disk.

Results are cached with diskcache under the user cache folder, keyed by versioned names, so job
processes and the web process share them. Functions here return plain values (numpy arrays, dicts,
strings), never figures. Heavy modules (torch, the model zoo) are imported inside the functions that
need them, which run in background jobs, never at import.
"""

from __future__ import annotations

import functools
import io
import tempfile
import zipfile
from pathlib import Path

import diskcache
import numpy as np

from core import cortex, subject
from core.weights import cache_dir

__all__ = [
    "CORTEX_VIEWS",
    "cortex_mesh",
    "cortex_sulc",
    "declared_map",
    "declared_map_choices",
    "export_map",
    "result_cache",
    "subject_spec_summary",
    "vertex_info",
    "vertex_roi_names",
]

#: Cortex views offered by the pages: name → (core surface, figure view).
CORTEX_VIEWS = {
    "flat": ("flat", "flat"),
    "inflated": ("inflated", "inflated"),
    "very inflated": ("very_inflated", "inflated"),
}

EXPORT_FORMATS = ("gifti", "cifti")


@functools.cache
def result_cache() -> diskcache.Cache:
    """The on-disk cache shared by the web process and the job processes."""
    return diskcache.Cache(str(cache_dir() / "results"), size_limit=8 * 2**30)


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


@functools.cache
def _default_subject():
    return subject.load_default_subject()


def subject_spec_summary() -> str:
    """The default simulated subject's declared ground truth, as text."""
    return _default_subject().spec.summary()


def declared_map_choices() -> list[dict]:
    """Dropdown options of the subject's declared maps, plus sulcal depth."""
    options = [{"label": f"Ground truth: {description}", "value": name}
               for name, (description, _) in subject.DECLARED_MAPS.items()]
    return options + [{"label": "Anatomy: sulcal depth", "value": "sulcal_depth"}]


@functools.cache
def _declared_maps() -> dict[str, np.ndarray]:
    sim = _default_subject()
    maps = subject.declared_maps(sim.spec, sim.roi_vertices, sim.n_vertices)
    maps["sulcal_depth"] = cortex_sulc().astype(np.float32)
    return maps


def declared_map(name: str) -> np.ndarray:
    """One declared map of the default subject (or sulcal depth), (59412,) float32."""
    maps = _declared_maps()
    if name not in maps:
        raise ValueError(f"Unknown map={name!r}; choose from {sorted(maps)}")
    return maps[name]


def map_units(name: str) -> str:
    """Colour-bar title of a map."""
    return subject.DECLARED_MAPS.get(name, ("", "mm"))[1]


def vertex_info(view: str, trace: int, mesh_vertex: int, map_name: str) -> dict:
    """Grayordinate, area and map value under a clicked mesh vertex.

    Parameters
    ----------
    trace : int
        0 = left hemisphere, 1 = right hemisphere (the figure's trace order).
    mesh_vertex : int
        Vertex index within that hemisphere's mesh.
    """
    mesh = cortex_mesh(view)
    if trace not in (0, 1):
        raise ValueError(f"trace must be 0 (left) or 1 (right), got {trace}")
    hemi = ("left", "right")[trace]
    hits = np.flatnonzero(mesh[hemi]["vertex_index"] == mesh_vertex)
    if not hits.size:
        return {"hemisphere": hemi, "grayordinate": None, "area": "medial wall", "value": None}
    offset = 0 if hemi == "left" else len(mesh["left"]["vertex_index"])
    index = int(hits[0]) + offset
    value = float(declared_map(map_name)[index])
    return {"hemisphere": hemi, "grayordinate": index, "area": vertex_roi_names()[index] or "none",
            "value": None if np.isnan(value) else value}


def export_map(name: str, fmt: str) -> tuple[str, bytes]:
    """A map as a downloadable file: ``(filename, content)``; GIFTI is a zip of the L/R files."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown format={fmt!r}; choose from {list(EXPORT_FORMATS)}")
    values = np.nan_to_num(declared_map(name), nan=0.0)
    with tempfile.TemporaryDirectory() as tmp:
        if fmt == "cifti":
            path = cortex.save_cifti_dscalar(values, Path(tmp) / f"{name}.dscalar.nii", names=[name])
            return path.name, path.read_bytes()
        left, right = cortex.save_gifti(values, Path(tmp) / name)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.write(left, left.name)
            zf.write(right, right.name)
        return f"{name}.gifti.zip", buffer.getvalue()
