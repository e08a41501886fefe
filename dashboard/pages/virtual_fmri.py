"""Virtual fMRI page (/virtual-fmri): encoding models of the simulated subject and predicted maps."""

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard import services
from dashboard.components import (
    colour_range_controls,
    construction_notes,
    cortex_view_controls,
    job_controls,
    page_header,
    predicted_mask_controls,
    simulated_subject_badge,
    size_limited_upload,
    waiting_graph,
)
from dashboard.figures.encoding import image_pair_figure, roi_accuracy_figure, roi_comparison_figure
from dashboard.figures.placeholder import placeholder_figure
from dashboard.ids import VirtualFmri as ids
from dashboard.messages import error_alert
from dashboard.pages import _study_views
from dashboard.pages._shared import (
    PAPERS,
    background_job,
    colour_range,
    cortex_update,
    map_style,
    progress_reporter,
    report_cancel,
)

dash.register_page(__name__, path="/virtual-fmri", name="Virtual fMRI", order=2)

_PREDICTION_MODES = {"a": "Image A", "b": "Image B", "diff": "A − B"}
_COMPARED = services.ENCODING_NETWORK_NAMES[services.COMPARISON_NETWORK]
_RUN_FIRST = "Press 'Run experiment' (top left) to see this"
_CHOOSE_IMAGE = "Choose image A (after running the experiment)<br>to see its predicted map"


def _job_card(text: str, label: str, run: str, cancel: str, progress: str, status: str):
    """Description, run/cancel buttons, progress bar and status line of one background job."""
    return dbc.Card(dbc.CardBody([
        html.P(text, className="small"),
        *job_controls(run, cancel, progress, label),
        html.Div(id=status, className="small mt-2"),
    ]))


def layout(study=None, **_query):
    """Controls and empty graphs; data arrive through callbacks. With a study chosen in the navbar
    (``?study=NAME``), predicted maps under that study's model instead (``_study_views``)."""
    if study:
        return _study_views.virtual_fmri_layout(study)
    run_card = _job_card("Fit ResNet-50 encoding models (18 layers → layer-wise PCA → per-vertex ridge, nine-fold "
                         "CV) to the simulated subject viewing the stimulus library. Results are cached.",
                         "Run experiment", ids.RUN, ids.CANCEL, ids.PROGRESS, ids.STATUS)
    compare_card = _job_card(f"Model comparison: fit the same experiment with {_COMPARED} features (stem, 16 "
                             "MBConv blocks, head, logits) on identical responses; the region chart then shows "
                             "both models and their difference per region, tested over the test images (sign-flip "
                             "test, Holm-corrected across regions, 95 % bootstrap intervals).",
                             f"Fit {_COMPARED}", ids.COMPARE_RUN, ids.COMPARE_CANCEL, ids.COMPARE_PROGRESS,
                             ids.COMPARE_STATUS)
    quality_controls = dbc.Card(dbc.CardBody(dbc.Row([
        dbc.Col([
            dbc.Label("Model-quality map", html_for=ids.MAP, className="mb-0 small fw-semibold"),
            dcc.Dropdown(id=ids.MAP, options=[{"label": label, "value": name}
                                              for name, (label, _) in services.QUALITY_MAPS.items()],
                         value="r", clearable=False),
            dbc.Checklist(id=ids.FDR, options=[{"label": "only vertices with FDR q < 0.05 (both maps)",
                                                "value": "fdr"}],
                          value=["fdr"], switch=True, className="mt-2 small"),
            predicted_mask_controls(ids.MASK_Q, ids.MASK_R, q_max=services.PREDICTED_Q_MAX,
                                    r_min=services.PREDICTED_R_MIN),
            html.Div(id=ids.MASK_STATUS, className="small mt-1"),
            colour_range_controls(threshold=ids.THRESHOLD, unit=ids.THRESHOLD_UNIT, vmin=ids.VMIN, vmax=ids.VMAX,
                                  message=ids.RANGE_MESSAGE),
        ], md=6),
        dbc.Col(cortex_view_controls(view=ids.VIEW, camera=ids.CAMERA, hemisphere=ids.HEMISPHERE,
                                     borders=ids.BORDERS, views=services.CORTEX_VIEWS), md=6),
    ])))
    upload = size_limited_upload(
        ids.UPLOAD, ids.UPLOAD_STATUS, services.MAX_UPLOAD_BYTES, accept="image/*", multiple=False,
        children=html.Div(["Drop an image here or ", html.A("choose a file", href="#"),
                           f" (up to {services.MAX_UPLOAD_BYTES // 2**20} MiB)"]),
        className="border border-secondary rounded text-center small p-2 mt-2", style={"borderStyle": "dashed"},
    )
    prediction_controls = dbc.Card(dbc.CardBody([
        dbc.Label("Image A (stimulus library or upload)", html_for=ids.IMAGE_A),
        dcc.Dropdown(id=ids.IMAGE_A, options=[], placeholder="run the experiment first"),
        dbc.Label("Image B", html_for=ids.IMAGE_B, className="mt-2"),
        dcc.Dropdown(id=ids.IMAGE_B, options=[], placeholder="optional"),
        upload,
        dbc.RadioItems(id=ids.UPLOAD_TARGET, options=[{"label": "upload as A", "value": "a"},
                                                      {"label": "upload as B", "value": "b"}],
                       value="a", inline=True, className="small"),
        html.Div(id=ids.UPLOAD_STATUS, className="small"),
        dbc.RadioItems(id=ids.PREDICTION_MODE, options=[{"label": v, "value": k}
                                                        for k, v in _PREDICTION_MODES.items()],
                       value="a", inline=True, className="mt-2"),
        waiting_graph(ids.PAIR_GRAPH, "No image chosen", style={"height": "180px"},
                      config={"displayModeBar": False}),
    ]))
    return html.Div([
        page_header("Virtual fMRI", *PAPERS["wen2018"]),
        simulated_subject_badge("virtual-fmri", services.subject_spec_summary()),
        construction_notes("virtual-fmri", services.simulation_notes()),
        dcc.Store(id=ids.RESULT_KEY),
        dcc.Store(id=ids.COMPARISON_KEY),
        dcc.Store(id=ids.QUALITY_RENDERED),
        dcc.Store(id=ids.PREDICTION_RENDERED),
        html.Div(id=ids.ERROR),
        dbc.Row([dbc.Col([run_card, compare_card], md=4), dbc.Col(quality_controls, md=8)]),
        dbc.Row([
            dbc.Col(dcc.Loading(waiting_graph(ids.QUALITY_GRAPH, _RUN_FIRST, style={"height": "60vh"})), md=8),
            dbc.Col(waiting_graph(ids.ROI_GRAPH, _RUN_FIRST, style={"height": "60vh"}), md=4),
        ]),
        html.H4("Predicted maps (virtual fMRI)", className="mt-4"),
        html.Div(id=ids.PREDICTION_ERROR),
        dbc.Row([
            dbc.Col(prediction_controls, md=4),
            dbc.Col(dcc.Loading(waiting_graph(ids.PREDICTION_GRAPH, _CHOOSE_IMAGE, style={"height": "60vh"})),
                    md=8),
        ]),
    ])


@callback(Output(ids.RESULT_KEY, "data"), Input(ids.RUN, "n_clicks"),
          **background_job(ids.RUN, ids.CANCEL, ids.PROGRESS))
def run_experiment(set_progress, _clicks):
    """Background job: the default experiment (ResNet-50), with progress; returns its cache key."""
    return services.run_experiment(progress=progress_reporter(set_progress))


@callback(Output(ids.COMPARISON_KEY, "data"), Input(ids.COMPARE_RUN, "n_clicks"),
          **background_job(ids.COMPARE_RUN, ids.COMPARE_CANCEL, ids.COMPARE_PROGRESS))
def run_comparison(set_progress, _clicks):
    """Background job: the default experiment with the comparison network; returns its cache key."""
    return services.run_experiment(progress=progress_reporter(set_progress), network=services.COMPARISON_NETWORK)


report_cancel(ids.CANCEL, ids.STATUS)
report_cancel(ids.COMPARE_CANCEL, ids.COMPARE_STATUS)


@callback(Output(ids.STATUS, "children"), Input(ids.RESULT_KEY, "data"))
def show_experiment(key):
    """Status line once a result exists; starts the warm predictor of uploaded images."""
    key = key or services.default_experiment_key()
    result = services.experiment_result(key)
    if result is None:
        return ("Not fitted yet. 'Run experiment' extracts ResNet-50 features of the stimulus library and fits "
                "the encoding models (5–15 minutes on a CPU); the line above then shows each step, the time "
                "elapsed and the time left.")
    services.start_predictor(key)
    meta = result.meta
    return (f"Fitted on {meta['n_train']} images, tested on {meta['n_test']} × {meta['n_repeats']} "
            f"sessions; {meta['n_components']} PCA components; subject {meta.get('subject_name', meta['subject'])} (SNR {meta['snr']}).")


@callback(
    Output(ids.ROI_GRAPH, "figure"),
    Output(ids.COMPARE_STATUS, "children"),
    Input(ids.RESULT_KEY, "data"),
    Input(ids.COMPARISON_KEY, "data"),
)
def draw_roi_accuracy(key, comparison_key):
    """ROI bars of test r with 95 % intervals over test images: ResNet-50 alone, or both models and their
    difference per region (sign-flip test over test images, Holm-corrected across regions)."""
    key = key or services.default_experiment_key()
    comparison_key = comparison_key or services.default_experiment_key(services.COMPARISON_NETWORK)
    if services.experiment_result(key) is None:
        return placeholder_figure(_RUN_FIRST), ""
    if services.experiment_result(comparison_key) is None:
        rois = services.roi_scores(key)
        figure = roi_accuracy_figure(rois["roi_names"], rois["means"][None], rois["ci_low"][None],
                                     rois["ci_high"][None], ["ResNet-50"], streams=rois["streams"],
                                     ceiling=rois["ceiling"], ylabel="test r",
                                     interval_label="95 % bootstrap CI over test images",
                                     title=f"Mean test r per region<br>(95 % CI over {rois['n_test']} test images)")
        return figure, f"No {_COMPARED} fit yet."
    try:
        c = services.model_comparison(key, comparison_key)
    except ValueError as exc:
        return placeholder_figure(_RUN_FIRST), error_alert(exc, color="warning", className="p-2")
    figure = roi_comparison_figure(c["roi_names"], c["means"], c["ci_low"], c["ci_high"], c["models"],
                                   c["difference"], c["difference_low"], c["difference_high"], c["p_holm"], p=c["p"],
                                   streams=c["streams"], ceiling=c["ceiling"], ylabel="test r",
                                   interval_label="95 % bootstrap CI over test images",
                                   title=f"Mean test r per region and {c['models'][0]} − {c['models'][1]}"
                                         f"<br>(95 % CI over {c['n_test']} test images)")
    differ = int((c["p_holm"] < 0.05).sum())
    return figure, (f"{c['models'][0]} and {c['models'][1]} differ in {differ} of {len(c['roi_names'])} regions "
                    f"after Holm correction (sign-flip test over {c['n_test']} test images; marks: * p < .05, "
                    "** p < .01, *** p < .001, Holm-adjusted).")


@callback(
    Output(ids.IMAGE_A, "options"),
    Output(ids.IMAGE_B, "options"),
    Output(ids.IMAGE_A, "value"),
    Output(ids.IMAGE_B, "value"),
    Output(ids.UPLOAD_STATUS, "children"),
    Input(ids.RESULT_KEY, "data"),
    Input(ids.UPLOAD, "contents"),
    State(ids.UPLOAD, "filename"),
    State(ids.UPLOAD_TARGET, "value"),
    State(ids.IMAGE_A, "options"),
)
def image_choices(key, contents, filename, target, options):
    """Library images of the experiment plus uploads; a new upload becomes image A or B."""
    key = key or services.default_experiment_key()
    if services.experiment_result(key) is None:
        waiting = "Run the experiment first: an uploaded image is predicted by its fitted model." \
            if ctx.triggered_id == ids.UPLOAD and contents else ""
        return [], [], no_update, no_update, waiting
    uploads = [o for o in options or [] if o["value"].startswith(services.UPLOAD_PREFIX)]
    if ctx.triggered_id != ids.UPLOAD or not contents:
        choices = uploads + services.library_choices(key)
        return choices, choices, no_update, no_update, no_update
    try:
        option = services.save_upload(contents, filename)
    except ValueError as exc:
        return no_update, no_update, no_update, no_update, error_alert(exc, color="danger", className="p-2")
    choices = [option] + [o for o in options or [] if o["value"] != option["value"]]
    values = (option["value"], no_update) if target == "a" else (no_update, option["value"])
    return choices, choices, *values, f"Uploaded {option['label'].removeprefix('uploaded — ')}."


#: What a change of each input alters in a drawn cortex map (``_shared.cortex_update``).
_CHANGES = {ids.MAP: "values", ids.FDR: "values", ids.MASK_Q: "values", ids.MASK_R: "values",
            ids.IMAGE_A: "values", ids.IMAGE_B: "values",
            ids.PREDICTION_MODE: "values", ids.CAMERA: "camera", ids.BORDERS: "colour", ids.THRESHOLD: "colour",
            ids.THRESHOLD_UNIT: "colour", ids.VMIN: "colour", ids.VMAX: "colour"}
_DISPLAY = [Input(ids.VIEW, "value"), Input(ids.CAMERA, "value"), Input(ids.HEMISPHERE, "value"),
            Input(ids.BORDERS, "value")]
_NOTHING_SIGNIFICANT = " (no vertex passes FDR q < 0.05)"


def _fdr_note(values) -> str:
    """A title suffix when a masked map shows nothing at all."""
    return _NOTHING_SIGNIFICANT if not np.isfinite(values).any() else ""


@callback(
    Output(ids.QUALITY_GRAPH, "figure"),
    Output(ids.QUALITY_RENDERED, "data"),
    Output(ids.ERROR, "children"),
    Output(ids.RANGE_MESSAGE, "children"),
    Input(ids.RESULT_KEY, "data"),
    Input(ids.MAP, "value"),
    Input(ids.FDR, "value"),
    *_DISPLAY,
    Input(ids.THRESHOLD, "value"),
    Input(ids.THRESHOLD_UNIT, "value"),
    Input(ids.VMIN, "value"),
    Input(ids.VMAX, "value"),
    Input(ids.MASK_Q, "value"),
    Input(ids.MASK_R, "value"),
    State(ids.QUALITY_RENDERED, "data"),
)
def draw_quality_map(key, map_name, fdr, view, camera, hemisphere, borders, threshold, unit, vmin, vmax, mask_q,
                     mask_r, rendered):
    """A model-quality map on the cortex: sequential from 0 (r, R², ceilings) or one band per layer; a change of
    camera, threshold, range or borders patches the drawn figure."""
    key = key or services.default_experiment_key()
    if services.experiment_result(key) is None:
        return placeholder_figure(_RUN_FIRST), None, None, None
    try:
        values = services.quality_map(key, map_name, fdr="fdr" in (fdr or []),
                                      **services.predicted_mask(mask_q, mask_r))
    except ValueError as exc:
        return no_update, no_update, error_alert(exc), None
    label, units = services.QUALITY_MAPS[map_name]
    limits, warning = colour_range(values, threshold, unit, vmin, vmax)
    figure, drawn = cortex_update(
        values, view, change=_CHANGES.get(ctx.triggered_id, "figure"), rendered=rendered, camera=camera,
        hemisphere=hemisphere, borders="on" in (borders or []), **map_style(f"quality:{map_name}", values),
        **limits, colorbar_title=units, title=label + (_fdr_note(values) if fdr else ""))
    return figure, drawn, None, warning


@callback(
    Output(ids.MASK_STATUS, "children"),
    Input(ids.RESULT_KEY, "data"),
    Input(ids.MAP, "value"),
    Input(ids.MASK_Q, "value"),
    Input(ids.MASK_R, "value"),
)
def describe_mask(key, map_name, mask_q, mask_r):
    """Which vertices a masked map shows (and how many normalised accuracies exceed 1)."""
    key = key or services.default_experiment_key()
    if map_name not in services.MASKED_QUALITY_MAPS or services.experiment_result(key) is None:
        return "The predicted-vertex rule applies to the normalised accuracy."
    try:
        return services.normalized_accuracy_summary(key, **services.predicted_mask(mask_q, mask_r))
    except ValueError as exc:
        return error_alert(exc, color="warning", className="p-2")


@callback(
    Output(ids.PREDICTION_GRAPH, "figure"),
    Output(ids.PREDICTION_RENDERED, "data"),
    Output(ids.PAIR_GRAPH, "figure"),
    Output(ids.PREDICTION_ERROR, "children"),
    Input(ids.IMAGE_A, "value"),
    Input(ids.IMAGE_B, "value"),
    Input(ids.PREDICTION_MODE, "value"),
    Input(ids.FDR, "value"),
    *_DISPLAY,
    Input(ids.RESULT_KEY, "data"),
    State(ids.PREDICTION_RENDERED, "data"),
)
def draw_prediction(image_a, image_b, mode, fdr, view, camera, hemisphere, borders, key, rendered):
    """Predicted map of image A, of image B, or their difference (library images or uploads), on a scale
    centred on 0; with the FDR switch only where the model predicts the vertex (q < 0.05)."""
    key = key or services.default_experiment_key()
    chosen = {"a": image_a, "b": image_b}
    needed = [chosen[m] for m in (("a", "b") if mode == "diff" else (mode,))]
    if services.experiment_result(key) is None or any(n is None for n in needed):
        message = _CHOOSE_IMAGE if mode != "b" or services.experiment_result(key) is None else "Choose image B"
        thumbs = [services.image_thumbnail(n) for n in (image_a, image_b) if n]
        pair = image_pair_figure(thumbs[0], thumbs[-1], titles=("A", "B" if len(thumbs) > 1 else "A")) \
            if thumbs else placeholder_figure("No image chosen")
        return placeholder_figure(message), None, pair, None
    try:
        maps = [services.predicted_map(key, n).values for n in needed]
        thumbs = [services.image_thumbnail(n) for n in (image_a, image_b) if n]
    except ValueError as exc:
        return placeholder_figure(_CHOOSE_IMAGE), None, placeholder_figure("No image chosen"), error_alert(exc)
    values = maps[0] - maps[1] if mode == "diff" else maps[0]
    note = ""
    if "fdr" in (fdr or []):
        values = np.where(np.isfinite(services.quality_map(key, "r", fdr=True)), values, np.nan)
        note = _fdr_note(values)
    figure, drawn = cortex_update(
        values, view, change=_CHANGES.get(ctx.triggered_id, "figure"), rendered=rendered, camera=camera,
        hemisphere=hemisphere, borders="on" in (borders or []), **map_style("predicted:", values),
        colorbar_title="predicted (a.u.)", title=f"Predicted response: {_PREDICTION_MODES[mode]}{note}")
    pair = image_pair_figure(thumbs[0], thumbs[-1], titles=("A", "B" if len(thumbs) > 1 else "A"))
    return figure, drawn, pair, None
