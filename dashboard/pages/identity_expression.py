"""Identity & Expression page (/identity-expression): face networks vs brain regions (Schwartz et al. 2023)."""

import base64
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, Patch, State, callback, dcc, html, no_update

from dashboard import services
from dashboard.components import (
    construction_notes,
    job_controls,
    page_header,
    simulated_subject_badge,
    size_limited_upload,
    waiting_graph,
)
from dashboard.figures.cortex import surface_intensity_patch
from dashboard.figures.faces import difference_figure, stimulus_strip_figure
from dashboard.figures.placeholder import placeholder_figure
from dashboard.figures.rdm import format_p, layer_line_figure, region_layer_heatmap_figure
from dashboard.ids import IdentityExpression as ids
from dashboard.messages import error_alert
from dashboard.pages._shared import PAPERS, background_job, cortex_figure, progress_reporter, report_cancel

dash.register_page(__name__, path="/identity-expression", name="Identity & Expression", order=5)

_RUN_FIRST = "Press 'Run analysis' (top left) to see this"

_NETWORK_NAMES = {"face_identity": "identity net (face-api)", "face_expression": "expression net (face-api)",
                  "fer_minixception": "expression net (FER2013)", "resnet50": "ResNet-50 (objects, control)"}

#: Short network names for the region table's columns.
_TABLE_NETWORK_NAMES = {"face_identity": "identity net", "face_expression": "expression net",
                        "fer_minixception": "FER2013 net", "resnet50": "ResNet-50"}

#: The region picker's cortex view (flat: every face region visible at once) and colours.
_PICKER_VIEW = "flat"
_PICKER_STYLE = {"colorscale": [[0.0, "#6baed6"], [1.0, "#d62728"]], "vmin": 1.0, "vmax": 2.0,
                 "colorbar_title": "face regions<br>(red: selected)"}

#: Brain data the region figures show: the simulated subject's regions or those of an uploaded file.
_BRAIN_DATA = {"simulated": "simulated subject", "uploaded": "uploaded file"}

_DIFFERENCE_TEXT = (
    "Identity − expression: Spearman r of the region with the identity net (face-api FaceRecognitionNet) minus r "
    "with the expression net (face-api FaceExpressionNet), each at its layer that best matches the region "
    "(highest mean r, shown on hover). 1,000 bootstraps over the 48 faces (seed 0), 95 % percentile interval, "
    "two-sided bootstrap p. The layers are chosen on all faces and kept in the bootstrap, so the interval leaves "
    "the layer choice out, and the identity net (16 layers) has more chances to match than the expression net (5).")

_UPLOAD_TEXT = (
    f"Your own regions: download the {services.N_DEFAULT_FACES} faces (NN_<id>.png in stimulus order, faces.csv "
    "with id, identity, expression), show them in your iEEG/fMRI experiment, then upload an .npz (numpy.savez) "
    f"with one array per region, named by region, of shape ({services.N_DEFAULT_FACES}, n_channels) or "
    f"(n_repeats_or_subjects, {services.N_DEFAULT_FACES}, n_channels), rows in the downloaded order; at most "
    f"{services.MAX_FACE_UPLOAD_REGIONS} regions and {services.MAX_FACE_UPLOAD_BYTES // 2**20} MiB, no missing values. Their "
    "RDMs (correlation distance) are compared with the network RDMs of the analysis above: run it first.")


def _brain_data_options(*, uploaded: bool) -> list[dict]:
    """Choices of the region figures' brain data; "uploaded file" is disabled until an upload is compared."""
    return [{"label": label, "value": value, "disabled": value == "uploaded" and not uploaded}
            for value, label in _BRAIN_DATA.items()]


# No annotation names a Dash component class: a background job pickles this page's functions by value (dill),
# and such an annotation would carry the class along (it failed under pytest's capture).
def _study_line(study: str):
    """On a study: where its face question can be asked (this page needs its simulated electrodes and faces)."""
    href = "/model-brain-rsa?" + urlencode({"study": study, "networks": "face_identity,face_expression"})
    return html.P([f"Your study {study} cannot feed this page: its analyses need the simulated iEEG face-region "
                   "electrodes and the labelled face set (identities × expressions). To ask its question of your "
                   "study — identity- vs expression-trained networks, layer by layer, against the RDM of each of its "
                   "regions — open ", dcc.Link("Model–Brain RSA on your study with the face-api identity and "
                                               "expression networks", href=href), "."],
                  className="small alert alert-info p-2")


def layout(study=None, **_query):
    """Controls and empty figures; on a study chosen in the navbar, a line pointing to Model–Brain RSA on it."""
    controls = dbc.Card(dbc.CardBody([
        html.P("48 DCGAN faces (12 generated identities × 4 variants; expression labels are model-made) are "
               "shown to the simulated subject. Region RDMs (4 noisy repetitions) are compared with every "
               "layer of identity- and expression-trained networks (Spearman, 1,000 permutations); layers are "
               "read as spatial means per channel, the representation the simulated regions are driven by.",
               className="small"),
        *job_controls(ids.RUN, ids.CANCEL, ids.PROGRESS, "Run analysis"),
        html.Div(id=ids.STATUS, className="small mt-2"),
        dbc.Label("Network for the heatmap", className="mt-2", html_for=ids.NETWORK),
        dbc.Select(id=ids.NETWORK, value="face_identity",
                   options=[{"label": v, "value": k} for k, v in _NETWORK_NAMES.items()]),
        dbc.Label("Brain data", className="mt-2", html_for=ids.BRAIN_DATA),
        dbc.RadioItems(id=ids.BRAIN_DATA, value="simulated", options=_brain_data_options(uploaded=False)),
        html.Hr(),
        html.P(_UPLOAD_TEXT, className="small"),
        dbc.Button(f"Download the {services.N_DEFAULT_FACES} faces", id=ids.DOWNLOAD_FACES, color="secondary",
                   size="sm", disabled=True),
        dcc.Download(id=ids.DOWNLOAD),
        size_limited_upload(ids.UPLOAD, ids.UPLOAD_STATUS, services.MAX_FACE_UPLOAD_BYTES, accept=".npz",
                            className="border rounded p-2 small text-center mt-2",
                            children=html.Div(["Drop a region .npz here or ", html.A("choose one")])),
        dbc.Progress(id=ids.UPLOAD_PROGRESS, value=0, className="mt-2", style={"height": "1.2rem"}),
        html.Div(id=ids.UPLOAD_STATUS, className="small mt-1"),
    ]))
    return html.Div([
        page_header("Identity & Expression", *PAPERS["schwartz2023"]),
        html.Div(simulated_subject_badge("identity-expression", services.subject_spec_summary()), id=ids.BADGE),
        construction_notes("identity-expression", services.simulation_notes()),
        *([_study_line(study)] if study else []),
        dcc.Store(id=ids.RESULT, storage_type="local"),  # the last finished run, restored on reload
        dcc.Store(id=ids.UPLOADED),
        dbc.Row([dbc.Col(controls, md=3),
                 dbc.Col(waiting_graph(ids.HEATMAP, _RUN_FIRST, style={"height": "45vh"}), md=9)]),
        dbc.Row([
            dbc.Col([dcc.Graph(id=ids.CORTEX, style={"height": "40vh"}, config={"displaylogo": False}),
                     html.P("Click a face region on the cortex (or pick it on the right) to show its curves.",
                            className="small text-muted")], lg=5),
            dbc.Col([dbc.InputGroup([dbc.InputGroupText("Region"),
                                     dbc.Select(id=ids.REGION, value=services.FACE_REGIONS[0],
                                                options=[{"label": r, "value": r} for r in services.FACE_REGIONS])],
                                    size="sm"),
                     waiting_graph(ids.LINES, _RUN_FIRST, style={"height": "40vh"})], lg=7),
        ], className="mt-2"),
        html.Div(id=ids.REGION_TABLE, className="mt-2"),
        dbc.Row([dbc.Col([waiting_graph(ids.DIFFERENCE, _RUN_FIRST, style={"height": "35vh"}),
                          html.P(_DIFFERENCE_TEXT, className="small text-muted")], md=12)]),
        dbc.Row([dbc.Col(waiting_graph(ids.DECODING, _RUN_FIRST, style={"height": "40vh"}), md=7),
                 dbc.Col(waiting_graph(ids.CONGRUENCE, _RUN_FIRST, style={"height": "40vh"}), md=5)]),
        waiting_graph(ids.STRIP, _RUN_FIRST, style={"height": "35vh"}),
    ])


@callback(
    Output(ids.RESULT, "data"),
    Input(ids.RUN, "n_clicks"),
    **background_job(ids.RUN, ids.CANCEL, ids.PROGRESS),
)
def run_analysis(set_progress, _clicks):
    """Background job: features, RDMs, simulated regions, comparisons, decoding, congruence."""
    return services.run_face_analysis(progress=progress_reporter(set_progress))


report_cancel(ids.CANCEL, ids.STATUS)


@callback(
    Output(ids.UPLOADED, "data"),
    Output(ids.UPLOAD_STATUS, "children"),
    Input(ids.UPLOAD, "contents"),
    State(ids.UPLOAD, "filename"),
    State(ids.RESULT, "data"),
    background=True,
    prevent_initial_call=True,
    running=[(Output(ids.UPLOAD, "disabled"), True, False)],
    progress=[Output(ids.UPLOAD_PROGRESS, "value"), Output(ids.UPLOAD_PROGRESS, "label")],
)
def compare_upload(set_progress, contents, filename, analysis):
    """Background job: check the uploaded region responses and compare them with the analysis' networks."""
    if not contents:
        return no_update, no_update
    try:
        path = services.compare_uploaded_face_regions(base64.b64decode(contents.partition(",")[2]), filename,
                                                      analysis, progress=progress_reporter(set_progress))
    except ValueError as exc:
        return no_update, error_alert(exc, color="danger", className="p-2 mt-1")
    regions = services.face_analysis_result(path)["regions"]
    return path, f"{filename}: {len(regions)} uploaded region(s) compared ({', '.join(regions)})."


@callback(Output(ids.BRAIN_DATA, "options"), Output(ids.BRAIN_DATA, "value"), Input(ids.UPLOADED, "data"),
          prevent_initial_call=True)
def show_upload(_path):
    """Offer and select the uploaded file's regions once they are compared."""
    return _brain_data_options(uploaded=True), "uploaded"


@callback(Output(ids.REGION, "options"), Output(ids.REGION, "value"), Output(ids.BADGE, "children"),
          Input(ids.BRAIN_DATA, "value"), Input(ids.UPLOADED, "data"), prevent_initial_call=True)
def choose_brain_data(source, uploaded):
    """The region choices and the notice of where the brain data come from."""
    if source == "uploaded" and uploaded:
        res = services.face_analysis_result(uploaded)
        notice = dbc.Alert([dbc.Badge("uploaded data", color="info", className="me-2"),
                            f"These brain data are your file {res['filename']} ({len(res['regions'])} region(s)), "
                            "not the simulated subject; faces and network RDMs are those of the analysis above."],
                           color="light", className="border-info")
        regions = res["regions"]
    else:
        notice = simulated_subject_badge("identity-expression", services.subject_spec_summary())
        regions = list(services.FACE_REGIONS)
    return [{"label": r, "value": r} for r in regions], regions[0], notice


def _brain_result(path, source, uploaded):
    """The result whose regions the region figures show: the uploaded comparison or the default analysis."""
    return services.face_analysis_result(uploaded if source == "uploaded" and uploaded else path)


@callback(Output(ids.DOWNLOAD_FACES, "disabled"), Input(ids.RESULT, "data"))
def enable_download(path):
    """The faces can be downloaded once the analysis (which makes them) has run."""
    return not path


@callback(Output(ids.DOWNLOAD, "data"), Input(ids.DOWNLOAD_FACES, "n_clicks"), State(ids.RESULT, "data"),
          prevent_initial_call=True)
def download_faces(_clicks, path):
    """Send the default faces (PNGs in stimulus order + their labels) as a zip."""
    filename, content = services.default_faces_zip(path)
    return dcc.send_bytes(content, filename)


@callback(Output(ids.CORTEX, "figure"), Input(ids.REGION, "value"), State(ids.CORTEX, "figure"))
def draw_region_picker(region, drawn):
    """The face regions on the flat cortex, the selected one in red; later selections patch the colours.

    Uploaded regions are not on the simulated cortex: selecting one leaves the picker as it is.
    """
    if region not in services.FACE_REGIONS:
        return no_update
    values = services.face_region_map(region).values
    if not drawn:
        return cortex_figure(values, _PICKER_VIEW, title="Face regions (simulated subject)", **_PICKER_STYLE)
    patch = Patch()
    for index, attributes in surface_intensity_patch(services.cortex_mesh(_PICKER_VIEW), values,
                                                     sulc=services.cortex_sulc(), **_PICKER_STYLE).items():
        for attribute, value in attributes.items():
            patch["data"][index][attribute] = value
    return patch


@callback(Output(ids.REGION, "value", allow_duplicate=True), Input(ids.CORTEX, "clickData"),
          State(ids.BRAIN_DATA, "value"), prevent_initial_call=True)
def pick_region(click, source):
    """Select the face region under a click on the cortex (clicks elsewhere, or on uploaded data, change nothing)."""
    point = (click or {}).get("points", [{}])[0]
    if source != "simulated" or point.get("curveNumber") not in (0, 1) or "pointNumber" not in point:
        return no_update
    return services.face_region_at(_PICKER_VIEW, point["curveNumber"], point["pointNumber"]) or no_update


def _difference_text(res, i: int) -> str:
    return (f"{res['difference'][i]:+.3f} [{res['difference_low'][i]:+.3f}, {res['difference_high'][i]:+.3f}], "
            + format_p(res["difference_p"][i]))


def _region_rows(res, uploaded: bool) -> tuple[tuple, list]:
    """Headers and ``(region, cells)`` of the table's first columns: declared drivers, or the uploaded shapes."""
    if uploaded:
        return (("region", "repeats or subjects", "channels"),
                [(r, [f"{r} (uploaded)", res["shapes"][r][0], res["shapes"][r][2]]) for r in res["regions"]])
    return (("region", "declared driver", "vertices"),
            [(row["region"], [row["region"], row["driver"], row["n_vertices"]]) for row in services.face_regions()])


def _region_table(res, selected: str, uploaded: bool = False):
    """Regions with their source, best-layer r per network, noise ceiling and identity − expression difference;
    ``selected`` highlighted."""
    nets = res["networks"] if res else []
    first, regions = _region_rows(res, uploaded)
    spanning = {"rowSpan": 2} if nets else {}
    header = [html.Tr([*(html.Th(h, **spanning) for h in first),
                       *([html.Th("best-layer Spearman r", colSpan=len(nets), className="text-center")] if nets else []),
                       html.Th("noise ceiling", **spanning), html.Th("identity − expression [95 % CI], p", **spanning)])]
    if nets:
        header.append(html.Tr([html.Th(_TABLE_NETWORK_NAMES.get(n, n)) for n in nets]))
    rows = []
    for region, cells in regions:
        if res:
            i = res["regions"].index(region)
            cells += [f"{np.nanmax(res['r'][i, k]):.3f}" for k in range(len(nets))]
            lower, upper = res["ceiling_lower"][i], res["ceiling_upper"][i]
            cells.append(f"{lower:.2f}–{upper:.2f}" if np.isfinite(lower) else "— (one RDM)")
            cells.append(_difference_text(res, i))
        rows.append(html.Tr([html.Td(c) for c in cells], className="table-active fw-bold" if region == selected else ""))
    return dbc.Table([html.Thead(header), html.Tbody(rows)], size="sm", bordered=True, responsive=True,
                     className="small region-table mb-1")


@callback(Output(ids.LINES, "figure"), Output(ids.REGION_TABLE, "children"), Input(ids.RESULT, "data"),
          Input(ids.REGION, "value"), State(ids.BRAIN_DATA, "value"), State(ids.UPLOADED, "data"))
def draw_region(path, region, source, uploaded):
    """The selected region's curves across depth (every network, with its noise ceiling) and the region table."""
    if not path:
        return placeholder_figure(_RUN_FIRST), _region_table(None, region)
    res = _brain_result(path, source, uploaded)
    if region not in res["regions"]:  # the region choices are about to follow the brain data
        return no_update, no_update
    i, depth = res["regions"].index(region), np.linspace(0, 1, 8)
    series = {}
    for k, net in enumerate(res["networks"]):
        n_layers = len(res["layers"][k])
        series[_NETWORK_NAMES[net]] = np.interp(depth, np.linspace(0, 1, n_layers), res["r"][i, k, :n_layers])
    bands = ({"noise ceiling": (np.full(8, res["ceiling_lower"][i]), np.full(8, res["ceiling_upper"][i]))}
             if np.isfinite(res["ceiling_lower"][i]) else None)
    is_upload = "filename" in res
    about = ("uploaded" if is_upload else
             f"declared driver {next(row['driver'] for row in services.face_regions() if row['region'] == region)}")
    lines = layer_line_figure([f"{d:.0%}" for d in depth], series, bands=bands, ylabel="Spearman r",
                              xlabel="relative depth (input → output)",
                              title=f"{region} ({about}) vs networks across depth")
    return lines, _region_table(res, region, is_upload)


@callback(Output(ids.STATUS, "children"), Output(ids.HEATMAP, "figure"), Output(ids.DIFFERENCE, "figure"),
          Output(ids.DECODING, "figure"), Output(ids.CONGRUENCE, "figure"), Output(ids.STRIP, "figure"),
          Input(ids.RESULT, "data"), Input(ids.NETWORK, "value"), Input(ids.BRAIN_DATA, "value"),
          Input(ids.UPLOADED, "data"), prevent_initial_call=True)
def draw_results(path, network, source, uploaded):
    """The figures of a finished analysis that show every region at once (regions of the chosen brain data)."""
    if not path:
        empty = placeholder_figure(_RUN_FIRST)
        return "", empty, empty, empty, empty, empty
    res = services.face_analysis_result(path)
    brain = _brain_result(path, source, uploaded)
    nets, regions = res["networks"], brain["regions"]
    n = nets.index(network)
    layers = res["layers"][n]
    data = f"uploaded {brain['filename']}" if "filename" in brain else "simulated subject"
    heatmap = region_layer_heatmap_figure(brain["r"][:, n, :len(layers)], regions, layers,
                                          title=f"Brain ({data})–network RDM correlation (Spearman): "
                                                f"{_NETWORK_NAMES[network]}")
    difference = difference_figure(
        regions, brain["difference"], brain["difference_low"], brain["difference_high"], brain["difference_p"],
        hover=[f"layers: {a} vs {b}" for a, b in brain["difference_layers"]],
        title=f"Closer to the identity or to the expression net? ({data}, best layer of each)")
    decoding_series, hlines = {}, {}
    for net in ("face_identity", "face_expression"):
        if f"decode_identity:{net}" in res:
            k = nets.index(net)
            depth = np.linspace(0, 1, len(res["layers"][k]))
            for task in ("identity", "expression"):
                decoding_series[f"{task} from {_NETWORK_NAMES[net]}"] = np.interp(
                    np.linspace(0, 1, 8), depth, res[f"decode_{task}:{net}"])
            hlines["identity chance"], hlines["expression chance"] = res[f"chance:{net}"]
    decoding = layer_line_figure([f"{d:.0%}" for d in np.linspace(0, 1, 8)], decoding_series, hlines=hlines,
                                 ylabel="cross-validated accuracy", xlabel="relative depth (input → output)",
                                 title="Decoding transfer (identity across expressions, expression across identities)")
    k = nets.index("face_identity")
    congruence = placeholder_figure("No congruence for this analysis")
    if "congruence:face_identity" in res:
        series = {"congruence": res["congruence:face_identity"]}
        if "congruence_chance:face_identity" in res:
            series["chance (expression labels shuffled within identity)"] = res["congruence_chance:face_identity"]
        congruence = layer_line_figure(
            res["layers"][k], series,
            ylabel="mean |Tucker φ|", title=f"Identity–expression subspace congruence: {_NETWORK_NAMES['face_identity']}")
    captions = [f"{i} / {e}" for i, e in zip(res["identities"], res["expressions"], strict=True)]
    strip = stimulus_strip_figure(res["images"], captions, max_images=24,
                                  model_made=[True] * len(captions), title="Stimuli (identity / expression*)")
    status = "; ".join(res["notes"]) or "Done."
    return status, heatmap, difference, decoding, congruence, strip
