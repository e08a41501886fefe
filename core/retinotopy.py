"""Receptive fields of the simulated subject: a retinotopy of early visual cortex and the reading of feature maps.

**Retinotopy of V1–V3 on fsLR-32k** (:func:`fslr_retinotopy`), derived from the geometry of the HCP
S1200 group surfaces and the Glasser areas, not measured. It follows the textbook layout (Wandell,
Dumoulin & Brewer 2007):

- the fovea sits at the occipital pole: the most posterior V1 vertex of the midthickness surface;
- V1 eccentricity grows with the cortical distance d from it (shortest path along V1's mesh edges, mm)
  as the inverse of the cortical magnification of Horton & Hoyt (1991), E = E2 (exp(d / k) − 1) with
  E2 = 0.75°, k set per half of V1 so that its far end (98th percentile of d) lies at 90°;
- the dorsal half of V1 (above the calcarine fundus, approximated by the least-squares line of the
  midthickness z over y within V1) represents the lower visual field, the ventral half the upper field;
- polar angle θ (−90° lower vertical meridian … 0° horizontal … +90° upper vertical) is a harmonic
  interpolation over each area's mesh between its meridian borders: V1/V2 = vertical meridian (so
  V1's fundus, midway, is horizontal), V2/V3 = horizontal, V3's outer border = vertical;
- V2 and V3 take V1's cortical distance by harmonic extension from the V1/V2 border (iso-eccentricity
  lines cross the areas), then the same map to eccentricity;
- the left hemisphere sees the right visual field (x > 0) and vice versa.

**Receptive fields** (:func:`vertex_receptive_fields`): every vertex of a driven area has a Gaussian
receptive field with centre (x, y) and size σ = intercept + slope × eccentricity (degrees, declared per
area). In V1–V3 the centre comes from the retinotopy; in other areas ("coarse retinotopy") it comes
from two smooth random maps over the area, spread uniformly within a declared eccentricity extent of
the contralateral hemifield. :func:`receptive_field_units` groups neighbouring fields (k-means in the
visual field) into a few units per area, each vertex reading its unit.

**Reading feature maps** (:class:`ReceptiveFieldReading`): the stimulus fills a square field of view
(``field_of_view`` degrees, fixation at its centre); every feature map covers it. A unit's drive in
channel c is the Gaussian mass of each map pixel (its overlap with the pixel's square) times the
activation, summed over pixels, so a field half off the image gets half the drive; then a static
compressive nonlinearity sign(x)|x|^n (the exponent of Kay et al. 2013's compressive spatial summation,
applied per channel as in the feature-weighted receptive field model of St-Yves & Naselaris 2018), then
a fixed seeded Gaussian projection of the channels to ``n_channels`` dimensions. Layers without a map
(logits, descriptors) are one pixel covering the whole field.
"""

from __future__ import annotations

import functools
import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.features import LayerReduction

__all__ = [
    "FOVEAL_E2",
    "MAPPED_AREAS",
    "MAX_ECCENTRICITY",
    "ReceptiveFieldReading",
    "ReceptiveFields",
    "Retinotopy",
    "derive_retinotopy",
    "fslr_retinotopy",
    "pixel_weights",
    "receptive_field_units",
    "vertex_receptive_fields",
]

#: Areas whose retinotopy :func:`derive_retinotopy` derives from the surface geometry.
MAPPED_AREAS = ("V1", "V2", "V3")
#: E2 of the cortical magnification M(E) ∝ 1 / (E + E2) (Horton & Hoyt 1991), degrees.
FOVEAL_E2 = 0.75
#: Eccentricity of the far (anterior) end of V1, degrees.
MAX_ECCENTRICITY = 90.0


@dataclass(frozen=True, eq=False)
class Retinotopy:
    """Visual-field position of the vertices of the mapped areas.

    Attributes
    ----------
    eccentricity : ndarray of shape (n_vertices,), float32
        Degrees from fixation; NaN outside the mapped areas.
    polar_angle : ndarray of shape (n_vertices,), float32
        Degrees in [−90, 90]: −90 lower vertical meridian, 0 horizontal meridian, +90 upper vertical
        meridian (of the contralateral hemifield); NaN outside the mapped areas.
    x_sign : ndarray of shape (n_vertices,), float32
        +1 where the vertex sees the right hemifield (left hemisphere), −1 for the left hemifield.
    """

    eccentricity: np.ndarray
    polar_angle: np.ndarray
    x_sign: np.ndarray

    def position(self, vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Visual-field centres ``(x, y)`` in degrees of ``vertices`` (x right, y up)."""
        e, theta = self.eccentricity[vertices], np.deg2rad(self.polar_angle[vertices])
        return self.x_sign[vertices] * e * np.cos(theta), e * np.sin(theta)


def _harmonic(adjacency, region: np.ndarray, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on ``region`` that equal ``values`` on ``fixed`` (a subset) and are the mean of their
    neighbours in ``region`` elsewhere (Dirichlet problem of the graph Laplacian). Returns (len(region),)."""
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    sub = adjacency[region][:, region].tocsr()
    laplacian = sparse.diags(np.asarray(sub.sum(axis=1)).ravel()) - sub
    position = {v: i for i, v in enumerate(region)}
    fixed_at = np.asarray([position[v] for v in fixed], dtype=int)
    out = np.zeros(len(region))
    out[fixed_at] = values
    free = np.setdiff1d(np.arange(len(region)), fixed_at)
    if free.size:
        lff = laplacian[free][:, free] + sparse.identity(free.size) * 1e-9  # isolated islands stay at 0
        out[free] = spsolve(lff.tocsc(), -(laplacian[free][:, fixed_at] @ out[fixed_at]))
    return out


def _touching(adjacency, members: np.ndarray, others: np.ndarray) -> np.ndarray:
    """The vertices of ``members`` with a mesh neighbour in ``others``."""
    mask = np.zeros(adjacency.shape[0], dtype=bool)
    mask[others] = True
    hits = np.asarray(adjacency[members][:, mask].sum(axis=1)).ravel() > 0
    return members[hits]


def _distance_to_eccentricity(d: np.ndarray, d_max: float) -> np.ndarray:
    """E = E2 (exp(d / k) − 1) with k such that d_max ↦ MAX_ECCENTRICITY (inverse Horton & Hoyt 1991)."""
    k = d_max / np.log1p(MAX_ECCENTRICITY / FOVEAL_E2)
    return FOVEAL_E2 * np.expm1(np.clip(d, 0, None) / k)


def derive_retinotopy(coords: np.ndarray, adjacency, areas: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Eccentricity and polar angle of V1, V2 and V3 of one hemisphere (see the module docstring).

    Parameters
    ----------
    coords : ndarray of shape (n_vertices, 3)
        Midthickness coordinates in mm (x right, y anterior, z superior) of every vertex of the mesh.
    adjacency : scipy.sparse matrix of shape (n_vertices, n_vertices)
    areas : mapping with keys "V1", "V2", "V3" to vertex indices; every other vertex with a neighbour
        in V3 is V3's outer border.

    Returns
    -------
    eccentricity, polar_angle : ndarray of shape (n_vertices,), float64, NaN outside V1–V3
    """
    from scipy.sparse.csgraph import dijkstra

    v1, v2, v3 = (np.asarray(areas[a], dtype=int) for a in MAPPED_AREAS)
    n = adjacency.shape[0]
    ecc, angle = np.full(n, np.nan), np.full(n, np.nan)
    # dorsal (above the calcarine fundus line) or ventral
    slope, intercept = np.polyfit(coords[v1, 1], coords[v1, 2], 1)
    dorsal = coords[:, 2] > slope * coords[:, 1] + intercept
    # cortical distance from the occipital pole within V1
    pole = v1[np.argmin(coords[v1, 1])]
    sub = adjacency[v1][:, v1].tocoo()
    lengths = np.linalg.norm(coords[v1[sub.row]] - coords[v1[sub.col]], axis=1)
    from scipy import sparse

    graph = sparse.csr_matrix((lengths, (sub.row, sub.col)), shape=(len(v1), len(v1)))
    d = dijkstra(graph, indices=int(np.flatnonzero(v1 == pole)[0]))
    d[~np.isfinite(d)] = np.nanmax(d[np.isfinite(d)])
    distance = np.full(n, np.nan)
    distance[v1] = d
    d_max = {side: np.percentile(d[dorsal[v1] == side], 98) for side in (True, False)}
    # V1's polar angle: vertical meridians at the V1/V2 border, harmonic inside
    border12 = _touching(adjacency, v1, v2)
    side = np.where(dorsal, -1.0, 1.0)  # dorsal V1 sees the lower field
    angle[v1] = _harmonic(adjacency, v1, border12, 90.0 * side[border12])
    # V2 and V3: which arm (dorsal −1 / ventral +1) and distance by harmonic extension from the V1/V2
    # border; angle between their meridian borders
    v23 = np.concatenate([v2, v3])
    border21 = _touching(adjacency, v2, v1)
    neighbour_angle = np.asarray([np.mean(angle[_neighbours(adjacency, v, v1)]) for v in border21])
    arm = np.full(n, np.nan)
    arm[v23] = np.sign(_harmonic(adjacency, v23, border21, np.sign(neighbour_angle)))
    neighbour_distance = np.asarray([np.mean(distance[_neighbours(adjacency, v, v1)]) for v in border21])
    distance[v23] = _harmonic(adjacency, v23, border21, neighbour_distance)
    beyond = np.setdiff1d(adjacency[v3].indices, np.concatenate([v1, v23]))  # across V3's outer border
    angle[v2] = 90.0 * arm[v2] * _meridian_fraction(adjacency, v2, vertical=v1, horizontal=v3)
    angle[v3] = 90.0 * arm[v3] * _meridian_fraction(adjacency, v3, vertical=beyond, horizontal=v2)
    mapped = np.concatenate([v1, v23])
    half = np.where(np.isin(mapped, v1), dorsal[mapped], arm[mapped] < 0)
    ecc[mapped] = np.where(half, _distance_to_eccentricity(distance[mapped], d_max[True]),
                           _distance_to_eccentricity(distance[mapped], d_max[False]))
    return ecc, np.clip(angle, -90.0, 90.0)


def _hops(adjacency, region: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """Fewest mesh edges from ``sources`` to each vertex of ``region``, walking within both; inf if unreachable."""
    from scipy.sparse.csgraph import dijkstra

    nodes = np.union1d(region, sources)
    d = dijkstra(adjacency[nodes][:, nodes], unweighted=True, min_only=True,
                 indices=np.flatnonzero(np.isin(nodes, sources)))
    return d[np.searchsorted(nodes, region)]


def _meridian_fraction(adjacency, band: np.ndarray, *, vertical: np.ndarray, horizontal: np.ndarray) -> np.ndarray:
    """Position of each vertex of a band between its vertical- and horizontal-meridian borders, in [0, 1]
    (1 = vertical): (d_h − ½) / (d_v + d_h − 1) with d the fewest edges to the vertices across each border,
    so that the meridian falls between the border vertices rather than on them."""
    d_v, d_h = _hops(adjacency, band, vertical), _hops(adjacency, band, horizontal)
    d_v, d_h = np.minimum(d_v, 1e3), np.minimum(d_h, 1e3)
    return (d_h - 0.5) / (d_v + d_h - 1.0)


def _neighbours(adjacency, vertex: int, within: np.ndarray) -> np.ndarray:
    row = adjacency.indices[adjacency.indptr[vertex]:adjacency.indptr[vertex + 1]]
    return row[np.isin(row, within)]


@functools.lru_cache(maxsize=1)
def fslr_retinotopy() -> Retinotopy:
    """The derived retinotopy of V1–V3 on the 59,412 fsLR-32k grayordinates (computed once per process)."""
    from core.cortex import cortical_adjacency, load_fslr32k, roi_table

    mid = load_fslr32k("midthickness")
    coords = np.concatenate([mid.left.vertices[mid.left.vertex_index], mid.right.vertices[mid.right.vertex_index]])
    adjacency = cortical_adjacency("fsLR32k").tocsr()
    n = adjacency.shape[0]
    ecc, angle = np.full(n, np.nan), np.full(n, np.nan)
    x_sign = np.empty(n, dtype=np.float32)
    n_left = len(mid.left.vertex_index)
    x_sign[:n_left], x_sign[n_left:] = 1.0, -1.0
    rois = {(roi.name, roi.hemisphere): roi.grayordinates for roi in roi_table()}
    for hemisphere in ("L", "R"):
        e, a = derive_retinotopy(coords, adjacency, {area: rois[(area, hemisphere)] for area in MAPPED_AREAS})
        ecc, angle = np.where(np.isnan(e), ecc, e), np.where(np.isnan(a), angle, a)
    arrays = (ecc.astype(np.float32), angle.astype(np.float32), x_sign)
    for array in arrays:
        array.setflags(write=False)
    return Retinotopy(*arrays)


# --------------------------------------------------------------------------------------- receptive fields

@dataclass(frozen=True, eq=False)
class ReceptiveFields:
    """Gaussian receptive fields in the visual field (degrees; x right, y up, fixation at 0).

    Attributes
    ----------
    x, y, sigma : ndarray of shape (n_fields,), float64
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray

    def __post_init__(self):
        if not len(self.x) == len(self.y) == len(self.sigma):
            raise ValueError(f"x, y and sigma differ in length: {len(self.x)}, {len(self.y)}, {len(self.sigma)}")
        if np.any(self.sigma <= 0):
            raise ValueError("Receptive-field sizes (sigma) must be positive")

    def __len__(self) -> int:
        return len(self.x)

    @classmethod
    def concatenate(cls, parts: Sequence[ReceptiveFields]) -> ReceptiveFields:
        """The fields of ``parts`` one after the other."""
        return cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in ("x", "y", "sigma")))

    @property
    def eccentricity(self) -> np.ndarray:
        return np.hypot(self.x, self.y)


def vertex_receptive_fields(vertices: np.ndarray, *, x_sign: float, size: Sequence[float],
                            retinotopy: Retinotopy | None = None, extent: float = 5.0, adjacency=None,
                            smoothing_iterations: int = 20, rng=None) -> ReceptiveFields:
    """The receptive field of every vertex of one area in one hemisphere.

    Parameters
    ----------
    vertices : ndarray of int, shape (n,)
    x_sign : float
        +1 for the left hemisphere (fields in the right hemifield), −1 for the right one.
    size : (intercept, slope)
        σ = intercept + slope × eccentricity, degrees.
    retinotopy : Retinotopy, optional
        Centres of mapped vertices (finite eccentricity) come from it; the others are "coarse".
    extent : float
        Coarse centres lie within this eccentricity (degrees) of the contralateral hemifield.
    adjacency : scipy.sparse matrix, optional
        Mesh graph that smooths the two random maps of coarse centres (needed when any vertex is coarse).
    smoothing_iterations : int
        Neighbour-averaging passes of those maps.
    rng : numpy.random.Generator

    Returns
    -------
    ReceptiveFields of length n, in ``vertices`` order.
    """
    intercept, slope = size
    if intercept <= 0 or slope < 0:
        raise ValueError(f"Receptive-field size needs intercept > 0 and slope >= 0, got {list(size)}")
    vertices = np.asarray(vertices, dtype=int)
    x, y = np.full(len(vertices), np.nan), np.full(len(vertices), np.nan)
    if retinotopy is not None:
        mapped = np.isfinite(retinotopy.eccentricity[vertices])
        x[mapped], y[mapped] = retinotopy.position(vertices[mapped])
    coarse = np.isnan(x)
    if coarse.any():
        if adjacency is None:
            raise ValueError("Coarse receptive fields need the mesh adjacency to smooth their centres")
        x[coarse], y[coarse] = _coarse_centres(vertices[coarse], adjacency, extent, smoothing_iterations, rng)
        x[coarse] *= x_sign
    return ReceptiveFields(x, y, intercept + slope * np.hypot(x, y))


def _coarse_centres(vertices, adjacency, extent, iterations, rng) -> tuple[np.ndarray, np.ndarray]:
    """Centres from two smooth random maps over ``vertices``, ranked to uniform: radius extent·√u₁ (so
    uniform over the half disc), angle π(u₂ − ½) in the right hemifield."""
    from scipy import sparse
    from scipy.stats import rankdata

    sub = adjacency[vertices][:, vertices]
    step = sparse.diags(1.0 / (np.asarray(sub.sum(axis=1)).ravel() + 1.0)) @ (sub + sparse.identity(len(vertices)))
    maps = rng.standard_normal((len(vertices), 2))
    for _ in range(iterations):
        maps = step @ maps
    u = (rankdata(maps, axis=0) - 0.5) / len(vertices)
    radius, angle = extent * np.sqrt(u[:, 0]), np.pi * (u[:, 1] - 0.5)
    return radius * np.cos(angle), radius * np.sin(angle)


def receptive_field_units(fields: ReceptiveFields, n_units: int, *, rng) -> tuple[ReceptiveFields, np.ndarray]:
    """Group neighbouring receptive fields into ``n_units`` units (k-means on the centres, seeded).

    Returns
    -------
    units : ReceptiveFields of length n_units (or fewer when fields coincide)
        Mean centre and size of each unit's fields.
    assignment : ndarray of int, shape (n_fields,)
        Unit of each field.
    """
    from scipy.cluster.vq import kmeans2

    centres = np.column_stack([fields.x, fields.y])
    n_units = max(1, min(n_units, len(np.unique(centres, axis=0))))
    if n_units == 1:
        assignment = np.zeros(len(fields), dtype=int)
    else:
        _, assignment = kmeans2(centres, n_units, minit="++", seed=rng)
    kept, assignment = np.unique(assignment, return_inverse=True)
    counts = np.bincount(assignment, minlength=len(kept))
    mean = [np.bincount(assignment, weights=v, minlength=len(kept)) / counts for v in (fields.x, fields.y, fields.sigma)]
    return ReceptiveFields(*mean), assignment


def pixel_weights(fields: ReceptiveFields, height: int, width: int, field_of_view: float) -> np.ndarray:
    """Gaussian mass of each field on each pixel of a ``height`` × ``width`` map filling the field of view.

    Pixel (i, j) covers x ∈ [−F/2 + jF/W, −F/2 + (j+1)F/W] and y ∈ [F/2 − (i+1)F/H, F/2 − iF/H] (F the
    field of view, degrees); its weight is the Gaussian's mass on that square, so a field far smaller
    than a pixel reads its pixel, and the weights of a field sum to its mass on the image.

    Returns
    -------
    ndarray of shape (n_fields, height * width), float32
    """
    from scipy.special import ndtr

    half = field_of_view / 2
    x_edges = np.linspace(-half, half, width + 1)
    y_edges = np.linspace(half, -half, height + 1)
    sigma = fields.sigma[:, None]
    gx = np.diff(ndtr((x_edges[None] - fields.x[:, None]) / sigma), axis=1)  # (n, W)
    gy = -np.diff(ndtr((y_edges[None] - fields.y[:, None]) / sigma), axis=1)  # (n, H), rows top to bottom
    return (gy[:, :, None] * gx[:, None, :]).reshape(len(fields), height * width).astype(np.float32)


class ReceptiveFieldReading(LayerReduction):
    """What the simulated subject reads of each layer: receptive-field pooling, CSS exponent, channel projection.

    For a layer read by units with fields ``F`` (see the module docstring)::

        drive[n, u, c] = Σ_pixels pixel_weights(F)[u, pixel] * activation[n, c, pixel]
        reading[n, u, :] = (sign(drive) |drive|^exponent)[n, u, :] @ P,   P: (n_channels_in, n_channels)

    with ``P`` Gaussian, seeded by ``seed`` and the layer name (the channels are kept as they are when a
    layer has at most ``n_channels``). Returned flattened: (n, n_units * n_channels_out).

    Parameters
    ----------
    fields : mapping of str to ReceptiveFields
        Units reading each layer (module path); every layer extracted must be a key.
    exponent : float
        Compressive exponent n in (0, 1] (1 = linear).
    n_channels : int
        Output channels per unit.
    field_of_view : float
        Degrees spanned by the image (and by every feature map).
    seed : int
    """

    def __init__(self, fields: Mapping[str, ReceptiveFields], *, exponent: float, n_channels: int,
                 field_of_view: float, seed: int):
        if not 0 < exponent <= 1:
            raise ValueError(f"exponent must be in (0, 1], got {exponent}")
        self.fields, self.exponent, self.n_channels = dict(fields), exponent, n_channels
        self.field_of_view, self.seed = field_of_view, seed
        digest = hashlib.sha256()
        for layer, units in sorted(self.fields.items()):
            digest.update(layer.encode())
            for values in (units.x, units.y, units.sigma):
                digest.update(np.asarray(values, dtype=np.float64).tobytes())
        self.key_parts = ("receptive-fields/v1", digest.hexdigest()[:16], f"{exponent:g}", str(n_channels),
                          f"{field_of_view:g}", str(seed))
        self._weights: dict = {}

    def n_features(self, layer: str, n_channels_in: int) -> int:
        """Columns of ``layer``'s reading: units × output channels."""
        return len(self.fields[layer]) * min(self.n_channels, n_channels_in)

    def _operators(self, layer: str, height: int, width: int, n_channels_in: int, device):
        import torch

        key = (layer, height, width, n_channels_in)
        if key not in self._weights:
            weights = torch.from_numpy(pixel_weights(self.fields[layer], height, width, self.field_of_view))
            projection = None
            if n_channels_in > self.n_channels:
                rng = np.random.default_rng([self.seed, zlib.crc32(layer.encode())])
                projection = torch.from_numpy(
                    (rng.standard_normal((n_channels_in, self.n_channels)) / np.sqrt(self.n_channels))
                    .astype(np.float32)).to(device)
            self._weights[key] = (weights.to(device), projection)
        return self._weights[key]

    def __call__(self, activation, layer: str):
        if layer not in self.fields:
            raise ValueError(f"No receptive fields read layer {layer!r}; layers read: {sorted(self.fields)}")
        maps = activation if activation.ndim == 4 else activation.reshape(*activation.shape[:2], 1, 1)
        n, channels, height, width = maps.shape
        weights, projection = self._operators(layer, height, width, channels, maps.device)
        drive = (maps.reshape(n * channels, height * width) @ weights.T).reshape(n, channels, -1).transpose(1, 2)
        drive = drive.sign() * drive.abs().pow(self.exponent)
        if projection is not None:
            drive = drive @ projection
        return drive.reshape(n, -1)
