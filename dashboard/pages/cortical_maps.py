"""Cortical Maps page (/cortical-maps): the fsLR-32k cortex, Glasser areas and the subject's declared maps."""

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from dashboard import services
from dashboard.components import page_header, simulated_subject_badge
from dashboard.figures.cortex import surface_figure, surface_intensity_patch
from dashboard.ids import CorticalMaps as ids
from dashboard.pages._shared import PAPERS

dash.register_page(__name__, path="/cortical-maps", name="Cortical Maps", order=1)

_COLORSCALES = {"sulcal_depth": "Greys", "home_layer": "Viridis", "other_network": "Portland"}
_RENDERED_VIEW = "cortical-maps-rendered-view"


def layout(**_query):
    """Controls and an empty graph; the map is drawn by the callback."""
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Map", html_for=ids.MAP),
        dcc.Dropdown(id=ids.MAP, options=services.declared_map_choices(), value="home_layer",
                     clearable=False),
        dbc.Label("View", className="mt-3"),
        dbc.RadioItems(id=ids.VIEW, options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS],
                       value="flat", inline=True),
        dbc.Label("Threshold (% of the largest |value|)", className="mt-3", html_for=ids.THRESHOLD),
        dcc.Slider(id=ids.THRESHOLD, min=0, max=100, step=5, value=0,
                   marks={0: "0", 50: "50", 100: "100"}),
        html.Div(id=ids.CLICK_INFO, className="mt-3 small", children="Click the cortex to read a vertex."),
        dbc.Label("Export the map", className="mt-3"),
        dbc.InputGroup([
            dbc.Select(id=ids.EXPORT_FORMAT, options=[{"label": "GIFTI (L/R .func.gii)", "value": "gifti"},
                                                      {"label": "CIFTI (.dscalar.nii)", "value": "cifti"}],
                       value="gifti"),
            dbc.Button("Download", id=ids.EXPORT_BUTTON, color="secondary"),
        ], size="sm"),
        html.P("PNG: use the camera icon of the figure.", className="small text-muted mt-1"),
        dcc.Download(id=ids.DOWNLOAD),
    ]))
    return html.Div([
        page_header("Cortical Maps", *PAPERS["wen2018"]),
        simulated_subject_badge("cortical-maps", services.subject_spec_summary()),
        html.Div(id=ids.ERROR),
        dcc.Store(id=_RENDERED_VIEW),
        dbc.Row([
            dbc.Col(controls, md=3),
            dbc.Col(dcc.Loading(dcc.Graph(id=ids.GRAPH, style={"height": "70vh"},
                                          config={"displaylogo": False})), md=9),
        ]),
    ])


def _threshold(values: np.ndarray, percent: float) -> float | None:
    finite = np.abs(values[np.isfinite(values)])
    return float(percent) / 100 * float(finite.max()) if percent and finite.size else None


@callback(
    Output(ids.GRAPH, "figure"),
    Output(_RENDERED_VIEW, "data"),
    Output(ids.ERROR, "children"),
    Input(ids.MAP, "value"),
    Input(ids.VIEW, "value"),
    Input(ids.THRESHOLD, "value"),
    State(_RENDERED_VIEW, "data"),
)
def draw_map(map_name, view, threshold_percent, rendered_view):
    """Full figure when the view changes; otherwise only the new colours (a Patch)."""
    try:
        values = services.declared_map(map_name)
        mesh = services.cortex_mesh(view)
        options = dict(threshold=_threshold(values, threshold_percent or 0),
                       colorscale=_COLORSCALES.get(map_name, "Reds"), sulc=services.cortex_sulc(),
                       colorbar_title=services.map_units(map_name))
        if rendered_view == view and ctx.triggered_id in (ids.MAP, ids.THRESHOLD):
            patch = Patch()
            for index, attributes in surface_intensity_patch(mesh, values, **options).items():
                for attribute, value in attributes.items():
                    patch["data"][index][attribute] = value
            return patch, view, None
        figure = surface_figure(mesh, values, view=services.figure_view(view),
                                vertex_names=services.vertex_roi_names(), **options)
        return figure, view, None
    except ValueError as exc:
        return no_update, no_update, dbc.Alert(str(exc), color="danger")


@callback(Output(ids.CLICK_INFO, "children"), Input(ids.GRAPH, "clickData"), State(ids.VIEW, "value"),
          State(ids.MAP, "value"), prevent_initial_call=True)
def show_vertex(click, view, map_name):
    """Area and value of the clicked vertex."""
    point = (click or {}).get("points", [{}])[0]
    if point.get("curveNumber") not in (0, 1) or "pointNumber" not in point:
        return no_update
    info = services.vertex_info(view, point["curveNumber"], point["pointNumber"], map_name)
    value = "no value" if info["value"] is None else f"{info['value']:.3g}"
    return [html.B(info["area"]), f" ({info['hemisphere']} hemisphere, grayordinate "
            f"{info['grayordinate']}): {value}"]


@callback(Output(ids.DOWNLOAD, "data"), Input(ids.EXPORT_BUTTON, "n_clicks"), State(ids.MAP, "value"),
          State(ids.EXPORT_FORMAT, "value"), prevent_initial_call=True)
def export_map(_clicks, map_name, fmt):
    """Send the current map as GIFTI (zip of L/R) or CIFTI."""
    filename, content = services.export_map(map_name, fmt)
    return dcc.send_bytes(content, filename)
