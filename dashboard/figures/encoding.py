"""Encoding-model figures for the Virtual fMRI page (Wen et al. 2018); plotly + numpy only.

ROI bar charts group the regions by visual stream (``STREAMS``, the streams of
``core.cortex.ROI_STREAMS`` plus "other"); ``selectivity`` reuses that grouping.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.cortex import _check_choice
from dashboard.figures.faces import _check_images, _png_data_uri, _shrink
from dashboard.figures.rdm import (
    _NEUTRAL,
    LEGEND_ROW_PX,
    _check_length,
    _color,
    _finish,
    _matrix,
    _rgba,
    _vector,
    layer_line_figure,
    legend_rows,
)

__all__ = [
    "SIGNIFICANCE_MARKS",
    "STREAMS",
    "STREAM_COLORS",
    "image_pair_figure",
    "layer_profile_figure",
    "roi_accuracy_figure",
    "score_histogram_figure",
]

_STREAM_LABEL_PX = 20  # the row of stream names above a region chart
#: Visual streams in display order (early visual cortex first).
STREAMS = ("early", "ventral", "dorsal", "lateral", "other")
#: Stream colours (Okabe–Ito, colour-blind safe).
STREAM_COLORS = {
    "early": "#E69F00",
    "ventral": "#009E73",
    "dorsal": "#0072B2",
    "lateral": "#CC79A7",
    "other": "#999999",
}
_STREAM_SHADE = 0.12


def _stream_order(roi_names, streams) -> tuple[np.ndarray, np.ndarray | None]:
    """Indices that group ROIs by stream (``STREAMS`` order, stable within a stream)."""
    if len(set(map(str, roi_names))) != len(roi_names):
        raise ValueError(f"roi_names must be unique; got {list(roi_names)}")
    if streams is None:
        return np.arange(len(roi_names)), None
    streams = np.asarray(streams, dtype=object)
    _check_length("streams", streams, len(roi_names), "roi_names")
    for stream in streams:
        _check_choice("stream", stream, STREAMS)
    order = np.argsort([STREAMS.index(s) for s in streams], kind="stable")
    return order, streams[order]


def _add_stream_bands(fig, ordered_streams, *, yshift: int = 0) -> None:
    """Shade each run of one stream and name it above the plot (``yshift`` pixels higher: above a legend)."""
    starts = np.flatnonzero(np.r_[True, ordered_streams[1:] != ordered_streams[:-1]])
    ends = np.r_[starts[1:], len(ordered_streams)]
    for start, end in zip(starts, ends, strict=True):
        stream = ordered_streams[start]
        fig.add_vrect(
            x0=start - 0.5,
            x1=end - 0.5,
            fillcolor=_rgba(STREAM_COLORS[stream], _STREAM_SHADE),
            line_width=0,
            layer="below",
        )
        fig.add_annotation(
            x=(start + end - 1) / 2,
            y=1.0,
            xref="x",
            yref="paper",
            yanchor="bottom",
            text=stream,
            showarrow=False,
            yshift=yshift,
            font={"color": STREAM_COLORS[stream]},
        )


#: Significance marks of ``roi_accuracy_figure``: (upper p bound, mark), tested in order.
SIGNIFICANCE_MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"), (np.inf, "n.s."))


def _significance_mark(p: float) -> str:
    return next(mark for bound, mark in SIGNIFICANCE_MARKS if p < bound)


def roi_accuracy_figure(
    roi_names,
    means,
    ses,
    model_names,
    *,
    streams=None,
    ceiling=None,
    pvalues=None,
    tvalues=None,
    ylabel: str = "test r",
    title: str = "",
) -> go.Figure:
    """Grouped bars of a per-ROI score for several models, with SE error bars.

    Parameters
    ----------
    roi_names : sequence of str of length n_rois
        Unique ROI names (e.g. Glasser areas).
    means : ndarray of shape (n_models, n_rois)
        Mean score (e.g. test r over the ROI's vertices) per model and ROI.
    ses : ndarray of shape (n_models, n_rois)
        Standard error of each mean (the error bars).
    model_names : sequence of str of length n_models
    streams : sequence of str of length n_rois, optional
        Stream of each ROI, one of ``STREAMS``; ROIs are then ordered by stream (stable
        within a stream), each stream shaded and named above the plot.
    ceiling : ndarray of shape (n_rois,), optional
        Noise ceiling per ROI, drawn as a black tick over each group.
    pvalues : ndarray of shape (n_rois,), optional
        p of a test between the models in each ROI (e.g. a paired t-test across vertices), marked
        above each group by ``SIGNIFICANCE_MARKS`` (``*`` p < .05, ``**`` p < .01, ``***`` p < .001,
        ``n.s.``), with p on hover.
    tvalues : ndarray of shape (n_rois,), optional
        The test statistic, shown on hover next to p.
    ylabel, title : str

    Returns
    -------
    go.Figure
        One Bar trace per model (x = ROI names in display order, ``error_y.array`` = SEs),
        then the ceiling markers if given, then the significance marks (a text Scatter) if given.
    """
    n_models, n_rois = len(model_names), len(roi_names)
    means = _matrix("means", means, (n_models, n_rois), "n_models × n_rois")
    ses = _matrix("ses", ses, (n_models, n_rois), "n_models × n_rois")
    order, ordered_streams = _stream_order(roi_names, streams)
    x = [str(roi_names[i]) for i in order]
    fig = go.Figure()
    for m, model in enumerate(model_names):
        fig.add_trace(
            go.Bar(
                x=x,
                y=means[m, order],
                name=str(model),
                marker_color=_color(m),
                error_y={"type": "data", "array": ses[m, order], "visible": True, "thickness": 1.2},
                customdata=ses[m, order],
                hovertemplate=f"%{{x}}<br>{model}: %{{y:.3f}} ± %{{customdata:.3f}} (SE)<extra></extra>",
            )
        )
    if ceiling is not None:
        ceiling = _vector("ceiling", ceiling, n_rois, "roi_names")
        fig.add_trace(
            go.Scatter(
                x=x,
                y=ceiling[order],
                mode="markers",
                name="noise ceiling",
                marker={"symbol": "line-ew-open", "size": 26, "color": "black", "line": {"width": 2.5}},
                hovertemplate="%{x}<br>noise ceiling: %{y:.3f}<extra></extra>",
            )
        )
    if pvalues is not None:
        _add_significance_marks(fig, x, order, pvalues, tvalues, means + ses, ceiling)
    rows = legend_rows(fig)
    if ordered_streams is not None:
        _add_stream_bands(fig, ordered_streams, yshift=rows * LEGEND_ROW_PX)
    return _finish(
        fig,
        title=title,
        xlabel="region of interest",
        ylabel=ylabel,
        barmode="group",
        legend=True,
        extra_top=_STREAM_LABEL_PX if ordered_streams is not None else 0,
    )


def _add_significance_marks(fig, x, order, pvalues, tvalues, tops, ceiling) -> None:
    """Marks of ``pvalues`` above the highest bar (or ceiling) of each ROI group."""
    n_rois = len(x)
    pvalues = _vector("pvalues", pvalues, n_rois, "roi_names")[order]
    tvalues = None if tvalues is None else _vector("tvalues", tvalues, n_rois, "roi_names")[order]
    heights = np.nanmax(np.vstack([tops] + ([] if ceiling is None else [ceiling[None]])), axis=0)[order]
    finite = heights[np.isfinite(heights)]
    span = float(finite.max() - min(finite.min(), 0.0)) if finite.size else 1.0
    hover = ([f"p = {p:.2g}" for p in pvalues] if tvalues is None
             else [f"t = {t:.2f}, p = {p:.2g}" for t, p in zip(tvalues, pvalues, strict=True)])
    fig.add_trace(
        go.Scatter(
            x=x,
            y=heights + 0.06 * (span or 1.0),
            mode="text",
            text=[_significance_mark(p) for p in pvalues],
            hovertext=hover,
            hovertemplate="%{x}: %{hovertext}<extra></extra>",
            name="model difference",
            showlegend=False,
        )
    )


def layer_profile_figure(
    layer_names, values, *, row_names=None, ylabel: str = "explained variance (R²)", title: str = ""
) -> go.Figure:
    """Explained variance against layer depth (Wen et al.'s layer-wise contribution).

    Parameters
    ----------
    layer_names : sequence of str of length n_layers
        In depth order.
    values : ndarray of shape (n_layers,) or (n_rois, n_layers)
        One profile, or one per row (e.g. per ROI).
    row_names : sequence of str of length n_rois, optional
        Line names; required for 2-D ``values``. For 1-D ``values`` the first name (if
        given) names the single line, else ``ylabel`` does.
    ylabel, title : str

    Returns
    -------
    go.Figure
        One line per row, as ``rdm.layer_line_figure`` draws it.
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        series = {ylabel if row_names is None else str(row_names[0]): values}
    elif values.ndim == 2:
        if row_names is None:
            raise ValueError(f"row_names is required for values of shape {values.shape}")
        _check_length("row_names", row_names, values.shape[0], "the rows of values")
        series = {str(name): row for name, row in zip(row_names, values, strict=True)}
    else:
        raise ValueError(f"values must have shape (n_layers,) or (n_rois, n_layers); got {values.shape}")
    return layer_line_figure(layer_names, series, ylabel=ylabel, title=title)


def score_histogram_figure(
    r,
    *,
    ceiling=None,
    threshold: float | None = None,
    bins: int = 50,
    threshold_label: str = "FDR threshold",
    xlabel: str = "test r",
    title: str = "",
) -> go.Figure:
    """Histogram of per-vertex scores, binned here so only the counts are sent.

    Parameters
    ----------
    r : ndarray of shape (n_vertices,)
        Per-vertex score; non-finite values are left out.
    ceiling : ndarray of shape (n_vertices,), optional
        Per-vertex noise ceiling, drawn as a second histogram on the same bins.
    threshold : float, optional
        Significance threshold on ``r`` (e.g. the smallest r passing FDR), drawn as a
        dashed vertical line labelled with the share of vertices at or above it.
    bins : int
        Number of equal-width bins spanning all finite values.
    threshold_label, xlabel, title : str

    Returns
    -------
    go.Figure
        Bar traces with x = bin centres and y = counts (``r`` first, then ``ceiling``);
        the threshold is a layout shape.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim != 1:
        raise ValueError(f"r must be 1-D (n_vertices,); got shape {r.shape}")
    arrays = {"vertices": r}
    if ceiling is not None:
        arrays["noise ceiling"] = _vector("ceiling", ceiling, len(r), "r")
    finite = {name: a[np.isfinite(a)] for name, a in arrays.items()}
    if finite["vertices"].size == 0:
        raise ValueError("r has no finite values")
    pooled = np.concatenate(list(finite.values()))
    edges = np.histogram_bin_edges(pooled, bins=bins)
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = go.Figure()
    for i, (name, values) in enumerate(finite.items()):
        counts, _ = np.histogram(values, bins=edges)
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=width,
                name=name,
                customdata=np.c_[edges[:-1], edges[1:]],
                marker={"color": _color(0) if i == 0 else _rgba(_NEUTRAL, 0.45)},
                hovertemplate=f"{name}<br>[%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}): %{{y}}<extra></extra>",
            )
        )
    if threshold is not None:
        share = np.mean(finite["vertices"] >= threshold)
        fig.add_vline(
            x=float(threshold),
            line={"dash": "dash", "color": _color(3), "width": 1.5},
            annotation_text=f"{threshold_label} ({share:.1%} of vertices above)",
            annotation_position="top right",
        )
    return _finish(
        fig,
        title=title,
        xlabel=xlabel,
        ylabel="number of vertices",
        barmode="overlay",
        bargap=0,
        showlegend=ceiling is not None,
    )


def image_pair_figure(
    image_a, image_b, *, titles=("", ""), title: str = "", tile_size: int = 160
) -> go.Figure:
    """Two RGB images side by side, as small PNG thumbnails.

    Parameters
    ----------
    image_a, image_b : ndarray of shape (h, w, 3), uint8
        The images (they may differ in size).
    titles : tuple of two str
        Caption above each image.
    title : str
    tile_size : int
        Images larger than this (in pixels, either side) are shrunk by an integer factor.

    Returns
    -------
    go.Figure
        Two Image traces (``source`` = PNG data URI) in a 1 × 2 grid, axes hidden.
    """
    if len(titles) != 2:
        raise ValueError(f"titles must hold two captions; got {len(titles)}")
    fig = make_subplots(rows=1, cols=2, subplot_titles=[str(t) for t in titles], horizontal_spacing=0.03)
    for col, (name, image) in enumerate((("image_a", image_a), ("image_b", image_b)), start=1):
        thumb = _shrink(_check_images(name, np.asarray(image)[None]), tile_size)[0]
        fig.add_trace(go.Image(source=_png_data_uri(thumb), hoverinfo="skip"), row=1, col=col)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _finish(fig, title=title, margin={"l": 0, "r": 0, "t": 50 if title else 25, "b": 0})
