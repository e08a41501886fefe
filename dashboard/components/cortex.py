"""Controls of the cortex viewers (view, camera, hemispheres, area borders, colour range) and graphs that
say what to run before they have data."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.figures.placeholder import placeholder_figure

#: Camera presets offered for inflated views (keys of ``dashboard.figures.cortex.CAMERA_PRESETS``).
CAMERA_CHOICES = ("lateral", "medial", "ventral", "posterior", "dorsal", "anterior")
HEMISPHERE_LABELS = {"both": "both", "left": "left", "right": "right"}
#: Threshold units: data units of the map, or percent of its largest |value|.
THRESHOLD_UNITS = {"value": "map units", "percent": "% of max |value|"}
#: Smallest height of a graph: on a 768-px screen 35vh leaves a legend and two title lines no room for the plot.
_MIN_HEIGHT_PX = 340


def _radio(component_id: str, options, value: str) -> dbc.RadioItems:
    return dbc.RadioItems(id=component_id, options=[{"label": label, "value": v} for v, label in options],
                          value=value, inline=True, className="small")


def cortex_view_controls(*, view: str, camera: str, hemisphere: str, borders: str, views, default_view: str = "flat",
                         default_camera: str = "lateral") -> html.Div:
    """View (flat / inflated ...), camera preset (inflated views), hemispheres and the area-border switch.

    Parameters
    ----------
    view, camera, hemisphere, borders : str
        Component ids.
    views : iterable of str
        The page's view names (``services.CORTEX_VIEWS``).
    """
    return html.Div([
        dbc.Label("View", className="mb-0 small fw-semibold"),
        _radio(view, [(v, v) for v in views], default_view),
        dbc.Label("Camera (inflated views)", className="mb-0 mt-1 small fw-semibold"),
        _radio(camera, [(c, c) for c in CAMERA_CHOICES], default_camera),
        dbc.Label("Hemispheres", className="mb-0 mt-1 small fw-semibold"),
        _radio(hemisphere, HEMISPHERE_LABELS.items(), "both"),
        dbc.Checklist(id=borders, options=[{"label": "Glasser area borders", "value": "on"}], value=[], switch=True,
                      className="small mt-1"),
    ])


def colour_range_controls(*, threshold: str, unit: str, vmin: str, vmax: str, message: str,
                          default_unit: str = "value") -> html.Div:
    """Threshold (map units or % of the largest |value|) and colour range (blank = automatic)."""
    number = {"type": "number", "size": "sm", "debounce": True}
    return html.Div([
        dbc.Label("Threshold", className="mb-0 small fw-semibold", html_for=threshold),
        dbc.InputGroup([
            dbc.Input(id=threshold, min=0, placeholder="none", **number),
            dbc.Select(id=unit, value=default_unit, options=[{"label": v, "value": k}
                                                            for k, v in THRESHOLD_UNITS.items()]),
        ], size="sm"),
        dbc.Label("Colour range (blank: automatic)", className="mb-0 mt-1 small fw-semibold", html_for=vmin),
        dbc.InputGroup([
            dbc.InputGroupText("from"), dbc.Input(id=vmin, placeholder="auto", **number),
            dbc.InputGroupText("to"), dbc.Input(id=vmax, placeholder="auto", **number),
        ], size="sm"),
        html.Div(id=message, className="small text-warning"),
    ])


def waiting_graph(graph_id: str, message: str, **props) -> dcc.Graph:
    """A ``dcc.Graph`` that shows ``message`` (what to run to see it) until a callback draws its figure; at least
    ``_MIN_HEIGHT_PX`` high."""
    config = {"displaylogo": False, **props.pop("config", {})}
    style = {"minHeight": f"{_MIN_HEIGHT_PX}px", **props.pop("style", {})}
    return dcc.Graph(id=graph_id, figure=placeholder_figure(message), config=config, style=style, **props)
