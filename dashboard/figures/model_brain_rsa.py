"""Figures of the Model–Brain RSA page: layer profiles per region, a brain RDM beside its best layer's RDM, and the
second-order MDS of all RDMs. Plotly and numpy only; arrays in, ``go.Figure`` out.

Trace order of :func:`layer_profile_figure`: per region (subplot), one lines+markers trace per network (its
``error_y`` the interval), then one star trace marking the region's best layer. The noise ceiling is a layout
shape (a band) with an annotation, per region that has one.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures.base import _check_length, _color, _finish, _rgba, _vector
from dashboard.figures.rdm import _check_order, _unique_labels

__all__ = ["CI_LABEL", "layer_profile_figure", "rdm_mds_figure", "rdm_pair_figure"]

#: How the profile's error bars are named wherever they are shown.
CI_LABEL = "95 % bootstrap CI over stimuli (conservative: over-covers)"
_CEILING_COLOR = "#7F7F7F"
_BRAIN_COLOR = "#000000"


def _profile_x(profiles: dict) -> tuple[dict, str, dict]:
    """x values per network, the x-axis title and extra axis settings: layer names for one network, else the
    relative depth 0 (first layer) … 1 (last)."""
    if len(profiles) == 1:
        (name, profile), = profiles.items()
        return {name: [str(layer) for layer in profile["layers"]]}, "layer (input → output)", {"type": "category"}
    xs = {name: np.linspace(0.0, 1.0, len(p["layers"])) if len(p["layers"]) > 1 else np.zeros(1)
          for name, p in profiles.items()}
    return xs, "relative depth (first layer 0 → last layer 1)", {"range": [-0.05, 1.05]}


def layer_profile_figure(regions, profiles: dict, ceiling_lower, ceiling_upper, *, best=None,
                         ylabel: str = "r", title: str = "", interval_label: str = CI_LABEL) -> go.Figure:
    """One panel per brain region: every network's comparison with it across its layers.

    Parameters
    ----------
    regions : sequence of str, length n_regions
    profiles : dict of str -> dict
        Network → ``{"layers": (n_layers,) str, "r", "ci_low", "ci_high": ndarray of shape (n_layers,
        n_regions)}``, optional ``"q"`` (same shape) shown on hover.
    ceiling_lower, ceiling_upper : ndarray of shape (n_regions,)
        Noise ceiling per region; NaN where a region has none (one RDM).
    best : sequence of (network, layer) per region, optional
        Marked with a star.
    ylabel, title, interval_label : str
        ``interval_label`` names the error bars (legend and hover).

    Returns
    -------
    go.Figure
        Subplots in one row; trace order as the module says.
    """
    regions = [str(r) for r in regions]
    n_regions = len(regions)
    if not profiles:
        raise ValueError("profiles is empty; give at least one network")
    lower = _vector("ceiling_lower", ceiling_lower, n_regions, "regions")
    upper = _vector("ceiling_upper", ceiling_upper, n_regions, "regions")
    if best is not None:
        _check_length("best", best, n_regions, "regions")
    xs, xlabel, xaxis = _profile_x(profiles)
    fig = make_subplots(rows=1, cols=n_regions, shared_yaxes=True,
                        horizontal_spacing=min(0.06, 0.4 / max(n_regions, 1)))
    for k in range(n_regions):
        for j, (name, profile) in enumerate(profiles.items()):
            n_layers = len(profile["layers"])
            r, low, high = (np.asarray(profile[key], dtype=np.float64) for key in ("r", "ci_low", "ci_high"))
            for key, values in (("r", r), ("ci_low", low), ("ci_high", high)):
                if values.shape != (n_layers, n_regions):
                    raise ValueError(f"profiles[{name!r}][{key!r}] has shape {values.shape}; expected "
                                     f"({n_layers}, {n_regions}) (layers × regions)")
            q = np.asarray(profile.get("q", np.full((n_layers, n_regions), np.nan)), dtype=np.float64)
            hover = [f"{name} · {layer}<br>r = {r[i, k]:.3f}"
                     + (f" [{low[i, k]:.3f}, {high[i, k]:.3f}]" if np.isfinite(low[i, k]) else "")
                     + (f"<br>FDR q = {q[i, k]:.3g}" if np.isfinite(q[i, k]) else "")
                     for i, layer in enumerate(profile["layers"])]
            has_ci = np.isfinite(low[:, k]).any()
            fig.add_trace(go.Scatter(
                x=list(xs[name]), y=r[:, k], mode="lines+markers", name=name, legendgroup=name,
                showlegend=k == 0, line={"color": _color(j), "width": 2}, marker={"size": 6},
                error_y={"type": "data", "symmetric": False, "array": high[:, k] - r[:, k],
                         "arrayminus": r[:, k] - low[:, k], "color": _rgba(_color(j), 0.5), "thickness": 1.2,
                         "width": 3, "visible": bool(has_ci)},
                text=hover, hovertemplate="%{text}<extra></extra>"), row=1, col=k + 1)
        if best is not None:
            network, layer = best[k]
            profile = profiles[network]
            i = [str(x) for x in profile["layers"]].index(str(layer))
            fig.add_trace(go.Scatter(
                x=[list(xs[network])[i]], y=[np.asarray(profile["r"], dtype=np.float64)[i, k]], mode="markers",
                name="best layer", legendgroup="best", showlegend=k == 0,
                marker={"symbol": "star", "size": 15, "color": "gold", "line": {"color": "black", "width": 1}},
                hovertemplate=f"best: {network} · {layer}<extra></extra>"), row=1, col=k + 1)
        if np.isfinite(lower[k]) and np.isfinite(upper[k]):
            fig.add_hrect(y0=lower[k], y1=upper[k], fillcolor=_rgba(_CEILING_COLOR, 0.2), line_width=0,
                          annotation_text="noise ceiling", annotation_position="top left",
                          annotation_font_size=10, row=1, col=k + 1)
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"bars: {interval_label}",
                             line={"color": _rgba(_CEILING_COLOR, 0.6)}, hoverinfo="skip"))
    fig.update_xaxes(**xaxis)
    for k, region in enumerate(regions):  # the region under its panel (titles above would meet the legend)
        fig.update_xaxes(title_text=f"<b>{region}</b> — {xlabel}", row=1, col=k + 1)
    fig.update_yaxes(title_text=ylabel, row=1, col=1)
    values = np.concatenate([np.asarray(p[key], dtype=np.float64).ravel() for p in profiles.values()
                             for key in ("r", "ci_low", "ci_high")] + [lower, upper])
    values = values[np.isfinite(values)]
    if values.size:  # the ceiling bands are shapes, which autorange leaves out
        low, high = min(float(values.min()), 0.0), float(values.max())
        fig.update_yaxes(range=[low - 0.05 * (high - low or 1), high + 0.05 * (high - low or 1)])
    return _finish(fig, title=title, legend=True)


def rdm_pair_figure(brain, model, labels, *, order=None, titles=("brain", "model"), title: str = "",
                    value_name: str = "dissimilarity percentile") -> go.Figure:
    """Two RDMs side by side on one colour scale, both in the same condition order.

    Parameters
    ----------
    brain, model : ndarray of shape (n, n)
    labels : sequence of str, length n
        Condition names, on hover ("row × column").
    order : ndarray of shape (n,), optional
        Permutation of ``range(n)`` (e.g. a clustering's leaf order): condition ``order[i]`` at position i.
    titles : (str, str)
        Names of the two matrices (x-axis titles).
    title, value_name : str

    Returns
    -------
    go.Figure
        Trace 0: the brain heatmap, trace 1: the model's (``z = matrix[order][:, order]``), one shared colour
        bar; y axes reversed (first condition at the top); tick labels hidden beyond 40 conditions.
    """
    brain = np.asarray(brain, dtype=np.float64)
    model = np.asarray(model, dtype=np.float64)
    if brain.ndim != 2 or brain.shape[0] != brain.shape[1] or model.shape != brain.shape:
        raise ValueError(f"brain and model must be square and of one shape; got {brain.shape} and {model.shape}")
    n = brain.shape[0]
    _check_length("labels", labels, n, "the RDMs")
    order = _check_order(order, n)
    names = np.array(_unique_labels(labels), dtype=object)[order].tolist()
    zmin = float(np.nanmin([brain.min(), model.min()]))
    zmax = float(np.nanmax([brain.max(), model.max()]))
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08)
    for col, matrix in enumerate((brain, model), start=1):
        fig.add_trace(go.Heatmap(
            z=matrix[np.ix_(order, order)], x=names, y=names, zmin=zmin, zmax=zmax, colorscale="Viridis",
            showscale=col == 2, colorbar={"title": {"text": value_name}, "thickness": 14},
            hovertemplate=f"%{{y}} × %{{x}}<br>{value_name}: %{{z:.1f}}<extra></extra>"), row=1, col=col)
    show_ticks = n <= 40
    fig.update_yaxes(autorange="reversed", showticklabels=show_ticks)
    fig.update_xaxes(showticklabels=show_ticks, tickangle=-45)
    fig.update_yaxes(showticklabels=False, col=2)
    for col, name in enumerate(titles, start=1):  # each matrix named under it
        fig.update_xaxes(title_text=name, row=1, col=col)
    return _finish(fig, title=title)


def rdm_mds_figure(xy, labels, groups, depth, *, title: str = "") -> go.Figure:
    """Second-order MDS: one point per RDM; brain RDMs as black diamonds, each network's layers joined in depth
    order (a trajectory), coloured by network.

    Parameters
    ----------
    xy : ndarray of shape (n_rdms, 2)
    labels : sequence of str, length n_rdms
    groups : sequence of str, length n_rdms
        ``"brain"`` for brain RDMs, else the RDM's network.
    depth : sequence of int, length n_rdms
        Layer index within the network (its order along the trajectory); ignored for brain RDMs.
    title : str

    Returns
    -------
    go.Figure
        One trace per network (lines+markers, points in depth order), then one trace of the brain RDMs.
    """
    xy = np.asarray(xy, dtype=np.float64)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ValueError(f"xy must have shape (n_rdms, 2); got {xy.shape}")
    n = len(xy)
    for name, values in (("labels", labels), ("groups", groups), ("depth", depth)):
        _check_length(name, values, n, "xy")
    labels, groups, depth = [str(x) for x in labels], [str(g) for g in groups], np.asarray(depth)
    fig = go.Figure()
    networks = [g for g in dict.fromkeys(groups) if g != "brain"]
    for j, network in enumerate(networks):
        rows = sorted((i for i in range(n) if groups[i] == network), key=lambda i: depth[i])
        fig.add_trace(go.Scatter(
            x=xy[rows, 0], y=xy[rows, 1], mode="lines+markers", name=network,
            line={"color": _rgba(_color(j), 0.5), "width": 1.5},
            marker={"color": _color(j), "size": np.linspace(6, 12, len(rows)) if len(rows) > 1 else 9},
            text=[labels[i] for i in rows], hovertemplate=f"{network} · %{{text}}<extra></extra>"))
    brain = [i for i in range(n) if groups[i] == "brain"]
    fig.add_trace(go.Scatter(
        x=xy[brain, 0], y=xy[brain, 1], mode="markers+text", name="brain RDMs",
        marker={"symbol": "diamond", "size": 13, "color": _BRAIN_COLOR}, text=[labels[i] for i in brain],
        textposition="top center", hovertemplate="brain · %{text}<extra></extra>"))
    fig.update_yaxes(scaleanchor="x", scaleratio=1, zeroline=False)
    fig.update_xaxes(zeroline=False)
    return _finish(fig, title=title, xlabel="MDS 1", ylabel="MDS 2", legend=True)
