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
    legend_rows,
)

__all__ = [
    "SIGNIFICANCE_MARKS",
    "STREAMS",
    "STREAM_COLORS",
    "image_pair_figure",
    "roi_accuracy_figure",
    "roi_comparison_figure",
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


#: Significance marks of ``roi_comparison_figure``: (upper p bound, mark), tested in order.
SIGNIFICANCE_MARKS = ((0.001, "***"), (0.01, "**"), (0.05, "*"), (np.inf, "n.s."))


def _significance_mark(p: float) -> str:
    return next(mark for bound, mark in SIGNIFICANCE_MARKS if p < bound)


def _interval(name_low, low, name_high, high, means) -> tuple[np.ndarray, np.ndarray]:
    """Error-bar lengths above and below ``means`` for an interval ``[low, high]`` of the same shape
    (never negative)."""
    low, high = (np.asarray(v, dtype=np.float64) for v in (low, high))
    for name, values in ((name_low, low), (name_high, high)):
        if values.shape != means.shape:
            raise ValueError(f"{name} has shape {values.shape}; expected {means.shape} (as the scores)")
    return np.maximum(high - means, 0.0), np.maximum(means - low, 0.0)


def _add_roi_bars(fig, x, order, means, low, high, model_names, ceiling, interval_label, **row) -> None:
    """One Bar trace per model with interval error bars, then the noise-ceiling ticks (if given)."""
    above, below = _interval("low", low, "high", high, means)
    for m, model in enumerate(model_names):
        fig.add_trace(
            go.Bar(
                x=x,
                y=means[m, order],
                name=str(model),
                marker_color=_color(m),
                error_y={"type": "data", "array": above[m, order], "arrayminus": below[m, order],
                         "symmetric": False, "visible": True, "thickness": 1.2},
                customdata=np.c_[means[m, order] - below[m, order], means[m, order] + above[m, order]],
                hovertemplate=f"%{{x}}<br>{model}: %{{y:.3f}} [%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]"
                f" ({interval_label})<extra></extra>",
            ),
            **row,
        )
    if ceiling is not None:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=ceiling[order],
                mode="markers",
                name="noise ceiling",
                marker={"symbol": "line-ew-open", "size": 26, "color": "black", "line": {"width": 2.5}},
                hovertemplate="%{x}<br>noise ceiling: %{y:.3f}<extra></extra>",
            ),
            **row,
        )


def roi_accuracy_figure(
    roi_names,
    means,
    low,
    high,
    model_names,
    *,
    streams=None,
    ceiling=None,
    ylabel: str = "test r",
    interval_label: str = "95 % CI",
    title: str = "",
) -> go.Figure:
    """Grouped bars of a per-ROI score for several models, with interval error bars.

    Parameters
    ----------
    roi_names : sequence of str of length n_rois
        Unique ROI names (e.g. Glasser areas).
    means : ndarray of shape (n_models, n_rois)
        Score per model and ROI (e.g. the ROI-mean test r).
    low, high : ndarray of shape (n_models, n_rois)
        Interval of each score (e.g. a 95 % bootstrap interval over test images), drawn as error bars.
    model_names : sequence of str of length n_models
    streams : sequence of str of length n_rois, optional
        Stream of each ROI, one of ``STREAMS``; ROIs are then ordered by stream (stable
        within a stream), each stream shaded and named above the plot.
    ceiling : ndarray of shape (n_rois,), optional
        Noise ceiling per ROI, drawn as a black tick over each group.
    ylabel, interval_label, title : str
        ``interval_label`` names the interval on hover.

    Returns
    -------
    go.Figure
        One Bar trace per model (x = ROI names in display order, asymmetric ``error_y``), then the
        ceiling markers if given.
    """
    n_models, n_rois = len(model_names), len(roi_names)
    means = _matrix("means", means, (n_models, n_rois), "n_models × n_rois")
    order, ordered_streams = _stream_order(roi_names, streams)
    ceiling = None if ceiling is None else _vector("ceiling", ceiling, n_rois, "roi_names")
    x = [str(roi_names[i]) for i in order]
    fig = go.Figure()
    _add_roi_bars(fig, x, order, means, low, high, model_names, ceiling, interval_label)
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


def roi_comparison_figure(
    roi_names,
    means,
    low,
    high,
    model_names,
    difference,
    difference_low,
    difference_high,
    p_holm,
    *,
    p=None,
    streams=None,
    ceiling=None,
    ylabel: str = "test r",
    interval_label: str = "95 % CI",
    title: str = "",
) -> go.Figure:
    """Two models per ROI: their scores (top) and the paired difference with its interval and the
    family-wise (Holm) significance marks (bottom).

    Parameters
    ----------
    roi_names, means, low, high, model_names, streams, ceiling, ylabel, interval_label, title
        As :func:`roi_accuracy_figure`, with exactly two models.
    difference : ndarray of shape (n_rois,)
        Score of the first model minus the second's.
    difference_low, difference_high : ndarray of shape (n_rois,)
        Interval of the difference (e.g. 95 % bootstrap over test images).
    p_holm : ndarray of shape (n_rois,)
        Holm-adjusted p of each difference; marked above its interval by ``SIGNIFICANCE_MARKS``.
    p : ndarray of shape (n_rois,), optional
        Uncorrected p, shown on hover next to ``p_holm``.

    Returns
    -------
    go.Figure
        Two rows sharing x: the two Bar traces (and ceiling markers) in the first; in the second a
        marker Scatter of ``difference`` (``name`` "difference", asymmetric ``error_y``) and a text
        Scatter of the marks ("n.s." where ``p_holm`` ≥ 0.05), over a dashed zero line.
    """
    if len(model_names) != 2:
        raise ValueError(f"roi_comparison_figure compares exactly 2 models; got {len(model_names)}")
    n_rois = len(roi_names)
    means = _matrix("means", means, (2, n_rois), "n_models × n_rois")
    difference = _vector("difference", difference, n_rois, "roi_names")
    above, below = _interval("difference_low", difference_low, "difference_high", difference_high, difference)
    p_holm = _vector("p_holm", p_holm, n_rois, "roi_names")
    p = p_holm if p is None else _vector("p", p, n_rois, "roi_names")
    order, ordered_streams = _stream_order(roi_names, streams)
    ceiling = None if ceiling is None else _vector("ceiling", ceiling, n_rois, "roi_names")
    x = [str(roi_names[i]) for i in order]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.06)
    _add_roi_bars(fig, x, order, means, low, high, model_names, ceiling, interval_label, row=1, col=1)
    tops, bottoms = (difference + above)[order], (difference - below)[order]
    span = float(np.ptp(np.r_[tops, bottoms, 0.0])) or 1.0
    name = f"{model_names[0]} − {model_names[1]}"
    fig.add_trace(
        go.Scatter(
            x=x,
            y=difference[order],
            mode="markers",
            name="difference",
            marker={"color": _NEUTRAL, "size": 8},
            error_y={"type": "data", "array": above[order], "arrayminus": below[order], "symmetric": False,
                     "visible": True, "thickness": 1.2},
            customdata=np.c_[bottoms, tops, p[order], p_holm[order]],
            hovertemplate=f"%{{x}}<br>{name}: %{{y:.3f}} [%{{customdata[0]:.3f}}, %{{customdata[1]:.3f}}]"
            f" ({interval_label})<br>p = %{{customdata[2]:.2g}}, Holm-adjusted %{{customdata[3]:.2g}}"
            "<extra></extra>",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=tops + 0.08 * span,
            mode="text",
            text=[_significance_mark(v) for v in p_holm[order]],
            hoverinfo="skip",
            name="Holm-adjusted significance",
            showlegend=False,
        ),
        row=2,
        col=1,
    )
    fig.add_hline(y=0, line={"dash": "dash", "color": _NEUTRAL, "width": 1}, row=2, col=1)
    if ordered_streams is not None:
        _add_stream_bands(fig, ordered_streams, yshift=legend_rows(fig) * LEGEND_ROW_PX)
    fig.update_yaxes(title_text=ylabel, row=1, col=1)
    fig.update_yaxes(title_text=name, row=2, col=1)
    fig.update_xaxes(title_text="region of interest", row=2, col=1)
    return _finish(fig, title=title, barmode="group", legend=True,
                   extra_top=_STREAM_LABEL_PX if ordered_streams is not None else 0)


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
