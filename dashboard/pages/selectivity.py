"""Selectivity page (/selectivity): category selectivity d′ of the predicted category maps (Wen et al. 2018)."""

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard import services
from dashboard.components import (
    construction_notes,
    csv_export_row,
    page_header,
    predicted_mask_controls,
    simulated_subject_badge,
    waiting_graph,
)
from dashboard.figures.placeholder import placeholder_figure
from dashboard.figures.rdm import png_export_config
from dashboard.figures.selectivity import roi_selectivity_figure, top_categories_figure
from dashboard.ids import Selectivity as ids
from dashboard.messages import error_alert
from dashboard.pages import _study_views
from dashboard.pages._shared import PAPERS, cortex_figure, map_style

dash.register_page(__name__, path="/selectivity", name="Selectivity", order=3)

_RUN_FIRST = "Run the default experiment on the Virtual fMRI page to see this"
#: |d′| below this shows the sulcal background.
_THRESHOLD = 0.5


def layout(study=None, **_query):
    """Controls and empty graphs; data arrive through callbacks. With a study chosen in the navbar
    (``?study=NAME``), category maps and d′ under that study's model instead (``_study_views``)."""
    if study:
        return _study_views.selectivity_layout(study)
    controls = dbc.Card(dbc.CardBody([
        html.P("d′ = (μ_category − μ_rest) / √((σ²_category + σ²_rest)/2) of the encoding models' predicted "
               "responses to every library image, on the vertices the model predicts. Click a vertex for its "
               "top-10 categories.", className="small"),
        dbc.Label("Category", html_for=ids.CATEGORY),
        dcc.Dropdown(id=ids.CATEGORY, options=[], value=None, clearable=False),
        dbc.Label("View", className="mt-2"),
        dbc.RadioItems(id=ids.VIEW, options=[{"label": v, "value": v} for v in services.CORTEX_VIEWS],
                       value="flat", inline=True),
        predicted_mask_controls(ids.MASK_Q, ids.MASK_R, q_max=services.PREDICTED_Q_MAX, r_min=services.PREDICTED_R_MIN),
        html.Div(id=ids.MASK_STATUS, className="small mt-1"),
        html.Div(id=ids.STATUS, className="small mt-2"),
    ]))
    export = csv_export_row(ids.EXPORT_FIGURE, ids.DOWNLOAD_BUTTON, ids.EXPORT_ERROR, services.SELECTIVITY_TABLES,
                            "dprime_map")
    return html.Div([
        page_header("Selectivity", *PAPERS["wen2018"]),
        simulated_subject_badge("selectivity", services.subject_spec_summary()),
        construction_notes("selectivity", services.simulation_notes()),
        dcc.Store(id=ids.VERTEX),
        dbc.Row([dbc.Col(controls, md=3),
                 dbc.Col(dcc.Loading(waiting_graph(ids.GRAPH, _RUN_FIRST, style={"height": "60vh"},
                                                   config=png_export_config("dprime_map"))), md=9)]),
        dbc.Row([dbc.Col([html.Div(id=ids.TOP_STATUS, className="small"),
                          waiting_graph(ids.TOP_GRAPH, "Click a vertex on the map to see its top categories",
                                        config=png_export_config("top_categories"))], md=4),
                 dbc.Col(waiting_graph(ids.ROI_GRAPH, _RUN_FIRST, config=png_export_config("roi_dprime")), md=8)]),
        export,
        dcc.Download(id=ids.DOWNLOAD),
    ])


@callback(Output(ids.CATEGORY, "options"), Output(ids.CATEGORY, "value"), Output(ids.STATUS, "children"),
          Input(ids.VIEW, "id"))
def list_categories(_):
    """Category choices once the default experiment exists (it runs on the Virtual fMRI page)."""
    key = services.default_experiment_key()
    if services.experiment_result(key) is None:
        link = dcc.Link("Run the default experiment on the Virtual fMRI page first.", href="/virtual-fmri")
        return [], None, link
    return services.category_choices(key), "__max__", None


@callback(Output(ids.GRAPH, "figure"), Output(ids.ROI_GRAPH, "figure"), Output(ids.MASK_STATUS, "children"),
          Input(ids.CATEGORY, "options"), Input(ids.CATEGORY, "value"), Input(ids.VIEW, "value"),
          Input(ids.MASK_Q, "value"), Input(ids.MASK_R, "value"))
def draw_selectivity(options, category, view, mask_q, mask_r):
    """The d′ map and the area summary of one category (or of the maximum over categories), on the vertices
    the model predicts."""
    if not options or category is None:
        return placeholder_figure(_RUN_FIRST), placeholder_figure(_RUN_FIRST), None
    key = services.default_experiment_key()
    try:
        rule = services.predicted_mask(mask_q, mask_r)
        values = services.selectivity_map(key, category, **rule)
        rois = services.roi_selectivity(key, category, **rule)
    except ValueError as exc:
        return no_update, no_update, error_alert(exc, color="warning")
    label = "max over categories" if category == "__max__" else category
    shown = "d′" if category == "__max__" else "|d′|"
    figure = cortex_figure(values, view, **map_style(f"dprime:{category}", values), threshold=_THRESHOLD,
                           colorbar_title="d′",
                           title=f"Selectivity d′: {label} ({shown} ≥ {_THRESHOLD}; predicted vertices)")
    roi_figure = roi_selectivity_figure(rois["roi_names"], rois["means"], rois["sds"], rois["streams"],
                                        category=label, title=f"Mean d′ per area (± SD over its predicted vertices): "
                                                              f"{label}") \
        if rois["roi_names"] else placeholder_figure("No visual area has a vertex the model predicts by this rule")
    return figure, roi_figure, services.selectivity_summary(key, **rule)


@callback(Output(ids.TOP_GRAPH, "figure"), Output(ids.VERTEX, "data"), Output(ids.TOP_STATUS, "children"),
          Input(ids.GRAPH, "clickData"), State(ids.VIEW, "value"), State(ids.MASK_Q, "value"),
          State(ids.MASK_R, "value"), prevent_initial_call=True)
def draw_top_categories(click, view, mask_q, mask_r):
    """Top-10 categories of the clicked vertex (only where the model predicts it)."""
    point = (click or {}).get("points", [{}])[0]
    if point.get("curveNumber") not in (0, 1) or "pointNumber" not in point:
        return no_update, no_update, no_update
    index = services.grayordinate_at(view, point["curveNumber"], point["pointNumber"])
    if index is None:
        return no_update, no_update, no_update
    try:
        names, dprime = services.top_categories_at(services.default_experiment_key(), index,
                                                   **services.predicted_mask(mask_q, mask_r))
    except ValueError as exc:
        return placeholder_figure("Click a coloured vertex"), None, error_alert(exc, color="warning")
    area = services.vertex_area_labels()[index]
    return top_categories_figure(names, dprime, vertex_label=f"{area} (vertex {index:,})",
                                 title=f"Top categories at {area.split(' — ')[0]}"), index, None


@callback(Output(ids.DOWNLOAD, "data"), Output(ids.EXPORT_ERROR, "children"),
          Input(ids.DOWNLOAD_BUTTON, "n_clicks"), State(ids.EXPORT_FIGURE, "value"), State(ids.CATEGORY, "value"),
          State(ids.VERTEX, "data"), State(ids.MASK_Q, "value"), State(ids.MASK_R, "value"),
          prevent_initial_call=True)
def download_table(_clicks, figure, category, vertex, mask_q, mask_r):
    """The numbers behind the chosen figure as CSV (predicted vertices only)."""
    if category is None:
        return no_update, dbc.Alert("Run the default experiment first.", color="warning")
    try:
        filename, text = services.selectivity_table(services.default_experiment_key(), figure, category=category,
                                                    grayordinate=vertex, **services.predicted_mask(mask_q, mask_r))
    except ValueError as exc:
        return no_update, error_alert(exc, color="warning")
    return dcc.send_string(text, filename), None
