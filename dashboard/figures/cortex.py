"""Cortical surface figures: both hemispheres as plotly Mesh3d traces (plotly + numpy only).

The mesh comes in as plain arrays (``core.cortex.Surface.to_plain()`` gives this layout)::

    mesh = {
        "left":  {"vertices": (n_mesh_L, 3) float,   # mm; flat maps have z = 0
                  "faces": (n_faces_L, 3) int,       # vertex indices
                  "vertex_index": (n_data_L,) int},  # mesh vertex of each data vertex
        "right": {...},
    }

Data arrays (``values``, ``sulc``, ``vertex_names``) have one entry per data vertex, left
hemisphere first: length ``n_data_L + n_data_R`` (59,412 fsLR-32k grayordinates or 20,484
fsaverage5 vertices). Mesh vertices that carry no data (the medial wall) show the sulcal
background.

Each mesh vertex gets an ``intensity`` code (uint8, sent as a base64 typed array: one byte per
vertex) on one combined colour scale per map: codes 0 (gyrus) to ``SULCUS_CODE`` (deepest
sulcus) are the grey sulcal background, shown where ``|value| < threshold``, where the value
is NaN and on the medial wall; codes ``DATA_FIRST_CODE`` (vmin) to 255 (vmax) are the map's
colour scale. The codes in between are never used, so the texture lookup of plotly.js never
blends a grey into the lowest data colour. A map update is then the codes, the combined
colour scale and the hover values; a threshold update is the codes alone. Codes are
interpolated across each triangle, so the edge of a thresholded region passes through the
low end of the colour scale within one triangle. The colour bar, in data units, comes from
an invisible Scatter3d trace.

Traces, in order (``TRACE_INDEX``): 0 = left mesh, 1 = right mesh, 2 = colour bar.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go

__all__ = ["CAMERAS", "DATA_FIRST_CODE", "SULCUS_CODE", "TRACE_INDEX", "VIEWS", "layer_color_options",
           "surface_figure", "surface_intensity_patch"]

HEMISPHERES = ("left", "right")
TRACE_INDEX = {"left": 0, "right": 1, "colorbar": 2}

#: Named camera positions for 3-D views; the hemispheres lie side by side along x.
CAMERAS = {
    "posterior": {"eye": {"x": 0.0, "y": -1.5, "z": 0.3}, "up": {"x": 0, "y": 0, "z": 1}},
    "ventral": {"eye": {"x": 0.0, "y": -0.2, "z": -1.5}, "up": {"x": 0, "y": 1, "z": 0}},
    "dorsal": {"eye": {"x": 0.0, "y": -0.2, "z": 1.5}, "up": {"x": 0, "y": 1, "z": 0}},
    "lateral_left": {"eye": {"x": -1.6, "y": 0.0, "z": 0.15}, "up": {"x": 0, "y": 0, "z": 1}},
    "lateral_right": {"eye": {"x": 1.6, "y": 0.0, "z": 0.15}, "up": {"x": 0, "y": 0, "z": 1}},
    "anterior": {"eye": {"x": 0.0, "y": 1.5, "z": 0.3}, "up": {"x": 0, "y": 0, "z": 1}},
}
_FLAT_CAMERA = {
    "eye": {"x": 0.0, "y": 0.0, "z": 2.0},
    "up": {"x": 0, "y": 1, "z": 0},
    "projection": {"type": "orthographic"},
}

#: Per-view rendering: lighting of the meshes, scene drag mode, default camera, and the
#: scene's x aspect ratio (None = "data" aspect). An orthographic camera ignores the eye
#: distance, so the flat map's zoom is set through its aspect ratio.
VIEWS = {
    "inflated": {
        "lighting": {"ambient": 0.55, "diffuse": 0.6, "specular": 0.05, "roughness": 0.9, "fresnel": 0.05},
        "dragmode": "orbit",
        "camera": CAMERAS["posterior"],
        "aspect_width": None,
    },
    "flat": {
        "lighting": {"ambient": 1.0, "diffuse": 0.0, "specular": 0.0, "roughness": 1.0, "fresnel": 0.0},
        "dragmode": "pan",
        "camera": _FLAT_CAMERA,
        "aspect_width": 3.6,
    },
}

_GYRUS_GREY = 205  # background grey (0-255) on gyri (sulc <= 0) ...
_SULCUS_GREY = 95  # ... and deep in sulci
_MEDIAL_WALL_DEPTH = 0.5  # the medial wall shows the grey halfway between gyrus and sulcus
#: Intensity codes: 0..SULCUS_CODE = sulcal grey ramp, DATA_FIRST_CODE..MAX_CODE = data colour scale.
SULCUS_CODE = 120
DATA_FIRST_CODE = 128
_MAX_CODE = 255
_GAP_FRACTION = 0.06  # gap between hemispheres, as a fraction of the wider hemisphere
_HOVER_NO_DATA = "medial wall"


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"Unknown {name}={value!r}; choose from {sorted(choices)}")


def _n_data(mesh) -> dict:
    return {h: len(mesh[h]["vertex_index"]) for h in HEMISPHERES}


def _per_data_vertex(name, array, n_total, dtype):
    arr = np.asarray(array, dtype=dtype)
    if arr.shape != (n_total,):
        raise ValueError(f"{name} has shape {arr.shape}; expected ({n_total},), one value per data vertex")
    return arr


def _split(arr, mesh):
    n_left = _n_data(mesh)["left"]
    return {"left": arr[:n_left], "right": arr[n_left:]}


def _combined_colorscale(colorscale) -> list:
    """The grey sulcal ramp (codes 0..SULCUS_CODE) followed by ``colorscale`` (DATA_FIRST_CODE..255),
    as a plotly colour scale over codes / 255."""
    scale = pcolors.get_colorscale(colorscale) if isinstance(colorscale, str) else colorscale
    grey = [[0.0, f"rgb({_GYRUS_GREY},{_GYRUS_GREY},{_GYRUS_GREY})"],
            [SULCUS_CODE / _MAX_CODE, f"rgb({_SULCUS_GREY},{_SULCUS_GREY},{_SULCUS_GREY})"]]
    data_codes = _MAX_CODE - DATA_FIRST_CODE
    return grey + [[(DATA_FIRST_CODE + data_codes * float(stop)) / _MAX_CODE, color] for stop, color in scale]


def layer_color_options(n_layers: int, colorscale: str = "Viridis") -> dict:
    """``colorscale``, ``vmin`` and ``vmax`` for a map of layer numbers 1..``n_layers``: one flat colour
    band per layer (sampled from ``colorscale``), each integer at the centre of its band."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    colors = pcolors.sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, n_layers)))
    edges = np.linspace(0.0, 1.0, n_layers + 1)
    scale = [[float(edge), color] for i, color in enumerate(colors) for edge in edges[i:i + 2]]
    return {"colorscale": scale, "vmin": 0.5, "vmax": n_layers + 0.5}


def _sulcal_depth(sulc) -> np.ndarray:
    """Depth 0 (gyrus) .. 1 (deep sulcus) per data vertex from sulcal depth (positive in sulci)."""
    scale = np.percentile(np.abs(sulc), 80) or 1.0
    return np.clip(0.5 + 0.5 * sulc / scale, 0.0, 1.0)


def _color_range(values, vmin, vmax):
    finite = values[np.isfinite(values)]
    top = float(np.abs(finite).max()) if finite.size else 1.0
    vmax = (top or 1.0) if vmax is None else float(vmax)
    if vmin is None:
        vmin = -vmax if finite.size and finite.min() < 0 else (float(finite.min()) if finite.size else 0.0)
        if vmin >= vmax:  # a constant positive map: scale from zero
            vmin = 0.0
    if not vmin < vmax:
        raise ValueError(f"vmin={vmin} must be smaller than vmax={vmax}")
    return float(vmin), vmax


def _vertex_intensity(mesh, values, *, threshold, vmin, vmax, sulc):
    """Per-hemisphere intensity codes and values of the mesh vertices, and the colour range used.

    Returns
    -------
    codes : dict hemisphere -> ndarray of shape (n_mesh,), uint8
        Data vertices with ``|value| >= threshold``: DATA_FIRST_CODE + (value - vmin) / (vmax - vmin)
        * (255 - DATA_FIRST_CODE), clipped; others: sulcal depth * SULCUS_CODE (depth 0 without
        ``sulc``; the medial wall at depth 0.5).
    mesh_values : dict hemisphere -> ndarray of shape (n_mesh,), float32, NaN off the data
    (vmin, vmax) : tuple of float
    """
    n_total = sum(_n_data(mesh).values())
    values = _per_data_vertex("values", values, n_total, np.float64)
    vmin, vmax = _color_range(values, vmin, vmax)
    scaled = np.clip((values - vmin) / (vmax - vmin), 0.0, 1.0)
    data_codes = DATA_FIRST_CODE + np.rint(np.nan_to_num(scaled) * (_MAX_CODE - DATA_FIRST_CODE))
    depth = np.zeros(n_total) if sulc is None else _sulcal_depth(_per_data_vertex("sulc", sulc, n_total, np.float64))
    shown = np.isfinite(values)
    if threshold is not None:
        shown &= np.abs(values) >= threshold
    codes = np.where(shown, data_codes, np.rint(depth * SULCUS_CODE)).astype(np.uint8)
    mesh_codes, mesh_values = {}, {}
    for hemi in HEMISPHERES:
        part = mesh[hemi]
        n_mesh = len(part["vertices"])
        mesh_codes[hemi] = np.full(n_mesh, round(_MEDIAL_WALL_DEPTH * SULCUS_CODE), np.uint8)
        mesh_codes[hemi][part["vertex_index"]] = _split(codes, mesh)[hemi]
        mesh_values[hemi] = np.full(n_mesh, np.nan, np.float32)
        mesh_values[hemi][part["vertex_index"]] = _split(values, mesh)[hemi]
    return mesh_codes, mesh_values, (vmin, vmax)


def _placed_vertices(mesh) -> dict:
    """Vertices shifted along x so the left hemisphere sits left of the right one."""
    left = np.asarray(mesh["left"]["vertices"], dtype=np.float32)
    right = np.asarray(mesh["right"]["vertices"], dtype=np.float32)
    width = max(np.ptp(left[:, 0]), np.ptp(right[:, 0]))
    gap = _GAP_FRACTION * width
    shift_left = np.array([-gap / 2 - left[:, 0].max(), 0, 0], np.float32)
    shift_right = np.array([gap / 2 - right[:, 0].min(), 0, 0], np.float32)
    return {"left": left + shift_left, "right": right + shift_right}


def _colorbar_marker(colorscale, vmin, vmax, colorbar_title) -> dict:
    return {
        "color": [vmin, vmax],
        "colorscale": colorscale,
        "cmin": vmin,
        "cmax": vmax,
        "opacity": 0,
        "size": 0.1,
        "showscale": True,
        "colorbar": {"title": {"text": colorbar_title}, "thickness": 14, "len": 0.6},
    }


def surface_figure(
    mesh,
    values,
    *,
    view: str = "inflated",
    threshold: float | None = None,
    colorscale="RdBu_r",
    vmin: float | None = None,
    vmax: float | None = None,
    sulc=None,
    vertex_names=None,
    camera: str | None = None,
    title: str = "",
    colorbar_title: str = "",
) -> go.Figure:
    """Both hemispheres of a cortical map as Mesh3d traces, side by side.

    Parameters
    ----------
    mesh : dict
        ``{"left": {"vertices", "faces", "vertex_index"}, "right": {...}}`` (see module
        docstring); the flat or inflated surface to match ``view``.
    values : ndarray of shape (n_data_vertices,)
        One value per data vertex, left then right; NaN shows the background.
    view : {"inflated", "flat"}
        ``"flat"`` uses an orthographic camera looking down +z, flat lighting and pan
        dragging; ``"inflated"`` uses soft lighting and orbit dragging (rotate to reach
        lateral and medial views).
    threshold : float, optional
        Vertices with ``|value| < threshold`` show the sulcal background.
    colorscale : str or list
        Any plotly colour scale (name or ``[[0, colour], ..., [1, colour]]``).
    vmin, vmax : float, optional
        Colour range; values outside are clipped. Defaults: ``vmax = max|values|`` and
        ``vmin = -vmax`` if any value is negative, else ``min(values)``.
    sulc : ndarray of shape (n_data_vertices,), optional
        Sulcal depth (positive in sulci) for the grey background; flat grey without it.
    vertex_names : sequence of str of length n_data_vertices, optional
        Hover label per data vertex (e.g. the Glasser area name).
    camera : str, optional
        Key of ``CAMERAS`` for the inflated view (default ``"posterior"``); not used
        for the flat view.
    title, colorbar_title : str

    Returns
    -------
    go.Figure
        Traces: left Mesh3d, right Mesh3d (per-vertex uint8 ``intensity`` codes on the
        combined colour scale, see the module docstring; ``customdata`` = value, NaN on the
        medial wall), and a Scatter3d carrying the colour bar in data units.
    """
    _check_choice("view", view, VIEWS)
    style = VIEWS[view]
    if camera is not None:
        _check_choice("camera", camera, CAMERAS)
        if view == "flat":
            raise ValueError("camera is fixed for view='flat'; choose view='inflated' to set it")
    codes, mesh_values, (vmin, vmax) = _vertex_intensity(
        mesh, values, threshold=threshold, vmin=vmin, vmax=vmax, sulc=sulc
    )
    combined = _combined_colorscale(colorscale)
    n_total = sum(_n_data(mesh).values())
    names = None
    if vertex_names is not None:
        names = _split(_per_data_vertex("vertex_names", vertex_names, n_total, object), mesh)
    vertices = _placed_vertices(mesh)
    fig = go.Figure()
    for hemi in HEMISPHERES:
        faces = np.asarray(mesh[hemi]["faces"])
        face_dtype = np.uint16 if len(vertices[hemi]) <= np.iinfo(np.uint16).max else np.uint32
        text = None
        if names is not None:
            text = np.full(len(vertices[hemi]), _HOVER_NO_DATA, dtype=object)
            text[mesh[hemi]["vertex_index"]] = names[hemi]
        label = "%{text}<br>" if text is not None else ""
        fig.add_trace(
            go.Mesh3d(
                x=vertices[hemi][:, 0],
                y=vertices[hemi][:, 1],
                z=vertices[hemi][:, 2],
                i=faces[:, 0].astype(face_dtype),
                j=faces[:, 1].astype(face_dtype),
                k=faces[:, 2].astype(face_dtype),
                intensity=codes[hemi],
                intensitymode="vertex",
                colorscale=combined,
                cmin=0,
                cmax=_MAX_CODE,
                customdata=mesh_values[hemi],
                text=text,
                hovertemplate=f"{label}value: %{{customdata:.3g}}<extra>{hemi}</extra>",
                flatshading=False,
                lighting=style["lighting"],
                lightposition={"x": 0, "y": 0, "z": 1e5} if view == "flat" else None,
                name=hemi,
                showscale=False,
            )
        )
    anchor = vertices["left"][:1]
    fig.add_trace(
        go.Scatter3d(
            x=np.repeat(anchor[:, 0], 2),
            y=np.repeat(anchor[:, 1], 2),
            z=np.repeat(anchor[:, 2], 2),
            mode="markers",
            marker=_colorbar_marker(colorscale, vmin, vmax, colorbar_title),
            hoverinfo="skip",
            showlegend=False,
            name="colorbar",
        )
    )
    hidden_axis = {"visible": False}
    aspect = {"aspectmode": "data"}
    if style["aspect_width"] is not None:
        both = np.concatenate([vertices["left"], vertices["right"]])
        ratio = np.ptp(both[:, 1]) / max(np.ptp(both[:, 0]), 1e-6)
        aspect = {
            "aspectmode": "manual",
            "aspectratio": {"x": style["aspect_width"], "y": style["aspect_width"] * float(ratio), "z": 0.01},
        }
    fig.update_layout(
        title={"text": title},
        margin={"l": 0, "r": 0, "t": 40 if title else 0, "b": 0},
        paper_bgcolor="white",
        showlegend=False,
        scene={
            "xaxis": hidden_axis,
            "yaxis": hidden_axis,
            "zaxis": hidden_axis,
            **aspect,
            "dragmode": style["dragmode"],
            "camera": style["camera"] if camera is None else CAMERAS[camera],
        },
        uirevision=view,
    )
    return fig


def _typed_array(arr, dtype: str) -> dict:
    """plotly.js typed-array spec (base64, little-endian ``dtype`` "u1" or "f4"), as plotly.py writes it."""
    data = np.ascontiguousarray(arr, dtype=f"<{dtype}")
    return {"dtype": dtype, "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def surface_intensity_patch(
    mesh,
    values,
    *,
    threshold: float | None = None,
    colorscale="RdBu_r",
    vmin: float | None = None,
    vmax: float | None = None,
    sulc=None,
    colorbar_title: str = "",
) -> dict:
    """The per-trace updates that turn an existing ``surface_figure`` into a new map.

    Only the intensity codes, the colour scale, the hover values and the colour bar change,
    never the mesh. Arguments are as in ``surface_figure``.

    Returns
    -------
    dict
        ``{trace_index: {attribute: new_value}}`` for trace indices 0 (left), 1 (right) and
        2 (colour bar). The meshes get ``"intensity"`` (uint8 codes as a base64 typed-array
        spec that plotly.js decodes: one byte per mesh vertex), ``"colorscale"`` (the combined
        colour scale) and ``"customdata"`` (the values, float32 typed-array spec); the colour
        bar gets ``"marker"``. A threshold change alters only ``"intensity"``. With
        ``dash.Patch``::

            patch = Patch()
            for index, attributes in surface_intensity_patch(mesh, values).items():
                for attribute, value in attributes.items():
                    patch["data"][index][attribute] = value
    """
    codes, mesh_values, (vmin, vmax) = _vertex_intensity(
        mesh, values, threshold=threshold, vmin=vmin, vmax=vmax, sulc=sulc
    )
    combined = _combined_colorscale(colorscale)
    patch = {
        TRACE_INDEX[hemi]: {
            "intensity": _typed_array(codes[hemi], "u1"),
            "colorscale": combined,
            "customdata": _typed_array(mesh_values[hemi], "f4"),
        }
        for hemi in HEMISPHERES
    }
    patch[TRACE_INDEX["colorbar"]] = {"marker": _colorbar_marker(colorscale, vmin, vmax, colorbar_title)}
    return patch
