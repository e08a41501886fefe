"""Helpers for pages only (the leading underscore stops Dash importing this as a page)."""

from dash import Input, Output

from dashboard import services
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


def background_job(run: str, cancel: str, progress: str) -> dict:
    """``callback`` keywords of a cancellable background job started by button ``run``.

    While it runs ``run`` is disabled and ``cancel`` enabled; ``progress`` is a ``dbc.Progress`` fed with
    ``(percent, message)`` by :func:`progress_reporter`.
    """
    return dict(background=True, prevent_initial_call=True,
                running=[(Output(run, "disabled"), True, False), (Output(cancel, "disabled"), False, True)],
                cancel=[Input(cancel, "n_clicks")],
                progress=[Output(progress, "value"), Output(progress, "label")])


def progress_reporter(set_progress):
    """``progress(fraction, message)`` for services, drawn on a job's progress bar."""
    return lambda fraction, message: set_progress((int(100 * fraction), message))
