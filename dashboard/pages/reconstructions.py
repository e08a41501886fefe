"""Reconstructions page (/reconstructions): faces decoded from brain patterns (VanRullen & Reddy 2019), on the
simulated brain or, with a study chosen in the navbar (``?study=NAME``), on the study's face images and responses.

Both sections are in every layout (one hidden), so Dash's callback validation finds every component."""

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import services
from dashboard.components import job_controls, page_header, waiting_graph
from dashboard.figures.gallery import (
    accuracy_curve_figure,
    latent_explorer_figure,
    pairwise_accuracy_figure,
    reconstruction_gallery_figure,
)
from dashboard.figures.placeholder import placeholder_figure
from dashboard.ids import Reconstructions as ids
from dashboard.messages import error_alert
from dashboard.pages._shared import PAPERS, background_job, progress_reporter, report_cancel

dash.register_page(__name__, path="/reconstructions", name="Reconstructions", order=6)

_RUN_FIRST = "Press 'Run' (left) to see this"
_LOWEST, _HIGHEST = services.RECONSTRUCTION_FACES
_N_FACES_HINT = f"Type a whole number from {_LOWEST} to {_HIGHEST}."


def layout(study=None, **_query):
    """Controls and empty figures: the simulated brain's, or ``study``'s when one is chosen in the navbar."""
    chosen = bool(study) and study != services.SIMULATED
    return html.Div([
        page_header("Reconstructions", *PAPERS["vanrullen2019"]),
        html.Div(_study_section(study if chosen else None), id=ids.STUDY_SECTION, hidden=not chosen),
        html.Div(_simulated_section(), id=ids.SIMULATED_SECTION, hidden=chosen),
    ])


def _simulated_section():
    """The simulated brain's controls and figures."""
    controls = dbc.Card(dbc.CardBody([
        dbc.Alert([dbc.Badge("simulated brain", color="warning", className="me-2"),
                   "Brain patterns are simulated: 200 voxels respond linearly to each DCGAN face's latent code, "
                   "plus Gaussian noise at the chosen SNR. Gender labels are model-made (face-api age-gender net)."],
                  color="light", className="border-warning small"),
        dbc.Label("Faces (DCGAN samples)", html_for=ids.N_FACES),
        dbc.Input(id=ids.N_FACES, type="number", min=_LOWEST, max=_HIGHEST, step=1, value=300),
        dbc.FormFeedback(_N_FACES_HINT, id=ids.N_FACES_FEEDBACK, type="invalid"),
        dbc.Label("Signal-to-noise ratio", html_for=ids.SNR, className="mt-2"),
        dbc.Select(id=ids.SNR, value="1", options=[{"label": s, "value": s} for s in ("0.25", "0.5", "1", "2", "4")]),
        html.Div(job_controls(ids.RUN, ids.CANCEL, ids.PROGRESS, "Run"), className="mt-3"),
        html.Div(id=ids.STATUS, className="small mt-2"),
    ]))
    offsets = services.EXPLORER_OFFSETS_SD
    explorer = html.Div([
        waiting_graph(ids.EXPLORER, _RUN_FIRST, style={"height": "32vh"}),
        dbc.Label("Offset along the male − female axis (SD of the training faces' codes)",
                  html_for=ids.EXPLORER_OFFSET, className="small"),
        dcc.Slider(id=ids.EXPLORER_OFFSET, min=offsets[0], max=offsets[-1], step=offsets[1] - offsets[0], value=0.0,
                   marks={offset: f"{offset:+g}" for offset in offsets}),
        html.Div(id=ids.EXPLORER_NOTE, className="small text-muted"),
    ])
    return html.Div([
        dcc.Store(id=ids.RESULT, storage_type="local"),  # the last finished run, restored on reload
        dbc.Row([dbc.Col(controls, md=3),
                 dbc.Col(waiting_graph(ids.GALLERY, _RUN_FIRST, style={"height": "70vh"}), md=5),
                 dbc.Col(waiting_graph(ids.ACCURACY, _RUN_FIRST, style={"height": "70vh"}), md=4)]),
        dbc.Row([dbc.Col(waiting_graph(ids.SIZE_CURVE, _RUN_FIRST, style={"height": "45vh"}), md=4),
                 dbc.Col(waiting_graph(ids.SNR_CURVE, _RUN_FIRST, style={"height": "45vh"}), md=4),
                 dbc.Col(explorer, md=4)], className="mt-3"),
    ])


@callback(
    Output(ids.RESULT, "data"),
    Output(ids.STATUS, "children"),
    Input(ids.RUN, "n_clicks"),
    State(ids.N_FACES, "value"),
    State(ids.SNR, "value"),
    **background_job(ids.RUN, ids.CANCEL, ids.PROGRESS),
)
def run_reconstruction(set_progress, _clicks, n_faces, snr):
    """Background job: train/load the encoder, simulate, decode, score, accuracy curves, explorer strips."""
    if not _faces_ok(n_faces):
        return None, dbc.Alert(f"Faces: {_N_FACES_HINT}", color="warning")
    try:
        path = services.run_reconstruction(int(n_faces), float(snr), progress=progress_reporter(set_progress))
    except ValueError as exc:
        return None, error_alert(exc, color="danger")
    return path, "Done."


report_cancel(ids.CANCEL, ids.STATUS)


def _faces_ok(n_faces) -> bool:
    """Whether the faces box holds a whole number in range (the browser sends None for what it cannot read)."""
    return n_faces is not None and float(n_faces).is_integer() and _LOWEST <= n_faces <= _HIGHEST


@callback(Output(ids.N_FACES, "invalid"), Input(ids.N_FACES, "value"))
def check_faces(n_faces):
    """Mark the faces box invalid (its message says the range) while it holds no usable number."""
    return not _faces_ok(n_faces)


@callback(Output(ids.GALLERY, "figure"), Output(ids.ACCURACY, "figure"), Output(ids.SIZE_CURVE, "figure"),
          Output(ids.SNR_CURVE, "figure"), Input(ids.RESULT, "data"), prevent_initial_call=True)
def draw_results(path):
    """Gallery of test faces, pairwise identification accuracy, and accuracy vs training faces and SNR."""
    if not path:
        empty = placeholder_figure(_RUN_FIRST)
        return empty, empty, empty, empty
    result = services.reconstruction_result(path)
    gallery, accuracy = _gallery_and_accuracy(result, "Test faces and their reconstructions")
    size, snr = result["curves"]["n_train"], result["curves"]["snr"]
    return (gallery, accuracy,
            accuracy_curve_figure(size["x"], size["accuracy"], xlabel="training faces", chance=0.5, log_x=True,
                                  ylabel="pairwise accuracy (pixels)", title="Accuracy vs training faces"),
            accuracy_curve_figure(snr["x"], snr["accuracy"], xlabel="simulated SNR (signal / noise variance)",
                                  chance=0.5, log_x=True, ylabel="pairwise accuracy (pixels)",
                                  title="Accuracy vs SNR (same split)"))


def _gallery_and_accuracy(result: dict, title: str):
    """The gallery of originals vs reconstructions and the pairwise-accuracy figure (gender decoding in its title)."""
    gallery = reconstruction_gallery_figure(
        (np.asarray(result["originals"]) * 255).clip(0, 255).astype(np.uint8),
        {k: (np.asarray(v) * 255).clip(0, 255).astype(np.uint8) for k, v in result["reconstructions"].items()},
        max_faces=8, title=title)
    names, accuracies, p_values = [], [], []
    for (model, space), (accuracy, p) in sorted(result["pairwise"].items()):
        names.append(f"{'GAN' if model == 'gan' else 'PCA'} ({space})")
        accuracies.append(accuracy)
        p_values.append(p)
    heading = "Pairwise identification"
    for model, (accuracy, chance) in sorted(result["gender"].items()):
        heading += f"<br><sup>gender from decoded {model.upper()} latents: {accuracy:.2f} (chance {chance:.2f})</sup>"
    return gallery, pairwise_accuracy_figure(names, accuracies, chance=0.5, p_values=p_values, title=heading)


@callback(Output(ids.EXPLORER, "figure"), Output(ids.EXPLORER_NOTE, "children"), Input(ids.EXPLORER_OFFSET, "value"),
          Input(ids.RESULT, "data"), prevent_initial_call=True)
def draw_explorer(offset, path):
    """The faces precomputed by the job at the slider's offset (in SD) along each model's male − female axis."""
    if not path:
        return placeholder_figure(_RUN_FIRST), ""
    strips = services.reconstruction_result(path)["explorer"]
    if not strips:
        return (placeholder_figure("No gender axis to explore"),
                "The training faces have one gender label only, so there is no gender axis to explore.")
    offsets = np.asarray(services.EXPLORER_OFFSETS_SD)
    step = int(np.argmin(np.abs(offsets - (offset or 0.0))))
    faces = {label: (np.asarray(strip[step]) * 255).clip(0, 255).astype(np.uint8) for label, strip in strips.items()}
    offset = offsets[step]
    return (latent_explorer_figure(faces, title=f"Latent explorer: {offset:+g} SD towards 'male'"),
            "Starts from the first test face's brain-decoded code; the axis joins the mean training codes "
            "of the two gender labels in each model's latent space.")


# --------------------------------------------------------------------------- on a study

_RUN_STUDY_FIRST = "Press 'Run' (left) to reconstruct your study's faces"


def _face_note(study: str, *, advise: bool = True) -> str:
    """What the page knows about the study's images before running: the face check's finding, once made (with how
    to run anyway when ``advise`` and the study is not of faces)."""
    check = services.study_face_check(study)
    if check is None:
        return ("Reconstructions need face images (the generator draws faces only). Run first looks for a face in "
                "each image with the face detector, and asks before reconstructing a study where it finds few.")
    return check["message"] + ("" if check["faces"] or not advise else f" {services.RUN_ANYWAY}")


def _study_section(study: str | None):
    """Controls (brain patterns, run anyway, Run) and figures of a study; empty controls without one."""
    try:
        label, note, rois = (services.study_label(study), _face_note(study), services.study_roi_choices(study)) \
            if study else ("", "", [])
    except ValueError as exc:
        label, note, rois = error_alert(exc, color="warning"), "", []
    controls = dbc.Card(dbc.CardBody([
        dbc.Alert(note, id=ids.FACE_NOTE, color="light", className="border-info small"),
        dbc.Label("Brain patterns", html_for=ids.ROI),
        dbc.Select(id=ids.ROI, options=rois, value=services.ALL_VERTICES),
        dbc.Checklist(id=ids.ALLOW_NON_FACES, value=[], switch=True, className="small mt-2",
                      options=[{"label": "Run on images without faces too", "value": "on"}]),
        html.Div(job_controls(ids.STUDY_RUN, ids.STUDY_CANCEL, ids.STUDY_PROGRESS, "Run"), className="mt-3"),
        html.Div(id=ids.STUDY_STATUS, className="small mt-2"),
        html.P("A ridge decoder maps the study's responses (averaged over repeats) of the training images to their "
               "codes in the DCGAN's latent space and in a PCA of the training images; the test images' decoded "
               "codes are turned back into faces. The test images are the study's repeated ones when it has a test "
               "set, else a random fifth.", className="small text-muted mt-2"),
    ]))
    return html.Div([
        dcc.Store(id=ids.STUDY, data=study),
        dcc.Store(id=ids.STUDY_RESULT),
        html.P(label, className="small"),
        dbc.Row([dbc.Col(controls, md=3),
                 dbc.Col(waiting_graph(ids.STUDY_GALLERY, _RUN_STUDY_FIRST, style={"height": "70vh"}), md=5),
                 dbc.Col([waiting_graph(ids.STUDY_ACCURACY, _RUN_STUDY_FIRST, style={"height": "55vh"}),
                          html.Div(id=ids.STUDY_SUMMARY, className="small")], md=4)]),
    ])


@callback(
    Output(ids.STUDY_RESULT, "data"),
    Output(ids.STUDY_STATUS, "children"),
    Output(ids.FACE_NOTE, "children"),
    Output(ids.FACE_NOTE, "color"),
    Input(ids.STUDY_RUN, "n_clicks"),
    State(ids.STUDY, "data"),
    State(ids.ROI, "value"),
    State(ids.ALLOW_NON_FACES, "value"),
    **background_job(ids.STUDY_RUN, ids.STUDY_CANCEL, ids.STUDY_PROGRESS),
)
def run_study_reconstruction(set_progress, _clicks, study, roi, allow):
    """Background job: the study's face crops (found once), then latents, decoders, reconstructions and scores. The
    face note says what the detector found (in warning colours when it refused to go on)."""
    if not study:
        return None, dbc.Alert("Choose a study in the navbar (Data) first.", color="warning"), no_update, no_update
    try:
        path = services.run_study_reconstruction(study, roi or services.ALL_VERTICES, allow_non_faces=bool(allow),
                                                 progress=progress_reporter(set_progress))
    except ValueError as exc:
        refused = services.study_face_check(study) is not None and not services.study_face_check(study)["faces"]
        return (None, error_alert(exc, color="warning"), _face_note(study),
                "warning" if refused and not allow else "light")
    return path, "Done.", _face_note(study, advise=False), "light"


report_cancel(ids.STUDY_CANCEL, ids.STUDY_STATUS)


@callback(Output(ids.STUDY_GALLERY, "figure"), Output(ids.STUDY_ACCURACY, "figure"),
          Output(ids.STUDY_SUMMARY, "children"), Input(ids.STUDY_RESULT, "data"), prevent_initial_call=True)
def draw_study_results(path):
    """Gallery of the study's test faces and their reconstructions, and pairwise identification accuracy."""
    if not path:
        empty = placeholder_figure(_RUN_STUDY_FIRST)
        return empty, empty, None
    result = services.study_reconstruction_result(path)
    gallery, accuracy = _gallery_and_accuracy(result, "Your test images and their reconstructions")
    meta = result["meta"]
    summary = [html.Div(f"Brain patterns: {meta['roi'] or 'all vertices'} ({meta['n_vertices']:,} vertices). "
                        f"{meta['evaluation'][0].upper()}{meta['evaluation'][1:]}."),
               html.Div(f"Faces found by the detector in {meta['faces_found']:,} of {meta['n_images']:,} images "
                        "(crops around them; the whole image elsewhere).")]
    summary += [html.Div(f"Note: {note}", className="text-muted") for note in meta["notes"]]
    return gallery, accuracy, summary
