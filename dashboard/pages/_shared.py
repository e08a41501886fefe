"""Helpers for pages only (the leading underscore stops Dash importing this as a page)."""

import math
import time

from dash import Input, Output, callback

from dashboard import services
from dashboard.components.jobs import progress_text_id
from dashboard.figures.cortex import layer_color_options, surface_figure

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
    """A map on the fsLR-32k cortex in a page's view, with sulcal background and area names on hover.

    ``options`` go to ``dashboard.figures.cortex.surface_figure`` (colorscale, threshold, titles).
    """
    return surface_figure(services.cortex_mesh(view), values, view=services.figure_view(view),
                          sulc=services.cortex_sulc(), vertex_names=services.vertex_roi_names(), **options)


def map_color_options(choice: str, colorscale) -> dict:
    """Colour options of a map: one band per layer for maps of layer numbers (``services.layer_map_size``),
    else ``colorscale``."""
    n_layers = services.layer_map_size(choice)
    return layer_color_options(n_layers) if n_layers else {"colorscale": colorscale}


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
    """``progress(fraction, message)`` for services, drawn on a job's progress bar with :func:`progress_text`
    (times counted from this call, in the job's process; the pace from the first report past 0 %, since the
    set-up before it says little about the rest)."""
    start = time.monotonic()
    moving = []  # (time, fraction) of the first report past 0 %

    def report(fraction: float, message: str) -> None:
        now = time.monotonic()
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
    text = f"{message} — {int(elapsed) // 60}:{int(elapsed) % 60:02d} elapsed"
    if left is not None:
        text += ", under a minute left" if left < 60 else f", about {math.ceil(left / 60)} min left"
    return text
