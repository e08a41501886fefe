"""Helpers for pages only (the leading underscore stops Dash importing this as a page)."""

import math
import time

import numpy as np
from dash import Input, Output, Patch, callback

from dashboard import services
from dashboard.components.jobs import progress_text_id
from dashboard.figures.cortex import (
    camera_layout,
    layer_color_options,
    surface_figure,
    surface_intensity_patch,
)
from dashboard.figures.rdm import dendrogram_figure, modularity_figure, rdm_figure

PAPERS = {
    "wen2018": (
        "Wen, Shi, Chen & Liu 2018, Sci Rep 8:3752 — deep residual network predicts cortical "
        "representation and organization of visual features for rapid categorization",
        "https://doi.org/10.1038/s41598-018-22160-9",
    ),
    "schwartz2023": (
        "Schwartz, Alreja, Richardson, Ghuman & Anzellotti 2023, J Neurosci 43(23):4291 — iEEG and "
        "deep networks reveal shared substrates for face identity and expression",
        "https://doi.org/10.1523/JNEUROSCI.1277-22.2023",
    ),
    "vanrullen2019": (
        "VanRullen & Reddy 2019, Commun Biol 2:193 — reconstructing faces from fMRI patterns using "
        "deep generative neural networks",
        "https://doi.org/10.1038/s42003-019-0438-y",
    ),
}


def cortex_figure(values, view: str, **options):
    """A map on the fsLR-32k cortex in a page's view, with sulcal background and full area names on hover.

    ``options`` go to ``dashboard.figures.cortex.surface_figure`` (scale, colorscale, threshold, camera,
    hemisphere, borders as a bool, titles).
    """
    borders = services.roi_border_mask() if options.pop("borders", False) else None
    return surface_figure(services.cortex_mesh(view), values, view=services.figure_view(view),
                          sulc=services.cortex_sulc(), vertex_names=services.vertex_area_labels(), borders=borders,
                          **options)


#: Colour scales of the two kinds of maps (``dashboard.figures.cortex.SCALES``).
SEQUENTIAL_COLORSCALE = "YlOrRd"
DIVERGING_COLORSCALE = "RdBu_r"
#: Scale and colours per map choice, else per map family (the part before ":"); the rest are "auto".
_MAP_STYLES = {
    "sulcal_depth": {"scale": "diverging", "colorscale": "Greys"},
    "other_network": layer_color_options(2, "Portland"),
    "dprime:__max__": {"scale": "sequential"},
    "quality": {"scale": "sequential"},
    "dprime": {"scale": "diverging"},
    "category": {"scale": "diverging"},
    "predicted": {"scale": "diverging"},
    "amplitude": {"scale": "sequential"},
}


def map_style(choice: str, values) -> dict:
    """``scale`` and ``colorscale`` (and for band maps ``vmin``/``vmax``) of a map choice: one band per layer for
    maps of layer numbers (``services.is_layer_map``), sequential from 0 for r, R², ceilings, accuracy and
    amplitudes, diverging around 0 for d′ and signed responses; an uploaded map is diverging when it has a
    negative value."""
    if services.is_layer_map(choice):
        return layer_color_options(services.N_MAP_LAYERS)
    style = dict(_MAP_STYLES.get(choice) or _MAP_STYLES.get(choice.partition(":")[0]) or {"scale": "auto"})
    if style["scale"] == "auto":
        style["scale"] = "diverging" if np.nanmin(values, initial=0.0) < 0 else "sequential"
    style.setdefault("colorscale", SEQUENTIAL_COLORSCALE if style["scale"] == "sequential" else DIVERGING_COLORSCALE)
    return style


def colour_range(values, threshold, unit: str, vmin, vmax) -> tuple[dict, str | None]:
    """``threshold`` (data units, from map units or a percent of the largest |value|), ``vmin`` and ``vmax`` for a
    figure, and a warning about a colour range that cannot be used (then left automatic)."""
    options, warning = {}, None
    if threshold:
        if unit == "percent":
            finite = np.abs(values[np.isfinite(values)])
            threshold = float(threshold) / 100 * float(finite.max()) if finite.size else None
        options["threshold"] = threshold
    if vmin is not None and vmax is not None and not vmin < vmax:
        return options, "The colour range needs its lower end below its upper end; the automatic range is used."
    options.update({k: float(v) for k, v in (("vmin", vmin), ("vmax", vmax)) if v is not None})
    return options, warning


def cortex_update(values, view: str, *, change: str, rendered, camera: str, hemisphere: str, borders: bool,
                  surface: dict | None = None, **style):
    """A cortex graph's new figure, or a ``Patch`` of what ``change`` alters when it is drawn already.

    Parameters
    ----------
    change : {"values", "colour", "camera", "figure"}
        What changed: the map (codes, colours, hover values), its colouring only (threshold, range, borders),
        the camera preset, or anything that needs a new figure (view, hemispheres, surface).
    rendered : dict or None
        What the graph holds (``drawn`` of the last call), from a ``dcc.Store``.
    surface : dict, optional
        ``services.map_surface`` of the map's space (default: fsLR-32k in ``view``).
    style
        Colour options for ``surface_figure`` (scale, colorscale, threshold, vmin, vmax, titles).

    Returns
    -------
    (figure or Patch, drawn)
    """
    surface = surface or services.map_surface("fsLR32k", view)
    drawn = {"view": view, "space": surface["space"], "hemisphere": hemisphere}
    figure_view = surface["figure_view"]
    camera = camera if figure_view == "inflated" else None
    mask = surface["borders"] if borders else None
    if rendered != drawn or change == "figure":
        figure = surface_figure(surface["mesh"], values, view=figure_view, sulc=surface["sulc"],
                                vertex_names=surface["vertex_names"], borders=mask, camera=camera,
                                hemisphere=hemisphere, **style)
        return figure, drawn
    patch = Patch()
    if change == "camera":
        for key, value in camera_layout(figure_view, hemisphere, camera).items():
            if key == "uirevision":
                patch["layout"][key] = value
            else:
                patch["layout"][key]["camera"] = value["camera"]
        return patch, drawn
    title = style.pop("title", None)
    if change == "values" and title is not None:
        patch["layout"]["title"]["text"] = title
    updates = surface_intensity_patch(surface["mesh"], values, sulc=surface["sulc"], borders=mask,
                                      hover=change == "values", **style)
    for index, attributes in updates.items():
        for attribute, value in attributes.items():
            patch["data"][index][attribute] = value
    return patch, drawn


#: Status line of a job after its Cancel button was pressed.
CANCELLED_MESSAGE = "Cancelled."


def background_job(run: str, cancel: str, progress: str) -> dict:
    """``callback`` keywords of a cancellable background job started by button ``run``.

    While it runs ``run`` is disabled and ``cancel`` enabled; the progress bar ``progress`` and its text line
    (``components.job_controls``) are fed by :func:`progress_reporter` and emptied when the job ends or is
    cancelled (:func:`report_cancel` says so in the job's status line).
    """
    return dict(background=True, prevent_initial_call=True,
                running=[(Output(run, "disabled"), True, False), (Output(cancel, "disabled"), False, True)],
                cancel=[Input(cancel, "n_clicks")],
                progress=[Output(progress, "value"), Output(progress_text_id(progress), "children")],
                progress_default=[0, ""])


def report_cancel(cancel: str, status: str) -> None:
    """Register the callback writing :data:`CANCELLED_MESSAGE` into the status line ``status`` when the job's
    Cancel button ``cancel`` is pressed (Dash ends the job; its bar and controls are reset by
    :func:`background_job`)."""
    @callback(Output(status, "children", allow_duplicate=True), Input(cancel, "n_clicks"), prevent_initial_call=True)
    def cancelled(_clicks):
        return CANCELLED_MESSAGE


def progress_reporter(set_progress):
    """A ``core.runtime.Progress`` (``progress(done, total, message)``) for services, drawn on a job's progress
    bar with :func:`progress_text` (a count of 0 keeps the bar empty; times counted from this call, in the
    job's process; the pace from the first report past 0 %, since the set-up before it says little about the
    rest)."""
    start = time.monotonic()
    moving = []  # (time, fraction) of the first report past 0 %

    def report(done: float, total: float, message: str = "") -> None:
        now, fraction = time.monotonic(), done / total if total else 0.0
        if fraction > 0 and not moving:
            moving.append((now, fraction))
        set_progress((int(100 * fraction), progress_text(message, now - start, time_left(fraction, now, *moving))))

    return report


def time_left(fraction: float, now: float, since: tuple[float, float] | None = None) -> float | None:
    """Seconds left if a job goes on at the pace it kept since ``since`` (time, fraction); None before it moved
    on by 2 % (or when it is done)."""
    if since is None or fraction >= 1 or fraction - since[1] < 0.02:
        return None
    return (now - since[0]) * (1 - fraction) / (fraction - since[1])


def progress_text(message: str, elapsed: float, left: float | None = None) -> str:
    """``message`` with the time elapsed and the time ``left`` (seconds; None: not known yet)."""
    text = f"{message} — " * bool(message) + f"{int(elapsed) // 60}:{int(elapsed) % 60:02d} elapsed"
    if left is not None:
        text += ", under a minute left" if left < 60 else f", about {math.ceil(left / 60)} min left"
    return text


def clustering_views(c: dict) -> tuple:
    """The figures of a category clustering (``services.category_clustering`` or ``study_clustering``): the
    similarity heatmap ordered by cluster, Q vs k and the dendrogram, and the cluster choices (label, value)."""
    order = np.lexsort((np.argsort(c["order"]), c["cluster_labels"]))
    heatmap = rdm_figure(c["similarity"], c["categories"], order=order, cluster_labels=c["cluster_labels"],
                         colorscale="RdBu_r", zmid=0, value_name="r", title="Category similarity (Pearson r)")
    best = int(np.argmax(c["modularity"]))
    modularity = modularity_figure(c["k_values"], c["modularity"], best_k=int(c["k_values"][best]),
                                   title="Signed modularity vs k")
    dendrogram = dendrogram_figure(c["linkage"], c["categories"], cluster_labels=c["cluster_labels"],
                                   title="Average-linkage dendrogram")
    options = [{"label": f"cluster {k}: " + ", ".join(np.asarray(c["categories"])[c["cluster_labels"] == k]),
                "value": k} for k in range(c["best_k"])]
    return heatmap, modularity, dendrogram, options
