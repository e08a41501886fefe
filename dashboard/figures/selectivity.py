"""Category-selectivity figures for the Selectivity page; plotly + numpy only."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import _color, _finish, _vector
from dashboard.figures.encoding import _STREAM_LABEL_PX, STREAM_COLORS, _add_stream_bands, _stream_order

__all__ = ["roi_selectivity_figure", "top_categories_figure"]


def top_categories_figure(
    category_names, dprime, *, vertex_label: str = "", title: str = "", xlabel: str = "selectivity d′"
) -> go.Figure:
    """Horizontal bars of category selectivity, most selective category on top.

    Parameters
    ----------
    category_names : sequence of str of length k
    dprime : ndarray of shape (k,)
        Selectivity (d′) of the vertex or ROI for each category.
    vertex_label : str
        What was measured (e.g. "vertex 1234 (FFC, left)"); used in the default title.
    title, xlabel : str

    Returns
    -------
    go.Figure
        One horizontal Bar trace with ``x`` = d′ in descending order and ``y`` = the
        matching names, drawn top to bottom; positive bars in the first series colour,
        negative ones grey.
    """
    dprime = _vector("dprime", dprime, len(category_names), "category_names")
    order = np.argsort(-dprime, kind="stable")
    names = [str(category_names[i]) for i in order]
    values = dprime[order]
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker_color=[_color(0) if v >= 0 else "#9A9A9A" for v in values],
            hovertemplate="%{y}<br>d′ = %{x:.2f}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    default = f"Most selective categories: {vertex_label}" if vertex_label else "Most selective categories"
    return _finish(fig, title=title or default, xlabel=xlabel, ylabel="category")


def roi_selectivity_figure(
    roi_names, means, sds, streams, *, category: str, title: str = "", ylabel: str = "selectivity d′"
) -> go.Figure:
    """Mean selectivity for one category per ROI, grouped and coloured by visual stream.

    Parameters
    ----------
    roi_names : sequence of str of length n_rois
        Unique ROI names.
    means : ndarray of shape (n_rois,)
        Mean d′ over each ROI's vertices.
    sds : ndarray of shape (n_rois,)
        Standard deviation over each ROI's vertices (the error bars): a spread, not the error of the mean,
        since neighbouring vertices are not independent samples.
    streams : sequence of str of length n_rois
        Stream of each ROI, one of ``encoding.STREAMS``; ROIs are ordered by stream
        (stable within a stream).
    category : str
        The category (used in the hover text and default title).
    title, ylabel : str

    Returns
    -------
    go.Figure
        One Bar trace per stream present (in ``STREAMS`` order), coloured by
        ``STREAM_COLORS``, with ``error_y.array`` = the SDs of its ROIs.
    """
    n = len(roi_names)
    means = _vector("means", means, n, "roi_names")
    sds = _vector("sds", sds, n, "roi_names")
    order, ordered_streams = _stream_order(roi_names, streams)
    fig = go.Figure()
    for stream in dict.fromkeys(ordered_streams):
        idx = order[ordered_streams == stream]
        fig.add_trace(
            go.Bar(
                x=[str(roi_names[i]) for i in idx],
                y=means[idx],
                name=stream,
                marker_color=STREAM_COLORS[stream],
                error_y={"type": "data", "array": sds[idx], "visible": True, "thickness": 1.2},
                customdata=sds[idx],
                hovertemplate=f"%{{x}} ({stream})<br>{category} d′ = %{{y:.2f}} ± %{{customdata:.2f}} (SD)"
                "<extra></extra>",
            )
        )
    _add_stream_bands(fig, ordered_streams)
    fig.update_xaxes(categoryorder="array", categoryarray=[str(roi_names[i]) for i in order])
    return _finish(
        fig,
        title=title or f"Selectivity for {category} by region",
        xlabel="region of interest",
        ylabel=ylabel,
        barmode="overlay",
        showlegend=False,  # the bands above the bars name the streams
        extra_top=_STREAM_LABEL_PX,
    )
