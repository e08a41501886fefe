"""Reconstruction figures for the Reconstructions page (VanRullen & Reddy 2019); plotly + numpy only."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from dashboard.figures.base import _color, _finish, _line_figure, _vector, format_p
from dashboard.figures.faces import _check_images, _mosaic_figure, _shrink

__all__ = [
    "accuracy_curve_figure",
    "latent_explorer_figure",
    "pairwise_accuracy_figure",
    "reconstruction_gallery_figure",
]

ORIGINAL_TITLE = "original"


def reconstruction_gallery_figure(
    originals, reconstructions, *, max_faces: int = 12, face_labels=None, title: str = "", tile_size: int = 96
) -> go.Figure:
    """Faces in columns, the original and each model's reconstruction in rows, as one image.

    Parameters
    ----------
    originals : ndarray of shape (n_faces, h, w, 3), uint8
        The test faces.
    reconstructions : dict of str -> ndarray of shape (n_faces, h, w, 3), uint8
        Reconstruction of each face by each model (e.g. "VAE-GAN", "PCA"), one row each
        in insertion order.
    max_faces : int
        Only the first ``max_faces`` faces are shown (the title then says "first k of n").
    face_labels : sequence of str of length n_faces, optional
        Face names for the hover text (default "face 0", "face 1", ...).
    title : str
    tile_size : int
        Faces larger than this (pixels, either side) are shrunk by an integer factor.

    Returns
    -------
    go.Figure
        Trace 0: one Image (``source`` = PNG of the mosaic of shape
        ((1 + n_models) * h', n_shown * w', 3), originals in row 0); trace 1: invisible
        markers at the tile centres with "face – row" hover text. Row titles
        ("original", then the model names) are annotations left of the image, in a margin of
        their own, so they never overlap however many faces are shown.
    """
    originals = _check_images("originals", originals)
    n = len(originals)
    if n == 0:
        raise ValueError("originals is empty; give at least one face")
    if max_faces < 1:
        raise ValueError(f"max_faces must be >= 1; got {max_faces}")
    columns = {ORIGINAL_TITLE: originals}
    for name, images in reconstructions.items():
        images = _check_images(f"reconstructions[{name!r}]", images)
        if images.shape != originals.shape:
            raise ValueError(
                f"reconstructions[{name!r}] has shape {images.shape} but originals has shape "
                f"{originals.shape}; they must match"
            )
        columns[str(name)] = images
    if face_labels is None:
        face_labels = [f"face {i}" for i in range(n)]
    face_labels = [str(label) for label in _vector("face_labels", face_labels, n, "originals", dtype=object)]
    shown = min(n, max_faces)
    tiles = np.stack([_shrink(images[:shown], tile_size) for images in columns.values()], axis=0)
    hover = np.array(
        [[f"{face} – {column}" for face in face_labels[:shown]] for column in columns], dtype=object
    )
    if shown < n:
        title = f"{title} (first {shown} of {n})" if title else f"first {shown} of {n}"
    return _mosaic_figure(tiles, hover=hover, row_titles=list(columns), title=title)


def pairwise_accuracy_figure(
    model_names,
    accuracies,
    *,
    chance: float = 0.5,
    p_values=None,
    ylabel: str = "pairwise identification accuracy",
    title: str = "",
) -> go.Figure:
    """Bars of each model's pairwise identification accuracy, with the chance level.

    Parameters
    ----------
    model_names : sequence of str of length n_models
    accuracies : ndarray of shape (n_models,)
        Fraction of test pairs identified correctly.
    chance : float
        Chance accuracy, drawn as a dashed line (0.5 for pairwise identification).
    p_values : ndarray of shape (n_models,), optional
        p of each accuracy against chance, written above its bar ("p = 0.003",
        "p < 0.001").
    ylabel, title : str

    Returns
    -------
    go.Figure
        One Bar trace (``text`` = the formatted p values when given); the chance line is a
        layout shape at ``y = chance``.
    """
    n = len(model_names)
    accuracies = _vector("accuracies", accuracies, n, "model_names")
    text = None
    if p_values is not None:
        text = [format_p(p) for p in _vector("p_values", p_values, n, "model_names")]
    fig = go.Figure(
        go.Bar(
            x=[str(m) for m in model_names],
            y=accuracies,
            text=text,
            textposition="outside",
            marker_color=[_color(i) for i in range(n)],
            hovertemplate="%{x}<br>accuracy = %{y:.3f}" + ("<br>%{text}" if text else "") + "<extra></extra>",
        )
    )
    fig.add_hline(
        y=float(chance),
        line={"dash": "dash", "color": "black", "width": 1.5},
        annotation_text=f"chance ({chance:g})",
        annotation_position="top left",
    )
    return _finish(fig, title=title, xlabel="model", ylabel=ylabel, showlegend=False)


def accuracy_curve_figure(
    x,
    series,
    *,
    xlabel: str,
    chance: float | None = None,
    bands=None,
    ylabel: str = "pairwise identification accuracy",
    log_x: bool = False,
    title: str = "",
) -> go.Figure:
    """Accuracy against a numeric variable (training-set size, SNR), one line per model.

    Parameters
    ----------
    x : ndarray of shape (n_points,)
        The numeric variable, e.g. number of training images or SNR in dB.
    series : dict of str -> ndarray of shape (n_points,)
        Accuracy of each model at each x.
    xlabel : str
        x-axis title with units.
    chance : float, optional
        Chance accuracy, drawn as a dashed line labelled "chance".
    bands : dict of str -> (ndarray of shape (n_points,), ndarray of shape (n_points,)), optional
        ``{name: (lower, upper)}``, e.g. a model's confidence interval (same colour as
        the series of the same name).
    ylabel : str
    log_x : bool
        Logarithmic x axis (useful for training-set sizes).
    title : str

    Returns
    -------
    go.Figure
        As ``rdm.layer_line_figure``: band traces, then one line per series; the chance
        line is a layout shape.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (n_points,); got shape {x.shape}")
    hlines = None if chance is None else {"chance": chance}
    return _line_figure(
        x, series, bands=bands, hlines=hlines, xlabel=xlabel, ylabel=ylabel, title=title, log_x=log_x
    )


def latent_explorer_figure(faces, *, title: str = "", tile_size: int = 192) -> go.Figure:
    """Each model's face at one point of a latent walk, side by side with the model names above.

    Parameters
    ----------
    faces : dict of str -> ndarray of shape (h, w, 3), uint8
        One generated face per model (e.g. the GAN and PCA faces at the slider's offset along
        the gender axis), one column each in insertion order; all of the same shape.
    title : str
    tile_size : int
        Faces larger than this (pixels, either side) are shrunk by an integer factor.

    Returns
    -------
    go.Figure
        As :func:`reconstruction_gallery_figure` with one row: trace 0 the Image, trace 1 the
        hover markers; column titles are annotations.
    """
    if not faces:
        raise ValueError("faces is empty; give at least one {model: image}")
    images = {str(name): _check_images(f"faces[{name!r}]", np.asarray(face)[None]) for name, face in faces.items()}
    shapes = {name: image.shape[1:] for name, image in images.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"faces must all have the same shape; got {shapes}")
    tiles = np.stack([_shrink(image, tile_size) for image in images.values()], axis=1)
    hover = np.array([list(images)], dtype=object)
    return _mosaic_figure(tiles, hover=hover, column_titles=list(images), title=title)
