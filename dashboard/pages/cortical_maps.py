"""Cortical Maps page (/cortical-maps): the subject's declared maps, the default experiment's maps and
uploaded maps on the fsLR-32k (or fsaverage5) cortex, with Glasser areas."""

import base64

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, Patch, State, callback, ctx, dcc, html, no_update

from dashboard import services
from dashboard.components import construction_notes, page_header, simulated_subject_badge, size_limited_upload
from dashboard.figures.cortex import surface_figure, surface_intensity_patch
from dashboard.ids import CorticalMaps as ids
from dashboard.pages._shared import PAPERS, map_color_options

dash.register_page(__name__, path="/cortical-maps", name="Cortical Maps", order=1)

#: Colour scale per map choice, else per map family (the part before ":"), else the default; maps of
#: layer numbers get one colour band per layer instead (``services.layer_map_size``).
_COLORSCALES = {"sulcal_depth": "Greys", "other_network": "Portland", "quality": "Hot", "dprime": "RdBu_r",
                "category": "RdBu_r", "predicted": "RdBu_r", "upload": "RdBu_r"}
_DEFAULT_COLORSCALE = "Reds"
_UPLOAD_FORMATS = ".dscalar.nii, .dtseries.nii (fsLR-32k), .func.gii/.shape.gii (left + right together), " \
                  ".npz, .mat (59,412 or 20,484 values), .nii/.nii.gz (MNI volume → fsaverage5)"


def _group(label: str) -> dict:
    return {"label": f"── {label} ──", "value": f"__{label}__", "disabled": True}


def layout(**_query):
    """Controls and an empty graph; the map choices and the map are filled by the callbacks."""
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Map", html_for=ids.MAP),
        dcc.Dropdown(id=ids.MAP, options=services.declared_map_choices(), value="home_layer",
                     clearable=False, optionHeight="auto"),
        html.Div(id=ids.MAP_STATUS, className="small mt-1"),
        dbc.Label("View", className="mt-3"),
        dbc.RadioItems(id=ids.VIEW, options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS],
                       value="flat", inline=True),
        dbc.Label("Threshold (% of the largest |value|)", className="mt-3", html_for=ids.THRESHOLD),
        dcc.Slider(id=ids.THRESHOLD, min=0, max=100, step=5, value=0,
                   marks={0: "0", 50: "50", 100: "100"}),
        html.Div(id=ids.CLICK_INFO, className="mt-3 small", children="Click the cortex to read a vertex."),
        dbc.Label("Load a map", className="mt-3"),
        size_limited_upload(ids.UPLOAD, ids.UPLOAD_STATUS, services.MAX_MAP_UPLOAD_BYTES, multiple=True,
                            className="border rounded p-2 small text-center",
                            children=html.Div(["Drop a map file here or ", html.A("choose one")])),
        html.P(f"{_UPLOAD_FORMATS}; at most {services.MAX_MAP_UPLOAD_BYTES // 2**20} MiB.",
               className="small text-muted mt-1"),
        dcc.Loading(html.Div(id=ids.UPLOAD_STATUS, className="small")),
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
        construction_notes("cortical-maps", services.simulation_notes()),
        html.Div(id=ids.ERROR),
        dcc.Store(id=ids.RENDERED),
        dcc.Store(id=ids.UPLOADED, storage_type="session", data=[]),
        dbc.Row([
            dbc.Col(controls, md=3),
            dbc.Col(dcc.Loading(dcc.Graph(id=ids.GRAPH, style={"height": "70vh"},
                                          config={"displaylogo": False})), md=9),
        ]),
    ])


@callback(Output(ids.MAP, "options"), Output(ids.MAP_STATUS, "children"), Input(ids.UPLOADED, "data"))
def list_maps(uploaded):
    """Map choices grouped as ground truth / computed by the default experiment / uploaded."""
    computed = services.computed_map_choices(services.experiment_key())
    status = None
    if not computed:
        status = dcc.Link("No experiment has been run yet: run the default experiment on the Virtual fMRI "
                          "page to add its maps here.", href="/virtual-fmri")
        computed = [{"label": "none yet (Virtual fMRI page)", "value": "__no_experiment__", "disabled": True}]
    uploaded = uploaded or [{"label": "none yet (load a map file below)", "value": "__no_upload__",
                             "disabled": True}]
    return ([_group("Ground truth of the simulated subject"), *services.declared_map_choices(),
             _group("Computed by the default experiment"), *computed, _group("Uploaded"), *uploaded], status)


@callback(Output(ids.UPLOADED, "data"), Output(ids.MAP, "value"), Output(ids.UPLOAD_STATUS, "children"),
          Input(ids.UPLOAD, "contents"), State(ids.UPLOAD, "filename"), State(ids.UPLOADED, "data"),
          prevent_initial_call=True)
def upload_map(contents, filenames, uploaded):
    """Read the uploaded file(s), add their maps to the choices and show the first one."""
    try:
        files = [(name, base64.b64decode(content.partition(",")[2]))
                 for name, content in zip(filenames or [], contents or [], strict=True)]
        options = services.save_uploaded_maps(files)
    except ValueError as exc:
        return no_update, no_update, dbc.Alert(str(exc), color="danger", className="p-2 mt-1")
    known = {o["value"] for o in uploaded or []}
    added = [o for o in options if o["value"] not in known]
    return (uploaded or []) + added, options[0]["value"], f"Loaded {len(options)} map(s): {options[0]['label']}"


def _threshold(values: np.ndarray, percent: float) -> float | None:
    finite = np.abs(values[np.isfinite(values)])
    return float(percent) / 100 * float(finite.max()) if percent and finite.size else None


def _color_options(map_name: str) -> dict:
    """``colorscale`` (and for layer maps ``vmin``/``vmax``) of a map choice."""
    return map_color_options(map_name, _COLORSCALES.get(map_name)
                             or _COLORSCALES.get(map_name.partition(":")[0], _DEFAULT_COLORSCALE))


@callback(
    Output(ids.GRAPH, "figure"),
    Output(ids.RENDERED, "data"),
    Output(ids.ERROR, "children"),
    Input(ids.MAP, "value"),
    Input(ids.VIEW, "value"),
    Input(ids.THRESHOLD, "value"),
    State(ids.RENDERED, "data"),
)
def draw_map(map_name, view, threshold_percent, rendered):
    """Full figure when the view or the surface changes; otherwise a Patch of what the change alters.

    A threshold change sends the per-vertex intensity codes (one byte per vertex); a map change adds the
    map's colour scale, the hover values and the colour bar. The mesh is never sent again.
    """
    try:
        values = services.cortex_map(map_name)
        surface = services.map_surface(len(values), view)
        options = dict(threshold=_threshold(values, threshold_percent or 0), **_color_options(map_name),
                       sulc=surface["sulc"], colorbar_title=services.map_units(map_name))
        drawn = {"view": view, "space": surface["space"]}
        if rendered == drawn and ctx.triggered_id in (ids.MAP, ids.THRESHOLD):
            patch = Patch()
            for index, attributes in surface_intensity_patch(surface["mesh"], values, **options).items():
                for attribute, value in attributes.items():
                    if ctx.triggered_id == ids.MAP or attribute == "intensity":
                        patch["data"][index][attribute] = value
            return patch, drawn, None
        figure = surface_figure(surface["mesh"], values, view=surface["figure_view"],
                                vertex_names=surface["vertex_names"], **options)
        return figure, drawn, None
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
    return [html.B(info["area"]), f" ({info['hemisphere']} hemisphere, vertex "
            f"{info['grayordinate']}): {value}"]


@callback(Output(ids.DOWNLOAD, "data"), Input(ids.EXPORT_BUTTON, "n_clicks"), State(ids.MAP, "value"),
          State(ids.EXPORT_FORMAT, "value"), prevent_initial_call=True)
def export_map(_clicks, map_name, fmt):
    """Send the current map as GIFTI (zip of L/R) or CIFTI."""
    filename, content = services.export_map(map_name, fmt)
    return dcc.send_bytes(content, filename)
