"""The shared look of the analysis figures: the template and series palette, length and shape checks, ``_finish``
(titles, margins, legend rows), :func:`png_export_config`, :func:`format_p` and the banded ``_line_figure``.

Plotly and numpy only. Used by every analysis-figure module (``rdm``, ``encoding``, ``selectivity``, ``faces``,
``gallery``).
"""

from __future__ import annotations

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go

TEMPLATE = "plotly_white"
#: Colours of series, models and clusters, in order (cycled).
PALETTE = tuple(pcolors.qualitative.D3)
_NEUTRAL = "#7F7F7F"
_BAND_OPACITY = 0.18


# --- helpers shared with the other figure modules -------------------------------------------


def _check_length(name, values, n, ref_name) -> None:
    if len(values) != n:
        raise ValueError(f"{name} has length {len(values)} but {ref_name} has length {n}; they must match")


def _vector(name, values, n, ref_name, dtype=np.float64) -> np.ndarray:
    """``values`` as a 1-D array of length ``n`` (the length of ``ref_name``)."""
    arr = np.asarray(values, dtype=dtype)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {arr.shape}")
    _check_length(name, arr, n, ref_name)
    return arr


def _matrix(name, values, shape, meaning) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; expected {shape} ({meaning})")
    return arr


#: Heights (px) of what sits above a plot: the band plotly's mode bar covers, a title line, a legend row; and the
#: width (px) a legend row is assumed to have (a third of a 1366-px page, the narrowest graph with a legend).
MODEBAR_PX = 30
_TITLE_LINE_PX = 22
LEGEND_ROW_PX = 22
_LEGEND_WIDTH_PX = 360


def legend_rows(fig) -> int:
    """Rows a horizontal legend of ``fig``'s named traces needs in a ``_LEGEND_WIDTH_PX`` wide graph (estimated
    from the names: a 40-px symbol and about 7 px per character per item)."""
    names = [t.name for t in fig.data if t.name and t.showlegend is not False]
    widths = [40 + 7 * len(name) for name in dict.fromkeys(names)]
    rows, used = (1, 0) if widths else (0, 0)
    for width in widths:
        if used and used + width > _LEGEND_WIDTH_PX:
            rows, used = rows + 1, 0
        used += width
    return rows


def _finish(fig, *, title, xlabel=None, ylabel=None, margin=None, legend: bool = False, extra_top: int = 0,
            **layout) -> go.Figure:
    """The shared look: template, axis titles, compact margins (``margin`` overrides the sides it names).

    The title is left-aligned below the band of the mode bar (which covers the top right of a graph), and a
    legend (``legend=True``) is a horizontal row above the plot, under the title, never over an axis title; the
    top margin holds the band, the title's lines, ``extra_top`` pixels and the legend's rows.
    """
    lines = title.count("<br>") + 1 if title else 0
    top = MODEBAR_PX + lines * _TITLE_LINE_PX + extra_top + (legend_rows(fig) * LEGEND_ROW_PX if legend else 0) + 6
    margin = {"l": 60, "r": 20, "b": 50, **(margin or {})}
    margin["t"] = max(margin.get("t", 0), top)
    if legend:
        layout["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom",
                            **layout.get("legend", {})}
    fig.update_layout(
        template=TEMPLATE,
        # plotly.js centres the extra lines of a title on its first one: pad them down by half a line each
        title={"text": title, "x": 0.01, "xref": "container", "xanchor": "left", "yref": "container", "y": 1,
               "yanchor": "top", "pad": {"t": MODEBAR_PX + _TITLE_LINE_PX // 2 * max(lines - 1, 0)}},
        margin=margin,
        hoverlabel={"namelength": -1},
        **layout,
    )
    if xlabel is not None:
        fig.update_xaxes(title_text=xlabel)
    if ylabel is not None:
        fig.update_yaxes(title_text=ylabel)
    return fig


def png_export_config(filename: str, *, scale: int = 2) -> dict:
    """Plotly ``config`` whose modebar camera button saves a PNG named ``filename`` at ``scale``× resolution."""
    return {"toImageButtonOptions": {"format": "png", "filename": filename, "scale": scale},
            "displaylogo": False}


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = pcolors.hex_to_rgb(hex_color)
    return f"rgba({r}, {g}, {b}, {alpha})"


def format_p(p: float) -> str:
    """A p-value as figures and tables write it: "p = 0.003", "p < 0.001"."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _band_trace(x, lower, upper, *, name, color, legendgroup=None) -> go.Scatter:
    """A filled band between ``lower`` and ``upper`` (one closed polygon)."""
    return go.Scatter(
        x=list(x) + list(x)[::-1],
        y=np.concatenate([upper, lower[::-1]]),
        mode="lines",
        fill="toself",
        fillcolor=_rgba(color, _BAND_OPACITY),
        line={"width": 0},
        name=name,
        legendgroup=legendgroup,
        hoverinfo="skip",
    )


def _line_figure(x, series, *, bands, hlines, xlabel, ylabel, title, log_x=False) -> go.Figure:
    """Lines over a shared x, with optional bands and horizontal reference lines.

    A band or line whose name is also a series name takes that series' colour.
    """
    n = len(x)
    if not series:
        raise ValueError("series is empty; give at least one {name: values}")
    colors = {name: _color(i) for i, name in enumerate(series)}
    fig = go.Figure()
    for name, (lower, upper) in (bands or {}).items():
        lower = _vector(f"bands[{name!r}] lower", lower, n, "x")
        upper = _vector(f"bands[{name!r}] upper", upper, n, "x")
        color = colors.get(name, _NEUTRAL)
        label = f"{name} (band)" if name in series else name
        fig.add_trace(_band_trace(x, lower, upper, name=label, color=color, legendgroup=name))
    for name, values in series.items():
        y = _vector(f"series[{name!r}]", values, n, "x")
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=y,
                mode="lines+markers",
                name=name,
                legendgroup=name,
                line={"color": colors[name], "width": 2},
                marker={"size": 6},
                hovertemplate=f"%{{x}}<br>{name}: %{{y:.3f}}<extra></extra>",
            )
        )
    for i, (name, value) in enumerate((hlines or {}).items()):  # labels alternate sides: lines may lie close
        fig.add_hline(
            y=float(value),
            line={"dash": "dash", "color": colors.get(name, _NEUTRAL), "width": 1.5},
            annotation_text=name,
            annotation_position="top left" if i % 2 == 0 else "bottom right",
        )
    _finish(fig, title=title, xlabel=xlabel, ylabel=ylabel, legend=True)
    if log_x:
        fig.update_xaxes(type="log")
    return fig
