"""Face figures for the Identity & Expression page; plotly + numpy only.

Image grids are composed here into one mosaic and sent as a single ``go.Image`` whose
``source`` is a PNG data URI (written with zlib, "Up" row filter), which is several times
lighter than per-pixel ``z``. The mosaic helpers are shared with ``gallery`` and
``encoding``. Decoding curves across layers use ``rdm.layer_line_figure``; the identity − expression
difference per region is a dot-and-whisker chart (:func:`difference_figure`).
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.rdm import _check_length, _finish, _vector, format_p

__all__ = ["difference_figure", "stimulus_strip_figure"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_UP_FILTER = 2
_WHITE = 255
_MODEL_MARK = "*"


def _check_images(name, images) -> np.ndarray:
    """``images`` as a (n, h, w, 3) uint8 array."""
    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (n, h, w, 3); got {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 RGB; got dtype {arr.dtype}")
    return arr


def _shrink(images, tile_size: int) -> np.ndarray:
    """Shrink (n, h, w, 3) uint8 images by the smallest integer factor that fits ``tile_size``.

    Box-averages ``factor × factor`` blocks (cropping the remainder rows/columns).
    """
    if tile_size < 1:
        raise ValueError(f"tile_size must be a positive number of pixels; got {tile_size}")
    n, h, w, _ = images.shape
    factor = -(-max(h, w) // tile_size)
    if factor == 1:
        return images
    h2, w2 = h // factor, w // factor
    blocks = images[:, : h2 * factor, : w2 * factor].reshape(n, h2, factor, w2, factor, 3)
    return np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _png_data_uri(rgb) -> str:
    """A (h, w, 3) uint8 image as a ``data:image/png;base64,...`` URI."""
    h, w, _ = rgb.shape
    rows = np.ascontiguousarray(rgb, dtype=np.uint8).reshape(h, w * 3)
    filtered = rows.copy()
    filtered[1:] -= rows[:-1]  # PNG "Up" filter; uint8 arithmetic wraps modulo 256
    raw = np.hstack([np.full((h, 1), _PNG_UP_FILTER, np.uint8), filtered]).tobytes()
    png = (
        _PNG_SIGNATURE
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _mosaic(tiles) -> np.ndarray:
    """(n_rows, n_cols, h, w, 3) tiles -> one (n_rows * h, n_cols * w, 3) image."""
    n_rows, n_cols, h, w, c = tiles.shape
    return tiles.transpose(0, 2, 1, 3, 4).reshape(n_rows * h, n_cols * w, c)


_ROW_TITLE_PX = 110  # left margin that holds row titles


def _mosaic_figure(tiles, *, hover, captions=None, column_titles=None, row_titles=None, title="") -> go.Figure:
    """One Image trace of the composed tiles, plus invisible markers carrying the hover text.

    Parameters
    ----------
    tiles : ndarray of shape (n_rows, n_cols, h, w, 3), uint8
    hover : ndarray of shape (n_rows, n_cols) of str
        Hover text per tile ("" for padding tiles: no marker).
    captions : ndarray of shape (n_rows, n_cols) of str, optional
        Text written over the bottom of each tile.
    column_titles : sequence of str of length n_cols, optional
        Text above each column.
    row_titles : sequence of str of length n_rows, optional
        Text left of each row (in a margin of its own, so titles never overlap however small the tiles are).
    """
    n_rows, n_cols, h, w, _ = tiles.shape
    rows, cols = np.nonzero(hover != "")
    fig = go.Figure(
        [
            go.Image(source=_png_data_uri(_mosaic(tiles)), hoverinfo="skip"),
            go.Scatter(
                x=cols * w + (w - 1) / 2,
                y=rows * h + (h - 1) / 2,
                mode="markers",
                marker={"opacity": 0, "size": max(h, w) / 2},
                text=hover[rows, cols],
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
                name="tiles",
            ),
        ]
    )
    if captions is not None:
        for row, col in zip(rows, cols, strict=True):
            fig.add_annotation(
                x=col * w + (w - 1) / 2,
                y=(row + 1) * h - 1,
                yanchor="bottom",
                text=captions[row, col],
                showarrow=False,
                font={"size": 10},
                bgcolor="rgba(255, 255, 255, 0.75)",
            )
    for col, text in enumerate(column_titles or []):
        fig.add_annotation(
            x=col * w + (w - 1) / 2,
            y=1.0,
            yref="paper",
            yanchor="bottom",
            text=f"<b>{text}</b>",
            showarrow=False,
        )
    for row, text in enumerate(row_titles or []):
        fig.add_annotation(x=0, xref="paper", xanchor="right", xshift=-6, y=row * h + (h - 1) / 2, yref="y",
                           text=f"<b>{text}</b>", showarrow=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _finish(fig, title=title, margin={"l": _ROW_TITLE_PX if row_titles else 0, "r": 0, "b": 0},
                   extra_top=20 if column_titles else 0)


def stimulus_strip_figure(
    images,
    captions,
    *,
    max_images: int = 24,
    n_columns: int = 8,
    model_made=None,
    title: str = "",
    tile_size: int = 96,
) -> go.Figure:
    """A grid of face thumbnails with their labels, as one composed image.

    Parameters
    ----------
    images : ndarray of shape (n_images, h, w, 3), uint8
    captions : sequence of str of length n_images
        Label of each face (e.g. "id 3 · happy").
    max_images : int
        Only the first ``max_images`` are shown (the title then says "first k of n").
    n_columns : int
        Thumbnails per row.
    model_made : sequence of bool of length n_images, optional
        True where the label was predicted by a model rather than given; such captions
        are italic and marked "*", and a note explains the mark.
    title : str
    tile_size : int
        Faces larger than this (pixels, either side) are shrunk by an integer factor.

    Returns
    -------
    go.Figure
        Trace 0: one Image (``source`` = PNG of the mosaic, shape
        (n_rows * h', n_columns * w', 3) with faces in reading order and white padding);
        trace 1: invisible markers at the tile centres with the captions as hover text.
        Captions are annotations over the bottom of each tile.
    """
    images = _check_images("images", images)
    n = len(images)
    _check_length("captions", captions, n, "images")
    if n == 0:
        raise ValueError("images is empty; give at least one face")
    if max_images < 1 or n_columns < 1:
        raise ValueError(f"max_images={max_images} and n_columns={n_columns} must both be >= 1")
    marks = np.zeros(n, bool) if model_made is None else np.asarray(model_made, dtype=bool)
    _check_length("model_made", marks, n, "images")
    shown = min(n, max_images)
    thumbs = _shrink(images[:shown], tile_size)
    n_cols = min(n_columns, shown)
    n_rows = -(-shown // n_cols)
    _, h, w, _ = thumbs.shape
    tiles = np.full((n_rows * n_cols, h, w, 3), _WHITE, np.uint8)
    tiles[:shown] = thumbs
    text = [
        f"<i>{c}</i>{_MODEL_MARK}" if m else str(c)
        for c, m in zip(captions[:shown], marks[:shown], strict=True)
    ]
    grid = np.full(n_rows * n_cols, "", dtype=object)
    grid[:shown] = text
    grid = grid.reshape(n_rows, n_cols)
    if shown < n:
        title = f"{title} (first {shown} of {n})" if title else f"first {shown} of {n}"
    fig = _mosaic_figure(tiles.reshape(n_rows, n_cols, h, w, 3), hover=grid, captions=grid, title=title)
    if marks[:shown].any():
        fig.add_annotation(
            x=0,
            y=0,
            xref="paper",
            yref="paper",
            yanchor="top",
            xanchor="left",
            showarrow=False,
            text=f"{_MODEL_MARK} label predicted by a model",
            font={"size": 11},
        )
        fig.update_layout(margin={"b": 25})
    return fig


def difference_figure(
    regions,
    observed,
    ci_low,
    ci_high,
    p_values,
    *,
    hover=None,
    xlabel: str = "r(identity net) − r(expression net)",
    title: str = "",
) -> go.Figure:
    """One row per region: the observed difference of two correlations, its interval, and its p.

    Parameters
    ----------
    regions : sequence of str of length n_regions
        Drawn top to bottom in this order.
    observed : ndarray of shape (n_regions,)
        Difference on all stimuli (positive: closer to the first network).
    ci_low, ci_high : ndarray of shape (n_regions,)
        Bounds of the (bootstrap percentile) interval.
    p_values : ndarray of shape (n_regions,)
        Written right of each row ("p = 0.003", "p < 0.001").
    hover : sequence of str of length n_regions, optional
        Extra hover line per region (e.g. the layers compared).
    xlabel, title : str

    Returns
    -------
    go.Figure
        One Scatter trace (markers; ``error_x`` asymmetric: ``array`` = ci_high − observed,
        ``arrayminus`` = observed − ci_low; ``text`` = the formatted p values); the zero line is a
        dashed layout shape at ``x = 0``.
    """
    n = len(regions)
    if n == 0:
        raise ValueError("regions is empty; give at least one region")
    observed = _vector("observed", observed, n, "regions")
    low, high = _vector("ci_low", ci_low, n, "regions"), _vector("ci_high", ci_high, n, "regions")
    if np.any(low > observed) or np.any(high < observed):
        raise ValueError("every interval must contain its observed difference (ci_low <= observed <= ci_high)")
    text = [format_p(p) for p in _vector("p_values", p_values, n, "regions")]
    extra = [""] * n if hover is None else [f"<br>{h}" for h in hover]
    _check_length("hover", extra, n, "regions")
    fig = go.Figure(
        go.Scatter(
            x=observed,
            y=[str(r) for r in regions],
            mode="markers+text",
            marker={"size": 10, "color": "black"},
            error_x={"type": "data", "symmetric": False, "array": high - observed,
                     "arrayminus": observed - low, "thickness": 1.5, "width": 6},
            text=text,
            textposition="top center",
            customdata=[[float(a), float(b), e] for a, b, e in zip(low, high, extra, strict=True)],
            hovertemplate="%{y}: %{x:.3f} [%{customdata[0]:.3f}, %{customdata[1]:.3f}]<br>%{text}"
                          "%{customdata[2]}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=0.0, line={"dash": "dash", "color": "grey", "width": 1.5})
    fig.update_yaxes(autorange="reversed")
    return _finish(fig, title=title, xlabel=xlabel, margin={"l": 110, "r": 20, "t": 60 if title else 30, "b": 50})
