"""Similarity-structure figures: RDM heatmaps, dendrograms, modularity and layer curves.

Plotly, numpy and scipy only. Used by the RDM Clusters page and the Identity & Expression
page. The shared look (length checks, the series palette, ``_finish``, ``_line_figure``,
:func:`format_p`, :func:`png_export_config`) is in :mod:`dashboard.figures.base`; the last two are
re-exported here.

Trace order of ``rdm_figure``: 0 = the matrix heatmap; with ``cluster_labels``, 1 = the
cluster strip along the top and 2 = the strip along the left.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import scipy.cluster.hierarchy
from plotly.subplots import make_subplots

from dashboard.figures.base import (
    _NEUTRAL,
    _band_trace,
    _check_length,
    _color,
    _finish,
    _line_figure,
    _matrix,
    _vector,
    format_p,
    png_export_config,
)

__all__ = [
    "dendrogram_figure",
    "feature_images_figure",
    "format_p",
    "layer_line_figure",
    "modularity_figure",
    "png_export_config",
    "rdm_figure",
    "region_layer_heatmap_figure",
    "similarity_scatter_figure",
]

_LINK_GREY = "#9A9A9A"
_STRIP_FRACTION = 0.04  # cluster strips, as a fraction of the heatmap's width/height
_LEAF_SPACING = 10.0  # scipy places dendrogram leaves at 5, 15, 25, ...


# --- RDM heatmap --------------------------------------------------------------------------


def _unique_labels(labels) -> list[str]:
    """Labels as strings, repeats suffixed " #2", " #3", ... (categorical axes merge repeats)."""
    seen: dict[str, int] = {}
    unique = []
    for label in map(str, labels):
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return unique


def _cluster_colors(cluster_labels) -> dict:
    """Cluster label -> colour, in sorted label order (shared by heatmap and dendrogram)."""
    return {label: _color(i) for i, label in enumerate(np.unique(cluster_labels).tolist())}


def _check_order(order, n) -> np.ndarray:
    if order is None:
        return np.arange(n)
    order = np.asarray(order)
    if order.shape != (n,) or not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError(f"order must be a permutation of range({n}); got {order.tolist()}")
    return order


def _strip_trace(codes, names, labels, colors, *, along_x) -> go.Heatmap:
    k = len(colors)
    scale = [[edge, color] for i, color in enumerate(colors) for edge in (i / k, (i + 1) / k)]
    z = codes[None, :] if along_x else codes[:, None]
    text = names[None, :] if along_x else names[:, None]
    axis = {"x": labels, "y": ["cluster"]} if along_x else {"x": ["cluster"], "y": labels}
    item = "%{x}" if along_x else "%{y}"
    return go.Heatmap(
        z=z,
        text=text,
        **axis,
        zmin=-0.5,
        zmax=k - 0.5,
        colorscale=scale,
        showscale=False,
        hovertemplate=f"{item}<br>cluster %{{text}}<extra></extra>",
    )


def rdm_figure(
    matrix,
    labels,
    *,
    order=None,
    cluster_labels=None,
    title: str = "",
    colorscale="Viridis",
    zmid: float | None = None,
    value_name: str = "similarity",
) -> go.Figure:
    """Heatmap of a similarity or dissimilarity matrix, optionally reordered, with cluster strips.

    Parameters
    ----------
    matrix : ndarray of shape (n_conditions, n_conditions)
        Square matrix; row/column i belongs to ``labels[i]``.
    labels : sequence of str of length n_conditions
        Condition names, shown on both axes and in the hover text ("row × col: value").
        Repeated names get a " #2", " #3" suffix.
    order : ndarray of shape (n_conditions,), optional
        Permutation of ``range(n_conditions)``: row/column ``order[i]`` is drawn at position
        i (e.g. a dendrogram's leaf order). Default: the given order.
    cluster_labels : ndarray of shape (n_conditions,), optional
        Cluster of each condition (in the original order); adds a categorical colour strip
        along the top and the left. Colours follow the sorted unique labels.
    title : str
    colorscale : str or list
        Any plotly colour scale.
    zmid : float, optional
        Colour-scale midpoint (e.g. 0 for correlations with a diverging scale).
    value_name : str
        Name of the value in the hover text and colour-bar title.

    Returns
    -------
    go.Figure
        Trace 0 is the heatmap, with ``z = matrix[order][:, order]`` and the y axis
        reversed (row 0 at the top). With ``cluster_labels``, traces 1 (top strip, z of
        shape (1, n)) and 2 (left strip, z of shape (n, 1)) hold each condition's cluster
        code (index into the sorted unique cluster labels).
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"matrix must be square (n_conditions, n_conditions); got shape {matrix.shape}")
    n = matrix.shape[0]
    _check_length("labels", labels, n, "matrix")
    order = _check_order(order, n)
    names = np.array(_unique_labels(labels), dtype=object)[order].tolist()
    heatmap = go.Heatmap(
        z=matrix[np.ix_(order, order)],
        x=names,
        y=names,
        colorscale=colorscale,
        zmid=zmid,
        colorbar={"title": {"text": value_name}, "thickness": 14},
        hovertemplate=f"%{{y}} × %{{x}}<br>{value_name}: %{{z:.3f}}<extra></extra>",
    )
    if cluster_labels is None:
        fig = go.Figure(heatmap)
        fig.update_yaxes(autorange="reversed")
        fig.update_xaxes(tickangle=-45)
        return _finish(fig, title=title)
    cluster_labels = np.asarray(cluster_labels)
    _check_length("cluster_labels", cluster_labels, n, "matrix")
    colors = _cluster_colors(cluster_labels)
    codes = np.searchsorted(list(colors), cluster_labels[order])
    cluster_names = cluster_labels[order].astype(str).astype(object)
    fig = make_subplots(
        rows=2,
        cols=2,
        shared_xaxes=True,
        shared_yaxes=True,
        row_heights=[_STRIP_FRACTION, 1 - _STRIP_FRACTION],
        column_widths=[_STRIP_FRACTION, 1 - _STRIP_FRACTION],
        horizontal_spacing=0.005,
        vertical_spacing=0.005,
    )
    fig.add_trace(heatmap, row=2, col=2)
    strip_colors = list(colors.values())
    fig.add_trace(_strip_trace(codes, cluster_names, names, strip_colors, along_x=True), row=1, col=2)
    fig.add_trace(_strip_trace(codes, cluster_names, names, strip_colors, along_x=False), row=2, col=1)
    fig.update_yaxes(autorange="reversed", row=2)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    fig.update_xaxes(showticklabels=False, row=2, col=1)
    fig.update_xaxes(tickangle=-45, row=2, col=2)
    return _finish(fig, title=title)


# --- dendrogram ---------------------------------------------------------------------------


def _link_colors(linkage, cluster_labels, colors) -> dict:
    """Node id -> colour: a cluster's colour when all leaves under the node share it."""
    n = linkage.shape[0] + 1
    clusters = [{label} for label in cluster_labels.tolist()]
    for a, b in linkage[:, :2].astype(int):
        clusters.append(clusters[a] | clusters[b])
    return {
        node: colors[next(iter(c))] if len(c) == 1 else _LINK_GREY
        for node, c in enumerate(clusters)
        if node >= n
    }


def dendrogram_figure(
    linkage,
    labels,
    *,
    cluster_labels=None,
    title: str = "",
    ylabel: str = "linkage distance (1 − similarity)",
) -> go.Figure:
    """Dendrogram drawn with plotly lines from a scipy linkage matrix.

    Parameters
    ----------
    linkage : ndarray of shape (n_conditions - 1, 4)
        scipy linkage matrix (e.g. from ``core.rsa.category_dendrogram``).
    labels : sequence of str of length n_conditions
        Leaf names, shown under the leaves in dendrogram order.
    cluster_labels : ndarray of shape (n_conditions,), optional
        Cluster of each condition; links whose leaves all share one cluster take that
        cluster's colour (the same colours as ``rdm_figure``'s strips), the others grey.
    title, ylabel : str

    Returns
    -------
    go.Figure
        One line trace per link colour (links separated by ``None``), then a marker trace
        with one point per leaf at height 0, in leaf order (scipy's ``leaves_list``), with
        the leaf names as hover text. Leaf i sits at x = 5 + 10 i; the x tick labels are
        the leaf names.
    """
    linkage = np.asarray(linkage, dtype=np.float64)
    n = len(labels)
    _matrix("linkage", linkage, (n - 1, 4), f"scipy linkage for {n} labels")
    colors, node_colors = {}, {}
    if cluster_labels is not None:
        cluster_labels = np.asarray(cluster_labels)
        _check_length("cluster_labels", cluster_labels, n, "labels")
        colors = _cluster_colors(cluster_labels)
        node_colors = _link_colors(linkage, cluster_labels, colors)
    tree = scipy.cluster.hierarchy.dendrogram(
        linkage, no_plot=True, link_color_func=lambda node: node_colors.get(node, _LINK_GREY)
    )
    segments: dict[str, tuple[list, list]] = {}
    for xs, ys, color in zip(tree["icoord"], tree["dcoord"], tree["color_list"], strict=True):
        seg_x, seg_y = segments.setdefault(color, ([], []))
        seg_x.extend([*xs, None])
        seg_y.extend([*ys, None])
    trace_names = {color: f"cluster {label}" for label, color in colors.items()}
    fig = go.Figure()
    for color, (seg_x, seg_y) in segments.items():
        fig.add_trace(
            go.Scatter(
                x=seg_x,
                y=seg_y,
                mode="lines",
                line={"color": color, "width": 1.5},
                name=trace_names.get(color, "between clusters"),
                hoverinfo="skip",
            )
        )
    leaves = np.asarray(tree["leaves"])
    leaf_names = [str(labels[i]) for i in leaves]
    leaf_x = _LEAF_SPACING * np.arange(n) + _LEAF_SPACING / 2
    leaf_colors, hover = _NEUTRAL, leaf_names
    if colors:
        leaf_clusters = cluster_labels[leaves].tolist()
        leaf_colors = [colors[c] for c in leaf_clusters]
        hover = [f"{name}<br>cluster {c}" for name, c in zip(leaf_names, leaf_clusters, strict=True)]
    fig.add_trace(
        go.Scatter(
            x=leaf_x,
            y=np.zeros(n),
            mode="markers",
            marker={"color": leaf_colors, "size": 7},
            text=hover,
            hovertemplate="%{text}<extra></extra>",
            showlegend=False,
            name="leaves",
        )
    )
    fig.update_xaxes(tickvals=leaf_x, ticktext=leaf_names, tickangle=-45, showgrid=False, zeroline=False)
    return _finish(fig, title=title, ylabel=ylabel, showlegend=bool(colors))


# --- modularity ---------------------------------------------------------------------------


def modularity_figure(
    ks, q, *, best_k: int | None = None, null_q=None, title: str = "", ylabel: str = "signed modularity Q"
) -> go.Figure:
    """Modularity Q against the number of clusters k, with the best k marked.

    Parameters
    ----------
    ks : ndarray of shape (n_k,), int
        Numbers of clusters tried.
    q : ndarray of shape (n_k,)
        Q of the partition for each k.
    best_k : int, optional
        The k to mark; must be one of ``ks``. Default: the k with the largest Q.
    null_q : ndarray of shape (n_k, 2), optional
        Lower and upper bound of Q under the null (e.g. the 2.5th and 97.5th percentiles
        of permuted Q) for each k, drawn as a grey band.
    title, ylabel : str

    Returns
    -------
    go.Figure
        Traces: the null band (if given), the Q line, and a star marker at ``best_k``.
    """
    ks = np.asarray(ks)
    q = _vector("q", q, len(ks), "ks")
    if best_k is None:
        best_k = int(ks[np.argmax(q)])
    if best_k not in ks.tolist():
        raise ValueError(f"best_k={best_k!r} is not one of ks={ks.tolist()}")
    fig = go.Figure()
    if null_q is not None:
        null_q = _matrix("null_q", null_q, (len(ks), 2), "lower and upper null bound per k")
        fig.add_trace(
            _band_trace(ks.tolist(), null_q[:, 0], null_q[:, 1], name="null (permuted)", color=_NEUTRAL)
        )
    fig.add_trace(
        go.Scatter(
            x=ks,
            y=q,
            mode="lines+markers",
            name="Q",
            line={"color": _color(0), "width": 2},
            hovertemplate="k = %{x}<br>Q = %{y:.3f}<extra></extra>",
        )
    )
    best = ks.tolist().index(best_k)
    fig.add_trace(
        go.Scatter(
            x=[best_k],
            y=[q[best]],
            mode="markers",
            name=f"best k = {best_k}",
            marker={"symbol": "star", "size": 16, "color": _color(3)},
            hovertemplate="best k = %{x}<br>Q = %{y:.3f}<extra></extra>",
        )
    )
    fig.update_xaxes(tickvals=ks, dtick=1)
    return _finish(fig, title=title, xlabel="number of clusters k", ylabel=ylabel)


# --- curves across layers -----------------------------------------------------------------


def layer_line_figure(
    layer_names,
    series,
    *,
    bands=None,
    hlines=None,
    ylabel: str = "",
    title: str = "",
    xlabel: str = "layer (input → output)",
) -> go.Figure:
    """One line per series across network layers, with optional bands and reference lines.

    Serves Q vs layer, semantic r vs layer, brain–network correlation vs layer (noise
    ceiling as a band) and decoding accuracy vs layer (chance as a line).

    Parameters
    ----------
    layer_names : sequence of str of length n_layers
        Layers in depth order (the x axis, categorical).
    series : dict of str -> ndarray of shape (n_layers,)
        One line per entry, coloured in insertion order.
    bands : dict of str -> (ndarray of shape (n_layers,), ndarray of shape (n_layers,)), optional
        ``{name: (lower, upper)}`` filled bands (e.g. noise ceilings, null ranges). A band
        named like a series takes its colour, other bands are grey.
    hlines : dict of str -> float, optional
        ``{name: value}`` dashed horizontal lines (e.g. chance levels), labelled by name and
        coloured like the series of the same name.
    ylabel, title, xlabel : str

    Returns
    -------
    go.Figure
        Band traces first (closed polygons: upper then reversed lower), then one
        lines+markers trace per series; ``hlines`` are layout shapes with annotations.
    """
    return _line_figure(
        list(map(str, layer_names)),
        series,
        bands=bands,
        hlines=hlines,
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
    )


# --- semantic vs cortical similarity ------------------------------------------------------


def similarity_scatter_figure(
    x,
    y,
    *,
    xlabel: str,
    ylabel: str,
    pair_labels=None,
    r: float | None = None,
    p: float | None = None,
    title: str = "",
) -> go.Figure:
    """Scatter of two similarities over condition pairs, with a least-squares line.

    Parameters
    ----------
    x, y : ndarray of shape (n_pairs,)
        E.g. semantic similarity (x) and cortical similarity (y) of each pair.
    xlabel, ylabel : str
        Axis titles (with units).
    pair_labels : sequence of str of length n_pairs, optional
        Hover text per pair, e.g. "dog – cat".
    r, p : float, optional
        Correlation and its p value, appended to the title as "r = 0.42, p = 0.003".
    title : str

    Returns
    -------
    go.Figure
        Traces: the pair markers, then the fitted line (two points spanning the x range).
    """
    x = np.asarray(x, dtype=np.float64)
    y = _vector("y", y, len(x), "x")
    finite = np.isfinite(x) & np.isfinite(y)
    if np.unique(x[finite]).size < 2:
        raise ValueError("x needs at least two distinct finite values to fit a line")
    hover = "%{x:.3f}, %{y:.3f}<extra></extra>"
    if pair_labels is not None:
        _check_length("pair_labels", pair_labels, len(x), "x")
        pair_labels = [str(label) for label in pair_labels]
        hover = "%{text}<br>" + hover
    slope, intercept = np.polyfit(x[finite], y[finite], 1)
    line_x = np.array([x[finite].min(), x[finite].max()])
    fig = go.Figure(
        [
            go.Scatter(
                x=x,
                y=y,
                mode="markers",
                name="pairs",
                text=pair_labels,
                hovertemplate=hover,
                marker={"size": 5, "color": _color(0), "opacity": 0.6},
            ),
            go.Scatter(
                x=line_x,
                y=intercept + slope * line_x,
                mode="lines",
                name="least-squares fit",
                line={"color": _color(3), "width": 2},
                hoverinfo="skip",
            ),
        ]
    )
    stats = [f"r = {r:.3f}"] if r is not None else []
    if p is not None:
        stats.append(format_p(p))
    full_title = f"{title} ({', '.join(stats)})" if title and stats else title or ", ".join(stats)
    return _finish(fig, title=full_title, xlabel=xlabel, ylabel=ylabel, showlegend=False)


# --- region × layer -----------------------------------------------------------------------


def region_layer_heatmap_figure(
    values,
    region_names,
    layer_names,
    *,
    zmid: float | None = 0.0,
    title: str = "",
    colorscale="RdBu_r",
    value_name: str = "brain–network r",
) -> go.Figure:
    """Heatmap of a value per cortical region (rows) and network layer (columns).

    Parameters
    ----------
    values : ndarray of shape (n_regions, n_layers)
        E.g. the correlation of each region's RDM with each layer's RDM.
    region_names : sequence of str of length n_regions
    layer_names : sequence of str of length n_layers
        In depth order.
    zmid : float or None
        Colour-scale midpoint (default 0, for a diverging scale).
    title : str
    colorscale : str or list
    value_name : str
        Name of the value in the hover text and colour-bar title.

    Returns
    -------
    go.Figure
        One Heatmap with ``z = values``, first region at the top.
    """
    values = _matrix("values", values, (len(region_names), len(layer_names)), "n_regions × n_layers")
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=_unique_labels(layer_names),
            y=_unique_labels(region_names),
            colorscale=colorscale,
            zmid=zmid,
            colorbar={"title": {"text": value_name}, "thickness": 14},
            hovertemplate=f"%{{y}} × %{{x}}<br>{value_name}: %{{z:.3f}}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _finish(fig, title=title, xlabel="layer (input → output)", ylabel="region")


# --- feature visualisations ---------------------------------------------------------------


def feature_images_figure(images, objective, *, title: str = "") -> go.Figure:
    """Optimised images side by side, each titled with its objective at the start and at the end.

    Parameters
    ----------
    images : ndarray of shape (n_images, height, width, 3), uint8
        E.g. activation-maximisation results from different random starts.
    objective : ndarray of shape (n_steps + 1, n_images)
        Objective of each image at every step (row 0: start, last row: result).
    title : str

    Returns
    -------
    go.Figure
        One Image trace per image (subplots in a row), axes hidden; subplot titles
        "start i: a → b".
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (n_images, height, width, 3); got {images.dtype} "
                         f"{images.shape}")
    n = images.shape[0]
    objective = np.asarray(objective, dtype=np.float64)
    if objective.ndim != 2 or objective.shape[1] != n:
        raise ValueError(f"objective must have shape (n_steps + 1, {n}); got {objective.shape}")
    titles = [f"start {i}: {objective[0, i]:.3g} → {objective[-1, i]:.3g}" for i in range(n)]
    fig = make_subplots(rows=1, cols=n, subplot_titles=titles, horizontal_spacing=0.02)
    for i in range(n):
        fig.add_trace(go.Image(z=images[i], hovertemplate=f"start {i}<extra></extra>"), row=1, col=i + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _finish(fig, title=title, margin={"l": 10, "r": 10, "t": 70 if title else 40, "b": 10})
