"""Layouts of the Cortical Maps and Virtual fMRI pages on a study chosen in the navbar (``?study=NAME``), and of the
hidden page ``/your-study`` that shows both; their callbacks are in ``your_study.py`` (a page module, so Dash registers
them with every app it builds), whose layout without a study holds every component they use, so Dash's callback
validation finds them.

- maps: the study fit's r, q, noise ceiling ("not available" when the study has none) and normalised accuracy,
  drawn on the study's display surface (``core.studies.Study.display_map``: fsLR-32k or fsaverage5), with the
  number of predicted vertices;
- prediction: a stimulus-library image predicted by the study's encoding model (a background job running
  ResNet-50), drawn the same way;
- categories: the labelled stimulus library predicted by the study's model (a background job), its category maps
  and the d′ selectivity of a category on the predicted vertices (the Selectivity page on a study);
- ROI charts (under the maps and under the categories): mean test r per region with its interval over test images
  and the region's noise ceiling, and mean d′ per region, over the regions of one ROI class: the study's own masks,
  else Glasser's areas on fsLR-32k (``services.study_roi_classes``), with a class picker where there are several.
"""

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import services
from dashboard.components import (
    cortex_view_controls,
    job_controls,
    page_header,
    size_limited_upload,
    waiting_graph,
)
from dashboard.ids import StudyViews as ids
from dashboard.messages import error_alert
from dashboard.pages._shared import (
    PAPERS,
)

_CHOOSE_STUDY = "Choose a study in the navbar (Data)"
_FIT_FIRST = "Fit the study's encoding model on the Studies page to see its maps"
_PREDICT_FIRST = "Choose an image and press 'Predict' to see its predicted map"
_CATEGORIES_FIRST = "Press 'Compute selectivity' to predict the stimulus library with the study's model"
_NO_ROIS = "No regions of interest for this study"


def _view_controls() -> dbc.Card:
    return dbc.Card(dbc.CardBody(cortex_view_controls(view=ids.VIEW, camera=ids.CAMERA, hemisphere=ids.HEMISPHERE,
                                                      borders=ids.BORDERS, views=services.CORTEX_VIEWS)))


def _fit_line(study: str | None):
    if not study:
        return _CHOOSE_STUDY
    try:
        summary = services.study_fit_summary(study)
    except ValueError as exc:
        return error_alert(exc, color="warning", className="p-2")
    return summary or dcc.Link(f"Study {study} has no fitted encoding model yet: fit it on the Studies page.",
                               href=f"/studies?study={study}")


def _controls_and_graph(controls, graph: str, waiting: str, height: str, *stores: str) -> html.Div:
    """A controls card (left) beside a cortex graph showing ``waiting`` until drawn, and the section's stores."""
    return html.Div([
        dbc.Row([
            dbc.Col(controls, md=3),
            dbc.Col(dcc.Loading(waiting_graph(graph, waiting, style={"height": height})), md=9),
        ]),
        *(dcc.Store(id=store) for store in stores),
    ])


def maps_section(study: str | None) -> html.Div:
    """The study's fitted maps: map choice, predicted-only switch, status line and the cortex graph."""
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Map", html_for=ids.MAP, className="mb-0 small fw-semibold"),
        dbc.Select(id=ids.MAP, value="r", size="sm",
                   options=[{"label": label, "value": name} for name, (label, _) in services.STUDY_MAPS.items()]),
        dbc.Checklist(id=ids.PREDICTED_ONLY, value=[], switch=True, className="small mt-1",
                      options=[{"label": "only predicted vertices (FDR q < 0.05)", "value": "on"}]),
        html.Div(id=ids.MAP_STATUS, className="small mt-1"),
    ]))
    return _controls_and_graph(controls, ids.GRAPH, _FIT_FIRST if study else _CHOOSE_STUDY, "70vh", ids.RENDERED)


def prediction_section(study: str | None) -> html.Div:
    """A library image predicted with the study's model: image choice, Predict job, the predicted map."""
    controls = dbc.Card(dbc.CardBody([
        dbc.Label("Image (stimulus library, or an upload)", html_for=ids.IMAGE, className="mb-0 small fw-semibold"),
        dcc.Dropdown(id=ids.IMAGE, options=services.study_image_choices() if study else [], searchable=True,
                     placeholder="type to search"),
        size_limited_upload(ids.UPLOAD, ids.UPLOAD_STATUS, services.MAX_UPLOAD_BYTES, accept="image/*",
                            multiple=False, className="border rounded p-2 mt-2 small text-center",
                            children=html.Div(["or drop an image here / ", html.A("choose one"),
                                               f" (up to {services.MAX_UPLOAD_BYTES // 2**20} MiB)"])),
        html.Div(id=ids.UPLOAD_STATUS, className="small"),
        html.Div(job_controls(ids.PREDICT, ids.PREDICT_CANCEL, ids.PREDICT_PROGRESS, "Predict", size="sm"),
                 className="mt-2"),
        html.Div(id=ids.PREDICT_STATUS, className="small mt-1"),
    ]))
    return _controls_and_graph(controls, ids.PREDICTION_GRAPH, _PREDICT_FIRST if study else _CHOOSE_STUDY, "60vh",
                               ids.PREDICTED, ids.PREDICTION_RENDERED)


def category_section(study: str | None) -> html.Div:
    """The study's category maps and d′: Compute job, category and map choice, status line, the cortex graph."""
    controls = dbc.Card(dbc.CardBody([
        html.P("The study's encoding model predicts every image of the labelled stimulus library; the predicted "
               "maps are averaged per category (category maps) and give each vertex d′ = (μ_category − μ_rest) / "
               "√((σ²_category + σ²_rest)/2), on the vertices the model predicts (FDR q < "
               f"{services.STUDY_PREDICTED_Q:g}).", className="small"),
        html.Div(job_controls(ids.CATEGORIES, ids.CATEGORIES_CANCEL, ids.CATEGORIES_PROGRESS, "Compute selectivity",
                              size="sm")),
        html.Div(id=ids.CATEGORIES_STATUS, className="small mt-1"),
        dbc.Label("Category", html_for=ids.CATEGORY, className="mb-0 mt-2 small fw-semibold"),
        dcc.Dropdown(id=ids.CATEGORY, options=[], clearable=False),
        dbc.Label("Map", html_for=ids.CATEGORY_MAP, className="mb-0 mt-2 small fw-semibold"),
        dbc.Select(id=ids.CATEGORY_MAP, value="dprime", size="sm",
                   options=[{"label": label, "value": name}
                            for name, (label, _) in services.STUDY_CATEGORY_MAPS.items()]),
        html.Div(id=ids.CATEGORIES_SUMMARY, className="small mt-1"),
    ]))
    return _controls_and_graph(controls, ids.CATEGORY_GRAPH, _CATEGORIES_FIRST if study else _CHOOSE_STUDY, "70vh",
                               ids.CATEGORIES_DONE, ids.CATEGORY_RENDERED)


def _roi_classes(study: str | None) -> dict:
    """The study's ROI classes and the sentence on their atlas (none without a readable study)."""
    if not study:
        return {"classes": [], "source": ""}
    try:
        return services.study_roi_classes(study)
    except ValueError:  # no such study: the fit line above says so
        return {"classes": [], "source": ""}


def _roi_row(study: str | None, picker: str, atlas: str, graph: str, waiting: str, *extra) -> dbc.Row:
    """An ROI chart beside its controls: the ROI-class picker (shown where the study has several classes), the
    sentence on the atlas used, and ``extra`` components."""
    rois = _roi_classes(study)
    classes = rois["classes"]
    controls = dbc.Card(dbc.CardBody([
        html.Div([
            dbc.Label("ROI class", html_for=picker, className="mb-0 small fw-semibold"),
            dbc.Select(id=picker, size="sm", value=classes[0] if classes else None,
                       options=[{"label": c, "value": c} for c in classes]),
        ], style={} if len(classes) > 1 else {"display": "none"}),
        html.P(f"Regions: {rois['source']}." if rois["source"] else "", id=atlas, className="small mt-1 mb-0"),
        *extra,
    ]))
    return dbc.Row([
        dbc.Col(controls, md=3),
        dbc.Col(dcc.Loading(waiting_graph(graph, waiting if classes or not study else _NO_ROIS,
                                          style={"height": "45vh"})), md=9),
    ], className="mt-3")


def roi_accuracy_section(study: str | None) -> dbc.Row:
    """Mean test r per region of the chosen ROI class, with its interval over test images and noise ceiling."""
    return _roi_row(study, ids.ROI_CLASS, ids.ROI_ATLAS, ids.ROI_GRAPH, _FIT_FIRST if study else _CHOOSE_STUDY,
                    html.Div(id=ids.ROI_STATUS, className="small mt-1"))


def roi_selectivity_section(study: str | None) -> dbc.Row:
    """Mean d′ of the chosen category per region of the chosen ROI class (predicted vertices only)."""
    return _roi_row(study, ids.CATEGORY_ROI_CLASS, ids.CATEGORY_ROI_ATLAS, ids.CATEGORY_ROI_GRAPH,
                    _CATEGORIES_FIRST if study else _CHOOSE_STUDY)


def _frame(title: str, study: str | None, sections: list) -> html.Div:
    return html.Div([
        page_header(title, *PAPERS["wen2018"]),
        dcc.Store(id=ids.STUDY, data=study),
        html.P(_fit_line(study), className="small"),
        dbc.Row(dbc.Col(_view_controls(), md=12), className="mb-2"),
        *sections,
    ])


def cortical_maps_layout(study: str) -> html.Div:
    """The Cortical Maps page on ``study``."""
    return _frame("Cortical Maps", study, [maps_section(study), roi_accuracy_section(study)])


def virtual_fmri_layout(study: str) -> html.Div:
    """The Virtual fMRI page on ``study``: predicted maps of library images under the study's model."""
    return _frame("Virtual fMRI", study, [
        html.P("The study's encoding model (fitted on the Studies page) turns any image of the stimulus library "
               "into a predicted cortical map, as in Wen et al. 2018. Its accuracy maps are on the Cortical Maps "
               "page.", className="small"),
        prediction_section(study)])


def selectivity_layout(study: str) -> html.Div:
    """The Selectivity page on ``study``: category maps and d′ of the labelled library under the study's model."""
    return _frame("Selectivity", study, [category_section(study), roi_selectivity_section(study)])


def layout(study: str | None = None, **_query):
    """Every view of one study (the hidden page ``/your-study``)."""
    return _frame("Your study", study, [maps_section(study), roi_accuracy_section(study),
                                        html.H4("Predicted maps", className="mt-4"), prediction_section(study),
                                        html.H4("Selectivity", className="mt-4"), category_section(study),
                                        roi_selectivity_section(study)])
