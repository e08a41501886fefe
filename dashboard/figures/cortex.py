"""Cortical surface figures: both hemispheres as plotly Mesh3d traces (plotly + numpy only).

The mesh comes in as plain arrays (``core.cortex.Surface.to_plain()`` gives this layout)::

    mesh = {
        "left":  {"vertices": (n_mesh_L, 3) float,   # mm; flat maps have z = 0
                  "faces": (n_faces_L, 3) int,       # vertex indices
                  "vertex_index": (n_data_L,) int},  # mesh vertex of each data vertex
        "right": {...},
    }

Data arrays (``values``, ``sulc``, ``vertex_names``, ``borders``) have one entry per data vertex, left
hemisphere first: length ``n_data_L + n_data_R`` (59,412 fsLR-32k grayordinates or 20,484 fsaverage5
vertices). Mesh vertices that carry no data (the medial wall) show the sulcal background.

**Colour scales** (``SCALES``): ``"sequential"`` maps (r, R², ceilings, accuracy, layers) run from 0; a
vertex shows its colour when its value is above 0 and at least ``threshold``, else the sulcal background.
``"diverging"`` maps (d′, differences, signed responses) are centred on 0 (``vmin = -vmax``); a vertex
shows its colour when ``|value| >= threshold`` and the value is not 0, so a map of zeros (A − A) is all
background. ``"auto"`` is diverging when a value is negative, else sequential.

**Intensity codes.** Each mesh vertex gets one byte (uint8, sent as a base64 typed array) on one combined
colour scale per map::

    0 .. NEG_LAST          negative values from vmin up to -threshold (diverging maps)
    BORDER_CODE            Glasser area borders (the band NEG_LAST+1 .. GREY_FIRST-1)
    GREY_FIRST..GREY_LAST  the grey sulcal background: gyrus .. deepest sulcus
    POS_FIRST .. POS_LAST  positive values from max(threshold, 0) (or vmin) up to vmax

Codes are interpolated across each triangle, and the background lies *between* the two signs, so the
edge of a shown region blends from the background into the colour of the threshold, never through
colours of values that are not shown (a one-dimensional scale with the background at one end would
pass a red vertex's edge through the whole blue half). A map update is the codes, the combined scale, the
hover values and the colour bar (an invisible Scatter3d trace, in data units, the hidden range in grey).

**Views.** ``"flat"``: one orthographic scene, both hemispheres side by side. ``"inflated"``: with both
hemispheres, one scene per hemisphere (``scene`` left, ``scene2`` right), so a camera preset
(``CAMERA_PRESETS``: lateral, medial, ventral, dorsal, posterior, anterior) shows each hemisphere from its
own side; with one hemisphere, one scene. Hover: the area name and the value (``"-"`` where there is none).

Traces, in order (``TRACE_INDEX``): 0 = left mesh, 1 = right mesh, 2 = colour bar.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go

__all__ = ["BORDER_CODE", "CAMERA_PRESETS", "GREY_FIRST", "GREY_LAST", "HEMISPHERE_CHOICES", "MEDIAL_WALL_CODE",
           "NEG_LAST", "POS_FIRST", "POS_LAST", "SCALES", "TRACE_INDEX", "VIEWS", "camera_layout", "layer_color_options",
           "surface_figure", "surface_intensity_patch"]

HEMISPHERES = ("left", "right")
#: Hemispheres a figure can show.
HEMISPHERE_CHOICES = ("both", "left", "right")
TRACE_INDEX = {"left": 0, "right": 1, "colorbar": 2}
#: Colour-scale kinds (see the module docstring).
SCALES = ("sequential", "diverging", "auto")

_EYE = 1.7  # camera distance of the presets
#: Camera presets of the inflated view: name -> hemisphere -> eye direction; "up" is +z except from
#: below or above (+y: anterior at the top of the screen).
CAMERA_PRESETS = {
    "lateral": {"left": (-1, 0, 0.1), "right": (1, 0, 0.1)},
    "medial": {"left": (1, 0, 0.1), "right": (-1, 0, 0.1)},
    "ventral": {"left": (0, 0, -1), "right": (0, 0, -1)},
    "dorsal": {"left": (0, 0, 1), "right": (0, 0, 1)},
    "posterior": {"left": (0, -1, 0.2), "right": (0, -1, 0.2)},
    "anterior": {"left": (0, 1, 0.2), "right": (0, 1, 0.2)},
}
_FLAT_CAMERA = {
    "eye": {"x": 0.0, "y": 0.0, "z": 2.0},
    "up": {"x": 0, "y": 1, "z": 0},
    "projection": {"type": "orthographic"},
}

#: Per-view rendering: lighting of the meshes, scene drag mode, default camera preset, and the
#: scene's x aspect ratio (None = "data" aspect). An orthographic camera ignores the eye
#: distance, so the flat map's zoom is set through its aspect ratio.
VIEWS = {
    "inflated": {
        "lighting": {"ambient": 0.55, "diffuse": 0.6, "specular": 0.05, "roughness": 0.9, "fresnel": 0.05},
        "dragmode": "orbit",
        "camera": "lateral",
        "aspect_width": None,
    },
    "flat": {
        "lighting": {"ambient": 1.0, "diffuse": 0.0, "specular": 0.0, "roughness": 1.0, "fresnel": 0.0},
        "dragmode": "pan",
        "camera": None,
        "aspect_width": 3.6,
    },
}

_GYRUS_GREY = 205  # background grey (0-255) on gyri (sulc <= 0) ...
_SULCUS_GREY = 95  # ... and deep in sulci
_HIDDEN_GREY = "rgb(150,150,150)"  # the colour bar's range of values that are not shown
_BORDER_COLOR = "rgb(25,25,25)"
#: Intensity codes (see the module docstring).
NEG_LAST = 87
BORDER_CODE = 90
GREY_FIRST = 93
GREY_LAST = 162
POS_FIRST = 168
POS_LAST = 251
#: The medial wall's grey: halfway between gyrus and sulcus, but not 127 (0x7F), whose runs base64 writes as "/",
#: which Dash's JSON escapes to six characters; codes above POS_LAST (0xFC-0xFF) are left out for the same reason.
MEDIAL_WALL_CODE = 126
_MAX_CODE = 255
_GAP_FRACTION = 0.06  # gap between hemispheres, as a fraction of the wider hemisphere
_HOVER_NO_DATA = "medial wall"
_NO_VALUE = "-"  # one character: the JSON of a hover value costs a few bytes per vertex
_SIGNIFICANT_DIGITS = 3


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


def _rgb_stops(colorscale) -> tuple[np.ndarray, np.ndarray]:
    """Stops (n,) and RGB (n, 3) of a plotly colour scale given by name or as ``[[stop, colour], ...]``."""
    scale = pcolors.get_colorscale(colorscale) if isinstance(colorscale, str) else colorscale
    stops = np.array([float(stop) for stop, _ in scale])
    rgb = np.array([pcolors.hex_to_rgb(c) if c.startswith("#") else pcolors.unlabel_rgb(c) for _, c in scale],
                   float)
    return stops, rgb


def _rgb(color) -> str:
    return "rgb({},{},{})".format(*(int(round(c)) for c in color))


def _color_at(stops, rgb, x: float, *, from_right: bool) -> np.ndarray:
    """RGB of a scale at fraction ``x``; at a step (a repeated stop) the colour after it (``from_right``) or
    before it."""
    j = int(np.searchsorted(stops, x, side="right" if from_right else "left")) - 1
    j = min(max(j, 0), len(stops) - 2)
    a, b = stops[j], stops[j + 1]
    t = 0.0 if b == a else float(np.clip((x - a) / (b - a), 0.0, 1.0))
    return rgb[j] + t * (rgb[j + 1] - rgb[j])


def _sub_scale(stops, rgb, low: float, high: float) -> list:
    """The colours of a scale between fractions ``low`` and ``high``, as ``[[position in 0..1, colour], ...]``
    (positions relative to that part; a single colour when ``low >= high``)."""
    first = _rgb(_color_at(stops, rgb, low, from_right=True))
    if high <= low:
        return [[0.0, first], [1.0, first]]
    inside = [[float((s - low) / (high - low)), _rgb(color)] for s, color in zip(stops, rgb, strict=True)
              if low < s < high]
    return [[0.0, first], *inside, [1.0, _rgb(_color_at(stops, rgb, high, from_right=False))]]


def _place(part: list, first: int, last: int) -> list:
    """A sub-scale placed on the codes ``first..last`` of the combined scale (positions as code / 255)."""
    return [[float((first + (last - first) * position) / _MAX_CODE), color] for position, color in part]


def layer_color_options(n_layers: int, colorscale: str = "Viridis") -> dict:
    """``colorscale``, ``vmin`` and ``vmax`` for a map of layer numbers 1..``n_layers``: one flat colour
    band per layer (sampled from ``colorscale``), each integer at the centre of its band."""
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}")
    colors = pcolors.sample_colorscale(colorscale, list(np.linspace(0.0, 1.0, n_layers)))
    edges = np.linspace(0.0, 1.0, n_layers + 1)
    scale = [[float(edge), color] for i, color in enumerate(colors) for edge in edges[i:i + 2]]
    return {"colorscale": scale, "vmin": 0.5, "vmax": n_layers + 0.5, "scale": "sequential"}


def _sulcal_depth(sulc) -> np.ndarray:
    """Depth 0 (gyrus) .. 1 (deep sulcus) per data vertex from sulcal depth (positive in sulci)."""
    scale = np.percentile(np.abs(sulc), 80) or 1.0
    return np.clip(0.5 + 0.5 * sulc / scale, 0.0, 1.0)


def _resolved_scale(scale: str, values: np.ndarray) -> str:
    _check_choice("scale", scale, SCALES)
    if scale == "auto":
        return "diverging" if np.nanmin(values, initial=0.0) < 0 else "sequential"
    return scale


def _color_range(values, scale: str, vmin, vmax) -> tuple[float, float]:
    """``(vmin, vmax)``: sequential maps from 0 to the largest value, diverging ones ±max|value|."""
    finite = values[np.isfinite(values)]
    if vmax is None:
        top = float(np.abs(finite).max()) if finite.size else 0.0
        vmax = top if scale == "diverging" else float(finite.max(initial=0.0))
        vmax = vmax if vmax > 0 else 1.0
    vmax = float(vmax)
    if vmin is None:
        vmin = -vmax if scale == "diverging" else 0.0
    vmin = float(vmin)
    if not vmin < vmax:
        raise ValueError(f"The colour range needs a lower end below its upper end, got {vmin:g} to {vmax:g}")
    return vmin, vmax


def _limits(scale, vmin, vmax, threshold) -> tuple[float | None, float]:
    """``(neg_high, pos_low)``: negative values up to ``neg_high`` (None: none shown) and positive values from
    ``pos_low`` get colours; the colour bar's grey covers what lies between."""
    threshold = max(float(threshold or 0.0), 0.0)
    if scale == "diverging":
        return -threshold, threshold
    return None, max(threshold, vmin)


class _Coloring:
    """Colour range, shown values and the combined colour scale of one map (see the module docstring)."""

    def __init__(self, values, *, scale, colorscale, vmin, vmax, threshold):
        self.scale = _resolved_scale(scale, values)
        self.vmin, self.vmax = _color_range(values, self.scale, vmin, vmax)
        self.neg_high, self.pos_low = _limits(self.scale, self.vmin, self.vmax, threshold)
        self.stops, self.rgb = _rgb_stops(colorscale)

    def _fraction(self, value: float) -> float:
        return float(np.clip((value - self.vmin) / (self.vmax - self.vmin), 0.0, 1.0))

    def codes(self, values: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """uint8 code per data vertex: its colour where shown, else its sulcal grey."""
        finite = np.isfinite(values)
        safe = np.where(finite, values, 0.0)
        positive = finite & (safe > 0) & (safe >= self.pos_low)
        span = max(self.vmax - self.pos_low, 1e-12)
        pos_codes = POS_FIRST + np.rint(np.clip((safe - self.pos_low) / span, 0, 1) * (POS_LAST - POS_FIRST))
        codes = np.where(positive, pos_codes, GREY_FIRST + np.rint(depth * (GREY_LAST - GREY_FIRST)))
        if self.neg_high is not None:
            negative = finite & (safe < 0) & (safe <= self.neg_high)
            span = max(self.neg_high - self.vmin, 1e-12)
            neg_codes = np.rint(np.clip((safe - self.vmin) / span, 0, 1) * NEG_LAST)
            codes = np.where(negative, neg_codes, codes)
        return codes.astype(np.uint8)

    def combined(self) -> list:
        """The intensity colour scale over codes / 255."""
        neg_high = self.vmin if self.neg_high is None else self.neg_high
        negative = _sub_scale(self.stops, self.rgb, 0.0, self._fraction(neg_high))
        positive = _sub_scale(self.stops, self.rgb, self._fraction(self.pos_low), 1.0)
        gyrus, sulcus = (f"rgb({g},{g},{g})" for g in (_GYRUS_GREY, _SULCUS_GREY))
        return [*_place(negative, 0, NEG_LAST), [(NEG_LAST + 1) / _MAX_CODE, _BORDER_COLOR],
                [(GREY_FIRST - 1) / _MAX_CODE, _BORDER_COLOR], [GREY_FIRST / _MAX_CODE, gyrus],
                [GREY_LAST / _MAX_CODE, sulcus], *_place(positive, POS_FIRST, POS_LAST), [1.0, positive[-1][1]]]

    def colorbar_scale(self) -> list:
        """The colour bar's scale over vmin..vmax: the map's colours, grey where values are not shown."""
        hidden_low = self._fraction(self.vmin if self.neg_high is None else self.neg_high)
        hidden_high = self._fraction(self.pos_low)
        if hidden_high <= hidden_low:
            return _sub_scale(self.stops, self.rgb, 0.0, 1.0)
        parts = []
        if hidden_low > 0:
            parts += [[p * hidden_low, c] for p, c in _sub_scale(self.stops, self.rgb, 0.0, hidden_low)]
        parts += [[hidden_low, _HIDDEN_GREY], [hidden_high, _HIDDEN_GREY]]
        if hidden_high < 1:
            parts += [[hidden_high + p * (1 - hidden_high), c]
                      for p, c in _sub_scale(self.stops, self.rgb, hidden_high, 1.0)]
        return parts

    def colorbar_marker(self, colorbar_title: str) -> dict:
        return {
            "color": [self.vmin, self.vmax],
            "colorscale": self.colorbar_scale(),
            "cmin": self.vmin,
            "cmax": self.vmax,
            "opacity": 0,
            "size": 0.1,
            "showscale": True,
            "colorbar": {"title": {"text": colorbar_title}, "thickness": 14, "len": 0.6},
        }


def _hover_name(colorbar_title: str) -> str:
    """Name of the value on hover (the trace's ``meta``, read by its hover template): the colour-bar title, "value"
    without one."""
    return colorbar_title or "value"


def _hover_values(values: np.ndarray) -> list:
    """Values rounded to 3 significant digits (JSON numbers as short as their text), ``"-"`` where missing."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values) & (values != 0)
    magnitude = np.floor(np.log10(np.abs(np.where(finite, values, 1.0))))
    digits = (_SIGNIFICANT_DIGITS - 1 - magnitude).astype(int)
    rounded = np.where(digits >= 0, np.round(values * 10.0 ** np.maximum(digits, 0)) / 10.0 ** np.maximum(digits, 0),
                       np.round(values / 10.0 ** np.maximum(-digits, 0)) * 10.0 ** np.maximum(-digits, 0))
    out = np.where(finite, rounded, 0.0).tolist()
    for i in np.flatnonzero(~np.isfinite(values)):
        out[i] = _NO_VALUE
    return out


def _vertex_intensity(mesh, values, coloring: _Coloring, *, sulc, borders):
    """Per-hemisphere intensity codes (uint8, one per mesh vertex) and hover values of the mesh vertices."""
    n_total = sum(_n_data(mesh).values())
    depth = np.zeros(n_total) if sulc is None else _sulcal_depth(_per_data_vertex("sulc", sulc, n_total, np.float64))
    codes = coloring.codes(values, depth)
    if borders is not None:
        codes[_per_data_vertex("borders", borders, n_total, bool)] = BORDER_CODE
    mesh_codes, mesh_values = {}, {}
    for hemi in HEMISPHERES:
        part = mesh[hemi]
        n_mesh = len(part["vertices"])
        mesh_codes[hemi] = np.full(n_mesh, MEDIAL_WALL_CODE, np.uint8)
        mesh_codes[hemi][part["vertex_index"]] = _split(codes, mesh)[hemi]
        on_mesh = np.full(n_mesh, np.nan)
        on_mesh[part["vertex_index"]] = _split(values, mesh)[hemi]
        mesh_values[hemi] = on_mesh
    return mesh_codes, mesh_values


def _placed_vertices(mesh) -> dict:
    """Vertices shifted along x so the left hemisphere sits left of the right one."""
    left = np.asarray(mesh["left"]["vertices"], dtype=np.float32)
    right = np.asarray(mesh["right"]["vertices"], dtype=np.float32)
    width = max(np.ptp(left[:, 0]), np.ptp(right[:, 0]))
    gap = _GAP_FRACTION * width
    shift_left = np.array([-gap / 2 - left[:, 0].max(), 0, 0], np.float32)
    shift_right = np.array([gap / 2 - right[:, 0].min(), 0, 0], np.float32)
    return {"left": left + shift_left, "right": right + shift_right}


def _shown(hemisphere: str) -> tuple[str, ...]:
    return HEMISPHERES if hemisphere == "both" else (hemisphere,)


def _scenes(view: str, hemisphere: str) -> dict:
    """Scene of each hemisphere's trace: one per hemisphere for both inflated hemispheres, else one."""
    if view == "inflated" and hemisphere == "both":
        return {"left": "scene", "right": "scene2"}
    return {"left": "scene", "right": "scene"}


def _preset_camera(preset: str, hemi: str) -> dict:
    x, y, z = CAMERA_PRESETS[preset][hemi]
    norm = _EYE / float(np.linalg.norm((x, y, z)))
    up = {"x": 0, "y": 1, "z": 0} if preset in ("ventral", "dorsal") else {"x": 0, "y": 0, "z": 1}
    return {"eye": {"x": x * norm, "y": y * norm, "z": z * norm}, "up": up, "center": {"x": 0, "y": 0, "z": 0}}


def camera_layout(view: str = "inflated", hemisphere: str = "both", camera: str | None = None) -> dict:
    """Layout updates that point each scene's camera for ``camera`` (a ``CAMERA_PRESETS`` key; the view's
    default when None), plus a ``uirevision`` naming them so that a new preset replaces a user's rotation.

    Returns
    -------
    dict
        ``{"scene": {"camera": ...}, ["scene2": {"camera": ...},] "uirevision": str}``.
    """
    _check_choice("view", view, VIEWS)
    _check_choice("hemisphere", hemisphere, HEMISPHERE_CHOICES)
    if view == "flat":
        if camera is not None:
            raise ValueError("camera is fixed for view='flat'; choose view='inflated' to set it")
        return {"scene": {"camera": _FLAT_CAMERA}, "uirevision": f"flat|{hemisphere}"}
    camera = camera or VIEWS[view]["camera"]
    _check_choice("camera", camera, CAMERA_PRESETS)
    scenes = _scenes(view, hemisphere)
    layout = {scenes[hemi]: {"camera": _preset_camera(camera, hemi)} for hemi in _shown(hemisphere)}
    return {**layout, "uirevision": f"{view}|{hemisphere}|{camera}"}


def _scene_layout(view: str, hemisphere: str, vertices: dict) -> dict:
    """Layout of the figure's scene(s): hidden axes, aspect, drag mode and domain."""
    style = VIEWS[view]
    hidden_axis = {"visible": False}
    shown = _shown(hemisphere)
    aspect = {"aspectmode": "data"}
    if style["aspect_width"] is not None:
        both = np.concatenate([vertices[h] for h in shown])
        ratio = np.ptp(both[:, 1]) / max(np.ptp(both[:, 0]), 1e-6)
        width = style["aspect_width"] / (2 if len(shown) == 1 else 1)
        aspect = {"aspectmode": "manual", "aspectratio": {"x": width, "y": width * float(ratio), "z": 0.01}}
    base = {"xaxis": hidden_axis, "yaxis": hidden_axis, "zaxis": hidden_axis, **aspect,
            "dragmode": style["dragmode"]}
    scenes = _scenes(view, hemisphere)
    if scenes["left"] == scenes["right"]:
        return {"scene": {**base, "domain": {"x": [0, 1], "y": [0, 1]}}}
    return {"scene": {**base, "domain": {"x": [0, 0.5], "y": [0, 1]}},
            "scene2": {**base, "domain": {"x": [0.5, 1], "y": [0, 1]}}}


def surface_figure(
    mesh,
    values,
    *,
    view: str = "inflated",
    scale: str = "auto",
    threshold: float | None = None,
    colorscale="RdBu_r",
    vmin: float | None = None,
    vmax: float | None = None,
    sulc=None,
    vertex_names=None,
    borders=None,
    camera: str | None = None,
    hemisphere: str = "both",
    title: str = "",
    colorbar_title: str = "",
) -> go.Figure:
    """Both hemispheres (or one) of a cortical map as Mesh3d traces.

    Parameters
    ----------
    mesh : dict
        ``{"left": {"vertices", "faces", "vertex_index"}, "right": {...}}`` (see module
        docstring); the flat or inflated surface to match ``view``.
    values : ndarray of shape (n_data_vertices,)
        One value per data vertex, left then right; NaN shows the background.
    view : {"inflated", "flat"}
        ``"flat"`` uses an orthographic camera looking down +z, flat lighting and pan
        dragging; ``"inflated"`` uses soft lighting, orbit dragging and the camera presets.
    scale : {"sequential", "diverging", "auto"}
        How values map to colours and which are shown (see the module docstring).
    threshold : float, optional
        In data units: sequential maps show values ``>= threshold`` (and above 0), diverging maps
        ``|value| >= threshold``; the rest shows the sulcal background.
    colorscale : str or list
        Any plotly colour scale (name or ``[[0, colour], ..., [1, colour]]``).
    vmin, vmax : float, optional
        Colour range in data units; values outside are clipped. Defaults: sequential 0 to the largest
        value, diverging ±max|value|.
    sulc : ndarray of shape (n_data_vertices,), optional
        Sulcal depth (positive in sulci) for the grey background; flat grey without it.
    vertex_names : sequence of str of length n_data_vertices, optional
        Hover label per data vertex (e.g. "FFC — Fusiform Face Complex").
    borders : ndarray of bool of shape (n_data_vertices,), optional
        Vertices drawn in the border colour (area outlines).
    camera : str, optional
        Key of ``CAMERA_PRESETS`` for the inflated view (default ``"lateral"``); not used
        for the flat view.
    hemisphere : {"both", "left", "right"}
        Hemispheres shown; a hidden one's trace is kept (``visible=False``) so trace indices stay fixed.
    title, colorbar_title : str
        ``colorbar_title`` also labels the value in the hover text ("value" without it).

    Returns
    -------
    go.Figure
        Traces: left Mesh3d, right Mesh3d (per-vertex uint8 ``intensity`` codes on the combined
        colour scale; ``customdata`` = hover value per mesh vertex), and a Scatter3d carrying the colour
        bar in data units.
    """
    _check_choice("view", view, VIEWS)
    _check_choice("hemisphere", hemisphere, HEMISPHERE_CHOICES)
    style = VIEWS[view]
    cameras = camera_layout(view, hemisphere, camera)
    n_total = sum(_n_data(mesh).values())
    values = _per_data_vertex("values", values, n_total, np.float64)
    coloring = _Coloring(values, scale=scale, colorscale=colorscale, vmin=vmin, vmax=vmax, threshold=threshold)
    codes, mesh_values = _vertex_intensity(mesh, values, coloring, sulc=sulc, borders=borders)
    combined = coloring.combined()
    names = None
    if vertex_names is not None:
        names = _split(_per_data_vertex("vertex_names", vertex_names, n_total, object), mesh)
    vertices = _placed_vertices(mesh)
    scenes = _scenes(view, hemisphere)
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
                customdata=_hover_values(mesh_values[hemi]),
                text=text,
                meta=_hover_name(colorbar_title),
                hovertemplate=f"{label}%{{meta}}: %{{customdata}}<extra>{hemi}</extra>",
                flatshading=False,
                lighting=style["lighting"],
                lightposition={"x": 0, "y": 0, "z": 1e5} if view == "flat" else None,
                name=hemi,
                showscale=False,
                scene=scenes[hemi],
                visible=hemi in _shown(hemisphere),
            )
        )
    anchor = vertices[_shown(hemisphere)[0]][:1]
    fig.add_trace(
        go.Scatter3d(
            x=np.repeat(anchor[:, 0], 2),
            y=np.repeat(anchor[:, 1], 2),
            z=np.repeat(anchor[:, 2], 2),
            mode="markers",
            marker=coloring.colorbar_marker(colorbar_title),
            hoverinfo="skip",
            showlegend=False,
            name="colorbar",
            scene="scene",
        )
    )
    layout = _scene_layout(view, hemisphere, vertices)
    for scene, update in cameras.items():
        if scene != "uirevision":
            layout[scene].update(update)
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        margin={"l": 0, "r": 0, "t": 36 if title else 0, "b": 0},
        paper_bgcolor="white",
        showlegend=False,
        uirevision=cameras["uirevision"],
        **layout,
    )
    return fig


def _typed_array(arr, dtype: str) -> dict:
    """plotly.js typed-array spec (base64, little-endian ``dtype`` such as "u1"), as plotly.py writes it."""
    data = np.ascontiguousarray(arr, dtype=f"<{dtype}")
    return {"dtype": dtype, "bdata": base64.b64encode(data.tobytes()).decode("ascii")}


def surface_intensity_patch(
    mesh,
    values,
    *,
    scale: str = "auto",
    threshold: float | None = None,
    colorscale="RdBu_r",
    vmin: float | None = None,
    vmax: float | None = None,
    sulc=None,
    borders=None,
    colorbar_title: str = "",
    hover: bool = True,
) -> dict:
    """The per-trace updates that turn an existing ``surface_figure`` into a new map.

    Only the intensity codes, the colour scale, the hover values and the colour bar change,
    never the mesh. Arguments are as in ``surface_figure``.

    Parameters
    ----------
    hover : bool
        Include the hover values (needed when the values change, not for a new threshold, range or
        border setting).

    Returns
    -------
    dict
        ``{trace_index: {attribute: new_value}}`` for trace indices 0 (left), 1 (right) and
        2 (colour bar). The meshes get ``"intensity"`` (uint8 codes as a base64 typed-array
        spec that plotly.js decodes: one byte per mesh vertex), ``"colorscale"`` (the combined
        colour scale) and, with ``hover``, ``"customdata"`` (the hover values) and ``"meta"`` (the name of the
        value on hover, ``colorbar_title``, which the hover template reads); the colour bar gets
        ``"marker"``. With ``dash.Patch``::

            patch = Patch()
            for index, attributes in surface_intensity_patch(mesh, values).items():
                for attribute, value in attributes.items():
                    patch["data"][index][attribute] = value
    """
    n_total = sum(_n_data(mesh).values())
    values = _per_data_vertex("values", values, n_total, np.float64)
    coloring = _Coloring(values, scale=scale, colorscale=colorscale, vmin=vmin, vmax=vmax, threshold=threshold)
    codes, mesh_values = _vertex_intensity(mesh, values, coloring, sulc=sulc, borders=borders)
    combined = coloring.combined()
    patch = {}
    for hemi in HEMISPHERES:
        patch[TRACE_INDEX[hemi]] = {"intensity": _typed_array(codes[hemi], "u1"), "colorscale": combined}
        if hover:
            patch[TRACE_INDEX[hemi]].update(customdata=_hover_values(mesh_values[hemi]),
                                            meta=_hover_name(colorbar_title))
    patch[TRACE_INDEX["colorbar"]] = {"marker": coloring.colorbar_marker(colorbar_title)}
    return patch
