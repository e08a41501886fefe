"""Studies page (/studies): your own fMRI studies — import (a folder under an allowed root, or a zipped small study),
their validation reports, fitting their encoding models, removal. Also the navbar's study picker: the chosen study
lives in the URL (``?study=NAME``), every navbar link keeps it, and a line under the navbar says which data the page
shows (``dashboard.components.navbar`` builds them; the callbacks are here)."""

from urllib.parse import parse_qs, urlencode

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import services
from dashboard.components import job_controls, nav_links, page_header, size_limited_upload
from dashboard.ids import Shell
from dashboard.ids import Studies as ids
from dashboard.messages import error_alert
from dashboard.pages._shared import PAPERS, background_job, progress_reporter, report_cancel

dash.register_page(__name__, path="/studies", name="Studies", order=7)


def _roots_note():
    roots = services.data_roots()
    if not roots:
        return dbc.Alert([
            "No folder is open to imports: the app imports studies only from folders named in the environment "
            "variable VFS_DATA_ROOTS, and none is set. Start the app with, e.g., ",
            html.Code("VFS_DATA_ROOTS=YOUR_DATA_FOLDER python app.py"),
            " (several folders separated by ':'), or import from the command line: ",
            html.Code("python -m core study import --format folder --path FOLDER --name NAME"), "."],
            color="warning", className="small p-2")
    return html.P(["Folders open to imports (VFS_DATA_ROOTS): ", *[html.Code(r, className="me-2") for r in roots]],
                  className="small")


def layout(**_query):
    """Import forms, the list of studies with their reports, and the fit / remove actions."""
    folder_card = dbc.Card(dbc.CardBody([
        html.H5("Import a folder"),
        html.Div(_roots_note(), id=ids.ROOTS),
        dbc.Label("Format", html_for=ids.FORMAT, className="mb-0 small fw-semibold"),
        dbc.Select(id=ids.FORMAT, value="folder", size="sm",
                   options=[{"label": f"{fmt}: {text}", "value": fmt} for fmt, text in services.STUDY_FORMATS.items()]),
        dbc.Label("Folder", html_for=ids.PATH, className="mb-0 mt-2 small fw-semibold"),
        dbc.Input(id=ids.PATH, size="sm", placeholder="a folder inside one of the folders above"),
        dbc.Label("Name", html_for=ids.NAME, className="mb-0 mt-2 small fw-semibold"),
        dbc.Input(id=ids.NAME, size="sm", placeholder="letters, digits, - and _ (e.g. nsd-subj01)"),
        html.Div(job_controls(ids.IMPORT, ids.IMPORT_CANCEL, ids.IMPORT_PROGRESS, "Import", size="sm"),
                 className="mt-2"),
        html.Div(id=ids.IMPORT_STATUS, className="small mt-1"),
    ]))
    zip_card = dbc.Card(dbc.CardBody([
        html.H5("Upload a zipped study"),
        html.P(f"A small study in the folder layout (stimuli/ or stimuli.tsv + responses.*), zipped; at most "
               f"{services.MAX_STUDY_ZIP_BYTES // 2**20} MiB. Its images are copied into the studio.",
               className="small"),
        size_limited_upload(ids.ZIP_UPLOAD, ids.ZIP_STATUS, services.MAX_STUDY_ZIP_BYTES, accept=".zip",
                            multiple=False, className="border rounded p-2 small text-center",
                            children=html.Div(["Drop a .zip here or ", html.A("choose one")])),
        html.Div(id=ids.ZIP_STATUS, className="small mt-1"),
        dbc.Label("Name", html_for=ids.ZIP_NAME, className="mb-0 mt-2 small fw-semibold"),
        dbc.Input(id=ids.ZIP_NAME, size="sm", placeholder="letters, digits, - and _"),
        html.Div(job_controls(ids.ZIP_IMPORT, ids.ZIP_CANCEL, ids.ZIP_PROGRESS, "Import the zip", size="sm"),
                 className="mt-2"),
    ]))
    actions = dbc.Card(dbc.CardBody([
        html.H5("Fit or remove a study"),
        dbc.Select(id=ids.FIT_STUDY, size="sm", options=[]),
        html.P("Fit: ResNet-50 features of the study's images (feature cache) → layer-wise PCA → per-vertex ridge "
               "(nine-fold CV), scored on repeated test images, or by 5-fold outer cross-validation when no image "
               "was shown twice; the result is kept in the studio's cache.", className="small mt-2"),
        html.Div(job_controls(ids.FIT, ids.FIT_CANCEL, ids.FIT_PROGRESS, "Fit encoding model", size="sm")),
        html.Div(id=ids.FIT_STATUS, className="small mt-1"),
        dcc.ConfirmDialogProvider(
            dbc.Button("Remove", color="danger", outline=True, size="sm", className="mt-2"), id=ids.REMOVE,
            message="Remove the chosen study and its fitted model from the studio? Your own files are not touched."),
        html.Div(id=ids.REMOVE_STATUS, className="small mt-1"),
    ]))
    return html.Div([
        page_header("Studies: your own fMRI data", *PAPERS["wen2018"]),
        html.P("A study is images plus one response row per image (or per presentation) on a cortical surface. "
               "Import one, fit its encoding model here, then choose it under Data in the navbar: Cortical Maps, "
               "Virtual fMRI, Selectivity and RDM Clusters then use its model; Model–Brain RSA and Reconstructions "
               "use its responses directly (no fit needed).", className="small"),
        dcc.Store(id=ids.CHANGED, data=0),
        dbc.Row([dbc.Col(folder_card, md=4), dbc.Col(zip_card, md=4), dbc.Col(actions, md=4)], className="g-2"),
        html.H4("Imported studies", className="mt-3"),
        html.Div(id=ids.LIST),
    ])


def _study_card(summary: dict) -> dbc.Card:
    fit = summary["fit"] or "Not fitted yet: choose it under 'Fit or remove a study' and press 'Fit encoding model'."
    return dbc.Card(dbc.CardBody([
        html.H6(summary["title"]),
        html.Ul([html.Li(line) for line in summary["report"]], className="small mb-1"),
        html.P(fit, className="small mb-0 fw-semibold" if summary["fit"] else "small mb-0 text-muted"),
    ]), className="mb-2", id={"type": ids.LIST, "study": summary["name"]})


@callback(Output(ids.LIST, "children"), Output(ids.FIT_STUDY, "options"), Output(ids.FIT_STUDY, "value"),
          Output(Shell.STUDY, "options", allow_duplicate=True), Input(ids.CHANGED, "data"),
          State(ids.FIT_STUDY, "value"), State(Shell.STUDY, "value"), prevent_initial_call="initial_duplicate")
def list_studies(_changed, chosen, navbar_study):
    """The studies with their validation reports; the fit/remove chooser and the navbar picker follow them."""
    summaries = services.study_summaries()
    names = [s["name"] for s in summaries]
    cards = [_study_card(s) for s in summaries] or html.P("No study imported yet.", className="text-muted")
    value = chosen if chosen in names else navbar_study if navbar_study in names else names[0] if names else None
    return cards, [{"label": n, "value": n} for n in names], value, services.study_choices()


def _job_result(run, name: str, done: str):
    """``(changed, status)`` of an import or fit job: a refusal becomes its message in the status line."""
    try:
        run()
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
    return 1, done.format(name=name)


@callback(Output(ids.CHANGED, "data", allow_duplicate=True), Output(ids.IMPORT_STATUS, "children"),
          Input(ids.IMPORT, "n_clicks"), State(ids.PATH, "value"), State(ids.FORMAT, "value"),
          State(ids.NAME, "value"), **background_job(ids.IMPORT, ids.IMPORT_CANCEL, ids.IMPORT_PROGRESS))
def import_folder(set_progress, _clicks, path, fmt, name):
    """Background job: validate and import the folder."""
    return _job_result(lambda: services.import_study_folder(path or "", fmt, name or "",
                                                            progress_reporter(set_progress)),
                       (name or "").strip(), "Imported study {name}: its report is below.")


@callback(Output(ids.ZIP_STATUS, "children", allow_duplicate=True), Input(ids.ZIP_UPLOAD, "filename"),
          prevent_initial_call=True)
def show_zip(filename):
    """The chosen zip's name (the import starts with the button)."""
    return f"Chosen: {filename}" if filename else no_update


@callback(Output(ids.CHANGED, "data", allow_duplicate=True), Output(ids.ZIP_STATUS, "children"),
          Input(ids.ZIP_IMPORT, "n_clicks"), State(ids.ZIP_UPLOAD, "contents"), State(ids.ZIP_UPLOAD, "filename"),
          State(ids.ZIP_NAME, "value"), **background_job(ids.ZIP_IMPORT, ids.ZIP_CANCEL, ids.ZIP_PROGRESS))
def import_zip(set_progress, _clicks, contents, filename, name):
    """Background job: unpack (checked) and import the zipped study."""
    if not contents:
        return no_update, "Choose a .zip file first."
    return _job_result(lambda: services.import_study_zip(contents, filename, name or "",
                                                         progress_reporter(set_progress)),
                       (name or "").strip(), "Imported study {name} from the zip: its report is below.")


@callback(Output(ids.CHANGED, "data", allow_duplicate=True), Output(ids.FIT_STATUS, "children"),
          Input(ids.FIT, "n_clicks"), State(ids.FIT_STUDY, "value"),
          **background_job(ids.FIT, ids.FIT_CANCEL, ids.FIT_PROGRESS))
def fit_study(set_progress, _clicks, name):
    """Background job: fit and score the study's encoding model (kept in the cache)."""
    if not name:
        return no_update, "Import a study first."
    return _job_result(lambda: services.fit_study(name, progress_reporter(set_progress)), name,
                       "Fitted {name}: choose it under Data in the navbar and open Cortical Maps.")


report_cancel(ids.IMPORT_CANCEL, ids.IMPORT_STATUS)
report_cancel(ids.ZIP_CANCEL, ids.ZIP_STATUS)
report_cancel(ids.FIT_CANCEL, ids.FIT_STATUS)


@callback(Output(ids.CHANGED, "data", allow_duplicate=True), Output(ids.REMOVE_STATUS, "children"),
          Input(ids.REMOVE, "submit_n_clicks"), State(ids.FIT_STUDY, "value"), State(ids.CHANGED, "data"),
          prevent_initial_call=True)
def remove_study(_clicks, name, changed):
    """Remove the chosen study and its fitted models (after the browser's confirmation)."""
    if not name:
        return no_update, "There is no study to remove."
    try:
        services.remove_study(name)
    except ValueError as exc:
        return no_update, error_alert(exc, className="p-2")
    return (changed or 0) + 1, f"Removed study {name}."


# ------------------------------------------------------------------------------------------ the navbar's study


def _study_of(search: str | None) -> str:
    return (parse_qs((search or "").lstrip("?")).get("study") or [""])[0]


@callback(Output(Shell.URL, "search"), Output(Shell.STUDY, "value"), Output(Shell.STUDY, "options"),
          Output(Shell.NAV, "children"), Output(Shell.STUDY_LABEL, "children"),
          Input(Shell.URL, "pathname"), Input(Shell.URL, "search"), Input(Shell.STUDY, "value"))
def choose_study(pathname, search, picked):
    """The study of the URL, or the one just picked (written into the URL without reloading the page): the
    picker shows it, every navbar link carries it, and the line under the navbar says which data the page uses."""
    options = services.study_choices()
    names = {o["value"] for o in options}
    if ctx.triggered_id == Shell.STUDY:
        study = "" if picked in (None, services.SIMULATED) else picked
        new_search = f"?{urlencode({'study': study})}" if study else ""
    else:
        study, new_search = _study_of(search), no_update
    query = f"?{urlencode({'study': study})}" if study in names and study else ""
    links = nav_links(dash.page_registry.values(), query=query, pathname=pathname or "/")
    if study and study not in names:
        label = dbc.Alert(
            f"There is no study named {study}: choose one under Data, or import it on the Studies page.",
            color="warning", className="p-2 mb-0")
        return new_search, services.SIMULATED, options, links, label
    try:
        label = [html.B("Data: "), services.study_label(study)]
    except ValueError as exc:
        return new_search, services.SIMULATED, options, links, error_alert(exc, color="warning",
                                                                                    className="p-2 mb-0")
    if study and pathname in services.NO_STUDY_PAGES:
        label += [html.Br(), html.Span(services.NO_STUDY_PAGES[pathname],
                                       className="text-warning-emphasis")]
    return new_search, study or services.SIMULATED, options, links, label
