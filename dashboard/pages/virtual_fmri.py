"""Virtual fMRI page (/virtual-fmri): encoding models of the simulated subject and predicted maps."""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html, no_update

from dashboard import services
from dashboard.components import page_header, simulated_subject_badge
from dashboard.figures.encoding import image_pair_figure, roi_accuracy_figure
from dashboard.ids import VirtualFmri as ids
from dashboard.pages._shared import PAPERS, cortex_figure

dash.register_page(__name__, path="/virtual-fmri", name="Virtual fMRI", order=2)

_COLORSCALES = {"best_layer": "Viridis"}
_PREDICTION_MODES = {"a": "Image A", "b": "Image B", "diff": "A − B"}


def layout(**_query):
    """Controls and empty graphs; data arrive through callbacks."""
    run_card = dbc.Card(dbc.CardBody([
        html.P("Fit ResNet-50 encoding models (18 layers → layer-wise PCA → per-vertex ridge, nine-fold CV) "
               "to the simulated subject viewing the stimulus library. Results are cached.", className="small"),
        dbc.ButtonGroup([dbc.Button("Run experiment", id=ids.RUN, color="primary"),
                         dbc.Button("Cancel", id=ids.CANCEL, color="secondary", disabled=True)]),
        dbc.Progress(id=ids.PROGRESS, value=0, className="mt-2", style={"height": "1.2rem"}),
        html.Div(id=ids.STATUS, className="small mt-2"),
    ]))
    quality_controls = dbc.Card(dbc.CardBody([
        dbc.Label("Model-quality map", html_for=ids.MAP),
        dcc.Dropdown(id=ids.MAP, options=[{"label": label, "value": name}
                                          for name, (label, _) in services.QUALITY_MAPS.items()],
                     value="r", clearable=False),
        dbc.Checklist(id=ids.FDR, options=[{"label": "only FDR q < 0.05", "value": "fdr"}], value=["fdr"],
                      switch=True, className="mt-2"),
        dbc.Label("View", className="mt-2"),
        dbc.RadioItems(id=ids.VIEW, options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS],
                       value="flat", inline=True),
    ]))
    prediction_controls = dbc.Card(dbc.CardBody([
        dbc.Label("Image A (stimulus library)", html_for=ids.IMAGE_A),
        dcc.Dropdown(id=ids.IMAGE_A, options=[], placeholder="run the experiment first"),
        dbc.Label("Image B", html_for=ids.IMAGE_B, className="mt-2"),
        dcc.Dropdown(id=ids.IMAGE_B, options=[], placeholder="optional"),
        dbc.RadioItems(id=ids.PREDICTION_MODE, options=[{"label": v, "value": k}
                                                        for k, v in _PREDICTION_MODES.items()],
                       value="a", inline=True, className="mt-2"),
        dcc.Graph(id=ids.PAIR_GRAPH, style={"height": "180px"}, config={"displayModeBar": False}),
    ]))
    return html.Div([
        page_header("Virtual fMRI", *PAPERS["wen2018"]),
        simulated_subject_badge("virtual-fmri", services.subject_spec_summary()),
        dcc.Store(id=ids.RESULT_KEY),
        html.Div(id=ids.ERROR),
        dbc.Row([dbc.Col(run_card, md=4), dbc.Col(quality_controls, md=8)]),
        dbc.Row([
            dbc.Col(dcc.Loading(dcc.Graph(id=ids.QUALITY_GRAPH, style={"height": "60vh"})), md=8),
            dbc.Col(dcc.Graph(id=ids.ROI_GRAPH, style={"height": "60vh"}), md=4),
        ]),
        html.H4("Predicted maps (virtual fMRI)", className="mt-4"),
        dbc.Row([
            dbc.Col(prediction_controls, md=4),
            dbc.Col(dcc.Loading(dcc.Graph(id=ids.PREDICTION_GRAPH, style={"height": "60vh"})), md=8),
        ]),
    ])


@callback(
    Output(ids.RESULT_KEY, "data"),
    Input(ids.RUN, "n_clicks"),
    background=True,
    running=[(Output(ids.RUN, "disabled"), True, False), (Output(ids.CANCEL, "disabled"), False, True)],
    cancel=[Input(ids.CANCEL, "n_clicks")],
    progress=[Output(ids.PROGRESS, "value"), Output(ids.PROGRESS, "label")],
    prevent_initial_call=True,
)
def run_experiment(set_progress, _clicks):
    """Background job: the default experiment, with progress; returns its cache key."""
    return services.run_experiment(progress=lambda fraction, message: set_progress(
        (int(100 * fraction), message)))


@callback(
    Output(ids.STATUS, "children"),
    Output(ids.IMAGE_A, "options"),
    Output(ids.IMAGE_B, "options"),
    Output(ids.ROI_GRAPH, "figure"),
    Input(ids.RESULT_KEY, "data"),
)
def show_experiment(key):
    """Status line, image choices and the ROI bar chart once a result exists."""
    key = key or services.experiment_key()
    result = services.experiment_result(key)
    if result is None:
        return "No result yet: press 'Run experiment' (a few minutes on a CPU).", [], [], {}
    meta = result.meta
    status = (f"Fitted on {meta['n_train']} images, tested on {meta['n_test']} × {meta['n_repeats']} "
              f"sessions; {meta['n_components']} PCA components; subject {meta['subject']} (SNR {meta['snr']}).")
    options = services.library_choices(key)
    rois = services.roi_scores(key, "r")
    figure = roi_accuracy_figure(rois["roi_names"], rois["means"][None], rois["ses"][None], ["ResNet-50"],
                                 streams=rois["streams"], ceiling=rois["ceiling"], ylabel="test r",
                                 title="Mean test r per region (± SE over vertices)")
    return status, options, options, figure


@callback(
    Output(ids.QUALITY_GRAPH, "figure"),
    Output(ids.ERROR, "children"),
    Input(ids.RESULT_KEY, "data"),
    Input(ids.MAP, "value"),
    Input(ids.FDR, "value"),
    Input(ids.VIEW, "value"),
)
def draw_quality_map(key, map_name, fdr, view):
    """A model-quality map on the cortex."""
    key = key or services.experiment_key()
    if services.experiment_result(key) is None:
        return {}, None
    try:
        values = services.quality_map(key, map_name, fdr="fdr" in (fdr or []))
    except ValueError as exc:
        return no_update, dbc.Alert(str(exc), color="danger")
    figure = cortex_figure(values, view, colorscale=_COLORSCALES.get(map_name, "Hot"),
                            colorbar_title=services.QUALITY_MAPS[map_name][1],
                            title=services.QUALITY_MAPS[map_name][0])
    return figure, None


@callback(
    Output(ids.PREDICTION_GRAPH, "figure"),
    Output(ids.PAIR_GRAPH, "figure"),
    Input(ids.IMAGE_A, "value"),
    Input(ids.IMAGE_B, "value"),
    Input(ids.PREDICTION_MODE, "value"),
    Input(ids.VIEW, "value"),
    Input(ids.RESULT_KEY, "data"),
)
def draw_prediction(image_a, image_b, mode, view, key):
    """Predicted map of image A, of image B, or their difference."""
    key = key or services.experiment_key()
    chosen = {"a": image_a, "b": image_b}
    needed = [chosen[m] for m in (("a", "b") if mode == "diff" else (mode,))]
    if any(n is None for n in needed) or services.experiment_result(key) is None:
        return {}, {}
    maps = [services.predicted_map(key, n) for n in needed]
    values = maps[0] - maps[1] if mode == "diff" else maps[0]
    figure = cortex_figure(values, view, colorscale="RdBu_r", colorbar_title="predicted (a.u.)",
                            title=f"Predicted response: {_PREDICTION_MODES[mode]}")
    thumbs = [services.library_thumbnail(n) for n in (image_a, image_b) if n]
    pair = image_pair_figure(thumbs[0], thumbs[-1], titles=("A", "B" if len(thumbs) > 1 else "A"))
    return figure, pair
