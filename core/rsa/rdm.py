"""The :class:`RDM` data object, :func:`concat_rdms`, and :func:`compute_rdm` over the :data:`RDM_METRICS` registry.

Condensed vectors use scipy's ``squareform`` order (row-major upper triangle). All arithmetic is float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import squareform

from core._validation import check_choice, check_finite_array, check_labels
from core.errors import choices_text

# ---------------------------------------------------------------------------------------------
# RDM data object
# ---------------------------------------------------------------------------------------------


def _n_conditions(n_pairs: int) -> int:
    """Number of conditions whose condensed RDM has ``n_pairs`` entries (or -1)."""
    n = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    return n if n * (n - 1) // 2 == n_pairs else -1


@dataclass(frozen=True, eq=False)
class RDM:
    """One or several representational dissimilarity matrices over the same conditions.

    Parameters
    ----------
    dissimilarities : ndarray of shape (n_rdms, n_pairs) or (n_pairs,)
        Condensed upper triangles (scipy/rsatoolbox order), float64. A 1-D input is one RDM.
        ``n_pairs = n_conditions * (n_conditions - 1) / 2``.
    measure : str
        Dissimilarity measure, e.g. ``"correlation"`` or ``"squared euclidean"``.
    pattern_labels : tuple of length n_conditions
        One label per condition (row/column), e.g. category names.
    descriptors : dict
        Dataset-level descriptors (subject, layer, ROI, ...); JSON-serialisable values
        survive :func:`save_rdm`.
    rdm_descriptors : dict of str to sequence of length n_rdms
        One value per stacked RDM (network, layer, subject, ...), as rsatoolbox's ``rdm_descriptors``; stored as
        tuples of plain Python values. Indexing (``rdm[i]``), iteration, :meth:`subset_rdms`, :meth:`subset`
        and :func:`concat_rdms` keep them.

    Examples
    --------
    >>> rdm = RDM([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], "correlation", ("a", "b", "c"),
    ...           rdm_descriptors={"layer": ["conv1", "fc"]})
    >>> rdm.subset_rdms("layer", "fc").dissimilarities
    array([[4., 5., 6.]])
    >>> [r.rdm_descriptors["layer"] for r in rdm]
    [('conv1',), ('fc',)]
    """

    dissimilarities: np.ndarray
    measure: str
    pattern_labels: tuple
    descriptors: dict = field(default_factory=dict)
    rdm_descriptors: dict = field(default_factory=dict)

    def __post_init__(self):
        d = check_finite_array("dissimilarities", self.dissimilarities).astype(np.float64)
        if d.ndim == 1:
            d = d[None, :]
        if d.ndim != 2:
            raise ValueError(f"dissimilarities must be (n_rdms, n_pairs) or (n_pairs,), got shape {d.shape}")
        labels = tuple(self.pattern_labels)
        n_pairs = len(labels) * (len(labels) - 1) // 2
        if len(labels) < 2 or d.shape[1] != n_pairs:
            raise ValueError(
                f"{len(labels)} pattern_labels need {n_pairs} dissimilarities per RDM "
                f"(n_conditions >= 2), got {d.shape[1]}"
            )
        check_labels("pattern_labels", labels)
        per_rdm = {}
        for name, values in dict(self.rdm_descriptors).items():
            values = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
            if len(values) != d.shape[0]:
                raise ValueError(f"rdm_descriptors[{name!r}] has {len(values)} values for {d.shape[0]} RDMs")
            per_rdm[str(name)] = values
        object.__setattr__(self, "dissimilarities", d)
        object.__setattr__(self, "pattern_labels", labels)
        object.__setattr__(self, "descriptors", dict(self.descriptors))
        object.__setattr__(self, "rdm_descriptors", per_rdm)

    @property
    def n_rdms(self) -> int:
        """Number of RDMs stacked in this object."""
        return self.dissimilarities.shape[0]

    @property
    def n_conditions(self) -> int:
        """Number of conditions (rows of each square matrix)."""
        return len(self.pattern_labels)

    def __len__(self) -> int:
        """Number of stacked RDMs (``n_rdms``)."""
        return self.n_rdms

    def __getitem__(self, index) -> RDM:
        """The stacked RDMs at ``index`` (an int, a slice, integer indices or a boolean mask) as a new RDM, with
        their ``rdm_descriptors``; an int gives one RDM."""
        rows = np.arange(self.n_rdms)[index]
        rows = np.atleast_1d(rows)
        if rows.size == 0:
            raise ValueError(f"index {index!r} selects none of the {self.n_rdms} RDMs")
        return RDM(self.dissimilarities[rows], self.measure, self.pattern_labels, self.descriptors,
                   {name: [values[i] for i in rows] for name, values in self.rdm_descriptors.items()})

    def __iter__(self):
        """Each stacked RDM in turn, as a one-RDM :class:`RDM` with its descriptors."""
        return (self[i] for i in range(self.n_rdms))

    def subset_rdms(self, by: str, value) -> RDM:
        """The stacked RDMs whose ``rdm_descriptors[by]`` equals ``value`` (or is in it, for a list, tuple or set),
        in their order, as rsatoolbox's ``RDMs.subset(by, value)``.

        Raises
        ------
        ValueError
            Unknown descriptor, or no RDM with that value (the messages name the choices).
        """
        if by not in self.rdm_descriptors:
            raise ValueError(f"Unknown RDM descriptor {by!r}; choose from {choices_text(self.rdm_descriptors) or 'none'}")
        wanted = value if isinstance(value, list | tuple | set | frozenset) else (value,)
        rows = [i for i, v in enumerate(self.rdm_descriptors[by]) if v in wanted]
        if not rows:
            known = choices_text(dict.fromkeys(self.rdm_descriptors[by]))
            raise ValueError(f"No RDM has {by} = {value!r}; choose from {known}")
        return self[rows]

    def matrix(self, index: int = 0) -> np.ndarray:
        """Square form of RDM ``index``: ndarray of shape (n_conditions, n_conditions), zero diagonal."""
        if not -self.n_rdms <= index < self.n_rdms:
            raise ValueError(f"index={index} is out of range for {self.n_rdms} RDMs")
        return squareform(self.dissimilarities[index], checks=False)

    def subset(self, labels: Sequence) -> RDM:
        """New RDM restricted to (and ordered as) ``labels`` (>= 2, no repeats), for every stacked RDM (its
        ``rdm_descriptors`` kept)."""
        labels = check_labels("subset labels", labels, known=self.pattern_labels, min_size=2)
        position = {label: i for i, label in enumerate(self.pattern_labels)}
        idx = np.array([position[label] for label in labels])
        iu, ju = np.triu_indices(len(idx), 1)
        full = np.stack([self.matrix(k) for k in range(self.n_rdms)])
        return RDM(full[:, idx[iu], idx[ju]], self.measure, tuple(labels), self.descriptors, self.rdm_descriptors)

    @classmethod
    def from_matrix(cls, matrix, *, measure: str, pattern_labels: Sequence | None = None,
                    descriptors: Mapping | None = None, rdm_descriptors: Mapping | None = None) -> RDM:
        """Build an RDM from square matrices.

        Parameters
        ----------
        matrix : ndarray of shape (n_conditions, n_conditions) or (n_rdms, n, n)
            Symmetric dissimilarity matrices; the diagonal is ignored.
        measure : str
        pattern_labels : sequence of length n_conditions, optional
            Defaults to ``0 .. n_conditions - 1``.
        descriptors : mapping, optional
        rdm_descriptors : mapping of str to sequence of length n_rdms, optional
        """
        m = check_finite_array("matrix", matrix).astype(np.float64)
        if m.ndim == 2:
            m = m[None]
        if m.ndim != 3 or m.shape[1] != m.shape[2]:
            raise ValueError(f"matrix must be square (n, n) or (n_rdms, n, n), got shape {m.shape}")
        if not np.allclose(m, m.transpose(0, 2, 1)):
            raise ValueError("matrix must be symmetric")
        n = m.shape[1]
        iu, ju = np.triu_indices(n, 1)
        labels = tuple(range(n)) if pattern_labels is None else tuple(pattern_labels)
        return cls(m[:, iu, ju], measure, labels, dict(descriptors or {}), dict(rdm_descriptors or {}))


def concat_rdms(rdms: Sequence[RDM]) -> RDM:
    """Stack RDMs over the same conditions into one :class:`RDM`, as rsatoolbox's ``rdm.concat``.

    Descriptors equal in every input stay dataset ``descriptors``; those that differ (or that some inputs lack)
    become ``rdm_descriptors``, one value per RDM (None where an input lacks it), beside the inputs' own
    ``rdm_descriptors``.

    Parameters
    ----------
    rdms : sequence of RDM
        At least one; the same ``measure`` and ``pattern_labels``.

    Returns
    -------
    RDM
        ``sum(len(r) for r in rdms)`` stacked RDMs, in input order.
    """
    rdms = list(rdms)
    if not rdms:
        raise ValueError("concat_rdms needs at least one RDM")
    first = rdms[0]
    for rdm in rdms[1:]:
        _check_same_conditions(first, rdm)
        if rdm.measure != first.measure:
            raise ValueError(f"RDMs have different measures {first.measure!r} and {rdm.measure!r}")
    shared = {k: v for k, v in first.descriptors.items()
              if all(k in r.descriptors and r.descriptors[k] == v for r in rdms[1:])}
    names = dict.fromkeys(k for r in rdms for k in [*r.descriptors, *r.rdm_descriptors] if k not in shared)
    per_rdm = {name: [value for r in rdms for value in r.rdm_descriptors.get(name, (r.descriptors.get(name),) * len(r))]
               for name in names}
    return RDM(np.concatenate([r.dissimilarities for r in rdms]), first.measure, first.pattern_labels, shared, per_rdm)


def _check_same_conditions(a, b) -> None:
    """Two :class:`RDM` objects must list the same conditions in the same order."""
    if isinstance(a, RDM) and isinstance(b, RDM) and a.pattern_labels != b.pattern_labels:
        raise ValueError(f"RDMs have different pattern_labels {a.pattern_labels} and {b.pattern_labels}; "
                         "use RDM.subset to align them")


def _vectors(name: str, rdm) -> np.ndarray:
    """Condensed vectors (n_rdms, n_pairs) from an :class:`RDM` or an array."""
    if isinstance(rdm, RDM):
        return rdm.dissimilarities
    v = check_finite_array(name, rdm).astype(np.float64)
    v = v[None, :] if v.ndim == 1 else v
    if v.ndim != 2 or _n_conditions(v.shape[1]) < 2:
        raise ValueError(f"{name} must be condensed RDMs (n_rdms, n_pairs) or (n_pairs,), got shape {v.shape}")
    return v


# ---------------------------------------------------------------------------------------------
# computing RDMs
# ---------------------------------------------------------------------------------------------


def _condensed(matrix: np.ndarray) -> np.ndarray:
    iu, ju = np.triu_indices(matrix.shape[0], 1)
    return matrix[iu, ju]


def _rdm_correlation(patterns: np.ndarray, noise) -> np.ndarray:
    centred = patterns - patterns.mean(axis=1, keepdims=True)
    gram = centred @ centred.T
    norm = np.sqrt(np.diag(gram))
    if np.any(norm == 0):
        raise ValueError(f"correlation distance is undefined for constant patterns (rows {np.flatnonzero(norm == 0)})")
    return 1.0 - _condensed(gram / np.outer(norm, norm))


def _rdm_cosine(patterns: np.ndarray, noise) -> np.ndarray:
    gram = patterns @ patterns.T
    norm = np.sqrt(np.diag(gram))
    if np.any(norm == 0):
        raise ValueError(f"cosine distance is undefined for all-zero patterns (rows {np.flatnonzero(norm == 0)})")
    return 1.0 - _condensed(gram / np.outer(norm, norm))


def _rdm_sq_euclidean(patterns: np.ndarray, noise) -> np.ndarray:
    sq = np.einsum("ij,ij->i", patterns, patterns)
    gram = patterns @ patterns.T
    return np.maximum(_condensed(sq[:, None] + sq[None, :] - 2 * gram), 0.0) / patterns.shape[1]


def _rdm_crossnobis(runs: np.ndarray, noise) -> np.ndarray:
    n_runs, n_conditions, n_channels = runs.shape
    total = runs.sum(axis=0)
    d = np.zeros(n_conditions * (n_conditions - 1) // 2)
    for test in runs:
        train = (total - test) / (n_runs - 1)
        kernel = (train if noise is None else train @ noise) @ test.T
        diag = np.diag(kernel)
        d += _condensed(diag[:, None] + diag[None, :] - kernel - kernel.T)
    return d / (n_runs * n_channels)


@dataclass(frozen=True)
class _Metric:
    function: Callable
    measure: str
    ndim: int


#: Dissimilarity metrics for :func:`compute_rdm`, following rsatoolbox's conventions:
#: ``"euclidean"`` is the squared Euclidean distance divided by ``n_channels``;
#: ``"crossnobis"`` is leave-one-run-out cross-validated Mahalanobis distance, also divided
#: by ``n_channels``, and takes run-wise patterns (n_runs, n_conditions, n_channels).
RDM_METRICS = {
    "correlation": _Metric(_rdm_correlation, "correlation", 2),
    "cosine": _Metric(_rdm_cosine, "cosine", 2),
    "euclidean": _Metric(_rdm_sq_euclidean, "squared euclidean", 2),
    "crossnobis": _Metric(_rdm_crossnobis, "crossnobis", 3),
}


def compute_rdm(patterns, *, metric: str = "correlation", pattern_labels: Sequence | None = None,
                noise=None, descriptors: Mapping | None = None) -> RDM:
    """Representational dissimilarity matrix of condition patterns.

    Parameters
    ----------
    patterns : ndarray of shape (n_conditions, n_channels)
        One response pattern per condition (channels = vertices, voxels or units). For
        ``metric="crossnobis"``: run-wise patterns of shape (n_runs, n_conditions, n_channels)
        with n_runs >= 2.
    metric : {"correlation", "cosine", "euclidean", "crossnobis"}
        ``"correlation"``: 1 - Pearson r; ``"cosine"``: 1 - cosine similarity (both equal
        ``scipy.spatial.distance.pdist``); ``"euclidean"``: squared Euclidean distance / n_channels
        (rsatoolbox's ``"euclidean"``, measure ``"squared euclidean"``); ``"crossnobis"``:
        for each run k, ``(train_i - train_j) Λ (test_i - test_j)ᵀ / n_channels`` with test = run k
        and train = mean of the other runs, averaged over the n_runs folds (rsatoolbox's
        ``calc_rdm_crossnobis`` with one fold per run). Its expectation is 0 when conditions
        do not differ; it can be negative.
    pattern_labels : sequence of length n_conditions, optional
        Defaults to ``0 .. n_conditions - 1``.
    noise : ndarray of shape (n_channels, n_channels), optional
        Noise precision Λ for ``"crossnobis"`` (identity when omitted).
    descriptors : mapping, optional
        Stored on the returned :class:`RDM`.

    Returns
    -------
    rdm : RDM
        One condensed RDM, float64.

    Examples
    --------
    >>> compute_rdm([[0.0], [1.0], [3.0]], metric="euclidean").dissimilarities
    array([[1., 9., 4.]])
    """
    check_choice("metric", metric, RDM_METRICS)
    spec = RDM_METRICS[metric]
    x = check_finite_array("patterns", patterns, ndim=spec.ndim).astype(np.float64, copy=False)
    if spec.ndim == 3 and x.shape[0] < 2:
        raise ValueError(f"crossnobis needs at least 2 runs, got patterns of shape {x.shape}")
    if noise is not None:
        if metric != "crossnobis":
            raise ValueError(f"noise is only used by metric='crossnobis', got metric={metric!r}")
        noise = check_finite_array("noise", noise, ndim=2).astype(np.float64)
        if noise.shape != (x.shape[-1],) * 2:
            raise ValueError(f"noise must have shape {(x.shape[-1],) * 2}, got {noise.shape}")
    n_conditions = x.shape[-2]
    labels = tuple(range(n_conditions)) if pattern_labels is None else tuple(pattern_labels)
    if len(labels) != n_conditions:
        raise ValueError(f"{len(labels)} pattern_labels for {n_conditions} conditions")
    return RDM(spec.function(x, noise), spec.measure, labels, dict(descriptors or {}))
