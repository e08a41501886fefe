"""Category responses, selectivity (d′) and localizer contrasts (Wen et al. 2018; Haxby et al. 2001).

- :func:`category_maps`: mean map per category, from arrays or streamed chunks (torch, ``device``).
- :func:`category_selectivity` (d′ per category and vertex), :func:`general_selectivity`,
  :func:`top_categories`, :func:`roi_summary`.
- :func:`glm_contrast`: block-design localizer GLM (nilearn design matrix + ``run_glm``) with
  Bonferroni-thresholded t maps.
- :func:`cluster_specific_vertices`: vertices responding more to one cluster of categories
  than to control categories (two-sample t-test, Bonferroni).
- :func:`single_layer_category_maps`: category maps synthesised from one network layer at a time
  through a fitted encoding model (the paper's "layer-wise contribution").

Arrays are numpy at the boundary with exemplars/volumes on the first axis and vertices (or
voxels) on the last. Results are float64.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from core._validation import check_choice, check_finite_array, check_labels, check_same_length

__all__ = [
    "GLM_NOISE_MODELS",
    "GLMContrasts",
    "LayerCategoryMaps",
    "RoiSummary",
    "category_maps",
    "category_selectivity",
    "cluster_specific_vertices",
    "general_selectivity",
    "glm_contrast",
    "roi_summary",
    "single_layer_category_maps",
    "top_categories",
]


def _labelled(maps, labels) -> tuple[np.ndarray, np.ndarray]:
    maps = check_finite_array("maps", maps, ndim=2)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D (n_exemplars,), got shape {labels.shape}")
    check_same_length(maps=maps, labels=labels)
    return maps, labels


def category_maps(maps, labels=None, *, categories: Sequence | None = None,
                  device: str = "cpu") -> tuple[tuple, np.ndarray]:
    """Mean response map of each category.

    Parameters
    ----------
    maps : ndarray of shape (n_exemplars, n_vertices), or iterable of (maps_chunk, labels_chunk)
        Responses to individual exemplars (images). When ``labels`` is None, ``maps`` is an
        iterable of chunks ``(ndarray (n_chunk, n_vertices), labels (n_chunk,))``; sums and
        counts are accumulated chunk by chunk, so the exemplars never sit in memory at once.
    labels : ndarray of shape (n_exemplars,), optional
        Category of each exemplar.
    categories : sequence, optional
        Categories to return, in this order: non-empty, no repeats, each with at least one
        exemplar. Defaults to the sorted labels seen.
    device : str
        Torch device for the accumulation ("cpu", "cuda").

    Returns
    -------
    categories : tuple
    means : ndarray of shape (n_categories, n_vertices), float64
    """
    import torch  # lazily: the dashboard's web process imports this module for d′ look-ups

    from core.stats import torch_device

    if categories is not None:
        categories = check_labels("categories", categories)
    dev = torch_device(device)
    chunks = [(maps, labels)] if labels is not None else maps
    index: dict = {}
    sums = counts = None
    for chunk, chunk_labels in chunks:
        chunk, chunk_labels = _labelled(chunk, chunk_labels)
        for label in chunk_labels.tolist():
            index.setdefault(label, len(index))
        rows = torch.as_tensor([index[label] for label in chunk_labels.tolist()], device=dev)
        values = torch.as_tensor(chunk, dtype=torch.float64, device=dev)
        if sums is None:
            sums = torch.zeros(0, values.shape[1], dtype=torch.float64, device=dev)
            counts = torch.zeros(0, dtype=torch.float64, device=dev)
        if values.shape[1] != sums.shape[1]:
            raise ValueError(f"chunks must all have {sums.shape[1]} vertices, got {values.shape[1]}")
        grow = len(index) - sums.shape[0]
        sums = torch.cat([sums, sums.new_zeros(grow, sums.shape[1])])
        counts = torch.cat([counts, counts.new_zeros(grow)])
        sums.index_add_(0, rows, values)
        counts.index_add_(0, rows, torch.ones_like(rows, dtype=torch.float64))
    if not index:
        raise ValueError("category_maps got no exemplars")
    categories = tuple(sorted(index)) if categories is None else tuple(categories)
    empty = [c for c in categories if c not in index]
    if empty:
        raise ValueError(f"categories {empty} have no exemplars; choose from {sorted(index)}")
    rows = torch.as_tensor([index[c] for c in categories], device=dev)
    return categories, (sums[rows] / counts[rows, None]).cpu().numpy()


def category_selectivity(responses, labels) -> tuple[tuple, np.ndarray]:
    """Selectivity index d′ of every vertex for every category.

    ``d′_i = (μ_i − μ_rest) / sqrt((σ²_i + σ²_rest) / 2)`` where μ and σ² are the mean and
    the sample variance (``ddof=1``) of the vertex's responses to the exemplars of category i
    and to all other exemplars ("rest"). A vertex with zero variance in both groups gets
    d′ = 0.

    Parameters
    ----------
    responses : ndarray of shape (n_exemplars, n_vertices)
    labels : ndarray of shape (n_exemplars,)
        Category of each exemplar; every category and its rest need >= 2 exemplars.

    Returns
    -------
    categories : tuple
        Sorted category labels (rows of ``dprime``).
    dprime : ndarray of shape (n_categories, n_vertices), float64
    """
    x, labels = _labelled(responses, labels)
    x = x.astype(np.float64) - x.mean(axis=0)  # centring keeps the sums of squares accurate
    categories, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    rest_counts = len(labels) - counts
    if counts.min() < 2 or rest_counts.min() < 2:
        raise ValueError(f"d′ needs >= 2 exemplars per category and in its rest; counts "
                         f"{dict(zip(categories.tolist(), counts.tolist(), strict=True))}")
    onehot = np.eye(len(categories))[inverse].T  # (n_categories, n_exemplars)
    s1, s2 = onehot @ x, onehot @ x**2
    r1, r2 = x.sum(axis=0) - s1, (x**2).sum(axis=0) - s2
    n, m = counts[:, None], rest_counts[:, None]
    mean_i, mean_rest = s1 / n, r1 / m
    var_i = np.maximum(s2 - n * mean_i**2, 0.0) / (n - 1)
    var_rest = np.maximum(r2 - m * mean_rest**2, 0.0) / (m - 1)
    pooled = np.sqrt((var_i + var_rest) / 2)
    diff = mean_i - mean_rest
    return tuple(categories.tolist()), np.divide(diff, pooled, out=np.zeros_like(diff), where=pooled > 0)


def general_selectivity(dprime) -> tuple[np.ndarray, np.ndarray]:
    """Largest d′ of each vertex and the category that gives it.

    Parameters
    ----------
    dprime : ndarray of shape (n_categories, n_vertices)

    Returns
    -------
    max_dprime : ndarray of shape (n_vertices,), float64
    best_category : ndarray of shape (n_vertices,), int
        Row index into ``dprime``.
    """
    dprime = check_finite_array("dprime", dprime, ndim=2)
    return dprime.max(axis=0).astype(np.float64), dprime.argmax(axis=0)


def top_categories(dprime, k: int = 10) -> np.ndarray:
    """The ``k`` categories with the highest d′ at each vertex, best first.

    Parameters
    ----------
    dprime : ndarray of shape (n_categories, n_vertices)
    k : int
        1 <= k <= n_categories.

    Returns
    -------
    indices : ndarray of shape (n_vertices, k), int
        Row indices into ``dprime`` in descending order of d′ (ties: lower index first).
    """
    dprime = check_finite_array("dprime", dprime, ndim=2)
    if not 1 <= k <= dprime.shape[0]:
        raise ValueError(f"k={k} must lie in [1, {dprime.shape[0]}]")
    return np.argsort(-dprime, axis=0, kind="stable")[:k].T


@dataclass(frozen=True, eq=False)
class RoiSummary:
    """Mean ± standard error per ROI.

    Attributes
    ----------
    names : tuple of str
    mean : ndarray of shape (n_rois,), float64
    se : ndarray of shape (n_rois,), float64
        Standard error (sample sd with ``ddof=1`` / sqrt(n)); NaN when n = 1.
    n : ndarray of shape (n_rois,), int
        Vertices (one map) or subjects (several maps) behind each mean.
    """

    names: tuple
    mean: np.ndarray
    se: np.ndarray
    n: np.ndarray


def roi_summary(values, roi_indices: Mapping[str, Sequence[int]]) -> RoiSummary:
    """Summarise a map per region of interest.

    Parameters
    ----------
    values : ndarray of shape (n_vertices,) or (n_subjects, n_vertices)
        With one map, mean and SE are across the ROI's vertices. With several, each subject's
        map is first averaged over the ROI, and mean and SE are across subjects.
    roi_indices : mapping of str to sequence of int
        Vertex indices of each ROI.

    Returns
    -------
    summary : RoiSummary
    """
    values = check_finite_array("values", values).astype(np.float64)
    if values.ndim not in (1, 2):
        raise ValueError(f"values must be (n_vertices,) or (n_subjects, n_vertices), got shape {values.shape}")
    means, ses, ns = [], [], []
    for name, idx in roi_indices.items():
        idx = np.asarray(idx, dtype=int)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= values.shape[-1]:
            raise ValueError(f"ROI {name!r} needs vertex indices in [0, {values.shape[-1] - 1}], got {idx.size} "
                             f"indices")
        sample = values[idx] if values.ndim == 1 else values[:, idx].mean(axis=1)
        means.append(sample.mean())
        ses.append(sample.std(ddof=1) / np.sqrt(sample.size) if sample.size > 1 else np.nan)
        ns.append(sample.size)
    return RoiSummary(tuple(roi_indices), np.array(means), np.array(ses), np.array(ns))


# ---------------------------------------------------------------------------------------------
# localizer GLM
# ---------------------------------------------------------------------------------------------

#: Noise models of nilearn's ``run_glm``.
GLM_NOISE_MODELS = ("ar1", "ols")


@dataclass(frozen=True, eq=False)
class GLMContrasts:
    """t maps of localizer contrasts.

    Attributes
    ----------
    names : tuple of str
        Contrast names, rows of the arrays.
    t : ndarray of shape (n_contrasts, n_voxels), float64
    p : ndarray of shape (n_contrasts, n_voxels), float64
        One-sided p (positive > negative labels).
    significant : ndarray of shape (n_contrasts, n_voxels), bool
        ``p < alpha / n_voxels`` (Bonferroni).
    alpha : float
    design_columns : tuple of str
        Columns of the design matrix (category regressors, then per-run drifts and intercepts).
    """

    names: tuple
    t: np.ndarray
    p: np.ndarray
    significant: np.ndarray
    alpha: float
    design_columns: tuple


def _blocks(labels: np.ndarray, tr: float, baseline_label) -> pd.DataFrame:
    """Events (onset, duration, trial_type) of the runs of consecutive identical labels."""
    change = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    lengths = np.diff(np.r_[change, labels.size])
    events = pd.DataFrame({"onset": change * tr, "duration": lengths * tr, "trial_type": labels[change].astype(str)})
    return events[events.trial_type != str(baseline_label)]


def _design(labels: np.ndarray, runs: np.ndarray, tr: float, categories: list[str], baseline_label,
            hrf_model: str, high_pass: float) -> pd.DataFrame:
    from nilearn.glm.first_level import make_first_level_design_matrix

    parts = []
    run_values = list(dict.fromkeys(runs.tolist()))
    for r in run_values:
        in_run = runs == r
        frame_times = np.arange(in_run.sum()) * tr
        dm = make_first_level_design_matrix(frame_times, _blocks(labels[in_run], tr, baseline_label),
                                            hrf_model=hrf_model, drift_model="cosine", high_pass=high_pass)
        nuisance = [c for c in dm.columns if c not in categories]
        dm = dm.reindex(columns=categories, fill_value=0.0).join(dm[nuisance].add_prefix(f"run{r}_"))
        parts.append(dm.reset_index(drop=True))
    return pd.concat(parts, ignore_index=True).fillna(0.0)


def glm_contrast(bold, labels, runs, *, tr: float, contrasts: Mapping[str, tuple[Sequence, Sequence]],
                 baseline_label="rest", alpha: float = 0.05, hrf_model: str = "glover",
                 high_pass: float = 0.01, noise_model: str = "ar1") -> GLMContrasts:
    """Block-design GLM with t contrasts between categories (a functional localizer).

    One boxcar regressor per category (blocks of consecutive volumes with the same label,
    ``baseline_label`` left unmodelled) convolved with the HRF, plus per-run cosine drifts and
    a per-run intercept, built with nilearn's ``make_first_level_design_matrix`` and fitted
    with ``nilearn.glm.first_level.run_glm``; contrasts by ``nilearn.glm.compute_contrast``.

    Parameters
    ----------
    bold : ndarray of shape (n_volumes, n_voxels)
        BOLD time series, runs concatenated.
    labels : ndarray of shape (n_volumes,)
        Condition shown during each volume.
    runs : ndarray of shape (n_volumes,)
        Run of each volume; each run's volumes must be consecutive.
    tr : float
        Repetition time in seconds.
    contrasts : mapping of str to (positive_labels, negative_labels)
        E.g. ``{"face>house": (["face"], ["house"])}``; each side's regressors are averaged.
        Each side is non-empty, without repeats, and the sides do not overlap.
    baseline_label : str
        Label of the implicit baseline (not modelled).
    alpha : float
        Family-wise error rate; Bonferroni over voxels (per contrast).
    hrf_model : str
        nilearn HRF model ("glover", "spm", ...).
    high_pass : float
        Cosine drift cut-off in Hz.
    noise_model : {"ar1", "ols"}

    Returns
    -------
    result : GLMContrasts
    """
    from nilearn.glm import compute_contrast
    from nilearn.glm.first_level import run_glm

    check_choice("noise_model", noise_model, GLM_NOISE_MODELS)
    bold = check_finite_array("bold", bold, ndim=2, min_rows=3).astype(np.float64)
    labels, runs = np.asarray(labels).astype(str), np.asarray(runs)
    check_same_length(bold=bold, labels=labels, runs=runs)
    if tr <= 0:
        raise ValueError(f"tr must be positive, got {tr}")
    run_starts = np.r_[True, runs[1:] != runs[:-1]]
    if np.unique(runs).size != run_starts.sum():
        raise ValueError("each run's volumes must be consecutive in bold")
    categories = sorted(set(labels.tolist()) - {str(baseline_label)})
    design = _design(labels, runs, tr, categories, baseline_label, hrf_model, high_pass)
    names, weights = [], []
    for name, (positive, negative) in contrasts.items():
        positive = check_labels(f"contrast {name!r} positive side", map(str, positive), known=categories)
        negative = check_labels(f"contrast {name!r} negative side", map(str, negative), known=categories)
        both = [c for c in positive if c in negative]
        if both:
            raise ValueError(f"contrast {name!r} has {both} on both sides")
        w = np.zeros(design.shape[1])
        w[[categories.index(str(c)) for c in positive]] += 1.0 / len(positive)
        w[[categories.index(str(c)) for c in negative]] -= 1.0 / len(negative)
        names.append(name)
        weights.append(w)
    glm_labels, results = run_glm(bold, design.to_numpy(), noise_model=noise_model)
    t, p = [], []
    for w in weights:
        con = compute_contrast(glm_labels, results, w, stat_type="t")
        t.append(con.stat())
        p.append(con.p_value())
    t, p = np.array(t, dtype=np.float64), np.array(p, dtype=np.float64)
    return GLMContrasts(tuple(names), t, p, p < alpha / bold.shape[1], alpha, tuple(design.columns))


def cluster_specific_vertices(responses, labels, cluster_categories: Iterable, control_categories: Iterable, *,
                              alpha: float = 0.05) -> np.ndarray:
    """Vertices that respond more to a cluster of categories than to control categories.

    A one-sided two-sample Student t-test per vertex (``scipy.stats.ttest_ind``, equal
    variances) of the responses to the exemplars of ``cluster_categories`` against those of
    ``control_categories`` (e.g. categories no vertex is selective for), Bonferroni-corrected.

    Parameters
    ----------
    responses : ndarray of shape (n_exemplars, n_vertices)
    labels : ndarray of shape (n_exemplars,)
    cluster_categories, control_categories : iterable of labels
        Non-empty, without repeats, disjoint.
    alpha : float
        Family-wise error rate over vertices.

    Returns
    -------
    mask : ndarray of shape (n_vertices,), bool
        ``p < alpha / n_vertices``; vertices with zero variance are False.
    """
    x, labels = _labelled(responses, labels)
    known = sorted(set(labels.tolist()))
    cluster_categories = check_labels("cluster_categories", cluster_categories, known=known)
    control_categories = check_labels("control_categories", control_categories, known=known)
    both = [c for c in cluster_categories if c in control_categories]
    if both:
        raise ValueError(f"{both} are both cluster and control categories")
    groups = [x[np.isin(labels, cats)].astype(np.float64) for cats in (cluster_categories, control_categories)]
    if min(len(g) for g in groups) < 2:
        raise ValueError(f"each group needs >= 2 exemplars, got {[len(g) for g in groups]}")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = scipy.stats.ttest_ind(groups[0], groups[1], axis=0, alternative="greater").pvalue
    return np.nan_to_num(p, nan=1.0) < alpha / x.shape[1]


@dataclass(frozen=True, eq=False)
class LayerCategoryMaps:
    """Category maps predicted from each network layer alone.

    Attributes
    ----------
    layers : tuple of str
        In the encoding model's layer order (input → output).
    categories : tuple
    maps : ndarray of shape (n_layers, n_categories, n_vertices), float32
    """

    layers: tuple
    categories: tuple
    maps: np.ndarray


def single_layer_category_maps(model, X, labels, *, categories: Sequence | None = None) -> LayerCategoryMaps:
    """Category maps synthesised from one layer at a time (Wen et al. 2018, "layer-wise contribution").

    For each layer, the other layers' features are zeroed before the global projection
    (``model.predict_layer``, the same attribution as ``core.encoding.layer_contributions``)
    and the result goes through the fitted ridge. The PCA and the ridge are affine, so the
    mean of the exemplars' predictions equals the prediction of their mean features; the
    category means are therefore taken in feature space first (exact, and n_categories
    predictions per layer instead of n_exemplars).

    The other layers sit at their training mean, so every map also carries the prediction for
    the mean features (the encoder's intercept), the same for every category and usually far
    larger than one layer's category-specific part. Compare these maps after removing each
    vertex's mean over categories (``core.rsa.layerwise_clustering`` does).

    Parameters
    ----------
    model : fitted core.encoding.EncodingModel
    X : ndarray of shape (n_exemplars, n_features)
        Concatenated layer features of the exemplars (``core.encoding.stack_layer_features``).
    labels : ndarray of shape (n_exemplars,)
    categories : sequence, optional
        Categories and their order; defaults to the sorted labels.

    Returns
    -------
    result : LayerCategoryMaps
    """
    categories, mean_features = category_maps(X, labels, categories=categories)
    mean_features = mean_features.astype(np.float32)
    layers = tuple(model.layers_)
    maps = np.stack([model.predict_layer(mean_features, layer) for layer in layers])
    return LayerCategoryMaps(layers, tuple(categories), maps.astype(np.float32))
