"""Model–Brain RSA page (/model-brain-rsa): which layer of which network best matches each brain RDM, for any
stimuli: uploaded images and brain RDM files, or a study chosen in the navbar (``?study=NAME``: its images, and one
brain RDM per region of one of its ROI classes, computed from its responses)."""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard.components import job_controls, page_header, size_limited_upload, waiting_graph
from dashboard.figures.model_brain_rsa import CI_LABEL, layer_profile_figure, rdm_mds_figure, rdm_pair_figure
from dashboard.figures.placeholder import placeholder_figure
from dashboard.figures.rdm import png_export_config
from dashboard.ids import ModelBrainRsa as ids
from dashboard.messages import error_alert
from dashboard.pages._shared import background_job, progress_reporter
from dashboard.services import model_brain_rsa as rsa_services

dash.register_page(__name__, path="/model-brain-rsa", name="Model–Brain RSA", order=7)

_RUN_FIRST = "Upload stimuli and brain RDMs, then press 'Run RSA'"
_RUN_STUDY = "Choose the regions, then press 'Run RSA'"
_METHOD_TEXT = (
    "Each network layer's RDM (correlation distance between the layer's spatially averaged channels, one row per "
    "stimulus) is compared with each brain RDM. p: one-sided stimulus-permutation test (calibrated), FDR q over "
    "each network's layers. Error bars: " + CI_LABEL + " — rsatoolbox's eval_bootstrap_pattern, which is about "
    "1.8× too wide on null data; decide with p and read the bars as a generous range. ")
_CEILING_TEXT = ("Several RDMs of one region (subjects, as an n×n×k stack or struct elements sharing a name) give a "
                 "noise ceiling (grey band) and r is their mean.")
_STUDY_CEILING_TEXT = ("With one RDM per repeat session, r is the mean over the sessions' RDMs and the grey band is "
                       "the noise ceiling (leave one session out); with averaged responses there is no ceiling.")
_FORMATS_TEXT = (
    ".mat (n×n, n×n×k or condensed arrays; RSA-toolbox struct arrays with an RDM field and an optional name), "
    ".npy/.npz (no pickle), .csv/.tsv (square, optional header of condition names), rsatoolbox .h5. Rows and "
    "columns follow the stimulus order shown on the left unless the file names its conditions by the stimulus "
    "file names.")


def _card(title: str, children) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title, className="fw-semibold"), dbc.CardBody(children)], className="mb-2")


def _upload_cards() -> list:
    """Steps 1–2 without a study: uploaded (or library) stimuli and brain RDM files."""
    stimuli = _card("1. Stimuli", [
        dbc.RadioItems(id=ids.STIMULUS_SOURCE, value="upload", className="small", options=[
            {"label": "upload images (a zip, or several images)", "value": "upload"},
            {"label": "the studio's stimulus library", "value": rsa_services.LIBRARY}]),
        size_limited_upload(
            ids.STIMULUS_UPLOAD, ids.STIMULUS_STATUS, rsa_services.MAX_STIMULUS_UPLOAD_BYTES, multiple=True,
            accept=".zip,image/*",
            children=html.Div(["Drop a zip of images (or the images) here or ", html.A("choose files", href="#"),
                               f" (up to {rsa_services.MAX_STIMULUS_UPLOAD_BYTES // 2**20} MiB)"]),
            className="border border-secondary rounded text-center small p-2 mt-2", style={"borderStyle": "dashed"}),
        html.P("Order: the zip's stimuli.tsv (column 'file') if it has one, else natural sort of the file names "
               "(img2 before img10); a folder in the zip is the images' category.", className="small text-muted mt-1"),
        html.Div(id=ids.STIMULUS_STATUS, className="small"),
        html.Details([html.Summary("Stimulus order used", className="small"), html.Div(id=ids.ORDER)],
                     className="mt-1"),
        dbc.Button("Download the order (.tsv)", id=ids.ORDER_BUTTON, color="secondary", size="sm",
                   className="mt-1", disabled=True),
    ])
    rdms = _card("2. Brain RDMs", [
        size_limited_upload(
            ids.RDM_UPLOAD, ids.RDM_STATUS, rsa_services.MAX_RDM_UPLOAD_BYTES, multiple=True,
            accept=".mat,.npy,.npz,.csv,.tsv,.h5,.hdf5",
            children=html.Div(["Drop RDM files here or ", html.A("choose files", href="#"),
                               f" (up to {rsa_services.MAX_RDM_FILES}; each upload replaces the list)"]),
            className="border border-secondary rounded text-center small p-2", style={"borderStyle": "dashed"}),
        html.P(_FORMATS_TEXT, className="small text-muted mt-1"),
        html.Div(id=ids.RDM_STATUS, className="small"),
    ])
    return [html.P(["To run this page on your own study (its images, and one brain RDM per region of its ROIs), "
                    "choose it under Data in the navbar."], className="small text-muted"), stimuli, rdms]


# No annotation names a Dash component class: a background job pickles this page's functions by value (dill),
# and such an annotation would carry the class along (it failed under pytest's capture).
def _study_card(study):
    """Steps 1–2 on a study: its images (how many, chosen how), the brain RDMs (ROI class, regions, averaged or
    per repeat session), and the order used. Without a study (the layout Dash validates callbacks against), the
    same controls, empty and hidden."""
    setup, problem = None, None
    if study:
        try:
            setup = rsa_services.study_rsa_setup(study)
        except ValueError as exc:
            problem = error_alert(exc, color="warning", className="p-2")
    classes = list(setup["roi_classes"]) if setup else []
    roi_class = classes[0] if classes else None
    splits = setup["splits"] if setup else {"average": ""}
    controls = [
        html.Div(id=ids.STUDY_SUMMARY, className="small"),
        dbc.Label("Images used", html_for=ids.STUDY_N_STIMULI, className="small mb-0 mt-2"),
        dbc.Input(id=ids.STUDY_N_STIMULI, type="number", min=3, max=rsa_services.STUDY_MAX_STIMULI, step=1,
                  debounce=True, size="sm",
                  value=min(rsa_services.STUDY_STIMULI, setup["n_stimuli"]) if setup else rsa_services.STUDY_STIMULI),
        html.P(f"An RDM is n × n and every layer is tested against it: up to {rsa_services.STUDY_MAX_STIMULI:,} "
               "images, chosen the same way on every run (each category in proportion, evenly spaced in study "
               "order within it).", className="small text-muted mb-1"),
        dbc.Label("Brain RDMs", html_for=ids.STUDY_SPLIT, className="small mb-0 mt-1"),
        dbc.RadioItems(id=ids.STUDY_SPLIT, value="average", className="small",
                       options=[{"label": label, "value": key} for key, label in splits.items()]),
        html.P("The study has no repeat sessions, so no noise ceiling." if setup and len(splits) == 1 else "",
               className="small text-muted mb-1"),
        dbc.Label("ROI class", html_for=ids.STUDY_ROI_CLASS, className="small mb-0 mt-1"),
        dcc.Dropdown(id=ids.STUDY_ROI_CLASS, value=roi_class, clearable=False,
                     options=[{"label": c, "value": c} for c in classes]),
        html.P(setup["roi_source"] if setup else "", className="small text-muted mb-1"),
        dbc.Label(f"Regions (up to {rsa_services.STUDY_MAX_REGIONS})", html_for=ids.STUDY_REGIONS,
                  className="small mb-0"),
        dcc.Dropdown(id=ids.STUDY_REGIONS, multi=True, value=setup["default_regions"][roi_class] if roi_class else [],
                     options=setup["roi_classes"][roi_class] if roi_class else []),
        html.P("Brain RDM of a region: correlation distance (1 − Pearson r over the region's vertices) between the "
               "stimuli's response patterns, as rsatoolbox's calc_rdm.", className="small text-muted mt-1 mb-1"),
        dbc.Button("Download the images used, in RDM order (.tsv)", id=ids.STUDY_ORDER_BUTTON, color="secondary",
                   size="sm"),
    ]
    if not study:
        return html.Div(controls, hidden=True)
    return _card(f"1–2. Your data: {study}", [problem] if problem else controls)


def layout(study=None, networks=None, **_query):
    """Inputs on the left, results on the right; data arrive through callbacks. With a study chosen in the navbar
    (``?study=NAME``), the study's images and region RDMs replace the uploads; ``?networks=A,B`` preselects
    networks (e.g. the Identity & Expression page's link)."""
    chosen = [n for n in (networks or "").split(",") if n in rsa_services.RSA_NETWORK_OPTIONS] or ["resnet50"]
    analysis = _card("3. Networks and comparison", [
        dbc.Label("Networks", html_for=ids.NETWORKS, className="small mb-0"),
        dcc.Dropdown(id=ids.NETWORKS, multi=True, value=chosen,
                     options=[{"label": v, "value": k} for k, v in rsa_services.RSA_NETWORK_OPTIONS.items()]),
        dbc.Label("Comparison", html_for=ids.METHOD, className="small mb-0 mt-2"),
        dcc.Dropdown(id=ids.METHOD, value="spearman", clearable=False,
                     options=[{"label": v, "value": k} for k, v in rsa_services.RSA_METHODS.items()]),
        dbc.Row([
            dbc.Col([dbc.Label("Permutations", html_for=ids.N_PERMUTATIONS, className="small mb-0"),
                     dbc.Input(id=ids.N_PERMUTATIONS, type="number", min=0, max=100_000, step=1,
                               value=rsa_services.RSA_PERMUTATIONS, size="sm")]),
            dbc.Col([dbc.Label("Bootstrap samples", html_for=ids.N_BOOTSTRAP, className="small mb-0"),
                     dbc.Input(id=ids.N_BOOTSTRAP, type="number", min=0, max=10_000, step=1,
                               value=rsa_services.RSA_BOOTSTRAP, size="sm")]),
        ], className="mt-2 mb-2"),
        *job_controls(ids.RUN, ids.CANCEL, ids.PROGRESS, "Run RSA"),
        html.Div(id=ids.STATUS, className="small mt-2"),
    ])
    waiting = _RUN_STUDY if study else _RUN_FIRST
    results = [
        waiting_graph(ids.PROFILE, waiting, style={"height": "45vh"},
                      config=png_export_config("model-brain-rsa-profiles")),
        html.P(_METHOD_TEXT + (_STUDY_CEILING_TEXT if study else _CEILING_TEXT), className="small text-muted"),
        dbc.Row([
            dbc.Col(dbc.Label("Region for the RDMs", html_for=ids.REGION, className="small"), md="auto"),
            dbc.Col(dcc.Dropdown(id=ids.REGION, options=[], clearable=False), md=4),
        ], className="align-items-center"),
        dbc.Row([
            dbc.Col(waiting_graph(ids.PAIR, waiting, style={"height": "50vh"},
                                  config=png_export_config("model-brain-rsa-rdms")), md=7),
            dbc.Col(waiting_graph(ids.MDS, waiting, style={"height": "50vh"},
                                  config=png_export_config("model-brain-rsa-mds")), md=5),
        ]),
        dbc.Row([
            dbc.Col(dbc.Button("Download the rows (CSV)", id=ids.CSV_BUTTON, color="secondary", size="sm",
                               disabled=True), md="auto"),
            dbc.Col(dbc.Button("Download the stimulus order used (.tsv)", id=ids.RESULT_ORDER_BUTTON,
                               color="secondary", size="sm", disabled=True), md="auto"),
            dbc.Col(html.Span("PNG: camera icon of each figure.", className="small text-muted"), md="auto"),
            dbc.Col(html.Div(id=ids.EXPORT_ERROR), md=12),
        ], className="mt-2 align-items-center"),
    ]
    return html.Div([
        page_header("Model–Brain RSA", "Kriegeskorte, Mur & Bandettini 2008, Front Syst Neurosci 2:4 — "
                    "representational similarity analysis", "https://doi.org/10.3389/neuro.06.004.2008"),
        dcc.Store(id=ids.STIMULI),
        dcc.Store(id=ids.RDM_FILES),
        dcc.Store(id=ids.STUDY, data=study or None),
        dcc.Store(id=ids.RESULT),
        dcc.Download(id=ids.DOWNLOAD),
        dbc.Row([dbc.Col([*([_study_card(study)] if study else [*_upload_cards(), _study_card(None)]), analysis],
                         md=4),
                 dbc.Col(results, md=8)]),
    ])


def _order_list(rows: list[dict]):
    """The stimulus order as a compact numbered list (labels in brackets)."""
    return html.Ol([html.Li(f"{row['file']}" + (f" [{row['label']}]" if row["label"] else ""))
                    for row in rows], className="small mb-0", style={"maxHeight": "12rem", "overflowY": "auto"})


@callback(
    Output(ids.STIMULI, "data"),
    Output(ids.STIMULUS_STATUS, "children"),
    Output(ids.ORDER, "children"),
    Output(ids.ORDER_BUTTON, "disabled"),
    Input(ids.STIMULUS_SOURCE, "value"),
    Input(ids.STIMULUS_UPLOAD, "contents"),
    State(ids.STIMULUS_UPLOAD, "filename"),
    State(ids.STIMULI, "data"),
)
def choose_stimuli(source, contents, filenames, current):
    """Store an upload (checked) or choose the library; show the order the RDM rows must follow."""
    try:
        if source == rsa_services.LIBRARY:
            choice, status = rsa_services.LIBRARY, "The stimulus library"
        elif ctx.triggered_id == ids.STIMULUS_UPLOAD and contents:
            saved = rsa_services.save_stimulus_upload(contents, filenames)
            choice, status = saved["value"], saved["label"]
        elif current and current != rsa_services.LIBRARY:
            choice, status = current, "Uploaded images"
        else:
            return None, "No stimuli yet.", None, True
        rows = rsa_services.stimulus_order(choice)
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2 mt-1"), no_update, no_update
    return choice, f"{status}: {len(rows)} stimuli; brain RDMs must follow this order.", _order_list(rows), False


@callback(Output(ids.DOWNLOAD, "data", allow_duplicate=True), Input(ids.ORDER_BUTTON, "n_clicks"),
          State(ids.STIMULI, "data"), prevent_initial_call=True)
def download_order(_clicks, choice):
    """The stimulus order as stimuli.tsv."""
    return dcc.send_string(rsa_services.stimulus_order_tsv(choice), "stimuli.tsv")


@callback(
    Output(ids.RDM_FILES, "data"),
    Output(ids.RDM_STATUS, "children"),
    Input(ids.RDM_UPLOAD, "contents"),
    State(ids.RDM_UPLOAD, "filename"),
    State(ids.STIMULI, "data"),
    prevent_initial_call=True,
)
def upload_rdms(contents, filenames, stimuli):
    """Check each uploaded RDM file: what it holds, or why it cannot be used."""
    if not contents:
        return no_update, no_update
    try:
        checked = rsa_services.save_rdm_uploads(contents, filenames, stimuli)
    except ValueError as exc:
        return [], error_alert(exc, className="p-2")
    lines = [dbc.Alert(f["message"], color="success" if f["value"] else "danger", className="p-1 mb-1")
             for f in checked]
    return [f["value"] for f in checked if f["value"]], lines


@callback(
    Output(ids.RESULT, "data"),
    Output(ids.STATUS, "children"),
    Input(ids.RUN, "n_clicks"),
    State(ids.STIMULI, "data"),
    State(ids.RDM_FILES, "data"),
    State(ids.NETWORKS, "value"),
    State(ids.METHOD, "value"),
    State(ids.N_PERMUTATIONS, "value"),
    State(ids.N_BOOTSTRAP, "value"),
    State(ids.STUDY, "data"),
    State(ids.STUDY_ROI_CLASS, "value"),
    State(ids.STUDY_REGIONS, "value"),
    State(ids.STUDY_N_STIMULI, "value"),
    State(ids.STUDY_SPLIT, "value"),
    **background_job(ids.RUN, ids.CANCEL, ids.PROGRESS),
)
def run_rsa(set_progress, _clicks, stimuli, rdm_files, networks, method, n_permutations, n_bootstrap, study,
            roi_class, regions, n_stimuli, split):
    """Background job: network RDMs (cached), comparisons, permutation tests, bootstrap; returns the result path.
    On a study, its region RDMs first (from its responses)."""
    try:
        progress = progress_reporter(set_progress)
        if study:
            path = rsa_services.run_study_rsa(study, roi_class, regions or [], n_stimuli or 0, split, networks or [],
                                              method, n_permutations or 0, n_bootstrap or 0, progress=progress)
        else:
            path = rsa_services.run_rsa(stimuli, rdm_files or [], networks or [], method, n_permutations or 0,
                                        n_bootstrap or 0, progress=progress)
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
    return path, "Done."


@callback(
    Output(ids.PROFILE, "figure"),
    Output(ids.MDS, "figure"),
    Output(ids.REGION, "options"),
    Output(ids.REGION, "value"),
    Output(ids.CSV_BUTTON, "disabled"),
    Output(ids.RESULT_ORDER_BUTTON, "disabled"),
    Output(ids.STATUS, "children", allow_duplicate=True),
    Input(ids.RESULT, "data"),
    prevent_initial_call=True,
)
def draw_result(path):
    """Layer profiles per region and the second-order MDS; the best layer of each region in the status."""
    data = rsa_services.profile_data(path)
    profile = layer_profile_figure(
        data["regions"], data["profiles"], data["ceiling_lower"], data["ceiling_upper"], best=data["best"],
        ylabel=f"{data['method']} with the brain RDM",
        title=f"Layer profiles ({data['n_permutations']} permutations, {data['n_bootstrap']} bootstrap samples)")
    mds = rsa_services.mds_data(path)
    mds_figure = rdm_mds_figure(mds["xy"], mds["labels"], mds["groups"], mds["depth"],
                                title=f"Second-order MDS of all RDMs<br>(distance 1 − {mds['method']})")
    regions = [{"label": r, "value": r} for r in data["regions"]]
    best = "; ".join(f"{region}: {network} · {layer}" for region, (network, layer)
                     in zip(data["regions"], data["best"], strict=True))
    note = rsa_services.study_result_note(path)
    return (profile, mds_figure, regions, data["regions"][0], False, False,
            [f"Done. Best layer — {best}.", *([html.Br(), note] if note else [])])


@callback(Output(ids.PAIR, "figure"), Input(ids.REGION, "value"), Input(ids.RESULT, "data"),
          prevent_initial_call=True)
def draw_pair(region, path):
    """The region's brain RDM beside its best layer's RDM, ordered by a clustering of the brain RDM."""
    if not path or not region:
        return placeholder_figure(_RUN_FIRST)
    data = rsa_services.rdm_pair_data(path, region)
    return rdm_pair_figure(data["brain"], data["model"], data["labels"], order=data["order"],
                           titles=(f"brain: {data['region']}", f"best layer: {data['model_name']}"),
                           title=f"{data['region']} and its best layer (r = {data['r']:.3f})<br>order: clustering "
                                 "of the brain RDM (average linkage)")


@callback(Output(ids.DOWNLOAD, "data"), Output(ids.EXPORT_ERROR, "children"), Input(ids.CSV_BUTTON, "n_clicks"),
          Input(ids.RESULT_ORDER_BUTTON, "n_clicks"), State(ids.RESULT, "data"), prevent_initial_call=True)
def download_result(_csv, _order, path):
    """The rows as CSV, or the stimulus order the result used."""
    try:
        if ctx.triggered_id == ids.CSV_BUTTON:
            return dcc.send_string(rsa_services.rows_csv(path), "model-brain-rsa.csv"), None
        return dcc.send_string(rsa_services.result_order_tsv(path), "model-brain-rsa-stimuli.tsv"), None
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")


# ----------------------------------------------------------------------------------------- on a study


@callback(Output(ids.STUDY_REGIONS, "options"), Output(ids.STUDY_REGIONS, "value"),
          Input(ids.STUDY_ROI_CLASS, "value"), State(ids.STUDY, "data"), prevent_initial_call=True)
def study_regions(roi_class, study):
    """The regions of the chosen ROI class, its default ones chosen."""
    if not study or not roi_class:
        return [], []
    setup = rsa_services.study_rsa_setup(study)
    return setup["roi_classes"].get(roi_class, []), setup["default_regions"].get(roi_class, [])


@callback(Output(ids.STUDY_SUMMARY, "children"), Input(ids.STUDY_N_STIMULI, "value"), Input(ids.STUDY_SPLIT, "value"),
          Input(ids.STUDY_ROI_CLASS, "value"), Input(ids.STUDY_REGIONS, "value"), State(ids.STUDY, "data"))
def study_summary(n_stimuli, split, roi_class, regions, study):
    """What a run on the study uses: its images (how many, chosen how, in which order) and its brain RDMs."""
    if not study:
        return None
    try:
        plan = rsa_services.study_rsa_plan(study, n_stimuli, split)
    except ValueError as exc:
        return error_alert(exc, color="warning", className="p-2")
    rdms = (f"{len(regions)} region{'s' if len(regions) != 1 else ''} of {roi_class}" if roi_class and regions else
            "no region chosen" if roi_class else "none (the study has no ROI sets)")
    return [
        html.Div([html.B(f"Your data: {study}"), f" — stimuli: the study's {plan['n_stimuli']:,} images "
                  f"({plan['n_used']:,} used), brain RDMs: {rdms}."]),
        html.Details([html.Summary(f"Images used: {plan['rule']}", className="small"), _order_list(plan["rows"])],
                     className="mt-1"),
    ]


@callback(Output(ids.DOWNLOAD, "data", allow_duplicate=True), Output(ids.EXPORT_ERROR, "children", allow_duplicate=True),
          Input(ids.STUDY_ORDER_BUTTON, "n_clicks"), State(ids.STUDY, "data"), State(ids.STUDY_N_STIMULI, "value"),
          State(ids.STUDY_SPLIT, "value"), prevent_initial_call=True)
def download_study_order(_clicks, study, n_stimuli, split):
    """The images a run on the study uses, in RDM order, as a table."""
    try:
        return dcc.send_string(rsa_services.study_rsa_order_tsv(study, n_stimuli, split),
                               f"{study}-rsa-stimuli.tsv"), None
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
