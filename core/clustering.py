"""Category clustering by k-means + signed modularity, and a significance test that re-runs the selection.

Wen et al. (2018) cluster categories by k-means on their inter-category similarity matrix S and pick the
number of clusters k with the largest signed modularity Q (Rubinov & Sporns 2011). Both the partition and
k are chosen on the data, so the p-value of that Q must compare it with the largest Q that the *same
selection* finds on null data: :func:`clustering_significance` draws null category maps, recomputes S,
re-runs k-means for every k and keeps the best Q, exactly as on the real maps.

Null maps keep what each real map has and break only what is tested, the alignment between maps:

- on a known surface (59,412 fsLR-32k grayordinates or 20,484 fsaverage5 vertices) each category map is
  rotated on the sphere by its own random rotation (a spin test, Alexander-Bloch et al. 2018; the right
  hemisphere gets the mirror image of the left's rotation, which keeps a map's bilateral symmetry). Each
  rotated map keeps its spatial autocorrelation; the rotated medial wall is filled from its nearest cortical
  vertices (:class:`SpinNull`);
- on vertices with no known geometry, each map is rotated along the vertex order instead (a circular
  shift by a random offset, :class:`ShiftNull`): the one-dimensional spin. It keeps each map's values and
  any autocorrelation the vertex order carries (voxels in scan order, mesh vertices in file order), and for
  maps without spatial smoothness it is exact (independent maps of exchangeable values are unchanged in
  distribution by the shift). For smooth maps stored in an order unrelated to space it is too liberal,
  like any vertex permutation; give such maps on a known surface.

The diagonal of S (each map with itself, r = 1) is left out of Q by default: counting it as within-module
weight adds a reward for every module that grows with the number of modules, so max-Q picks many small
clusters (on structure-free maps, the top of the k range). ``include_diagonal=True`` reproduces bctpy's
``modularity_und_sign(S, ci, qtype="smp")`` on S as given.

k-means is a compiled Lloyd's algorithm with k-means++ starts (:func:`cluster_categories`), fast enough to be
re-run for every k on thousands of null matrices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numba
import numpy as np

from core._validation import check_choice, check_finite_array

__all__ = [
    "CategoryClustering",
    "ClusteringSignificance",
    "ShiftNull",
    "SpinNull",
    "cluster_categories",
    "clustering_significance",
    "null_for_vertices",
    "signed_modularity",
]


# ---------------------------------------------------------------------------------------------
# signed modularity and k-means (compiled)
# ---------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _signed_q(W, labels, n_modules, include_diagonal):
    """Q = Q⁺ − Q⁻ of ``labels`` (ints in [0, n_modules)) on symmetric ``W`` (n, n)."""
    n = W.shape[0]
    q = 0.0
    strength = np.empty(n_modules)
    for sign in (1.0, -1.0):
        strength[:] = 0.0
        total = 0.0
        within = 0.0
        for i in range(n):
            for j in range(n):
                if i == j and not include_diagonal:
                    continue
                w = sign * W[i, j]
                if w > 0.0:
                    total += w
                    strength[labels[i]] += w
                    if labels[i] == labels[j]:
                        within += w
        if total > 0.0:
            q += sign * (within - (strength**2).sum() / total) / total
    return q


@numba.njit(cache=True)
def _kmeans_once(X, k, max_iter, rng):
    """One k-means run from a greedy k-means++ start (as sklearn's), drawing from ``rng`` (a numpy Generator).

    Returns labels (n,) and inertia.
    """
    n, d = X.shape
    n_trials = 2 + int(np.log(k))
    centres = np.empty((k, d))
    closest = np.empty(n)
    trial = np.empty(n)
    centres[0] = X[rng.integers(0, n)]
    for i in range(n):
        closest[i] = ((X[i] - centres[0]) ** 2).sum()
    for c in range(1, k):
        total = closest.sum()
        best_pick, best_potential = 0, np.inf
        for _ in range(n_trials):  # draw candidates with probability ∝ D², keep the one that lowers Σ D² most
            pick = rng.integers(0, n)
            if total > 0.0:
                threshold = rng.random() * total
                acc = 0.0
                for i in range(n):
                    acc += closest[i]
                    if acc >= threshold:
                        pick = i
                        break
            potential = 0.0
            for i in range(n):
                potential += min(closest[i], ((X[i] - X[pick]) ** 2).sum())
            if potential < best_potential:
                best_pick, best_potential = pick, potential
        centres[c] = X[best_pick]
        for i in range(n):
            trial[i] = ((X[i] - centres[c]) ** 2).sum()
            if trial[i] < closest[i]:
                closest[i] = trial[i]
    labels = -np.ones(n, np.int64)
    dist_to = np.empty(n)
    counts = np.zeros(k, np.int64)
    for _ in range(max_iter):
        changed = False
        for i in range(n):
            best, best_dist = 0, np.inf
            for c in range(k):
                dist = ((X[i] - centres[c]) ** 2).sum()
                if dist < best_dist:
                    best, best_dist = c, dist
            dist_to[i] = best_dist
            if labels[i] != best:
                labels[i] = best
                changed = True
        if not changed:
            break
        centres[:] = 0.0
        counts[:] = 0
        for i in range(n):
            centres[labels[i]] += X[i]
            counts[labels[i]] += 1
        for c in range(k):
            if counts[c] == 0:  # an empty cluster takes the point farthest from its centre (of a cluster of >= 2)
                far, far_dist = 0, -1.0
                for i in range(n):
                    if counts[labels[i]] > 1 and dist_to[i] > far_dist:
                        far, far_dist = i, dist_to[i]
                counts[labels[far]] -= 1
                centres[labels[far]] -= X[far]
                labels[far] = c
                counts[c] = 1
                centres[c] = X[far]
                dist_to[far] = 0.0
        for c in range(k):
            centres[c] /= counts[c]
    inertia = 0.0
    for i in range(n):
        inertia += ((X[i] - centres[labels[i]]) ** 2).sum()
    return labels, inertia


@numba.njit(cache=True)
def _select(S, k_values, n_init, rng, include_diagonal):
    """k-means (best of ``n_init`` starts) for every k, and Q of each: (n_k,) Q, (n_k, n) labels."""
    n = S.shape[0]
    q = np.empty(k_values.size)
    labels = np.empty((k_values.size, n), np.int64)
    for a in range(k_values.size):
        best_inertia = np.inf
        for _ in range(n_init):
            run, inertia = _kmeans_once(S, k_values[a], 300, rng)
            if inertia < best_inertia - 1e-12:
                best_inertia = inertia
                labels[a] = run
        q[a] = _signed_q(S, labels[a], k_values[a], include_diagonal)
    return q, labels


@numba.njit(cache=True)
def _unit_after_recentring(out):
    """In place: remove each column's mean over the rows, then centre and scale each row to unit norm."""
    n, m = out.shape
    mean = np.zeros(m)
    for i in range(n):
        mean += out[i]
    mean /= n
    for i in range(n):
        row = out[i]
        row -= mean
        row -= row.mean()
        row /= np.sqrt((row**2).sum())
    return out


@numba.njit(cache=True)
def _gathered_unit(centred, sources, rows):
    """Rows ``centred[i, sources[rows[i]]]``, re-centred over maps, as unit vectors: (n_maps, n_used)."""
    n, m = rows.size, sources.shape[1]
    out = np.empty((n, m))
    for i in range(n):
        source, values, row = sources[rows[i]], centred[i], out[i]
        for v in range(m):
            row[v] = values[source[v]]
    return _unit_after_recentring(out)


@numba.njit(cache=True)
def _shifted_unit(centred, kept, shifts):
    """Rows ``centred[i, (kept + shifts[i]) % n_vertices]``, re-centred over maps, as unit vectors."""
    n, n_vertices, m = shifts.size, centred.shape[1], kept.size
    out = np.empty((n, m))
    for i in range(n):
        values, row = centred[i], out[i]
        for v in range(m):
            row[v] = values[(kept[v] + shifts[i]) % n_vertices]
    return _unit_after_recentring(out)


def _check_similarity(S) -> np.ndarray:
    S = check_finite_array("S", S, ndim=2, min_rows=2).astype(np.float64)
    if S.shape[0] != S.shape[1] or not np.allclose(S, S.T):
        raise ValueError(f"S must be a symmetric square matrix, got shape {S.shape}")
    return np.ascontiguousarray(S)


def signed_modularity(W, labels, *, include_diagonal: bool = False) -> float:
    """Signed modularity Q = Q⁺ − Q⁻ of a partition (Rubinov & Sporns 2011; Wen et al. 2018).

    ``Q^± = (1 / v^±) Σ_ij (w^±_ij − s^±_i s^±_j / v^±) δ(M_i, M_j)`` where ``w⁺ = max(W, 0)``,
    ``w⁻ = max(−W, 0)``, ``s^±_i = Σ_j w^±_ij`` and ``v^± = Σ_ij w^±_ij``. A sign without any weight
    contributes 0.

    Parameters
    ----------
    W : ndarray of shape (n_nodes, n_nodes)
        Symmetric signed weights (e.g. category-map correlations).
    labels : ndarray of shape (n_nodes,)
        Module of each node.
    include_diagonal : bool
        False (default): the sums run over pairs i ≠ j, i.e. Q of ``W`` with its diagonal set to 0; a
        similarity's diagonal of 1s is no evidence of clustering. True: the sums include the diagonal as
        given, which equals bctpy's ``modularity_und_sign(W, labels, qtype="smp")``.

    Returns
    -------
    Q : float
        In [-2, 1]; high when positive weights fall within and negative weights between modules.
    """
    W = _check_similarity(W)
    labels = np.asarray(labels)
    if labels.shape != (W.shape[0],):
        raise ValueError(f"labels must have shape ({W.shape[0]},), got {labels.shape}")
    codes = np.unique(labels, return_inverse=True)[1].astype(np.int64)
    return float(_signed_q(W, codes, int(codes.max()) + 1, bool(include_diagonal)))


@dataclass(frozen=True, eq=False)
class CategoryClustering:
    """k-means clusterings of categories for several k, scored by signed modularity.

    Attributes
    ----------
    k_values : ndarray of shape (n_k,), int
    modularity : ndarray of shape (n_k,), float64
        Q of the k-means partition for each k.
    labels_per_k : ndarray of shape (n_k, n_categories), int
    best_k : int
        The k with the largest Q.
    labels : ndarray of shape (n_categories,), int
        Cluster of each category at ``best_k``.
    include_diagonal : bool
        Whether Q counted the diagonal of S (see :func:`signed_modularity`).
    """

    k_values: np.ndarray
    modularity: np.ndarray
    labels_per_k: np.ndarray
    best_k: int
    labels: np.ndarray
    include_diagonal: bool = False


def _k_values(k_range: Sequence[int], n: int) -> np.ndarray:
    k_values = np.array(list(k_range), dtype=np.int64)
    if k_values.size == 0 or k_values.min() < 2 or k_values.max() > n - 1:
        raise ValueError(f"k_range values must lie in [2, {n - 1}], got {k_values.tolist()}")
    return k_values


def cluster_categories(S, *, k_range: Sequence[int] = range(2, 11), n_init: int = 10, random_state=None,
                       include_diagonal: bool = False) -> CategoryClustering:
    """Cluster categories with k-means on their similarity profiles; pick k by signed modularity.

    Parameters
    ----------
    S : ndarray of shape (n_categories, n_categories)
        Category similarity (``core.rsa.category_similarity``); row i is category i's feature vector.
    k_range : sequence of int
        Numbers of clusters to try, each in [2, n_categories - 1].
    n_init : int
        k-means restarts per k (k-means++ starts; the run with the lowest inertia is kept).
    random_state : int, numpy.random.Generator or None
    include_diagonal : bool
        Count S's diagonal in Q (bctpy's convention); see :func:`signed_modularity`.

    Returns
    -------
    clustering : CategoryClustering
    """
    S = _check_similarity(S)
    k_values = _k_values(k_range, S.shape[0])
    if int(n_init) < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    q, labels = _select(S, k_values, int(n_init), np.random.default_rng(random_state), bool(include_diagonal))
    best = int(np.argmax(q))
    return CategoryClustering(k_values, q, labels, int(k_values[best]), labels[best], bool(include_diagonal))


# ---------------------------------------------------------------------------------------------
# null category maps
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShiftNull:
    """Null maps for vertices with no known geometry: each map rotated along the vertex order.

    Map ``i`` of a null sample is ``values[(arange(n_vertices) + s_i) % n_vertices]`` with ``s_i`` uniform;
    see the module docstring for when this is exact.
    """

    description: str = "circular shift of each map along the vertex order (no surface geometry known)"

    def sampler(self, centred: np.ndarray, mask: np.ndarray) -> Callable[[np.random.Generator], np.ndarray]:
        """``draw(rng)``: one null sample of ``centred`` (n_maps, n_vertices) over ``mask``: each map re-read
        through the null, the mean over maps removed again, rows centred and scaled to unit norm."""
        kept = np.flatnonzero(mask)

        def draw(rng: np.random.Generator) -> np.ndarray:
            return _shifted_unit(centred, kept, rng.integers(0, centred.shape[1], size=len(centred)))

        return draw


@functools.lru_cache(maxsize=2)
def _rotation_pool(space: str, n_rotations: int, seed: int) -> np.ndarray:
    """Source vertex of every data vertex under each of ``n_rotations`` random sphere rotations.

    int32 (n_rotations, n_vertices); the right hemisphere uses the left's rotation mirrored in x. The
    nearest data vertex of each rotated position is found with a k-d tree (about 40 ms per rotation and
    hemisphere on fsLR-32k).
    """
    from scipy.spatial import cKDTree
    from scipy.spatial.transform import Rotation

    from core import cortex

    surface = {"fsLR32k": cortex.load_fslr32k, "fsaverage5": cortex.load_fsaverage5}[space]("sphere")
    rotations = Rotation.random(n_rotations, random_state=seed).as_matrix()
    mirror = np.diag([-1.0, 1.0, 1.0])
    pool = np.empty((n_rotations, surface.n_vertices), np.int32)
    offset = 0
    for hemi, flip in ((surface.left, False), (surface.right, True)):
        points = hemi.vertices[hemi.vertex_index].astype(np.float64)
        points /= np.linalg.norm(points, axis=1, keepdims=True)
        tree = cKDTree(points)
        for r, rotation in enumerate(rotations):
            inverse = (mirror @ rotation @ mirror if flip else rotation).T
            pool[r, offset:offset + len(points)] = tree.query(points @ inverse.T)[1] + offset
        offset += len(points)
    return pool


@dataclass(frozen=True)
class SpinNull:
    """Null maps on a known surface: each map rotated on the sphere by its own random rotation.

    A fixed, seeded pool of ``n_rotations`` rotations is built once per process (:func:`_rotation_pool`);
    every null sample gives its maps distinct rotations drawn from the pool, so no two maps keep their
    alignment.

    Parameters
    ----------
    space : {"fsLR32k", "fsaverage5"}
    n_rotations : int
        Size of the rotation pool (at least the number of maps).
    seed : int
        Seed of the pool.
    """

    space: str
    n_rotations: int = 300
    seed: int = 0

    @property
    def description(self) -> str:
        return f"spin test: each map rotated on the {self.space} sphere ({self.n_rotations} seeded rotations)"

    def sampler(self, centred: np.ndarray, mask: np.ndarray) -> Callable[[np.random.Generator], np.ndarray]:
        """``draw(rng)``: one null sample of ``centred`` (n_maps, n_vertices) over ``mask``: each map re-read
        through the null, the mean over maps removed again, rows centred and scaled to unit norm."""
        from core.cortex import N_VERTICES

        check_choice("space", self.space, N_VERTICES)
        n_maps, n_vertices = centred.shape
        if n_vertices != N_VERTICES[self.space]:
            raise ValueError(f"a {self.space} spin test needs {N_VERTICES[self.space]:,} vertices, got {n_vertices:,}")
        if n_maps > self.n_rotations:
            raise ValueError(f"{n_maps} maps need at least as many rotations; n_rotations={self.n_rotations}")
        sources = np.ascontiguousarray(_rotation_pool(self.space, self.n_rotations, self.seed)[:, mask])

        def draw(rng: np.random.Generator) -> np.ndarray:
            return _gathered_unit(centred, sources, rng.choice(self.n_rotations, size=n_maps, replace=False))

        return draw


def null_for_vertices(n_vertices: int, *, n_rotations: int = 300) -> SpinNull | ShiftNull:
    """The null of maps with ``n_vertices`` values: a spin test on a known surface (59,412 fsLR-32k
    grayordinates, 20,484 fsaverage5 vertices; a pool of ``n_rotations``), else a shift."""
    from core.cortex import N_VERTICES

    space = {n: s for s, n in N_VERTICES.items()}.get(int(n_vertices))
    return ShiftNull() if space is None else SpinNull(space, n_rotations=int(n_rotations))


# ---------------------------------------------------------------------------------------------
# significance of the selected clustering
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ClusteringSignificance:
    """The clustering of the real maps and the p-value of its Q under a null that re-runs the selection.

    Attributes
    ----------
    similarity : ndarray of shape (n_categories, n_categories)
        Correlation of the centred maps over the vertices used.
    clustering : CategoryClustering
        k-means + max Q on ``similarity``.
    q : float
        Largest Q (at ``clustering.best_k``).
    p_value : float
        ``(1 + #{null max Q >= q}) / (1 + n_permutations)``.
    n_permutations : int
    null_q : ndarray of shape (n_permutations,)
        Largest Q found by the same selection on each null sample.
    null_q_per_k : ndarray of shape (n_permutations, n_k)
        Q of each k's k-means partition on each null sample.
    null_best_k : ndarray of shape (n_permutations,), int
    null : str
        Description of the null maps.
    """

    similarity: np.ndarray
    clustering: CategoryClustering
    q: float
    p_value: float
    n_permutations: int
    null_q: np.ndarray
    null_q_per_k: np.ndarray
    null_best_k: np.ndarray
    null: str


def clustering_significance(maps, *, mask=None, k_range: Sequence[int] = range(2, 11), n_init: int = 10,
                            n_permutations: int = 1000, include_diagonal: bool = False,
                            null: SpinNull | ShiftNull | None = None, random_state=None,
                            progress: Callable[[int, int], None] | None = None) -> ClusteringSignificance:
    """Cluster category maps (k-means, k by max signed Q) and test Q against null maps clustered alike.

    The similarity is the correlation of the maps after removing each vertex's mean over the categories
    (``core.rsa.category_similarity(maps, mask=mask, centre=True)``). Each null sample reads every centred
    map through the null's indices (its own rotation), removes the vertex means again, correlates the maps
    over ``mask`` and re-runs :func:`cluster_categories` with the same ``k_range``, ``n_init`` and diagonal
    convention; the statistic is the largest Q over k, on the data and on each null sample.

    Parameters
    ----------
    maps : ndarray of shape (n_categories, n_vertices)
        One map per category, n_categories >= 3.
    mask : ndarray of shape (n_vertices,), bool, optional
        Vertices the similarity is computed over (e.g. predictable vertices); all when omitted. The
        null rotates the whole maps and then takes the mask.
    k_range : sequence of int
        Numbers of clusters tried; clipped to [2, n_categories - 1].
    n_init : int
        k-means restarts per k.
    n_permutations : int
        Null samples.
    include_diagonal : bool
        Count the similarity's diagonal in Q (bctpy's convention; rewards many small clusters).
    null : SpinNull or ShiftNull, optional
        Default :func:`null_for_vertices` (a spin test on fsLR-32k or fsaverage5, else a shift).
    random_state : int, numpy.random.Generator or None
        Seeds the observed clustering (as ``cluster_categories(random_state=...)`` with the same value) and
        the null samples.
    progress : callable(done, total), optional

    Returns
    -------
    ClusteringSignificance
    """
    maps = check_finite_array("maps", maps, ndim=2, min_rows=3).astype(np.float64)
    n, n_vertices = maps.shape
    if mask is None:
        mask = np.ones(n_vertices, bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != (n_vertices,):
        raise ValueError(f"mask must have shape ({n_vertices},), got {mask.shape}")
    if mask.sum() < 3:
        raise ValueError(f"the mask keeps {int(mask.sum())} vertices; at least 3 are needed")
    if int(n_permutations) < 1:
        raise ValueError(f"n_permutations must be >= 1, got {n_permutations}")
    ks = [k for k in k_range if 2 <= k <= n - 1]
    if not ks:
        raise ValueError(f"k_range {list(k_range)} has no value in [2, {n - 1}]")
    null = null_for_vertices(n_vertices) if null is None else null
    centred = maps - maps.mean(axis=0)
    used = centred[:, mask]
    flat = np.flatnonzero(used.std(axis=1) <= 1e-12 * max(np.abs(maps).max(), 1e-300))
    if flat.size:
        raise ValueError(f"category maps {flat.tolist()} are constant over the vertices used once the mean "
                         "over categories is removed")
    unit = _unit_after_recentring(used.copy())
    similarity = np.clip(unit @ unit.T, -1.0, 1.0)
    rng = np.random.default_rng(random_state)
    clustering = cluster_categories(similarity, k_range=ks, n_init=n_init, random_state=rng,
                                    include_diagonal=include_diagonal)
    k_values = clustering.k_values
    null_q = np.empty((int(n_permutations), k_values.size))
    draw = null.sampler(centred, mask)
    for b in range(int(n_permutations)):
        unit = draw(rng)
        null_q[b] = _select(np.clip(unit @ unit.T, -1.0, 1.0), k_values, int(n_init), rng,
                            bool(include_diagonal))[0]
        if progress is not None and (b + 1) % 50 == 0:
            progress(b + 1, int(n_permutations))
    if progress is not None:
        progress(int(n_permutations), int(n_permutations))
    q = float(clustering.modularity.max())
    best = null_q.max(axis=1)
    p = (1 + np.count_nonzero(best >= q - 1e-12 * max(1.0, abs(q)))) / (1 + int(n_permutations))
    return ClusteringSignificance(similarity, clustering, q, float(p), int(n_permutations), best, null_q,
                                  k_values[np.argmax(null_q, axis=1)], null.description)
