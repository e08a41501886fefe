"""Cortical Maps page (/cortical-maps): the subject's declared maps, the default experiment's maps and
uploaded maps on the fsLR-32k (or fsaverage5) cortex, with Glasser areas."""

import base64

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import services
from dashboard.components import (
    colour_range_controls,
    construction_notes,
    cortex_view_controls,
    page_header,
    simulated_subject_badge,
    size_limited_upload,
    waiting_graph,
)
from dashboard.ids import CorticalMaps as ids
from dashboard.messages import error_alert
from dashboard.pages import _study_views
from dashboard.pages._shared import PAPERS, colour_range, cortex_update, map_style

dash.register_page(__name__, path="/cortical-maps", name="Cortical Maps", order=1)

_UPLOAD_FORMATS = ".dscalar.nii, .dtseries.nii (fsLR-32k), .func.gii/.shape.gii (left + right together), " \
                  ".npz, .mat (59,412 or 20,484 values), .nii/.nii.gz (MNI volume → fsaverage5)"


def layout(study=None, **_query):
    """Controls and a graph; the map choices and the map are filled by the callbacks. With a study chosen in the
    navbar (``?study=NAME``), that study's fitted maps instead (``_study_views``)."""
    if study:
        return _study_views.cortical_maps_layout(study)
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Kind of map", html_for=ids.KIND, className="mb-0 small fw-semibold"),
        dbc.Select(id=ids.KIND, value="declared", size="sm",
                   options=[{"label": label, "value": kind} for kind, label in services.MAP_KINDS.items()]),
        dbc.Label("Map (type to search)", html_for=ids.MAP, className="mb-0 mt-2 small fw-semibold"),
        dcc.Dropdown(id=ids.MAP, options=services.declared_map_choices(), value="home_layer", clearable=False,
                     searchable=True, optionHeight=50, maxHeight=400, placeholder="type to search"),
        dbc.Checklist(id=ids.MODELLED, options=[{"label": "maps of predicted responses: only vertices the model "
                                                           "predicts (FDR q < 0.05)", "value": "on"}],
                      value=["on"], switch=True, className="small mt-1"),
        html.Div(id=ids.MAP_STATUS, className="small mt-1"),
        html.Hr(className="my-2"),
        cortex_view_controls(view=ids.VIEW, camera=ids.CAMERA, hemisphere=ids.HEMISPHERE, borders=ids.BORDERS,
                             views=services.CORTEX_VIEWS),
        html.Div(colour_range_controls(threshold=ids.THRESHOLD, unit=ids.THRESHOLD_UNIT, vmin=ids.VMIN,
                                       vmax=ids.VMAX, message=ids.RANGE_MESSAGE), className="mt-2"),
        html.Div(id=ids.CLICK_INFO, className="mt-2 small", children="Click the cortex to read a vertex."),
        html.Hr(className="my-2"),
        dbc.Label("Load a map", className="mb-0 small fw-semibold"),
        size_limited_upload(ids.UPLOAD, ids.UPLOAD_STATUS, services.MAX_MAP_UPLOAD_BYTES, multiple=True,
                            className="border rounded p-2 small text-center",
                            children=html.Div(["Drop a map file here or ", html.A("choose one")])),
        html.P(f"{_UPLOAD_FORMATS}; at most {services.MAX_MAP_UPLOAD_BYTES // 2**20} MiB.",
               className="small text-muted mt-1"),
        dcc.Loading(html.Div(id=ids.UPLOAD_STATUS, className="small")),
        dbc.Label("Export the map", className="mt-2 mb-0 small fw-semibold"),
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
        construction_notes("cortical-maps", services.simulation_notes()),
        html.Div(id=ids.ERROR),
        dcc.Store(id=ids.RENDERED),
        dcc.Store(id=ids.UPLOADED, storage_type="session", data=[]),
        dbc.Row([
            dbc.Col(controls, md=3),
            dbc.Col(dcc.Loading(waiting_graph(ids.GRAPH, "Drawing the cortex…", style={"height": "75vh"})), md=9),
        ]),
    ])


@callback(Output(ids.MAP, "options"), Output(ids.MAP, "value"), Output(ids.MAP_STATUS, "children"),
          Output(ids.KIND, "options"), Input(ids.KIND, "value"), Input(ids.UPLOADED, "data"), State(ids.MAP, "value"))
def list_maps(kind, uploaded, current):
    """The maps of the chosen kind (searchable; per-image maps grouped by category), keeping the chosen map when
    it is among them (``upload_map`` chooses a new upload's first map); kinds without maps yet are disabled."""
    groups = {"declared": services.declared_map_choices(),
              **services.computed_map_groups(services.default_experiment_key()), "upload": uploaded or []}
    kinds = [{"label": label + ("" if groups.get(k) else " (none yet)"), "value": k, "disabled": not groups.get(k)}
             for k, label in services.MAP_KINDS.items()]
    status = None if "quality" in groups else dcc.Link(
        "The experiment's maps appear here once the default experiment has run: run it on the Virtual fMRI page.",
        href="/virtual-fmri")
    options = groups.get(kind) or []
    values = [o["value"] for o in options if not o.get("disabled")]
    if not values:
        return [], None, status, kinds
    return options, current if current in values else values[0], status, kinds


@callback(Output(ids.UPLOADED, "data"), Output(ids.KIND, "value"), Output(ids.MAP, "value", allow_duplicate=True),
          Output(ids.UPLOAD_STATUS, "children"), Input(ids.UPLOAD, "contents"), State(ids.UPLOAD, "filename"),
          State(ids.UPLOADED, "data"), prevent_initial_call=True)
def upload_map(contents, filenames, uploaded):
    """Read the uploaded file(s), add their maps (newest first) to the uploaded maps and show the first one."""
    try:
        files = [(name, base64.b64decode(content.partition(",")[2]))
                 for name, content in zip(filenames or [], contents or [], strict=True)]
        options = services.save_uploaded_maps(files)
    except ValueError as exc:
        return no_update, no_update, no_update, error_alert(exc, className="p-2 mt-1")
    new = {o["value"] for o in options}
    kept = [o for o in uploaded or [] if o["value"] not in new]
    return options + kept, "upload", options[0]["value"], f"Loaded {len(options)} map(s): {options[0]['label']}"


#: Maps made of predicted responses, shown only where the model predicts when the switch is on.
_RESPONSE_KINDS = ("predicted", "category", "dprime")
#: What a change of each input alters in the drawn map (``_shared.cortex_update``).
_CHANGES = {ids.MAP: "values", ids.MODELLED: "values", ids.CAMERA: "camera", ids.BORDERS: "colour", ids.THRESHOLD: "colour",
            ids.THRESHOLD_UNIT: "colour", ids.VMIN: "colour", ids.VMAX: "colour"}


@callback(
    Output(ids.GRAPH, "figure"),
    Output(ids.RENDERED, "data"),
    Output(ids.ERROR, "children"),
    Output(ids.RANGE_MESSAGE, "children"),
    Input(ids.MAP, "value"),
    Input(ids.MODELLED, "value"),
    Input(ids.VIEW, "value"),
    Input(ids.CAMERA, "value"),
    Input(ids.HEMISPHERE, "value"),
    Input(ids.BORDERS, "value"),
    Input(ids.THRESHOLD, "value"),
    Input(ids.THRESHOLD_UNIT, "value"),
    Input(ids.VMIN, "value"),
    Input(ids.VMAX, "value"),
    State(ids.RENDERED, "data"),
)
def draw_map(map_name, modelled, view, camera, hemisphere, borders, threshold, unit, vmin, vmax, rendered):
    """Full figure when the view, the hemispheres or the surface change; otherwise a Patch of what the change
    alters: the camera, or the per-vertex intensity codes (one byte per vertex) with the colour scale and colour
    bar, plus the hover values for a new map. The mesh is never sent again. Maps made of predicted responses
    (predicted, category and d′ maps) are shown, with the switch on, only where the encoding model predicts the
    vertex (elsewhere the background)."""
    if map_name is None:
        return no_update, no_update, None, None
    try:
        shown = services.cortex_map(map_name)
        values = shown.values
        if "on" in (modelled or []) and services.map_kind(map_name) in _RESPONSE_KINDS:
            values = np.where(np.isfinite(services.quality_map(services.default_experiment_key(), "r", fdr=True)), values,
                              np.nan)
        surface = services.map_surface(shown.space, view)
    except ValueError as exc:
        return no_update, no_update, error_alert(exc), None
    limits, warning = colour_range(values, threshold, unit, vmin, vmax)
    figure, drawn = cortex_update(
        values, view, change=_CHANGES.get(ctx.triggered_id, "figure"), rendered=rendered, camera=camera,
        hemisphere=hemisphere, borders="on" in (borders or []), surface=surface, **map_style(map_name, values),
        **limits, colorbar_title=shown.units)
    return figure, drawn, None, warning


@callback(Output(ids.CLICK_INFO, "children"), Input(ids.GRAPH, "clickData"), State(ids.VIEW, "value"),
          State(ids.MAP, "value"), prevent_initial_call=True)
def show_vertex(click, view, map_name):
    """Area (with its full name) and value of the clicked vertex."""
    point = (click or {}).get("points", [{}])[0]
    if map_name is None or point.get("curveNumber") not in (0, 1) or "pointNumber" not in point:
        return no_update
    info = services.vertex_info(view, point["curveNumber"], point["pointNumber"], map_name)
    value = "no value" if info["value"] is None else f"{info['value']:.3g}"
    where = f"{info['hemisphere']} hemisphere" + (
        "" if info["grayordinate"] is None else f", vertex {info['grayordinate']:,}")
    return [html.B(info["area"]), f" ({where}): {value}"]


@callback(Output(ids.DOWNLOAD, "data"), Input(ids.EXPORT_BUTTON, "n_clicks"), State(ids.MAP, "value"),
          State(ids.EXPORT_FORMAT, "value"), prevent_initial_call=True)
def export_map(_clicks, map_name, fmt):
    """Send the current map as GIFTI (zip of L/R) or CIFTI."""
    filename, content = services.export_map(map_name, fmt)
    return dcc.send_bytes(content, filename)
